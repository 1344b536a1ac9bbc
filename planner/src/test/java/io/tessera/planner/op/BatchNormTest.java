package io.tessera.planner.op;

import io.tessera.layout.DType;
import io.tessera.layout.DeviceMatrix;
import io.tessera.layout.TensorMap;
import org.junit.jupiter.api.Test;

import java.util.List;

import static io.tessera.planner.op.OpTests.rejected;
import static io.tessera.planner.op.OpTests.summaries;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** BatchNorm (training): channel split free, N/H/W splits reduce the batch statistics. */
class BatchNormTest {

    private static final TensorType X = TensorType.of(DType.FLOAT32, 32, 64, 14, 14);
    private static final TensorType C = TensorType.of(DType.FLOAT32, 64);
    private static final BatchNorm BN = new BatchNorm(1e-5, 0.1);

    private static OpSharding shard(TensorType x, TensorType c, int[] sx, int devices) {
        int[] sc = {sx[1]};
        return BN.shard("bn", List.of(x, c, c, c, c), Strategy.of(sx, sc, sc, sc, sc), null, devices);
    }

    @Test
    void channelSplitNeedsNoCommunication() {
        OpSharding sh = shard(X, C, new int[] {1, 8, 1, 1}, 8);
        assertEquals("BatchNorm", BN.type());
        assertEquals(DeviceMatrix.of(1, 8, 1, 1), sh.devMatrix());
        assertEquals(TensorMap.of(3, 2, 1, 0), sh.inputMaps().get(0));
        for (int i = 1; i < 5; i++) {
            assertEquals(TensorMap.of(2), sh.inputMaps().get(i));
        }
        assertEquals(TensorMap.of(3, 2, 1, 0), sh.outputMaps().get(0));
        assertTrue(sh.comms().isEmpty(), sh.comms().toString());
    }

    @Test
    void batchSplitAllReducesTheStatistics() {
        OpSharding sh = shard(X, C, new int[] {8, 1, 1, 1}, 8);
        assertEquals(List.of("forward AllReduce(sum) of output 0 over device dims [3]"), summaries(sh.forward()));
        OpComm stats = sh.forward().get(0);
        assertTrue(stats.reason().contains("per-channel") && stats.reason().contains("SyncBatchNorm"),
                stats.reason());
        assertEquals(List.of(List.of(0, 1, 2, 3, 4, 5, 6, 7)), stats.groups(sh.devMatrix()));
        assertEquals(List.of("backward AllReduce(sum) of input 0 gradient over device dims [3]",
                "backward AllReduce(sum) of input 1 gradient over device dims [3]",
                "backward AllReduce(sum) of input 2 gradient over device dims [3]"), summaries(sh.backward()),
                "x's statistics sums, then scale and bias; the moving mean and variance have no gradient");
    }

    @Test
    void batchAndSpatialSplitsFormOneGroupWithoutTheChannelDimension() {
        OpSharding sh = shard(X, C, new int[] {2, 2, 2, 1}, 8);
        assertEquals(List.of("forward AllReduce(sum) of output 0 over device dims [3, 1]"), summaries(sh.forward()));
        assertEquals(List.of(List.of(0, 1, 4, 5), List.of(2, 3, 6, 7)),
                sh.forward().get(0).groups(sh.devMatrix()), "ranks sharing a channel slice");
        assertTrue(sh.forward().get(0).reason().startsWith("x dims [0, 2] are split [2, 2] ways"),
                sh.forward().get(0).reason());
    }

    @Test
    void spatialSplitAloneAlsoReduces() {
        OpSharding sh = shard(X, C, new int[] {1, 1, 2, 2}, 4);
        assertEquals(List.of("forward AllReduce(sum) of output 0 over device dims [1, 0]"), summaries(sh.forward()));
    }

    @Test
    void repeatedDimensionIsNotPartOfTheStatisticsGroup() {
        OpSharding sh = shard(X, C, new int[] {2, 4, 1, 1}, 16);
        assertEquals(DeviceMatrix.of(2, 4, 1, 1, 2), sh.devMatrix());
        assertEquals(2, sh.repeated());
        assertEquals(TensorMap.of(3), sh.inputMaps().get(1));
        assertEquals(List.of("forward AllReduce(sum) of output 0 over device dims [4]"), summaries(sh.forward()));
        assertEquals(8, sh.forward().get(0).groups(sh.devMatrix()).size());
    }

    @Test
    void twoDimensionalInput() {
        TensorType x = TensorType.of(DType.FLOAT32, 32, 64);
        OpSharding sh = shard(x, C, new int[] {4, 2}, 8);
        assertEquals(DeviceMatrix.of(4, 2), sh.devMatrix());
        assertEquals(TensorMap.of(0), sh.inputMaps().get(1));
        assertEquals(List.of("forward AllReduce(sum) of output 0 over device dims [1]"), summaries(sh.forward()));
    }

    @Test
    void perChannelInputsMustFollowTheChannelSplit() {
        Strategy s = Strategy.of(new int[] {2, 4, 1, 1}, new int[] {4}, new int[] {4}, new int[] {2}, new int[] {4});
        String m = rejected(() -> BN.shard("bn", List.of(X, C, C, C, C), s, null, 8), "BatchNorm 'bn'");
        assertEquals("BatchNorm 'bn': input 3 (mean) dim 0 is split 2 ways but input 0 dim 1 is split 4 ways; mean "
                + "must be split like x's channel dimension", m);
    }

    @Test
    void dataParallelDefault() {
        Strategy dp = BN.dataParallel(List.of(X, C, C, C, C), 8);
        int[] one = {1};
        assertEquals(Strategy.of(new int[] {8, 1, 1, 1}, one, one, one, one), dp);
        assertEquals(1, BN.shard("bn", List.of(X, C, C, C, C), dp, null, 8).forward().size());
    }

    @Test
    void shapeAndAttributeErrors() {
        rejected(() -> BN.outputs("bn", List.of(X, C, C, TensorType.of(DType.FLOAT32, 32), C)), "BatchNorm 'bn'",
                "input 3 (mean) Float32[32] does not match input 0 Float32[32, 64, 14, 14]; expected shape [64]");
        rejected(() -> BN.outputs("bn", List.of(C, C, C, C, C)), "BatchNorm 'bn'",
                "input 0 (x) Float32[64] has 1 dims; expected at least 2");
        rejected(() -> BN.outputs("bn", List.of(X, C)), "BatchNorm 'bn'",
                "expected 5 (x, scale, bias, mean and variance)");
        rejected(() -> shard(X, C, new int[] {8, 1, 1, 2}, 8), "BatchNorm 'bn'",
                "uses 16 devices but the stage has 8");
        assertThrows(IllegalArgumentException.class, () -> new BatchNorm(0, 0.1));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new BatchNorm(1e-5, 1.5));
        assertEquals("BatchNorm: momentum is 1.5; expected a value in [0, 1] such as 0.1", e.getMessage());
        assertEquals(new BatchNorm(1e-5, 0.1), BatchNorm.of());
        rejected(() -> BN.shard("bn", List.of(X, C, C, C, C), BN.dataParallel(List.of(X, C, C, C, C), 8),
                Strategy.of(new int[] {8, 1, 1, 1}), 8), "BatchNorm 'bn'", "out_strategy");
    }
}
