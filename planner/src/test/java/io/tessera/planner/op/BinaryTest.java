package io.tessera.planner.op;

import io.tessera.layout.Box;
import io.tessera.layout.DType;
import io.tessera.layout.DeviceMatrix;
import io.tessera.layout.Layout;
import io.tessera.layout.TensorMap;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;

import static io.tessera.planner.op.OpTests.rejected;
import static io.tessera.planner.op.OpTests.summaries;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Add/Sub/Mul/Div: the published Add cases of spec §3, broadcasting, rejections, defaults and communication. */
class BinaryTest {

    private static final TensorType T = TensorType.of(DType.FLOAT32, 32, 64, 96);

    private static OpSharding shard(Binary op, TensorType a, TensorType b, Strategy s, int devices) {
        return op.shard("add", List.of(a, b), s, null, devices);
    }

    private static int[] s(int... v) {
        return v;
    }

    @Test
    void publishedAdd() {
        OpSharding sh = shard(Binary.add(), T, T, Strategy.of(s(2, 4, 4), s(2, 4, 4)), 32);
        assertEquals(DeviceMatrix.of(2, 4, 4), sh.devMatrix());
        assertEquals(1, sh.repeated());
        for (int i = 0; i < 2; i++) {
            assertEquals(TensorMap.of(2, 1, 0), sh.inputMaps().get(i));
            assertArrayEquals(new long[] {16, 16, 24}, sh.inputLayout(i, T).sliceShape());
        }
        assertEquals(TensorMap.of(2, 1, 0), sh.outputMaps().get(0));
        assertArrayEquals(new long[] {16, 16, 24}, sh.outputLayout(0, T).sliceShape());
        assertTrue(sh.comms().isEmpty(), "equal layouts need no communication: " + sh.comms());
    }

    @Test
    void publishedRejectionSplitsMustAgree() {
        // {{2,4,4},{2,6,4}}: 6 does not divide 64 (and differs from 4)
        rejected(() -> shard(Binary.add(), T, T, Strategy.of(s(2, 4, 4), s(2, 6, 4)), 32), "Add 'add'",
                "input 1 dim 1", "6 ways");
    }

    @Test
    void publishedRejectionTooManyDevices() {
        rejected(() -> shard(Binary.add(), T, T, Strategy.of(s(2, 4, 8), s(2, 4, 8)), 32), "Add 'add'",
                "uses 64 devices but the stage has 32");
    }

    @Test
    void publishedRejectionOneTupleForTwoInputs() {
        rejected(() -> shard(Binary.add(), T, T, Strategy.of(s(2, 4, 4)), 32), "Add 'add'",
                "has 1 tuple but the operator has 2 inputs");
    }

    @Test
    void unequalSplitsOfADimensionBothHave() {
        String m = rejected(() -> shard(Binary.add(), T, T, Strategy.of(s(2, 4, 4), s(2, 2, 4)), 32), "Add 'add'");
        assertEquals("Add 'add': input 1 dim 1 is split 2 ways but input 0 dim 1 is split 4 ways; dimensions that are"
                + " not broadcast must be split equally", m);
    }

    @ParameterizedTest
    @EnumSource(Binary.Kind.class)
    void everyKindHasItsNameAndTheSameRule(Binary.Kind kind) {
        Binary op = new Binary(kind);
        assertEquals(kind.name().charAt(0) + kind.name().substring(1).toLowerCase(java.util.Locale.ROOT), op.type());
        OpSharding sh = shard(op, T, T, Strategy.of(s(2, 4, 4), s(2, 4, 4)), 32);
        assertEquals(DeviceMatrix.of(2, 4, 4), sh.devMatrix());
        rejected(() -> shard(op, T, T, Strategy.of(s(2, 4, 4), s(2, 2, 4)), 32), op.type() + " 'add'",
                "split equally");
    }

    @Test
    void factories() {
        assertEquals(List.of("Add", "Sub", "Mul", "Div"),
                Stream.of(Binary.add(), Binary.sub(), Binary.mul(), Binary.div()).map(Binary::type).toList());
    }

    @Test
    void biasLikeVectorAddedToAMatrixGetsABackwardAllReduceOverTheBatchGroup() {
        TensorType x = TensorType.of(DType.FLOAT32, 16, 32);
        TensorType b = TensorType.of(DType.FLOAT32, 32);
        OpSharding sh = shard(Binary.add(), x, b, Strategy.of(s(4, 2), s(2)), 8);
        assertEquals(DeviceMatrix.of(4, 2), sh.devMatrix());
        assertEquals(TensorMap.of(1, 0), sh.inputMaps().get(0));
        assertEquals(TensorMap.of(0), sh.inputMaps().get(1));
        assertEquals(TensorMap.of(1, 0), sh.outputMaps().get(0));
        assertArrayEquals(new long[] {16}, sh.inputLayout(1, b).sliceShape());
        assertTrue(sh.forward().isEmpty());
        assertEquals(List.of("backward AllReduce(sum) of input 1 gradient over device dims [1]"),
                summaries(sh.backward()));
        assertEquals(List.of(List.of(0, 2, 4, 6), List.of(1, 3, 5, 7)),
                sh.backward().get(0).groups(sh.devMatrix()), "ranks holding the same bias slice");
        // the same with the bias first
        OpSharding swapped = shard(Binary.add(), b, x, Strategy.of(s(2), s(4, 2)), 8);
        assertEquals(TensorMap.of(0), swapped.inputMaps().get(0));
        assertEquals(List.of("backward AllReduce(sum) of input 0 gradient over device dims [1]"),
                summaries(swapped.backward()));
    }

    @Test
    void biasLikeVectorMustBeSplitLikeTheChannels() {
        TensorType x = TensorType.of(DType.FLOAT32, 16, 32);
        TensorType b = TensorType.of(DType.FLOAT32, 32);
        String m = rejected(() -> shard(Binary.add(), x, b, Strategy.of(s(4, 2), s(1)), 8), "Add 'add'");
        assertEquals("Add 'add': input 1 dim 0 is split 1 ways but input 0 dim 1 is split 2 ways; dimensions that are"
                + " not broadcast must be split equally", m);
    }

    @Test
    void sizeOneDimensionsAreBroadcastAndNotSplit() {
        TensorType x = TensorType.of(DType.FLOAT32, 16, 1, 32);
        TensorType y = TensorType.of(DType.FLOAT32, 16, 8, 32);
        OpSharding sh = shard(Binary.mul(), x, y, Strategy.of(s(2, 1, 4), s(2, 2, 4)), 16);
        assertEquals(DeviceMatrix.of(2, 2, 4), sh.devMatrix());
        assertEquals(TensorMap.of(2, -1, 0), sh.inputMaps().get(0));
        assertEquals(TensorMap.of(2, 1, 0), sh.inputMaps().get(1));
        assertEquals(TensorMap.of(2, 1, 0), sh.outputMaps().get(0));
        assertArrayEquals(new long[] {8, 1, 8}, sh.inputLayout(0, x).sliceShape());
        assertArrayEquals(new long[] {8, 4, 8}, sh.outputLayout(0, y).sliceShape());
        assertEquals(List.of("backward AllReduce(sum) of input 0 gradient over device dims [1]"),
                summaries(sh.backward()));
        // a size-1 dim under an unsplit device dim keeps its (size-1) device dim, like MatMul
        OpSharding unsplit = shard(Binary.mul(), x, y, Strategy.of(s(2, 1, 4), s(2, 1, 4)), 8);
        assertEquals(TensorMap.of(2, 1, 0), unsplit.inputMaps().get(0));
        assertTrue(unsplit.comms().isEmpty(), unsplit.comms().toString());
    }

    @Test
    void splittingABroadcastDimensionIsRejected() {
        TensorType x = TensorType.of(DType.FLOAT32, 16, 1, 32);
        TensorType y = TensorType.of(DType.FLOAT32, 16, 8, 32);
        String m = rejected(() -> shard(Binary.sub(), x, y, Strategy.of(s(2, 2, 4), s(2, 2, 4)), 16), "Sub 'add'");
        assertEquals("Sub 'add': input 0 dim 1 has size 1 (it is broadcast) but is split 2 ways; a broadcast "
                + "dimension must not be split: set it to 1", m);
    }

    @Test
    void differentRanksAreRightAligned() {
        TensorType x = TensorType.of(DType.FLOAT32, 8, 4, 16);
        TensorType y = TensorType.of(DType.FLOAT32, 4, 16);
        OpSharding sh = shard(Binary.div(), x, y, Strategy.of(s(2, 2, 4), s(2, 4)), 16);
        assertEquals(DeviceMatrix.of(2, 2, 4), sh.devMatrix());
        assertEquals(TensorMap.of(1, 0), sh.inputMaps().get(1));
        assertArrayEquals(new long[] {2, 4}, sh.inputLayout(1, y).sliceShape());
        assertEquals(List.of("backward AllReduce(sum) of input 1 gradient over device dims [2]"),
                summaries(sh.backward()));
        String m = rejected(() -> shard(Binary.div(), x, y, Strategy.of(s(2, 2, 4), s(1, 4)), 16), "Div 'add'");
        assertEquals("Div 'add': input 1 dim 0 is split 1 ways but input 0 dim 1 is split 2 ways; dimensions that are"
                + " not broadcast must be split equally", m);
        rejected(() -> shard(Binary.div(), x, y, Strategy.of(s(2, 2, 4), s(2, 2, 4)), 16), "Div 'add'",
                "input 1 strategy [2, 2, 4] has 3 values but the tensor Float32[4, 16] has 2 dims");
    }

    @Test
    void fewerDevicesThanTheStageAppendsTheRepeatedDimension() {
        OpSharding sh = shard(Binary.add(), T, T, Strategy.of(s(2, 1, 1), s(2, 1, 1)), 8);
        assertEquals(DeviceMatrix.of(2, 1, 1, 4), sh.devMatrix());
        assertEquals(4, sh.repeated());
        assertEquals(TensorMap.of(3, 2, 1), sh.inputMaps().get(0));
        assertEquals(TensorMap.of(3, 2, 1), sh.outputMaps().get(0));
        assertTrue(sh.comms().isEmpty(), "the repeated dimension needs no communication: " + sh.comms());
    }

    @Test
    void dataParallelDefaults() {
        assertEquals(Strategy.of(s(8, 1, 1), s(8, 1, 1)), Binary.add().dataParallel(List.of(T, T), 8));
        TensorType x = TensorType.of(DType.FLOAT32, 12, 32);
        TensorType b = TensorType.of(DType.FLOAT32, 32);
        assertEquals(Strategy.of(s(4, 1), s(1)), Binary.add().dataParallel(List.of(x, b), 8));
        assertEquals(Strategy.of(s(1), s(4, 1)), Binary.add().dataParallel(List.of(b, x), 8));
        TensorType row = TensorType.of(DType.FLOAT32, 1, 32);
        assertEquals(Strategy.of(s(1, 1), s(4, 1)), Binary.mul().dataParallel(List.of(row, x), 8));
        TensorType scalar = TensorType.of(DType.FLOAT32);
        assertEquals(Strategy.of(s(), s(4, 1)), Binary.mul().dataParallel(List.of(scalar, x), 8));
        // every default is accepted by the rule
        OpSharding sh = shard(Binary.add(), x, b, Binary.add().dataParallel(List.of(x, b), 8), 8);
        assertEquals(2, sh.repeated());
        assertEquals(DeviceMatrix.of(4, 1, 2), sh.devMatrix());
        assertEquals(List.of("backward AllReduce(sum) of input 1 gradient over device dims [2]"),
                summaries(sh.backward()), "the data-parallel group, not the repeated dim");
    }

    @Test
    void scalarsAndIntegerInputs() {
        TensorType x = TensorType.of(DType.FLOAT32, 16, 32);
        TensorType scalar = TensorType.of(DType.FLOAT32);
        OpSharding sh = shard(Binary.mul(), scalar, x, Strategy.of(s(), s(4, 2)), 8);
        assertEquals(TensorMap.of(), sh.inputMaps().get(0));
        assertEquals(List.of("backward AllReduce(sum) of input 0 gradient over device dims [1, 0]"),
                summaries(sh.backward()));
        TensorType mask = TensorType.of(DType.INT32, 32);
        OpSharding masked = shard(Binary.mul(), x, mask, Strategy.of(s(4, 2), s(2)), 8);
        assertTrue(masked.comms().isEmpty(), "an integer input has no gradient: " + masked.comms());
        assertEquals(DType.FLOAT32, Binary.mul().outputs("m", List.of(x, mask)).get(0).dtype());
    }

    @Test
    void shapeInference() {
        assertEquals(TensorType.of(DType.FLOAT16, 8, 4, 16), Binary.add().outputs("a",
                List.of(TensorType.of(DType.FLOAT16, 8, 1, 16), TensorType.of(DType.FLOAT16, 4, 1))).get(0));
        String m = rejected(() -> Binary.add().outputs("a", List.of(TensorType.of(DType.FLOAT32, 8, 3),
                TensorType.of(DType.FLOAT32, 8, 4))), "Add 'a'");
        assertEquals("Add 'a': input 0 Float32[8, 3] and input 1 Float32[8, 4] do not broadcast: output dim 1 is 3 "
                + "in input 0 but 4 in input 1; right-aligned dimensions must be equal or 1", m);
        rejected(() -> Binary.add().outputs("a", List.of(TensorType.of(DType.FLOAT32, 8),
                TensorType.of(DType.FLOAT16, 8))), "Add 'a'", "Float32", "Float16", "insert a Cast");
        rejected(() -> Binary.add().outputs("a", List.of(T)), "Add 'a'", "found 1 input; expected 2 (x and y)");
    }

    @Test
    void outStrategyIsRejected() {
        rejected(() -> Binary.add().shard("add", List.of(T, T), Strategy.of(s(2, 4, 4), s(2, 4, 4)),
                Strategy.of(s(2, 4, 4)), 32), "Add 'add'", "out_strategy [[2, 4, 4]] is not supported");
    }

    /** Random broadcast pairs and strategies: each rank's input slices are exactly what its output slice reads. */
    @ParameterizedTest
    @MethodSource("seeds")
    void inputSlicesMatchTheOutputSliceEveryRankComputes(long seed) {
        System.out.println("BinaryTest.inputSlicesMatchTheOutputSliceEveryRankComputes seed=" + seed);
        Random rnd = new Random(seed);
        int[] sizes = {1, 2, 4, 6, 8};
        for (int round = 0; round < 200; round++) {
            int devices = 1 << rnd.nextInt(5);
            int r = 1 + rnd.nextInt(4);
            long[] out = new long[r];
            for (int i = 0; i < r; i++) {
                out[i] = sizes[rnd.nextInt(sizes.length)];
            }
            int[] split = new int[r];
            int left = devices;
            for (int i = 0; i < r; i++) {
                List<Integer> ok = new ArrayList<>();
                for (int d = 1; d <= left; d++) {
                    if (out[i] % d == 0 && left % d == 0) {
                        ok.add(d);
                    }
                }
                split[i] = ok.get(rnd.nextInt(ok.size()));
                left /= split[i];
            }
            TensorType a = operand(rnd, out, split);
            TensorType b = operand(rnd, out, split);
            int[] sa = operandStrategy(a, out, split);
            int[] sb = operandStrategy(b, out, split);
            Strategy st = Strategy.of(sa, sb);
            String what = "seed " + seed + " round " + round + ": " + a + " + " + b + " " + st + " on " + devices;
            TensorType o = Binary.add().outputs("add", List.of(a, b)).get(0);
            OpSharding sh = Binary.add().shard("add", List.of(a, b), st, null, devices);
            Layout lo = sh.outputLayout(0, o);
            Layout la = sh.inputLayout(0, a);
            Layout lb = sh.inputLayout(1, b);
            for (int rank = 0; rank < devices; rank++) {
                Box ob = lo.sliceBox(rank);
                assertEquals(expectedBox(a, ob), la.sliceBox(rank), what + " rank " + rank + " input 0");
                assertEquals(expectedBox(b, ob), lb.sliceBox(rank), what + " rank " + rank + " input 1");
            }
            assertTrue(sh.forward().isEmpty(), what);
        }
    }

    static Stream<Long> seeds() {
        return Stream.of(20240611L, 7L, 99991L);
    }

    /** A random operand of the broadcast shape {@code out}: a suffix, with unsplit dims sometimes made 1. */
    private static TensorType operand(Random rnd, long[] out, int[] split) {
        int rank = 1 + rnd.nextInt(out.length);
        long[] shape = new long[rank];
        for (int j = 0; j < rank; j++) {
            int i = j + out.length - rank;
            shape[j] = rnd.nextInt(3) == 0 ? 1 : out[i];
        }
        return TensorType.of(DType.FLOAT32, shape);
    }

    private static int[] operandStrategy(TensorType t, long[] out, int[] split) {
        int[] s = new int[t.rank()];
        for (int j = 0; j < s.length; j++) {
            s[j] = t.dim(j) == 1 ? 1 : split[j + out.length - t.rank()];
        }
        return s;
    }

    /** The part of {@code t} an output box reads: the right-aligned box, all of a broadcast dimension. */
    private static Box expectedBox(TensorType t, Box ob) {
        long[] start = new long[t.rank()];
        long[] end = new long[t.rank()];
        for (int j = 0; j < t.rank(); j++) {
            int i = j + ob.rank() - t.rank();
            if (t.dim(j) == 1) {
                end[j] = 1;
            } else {
                start[j] = ob.start(i);
                end[j] = ob.end(i);
            }
        }
        return Box.of(start, end);
    }
}
