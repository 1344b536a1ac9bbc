package io.tessera.planner.op;

import io.tessera.layout.comm.CollectiveKind;

import io.tessera.layout.DType;
import io.tessera.layout.DeviceMatrix;
import io.tessera.layout.Layout;
import io.tessera.layout.TensorMap;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.List;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The MatMul rule against the published cases of spec §3, Megatron's column/row split, and its errors. */
class MatMulTest {

    private static final TensorType A = TensorType.of(DType.FLOAT32, 2, 4, 8, 16);
    private static final TensorType B = TensorType.of(DType.FLOAT32, 2, 4, 16, 32);

    private static OpSharding shard(MatMul op, TensorType a, TensorType b, Strategy s, int devices) {
        return op.shard("mm", List.of(a, b), s, null, devices);
    }

    @Test
    void publishedCaseWithSplitK() {
        OpSharding s = shard(MatMul.of(false, false), A, B,
                Strategy.of(new int[] {2, 4, 8, 16}, new int[] {2, 4, 16, 1}), 1024);
        assertEquals(DeviceMatrix.of(2, 4, 8, 16, 1), s.devMatrix());
        assertEquals(TensorMap.of(4, 3, 2, 1), s.inputMaps().get(0));
        assertEquals(TensorMap.of(4, 3, 1, 0), s.inputMaps().get(1));
        assertEquals(TensorMap.of(4, 3, 2, 0), s.outputMaps().get(0));
        assertArrayEquals(new long[] {1, 1, 1, 1}, s.inputLayout(0, A).sliceShape());
        assertArrayEquals(new long[] {1, 1, 1, 32}, s.inputLayout(1, B).sliceShape());
        assertArrayEquals(new long[] {1, 1, 1, 32},
                s.outputLayout(0, TensorType.of(DType.FLOAT32, 2, 4, 8, 32)).sliceShape());
        assertEquals(1, s.forward().size());
        OpComm ar = s.forward().get(0);
        assertEquals(CollectiveKind.ALL_REDUCE, ar.kind());
        assertArrayEquals(new int[] {1}, ar.axes(), "the k device dim, counted from the right");
        assertEquals(64, ar.groups(s.devMatrix()).size(), "1024 ranks in groups of 16");
        assertEquals(16, ar.groups(s.devMatrix()).get(0).size());
    }

    @Test
    void publishedCaseWithoutForwardCommunication() {
        OpSharding s = shard(MatMul.of(false, false), A, B,
                Strategy.of(new int[] {2, 4, 8, 1}, new int[] {2, 4, 1, 16}), 1024);
        assertTrue(s.forward().isEmpty(), s.comms().toString());
    }

    @Test
    void publishedTransposeB() {
        TensorType b = TensorType.of(DType.FLOAT32, 32, 16);
        OpSharding s = shard(MatMul.of(false, true), A, b, Strategy.of(new int[] {2, 4, 8, 16}, new int[] {1, 16}),
                1024);
        assertEquals(DeviceMatrix.of(2, 4, 8, 16, 1), s.devMatrix());
        assertEquals(TensorMap.of(0, 1), s.inputMaps().get(1));
        assertArrayEquals(new long[] {32, 1}, s.inputLayout(1, b).sliceShape());
    }

    @Test
    void publishedParameterLayoutNormalises() {
        // 8 devices, MatMul(transpose_b).shard(((2,1),(4,1))), w [64,32] -> dev [2,4], w map [0,-1], slice [16,32]
        TensorType x = TensorType.of(DType.FLOAT32, 16, 32);
        TensorType w = TensorType.of(DType.FLOAT32, 64, 32);
        OpSharding s = shard(MatMul.of(false, true), x, w, Strategy.of(new int[] {2, 1}, new int[] {4, 1}), 8);
        assertEquals(DeviceMatrix.of(2, 1, 4), s.devMatrix());
        Layout wl = s.inputLayout(1, w).normalized();
        assertEquals(DeviceMatrix.of(2, 4), wl.devMatrix());
        assertEquals(TensorMap.of(0, -1), wl.tensorMap());
        assertArrayEquals(new long[] {16, 32}, wl.sliceShape());
    }

    static Stream<Strategy> rejected() {
        return Stream.of(
                Strategy.of(new int[] {2, 2, 8, 16}, new int[] {2, 4, 16, 1}),
                Strategy.of(new int[] {2, 4, 8, 16}, new int[] {2, 4, 8, 1}),
                Strategy.of(new int[] {2, 4, 8, 16}, new int[] {2, 3, 16, 1}),
                Strategy.of(new int[] {2, 4, 8, 0}, new int[] {2, 4, 0, 1}),
                Strategy.of(new int[] {2, 4, 8, 16}));
    }

    @ParameterizedTest
    @MethodSource("rejected")
    void publishedRejections(Strategy s) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> shard(MatMul.of(false, false), A, B, s, 1024));
        assertTrue(e.getMessage().startsWith("MatMul 'mm': "), e.getMessage());
    }

    @Test
    void kMismatchMessageNamesBothInputs() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> shard(MatMul.of(false, false), TensorType.of(DType.FLOAT32, 8, 16),
                        TensorType.of(DType.FLOAT32, 16, 4), Strategy.of(new int[] {1, 2}, new int[] {4, 1}), 8));
        assertEquals("MatMul 'mm': input 1 dim 0 is split 4 ways but input 0 dim 1 is split 2 ways; "
                + "k must be split equally", e.getMessage());
    }

    @Test
    void tooManyDevicesIsRejected() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> shard(MatMul.of(false, false), TensorType.of(DType.FLOAT32, 8, 16),
                        TensorType.of(DType.FLOAT32, 16, 8), Strategy.of(new int[] {8, 2}, new int[] {2, 4}), 32));
        assertTrue(e.getMessage().contains("uses 64 devices but the stage has 32"), e.getMessage());
    }

    @Test
    void megatronColumnThenRowParallel() {
        TensorType x = TensorType.of(DType.FLOAT32, 8, 16);
        TensorType w1 = TensorType.of(DType.FLOAT32, 16, 64);
        TensorType h = TensorType.of(DType.FLOAT32, 8, 64);
        TensorType w2 = TensorType.of(DType.FLOAT32, 64, 16);
        // column parallel: x (dp, 1), w1 (1, mp): no forward comm; x's gradient is partial over mp
        OpSharding col = shard(MatMul.of(false, false), x, w1, Strategy.of(new int[] {2, 1}, new int[] {1, 4}), 8);
        assertTrue(col.forward().isEmpty());
        assertEquals(List.of("backward AllReduce(sum) of input 0 gradient over device dims [0]",
                "backward AllReduce(sum) of input 1 gradient over device dims [2]"), summaries(col.backward()));
        // row parallel: h (dp, mp), w2 (mp, 1): forward AllReduce over mp; w2's gradient is partial over dp
        OpSharding row = shard(MatMul.of(false, false), h, w2, Strategy.of(new int[] {2, 4}, new int[] {4, 1}), 8);
        assertEquals(List.of("forward AllReduce(sum) of output 0 over device dims [1]"), summaries(row.forward()));
        assertEquals(List.of("backward AllReduce(sum) of input 1 gradient over device dims [2]"),
                summaries(row.backward()));
        assertEquals(List.of(List.of(0, 1, 2, 3), List.of(4, 5, 6, 7)),
                row.forward().get(0).groups(row.devMatrix()));
    }

    @Test
    void outStrategyAsksForReduceScatter() {
        TensorType h = TensorType.of(DType.FLOAT32, 8, 64);
        TensorType w = TensorType.of(DType.FLOAT32, 64, 16);
        OpSharding s = MatMul.of(false, false).shard("mm", List.of(h, w),
                Strategy.of(new int[] {2, 4}, new int[] {4, 1}), Strategy.of(new int[] {8, 1}), 8);
        assertEquals(List.of("forward ReduceScatter(sum) of output 0 over device dims [1]"), summaries(s.forward()));
        assertEquals(TensorMap.of(List.of(TensorMap.Entry.of(new int[] {2, 1}), TensorMap.Entry.of(0))),
                s.outputMaps().get(0));
        assertArrayEquals(new long[] {1, 16}, s.outputLayout(0, TensorType.of(DType.FLOAT32, 8, 16)).sliceShape());
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> MatMul.of(false, false)
                .shard("mm", List.of(h, w), Strategy.of(new int[] {2, 4}, new int[] {4, 1}),
                        Strategy.of(new int[] {4, 1}), 8));
        assertTrue(e.getMessage().contains("expected 2 (like in_strategy, AllReduce) or 8"), e.getMessage());
    }

    @Test
    void dataParallelSplitsTheBatchAndRepeatsWhenItMustFit() {
        TensorType x = TensorType.of(DType.FLOAT32, 12, 16);
        TensorType w = TensorType.of(DType.FLOAT32, 16, 4);
        Strategy dp = MatMul.of(false, false).dataParallel(List.of(x, w), 8);
        assertEquals(Strategy.of(new int[] {4, 1}, new int[] {1, 1}), dp);
        OpSharding s = shard(MatMul.of(false, false), x, w, dp, 8);
        assertEquals(2, s.repeated());
        assertEquals(List.of("backward AllReduce(sum) of input 1 gradient over device dims [3]"),
                summaries(s.backward()), "only the data-parallel dim, not the repeated one");
    }

    @Test
    void shapeErrors() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> MatMul.of(false, false)
                .outputs("mm", List.of(TensorType.of(DType.FLOAT32, 8, 16), TensorType.of(DType.FLOAT32, 8, 16))));
        assertTrue(e.getMessage().contains("k = 16") && e.getMessage().contains("k = 8")
                && e.getMessage().contains("transpose_b"), e.getMessage());
        assertArrayEquals(new long[] {3, 8, 4}, MatMul.batched(false, false).outputs("bmm",
                List.of(TensorType.of(DType.FLOAT32, 3, 8, 16), TensorType.of(DType.FLOAT32, 16, 4))).get(0).shape());
    }

    private static List<String> summaries(List<OpComm> comms) {
        return comms.stream().map(c -> c.toString().substring(0, c.toString().indexOf(':'))).toList();
    }
}
