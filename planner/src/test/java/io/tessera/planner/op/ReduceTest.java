package io.tessera.planner.op;

import io.tessera.layout.comm.CollectiveKind;

import io.tessera.layout.DType;
import io.tessera.layout.DeviceMatrix;
import io.tessera.layout.TensorMap;
import io.tessera.layout.redistribution.ReduceOp;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The Reduce rules against the published ReduceSum cases of spec §3, keepDims, the four kinds and errors. */
class ReduceTest {

    private static final TensorType X = TensorType.of(DType.FLOAT32, 16, 32, 64);

    private static OpSharding shard(Reduce op, TensorType x, int[] s, int devices) {
        return op.shard("r", List.of(x), Strategy.of(s), null, devices);
    }

    @Test
    void publishedReduceSumWithoutCommunication() {
        Reduce op = Reduce.sum(false, -1);
        TensorType y = op.outputs("r", List.of(X)).get(0);
        assertArrayEquals(new long[] {16, 32}, y.shape());
        OpSharding s = shard(op, X, new int[] {4, 8, 1}, 32);
        assertEquals(DeviceMatrix.of(4, 8, 1), s.devMatrix());
        assertEquals(TensorMap.of(2, 1, 0), s.inputMaps().get(0));
        assertEquals(TensorMap.of(2, 1), s.outputMaps().get(0));
        assertArrayEquals(new long[] {4, 4, 64}, s.inputLayout(0, X).sliceShape());
        assertArrayEquals(new long[] {4, 4}, s.outputLayout(0, y).sliceShape());
        assertTrue(s.comms().isEmpty(), s.comms().toString());
    }

    @Test
    void publishedReduceSumWithAllReduce() {
        OpSharding s = shard(Reduce.sum(false, -1), X, new int[] {4, 4, 2}, 32);
        assertEquals(DeviceMatrix.of(4, 4, 2), s.devMatrix());
        assertEquals(TensorMap.of(2, 1), s.outputMaps().get(0));
        assertEquals(1, s.forward().size());
        OpComm c = s.forward().get(0);
        assertEquals(CollectiveKind.ALL_REDUCE, c.kind());
        assertEquals(ReduceOp.SUM, c.reduce());
        assertArrayEquals(new int[] {0}, c.axes());
        assertEquals("reduced dim 2 (2 ways) split: each rank holds a partial sum", c.reason());
        assertEquals(List.of(0, 1), c.groups(s.devMatrix()).get(0));
        assertTrue(s.backward().isEmpty());
    }

    @ParameterizedTest
    @EnumSource(Reduce.Kind.class)
    void eachKindReducesWithItsOwnOp(Reduce.Kind kind) {
        Reduce op = new Reduce(kind, new int[] {1}, false);
        assertEquals(switchName(kind), op.type());
        OpSharding s = shard(op, X, new int[] {2, 4, 1}, 8);
        assertEquals(kind.op(), s.forward().get(0).reduce());
        assertArrayEquals(new int[] {1}, s.forward().get(0).axes());
        assertEquals(TensorMap.of(2, 0), s.outputMaps().get(0));
    }

    private static String switchName(Reduce.Kind kind) {
        return new String[] {"ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin"}[kind.ordinal()];
    }

    @Test
    void reduceMeanUsesMeanOfLocalMeans() {
        OpSharding s = shard(Reduce.mean(false, 0, 2), X, new int[] {2, 2, 2}, 8);
        assertEquals(List.of("forward AllReduce(mean) of output 0 over device dims [2, 0]"), summaries(s.forward()));
        assertEquals(TensorMap.of(1), s.outputMaps().get(0));
    }

    @Test
    void keepDimsKeepsReducedDimsUnsplitWithSizeOne() {
        Reduce op = Reduce.max(true, -1, 0);
        TensorType y = op.outputs("r", List.of(X)).get(0);
        assertArrayEquals(new long[] {1, 32, 1}, y.shape());
        OpSharding s = shard(op, X, new int[] {4, 2, 2}, 16);
        assertEquals(TensorMap.of(-1, 1, -1), s.outputMaps().get(0));
        assertArrayEquals(new long[] {1, 16, 1}, s.outputLayout(0, y).sliceShape());
        assertEquals(List.of("forward AllReduce(max) of output 0 over device dims [2, 0]"), summaries(s.forward()));
    }

    @Test
    void emptyAxesReduceEverythingToAScalar() {
        Reduce op = Reduce.sum(false);
        TensorType y = op.outputs("r", List.of(X)).get(0);
        assertEquals(0, y.rank());
        OpSharding s = shard(op, X, new int[] {8, 1, 1}, 16);
        assertEquals(DeviceMatrix.of(8, 1, 1, 2), s.devMatrix(), "the repeated dim is appended");
        assertEquals(TensorMap.of(), s.outputMaps().get(0));
        assertEquals(List.of("forward AllReduce(sum) of output 0 over device dims [3]"), summaries(s.forward()));
    }

    @Test
    void dataParallelSplitsDimZero() {
        Strategy dp = Reduce.mean(false, 1).dataParallel(List.of(X), 8);
        assertEquals(Strategy.of(new int[] {8, 1, 1}), dp);
        OpSharding s = shard(Reduce.mean(false, 1), X, dp.tuple(0), 8);
        assertTrue(s.comms().isEmpty());
        assertEquals(Strategy.of(new int[] {4, 1, 1}),
                Reduce.sum(false, 0).dataParallel(List.of(TensorType.of(DType.FLOAT32, 12, 5, 5)), 8));
    }

    @Test
    void rejections() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> Reduce.sum(false, 3).outputs("r", List.of(X)));
        assertEquals("ReduceSum 'r': axis 3 is out of range for input 0 Float32[16, 32, 64]; expected -3..2",
                e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> Reduce.sum(false, 2, -1).outputs("r", List.of(X)));
        assertEquals("ReduceSum 'r': axes [2, -1] name dim 2 twice; give each reduced dim once", e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> shard(Reduce.sum(false, -1), X, new int[] {4, 3, 1}, 32));
        assertTrue(e.getMessage().startsWith("ReduceSum 'r': input 0 dim 1 of size 32 is split 3 ways"),
                e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> Reduce.min(false, -1).shard("r", List.of(X),
                Strategy.of(new int[] {1, 1, 1}), Strategy.of(new int[] {1, 1}), 8));
        assertTrue(e.getMessage().startsWith("ReduceMin 'r': out_strategy [[1, 1]] is given but this operator does "
                + "not accept one"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> shard(Reduce.sum(false, -1), X, new int[] {4, 4, 4}, 32));
        assertTrue(e.getMessage().contains("uses 64 devices but the stage has 32"), e.getMessage());
    }

    private static List<String> summaries(List<OpComm> comms) {
        return comms.stream().map(c -> c.toString().substring(0, c.toString().indexOf(':'))).toList();
    }
}
