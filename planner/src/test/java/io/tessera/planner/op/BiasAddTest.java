package io.tessera.planner.op;

import io.tessera.layout.DType;
import io.tessera.layout.DeviceMatrix;
import io.tessera.layout.TensorMap;
import org.junit.jupiter.api.Test;

import java.util.List;

import static io.tessera.planner.op.OpTests.rejected;
import static io.tessera.planner.op.OpTests.summaries;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** BiasAdd: the bias follows x's channel split; its gradient is summed over the batch group. */
class BiasAddTest {

    private static final TensorType X = TensorType.of(DType.FLOAT32, 32, 64, 7, 7);
    private static final TensorType B = TensorType.of(DType.FLOAT32, 64);

    private static OpSharding shard(Strategy s, int devices) {
        return new BiasAdd().shard("bias", List.of(X, B), s, null, devices);
    }

    @Test
    void biasFollowsTheChannelSplit() {
        OpSharding sh = shard(Strategy.of(new int[] {4, 2, 1, 1}, new int[] {2}), 8);
        assertEquals("BiasAdd", new BiasAdd().type());
        assertEquals(DeviceMatrix.of(4, 2, 1, 1), sh.devMatrix());
        assertEquals(TensorMap.of(3, 2, 1, 0), sh.inputMaps().get(0));
        assertEquals(TensorMap.of(2), sh.inputMaps().get(1));
        assertEquals(TensorMap.of(3, 2, 1, 0), sh.outputMaps().get(0));
        assertArrayEquals(new long[] {32}, sh.inputLayout(1, B).sliceShape());
        assertArrayEquals(new long[] {8, 32, 7, 7}, sh.outputLayout(0, X).sliceShape());
        assertTrue(sh.forward().isEmpty());
        assertEquals(List.of("backward AllReduce(sum) of input 1 gradient over device dims [3]"),
                summaries(sh.backward()), "the bias gradient is partial over the batch group");
        assertEquals(List.of(List.of(0, 2, 4, 6), List.of(1, 3, 5, 7)),
                sh.backward().get(0).groups(sh.devMatrix()));
    }

    @Test
    void channelOnlySplitNeedsNoCommunication() {
        OpSharding sh = shard(Strategy.of(new int[] {1, 8, 1, 1}, new int[] {8}), 8);
        assertTrue(sh.comms().isEmpty(), sh.comms().toString());
    }

    @Test
    void biasSplitDifferentFromTheChannelsIsRejected() {
        String m = rejected(() -> shard(Strategy.of(new int[] {4, 2, 1, 1}, new int[] {1}), 8), "BiasAdd 'bias'");
        assertEquals("BiasAdd 'bias': input 1 dim 0 is split 1 ways but input 0 dim 1 is split 2 ways; the bias "
                + "must be split like x's channel dimension", m);
    }

    @Test
    void repeatedDimensionWhenTheStrategyCoversFewerDevices() {
        OpSharding sh = shard(Strategy.of(new int[] {2, 1, 1, 1}, new int[] {1}), 8);
        assertEquals(DeviceMatrix.of(2, 1, 1, 1, 4), sh.devMatrix());
        assertEquals(4, sh.repeated());
        assertEquals(TensorMap.of(4, 3, 2, 1), sh.inputMaps().get(0));
        assertEquals(TensorMap.of(3), sh.inputMaps().get(1));
        assertEquals(List.of("backward AllReduce(sum) of input 1 gradient over device dims [4]"),
                summaries(sh.backward()));
    }

    @Test
    void dataParallelDefault() {
        Strategy dp = new BiasAdd().dataParallel(List.of(X, B), 8);
        assertEquals(Strategy.of(new int[] {8, 1, 1, 1}, new int[] {1}), dp);
        assertEquals(List.of("backward AllReduce(sum) of input 1 gradient over device dims [3]"),
                summaries(shard(dp, 8).backward()));
    }

    @Test
    void shapeAndStrategyErrors() {
        rejected(() -> new BiasAdd().outputs("bias", List.of(X, TensorType.of(DType.FLOAT32, 7))),
                "BiasAdd 'bias'", "input 1 Float32[7]", "expected shape [64]");
        rejected(() -> new BiasAdd().outputs("bias", List.of(B, B)), "BiasAdd 'bias'",
                "input 0 Float32[64] has 1 dims; expected at least 2");
        rejected(() -> new BiasAdd().outputs("bias", List.of(X, TensorType.of(DType.FLOAT16, 64))),
                "BiasAdd 'bias'", "insert a Cast");
        rejected(() -> shard(Strategy.of(new int[] {4, 2, 1, 1}), 8), "BiasAdd 'bias'",
                "has 1 tuple but the operator has 2 inputs");
        rejected(() -> shard(Strategy.of(new int[] {4, 2, 7, 1}, new int[] {2}), 8), "BiasAdd 'bias'",
                "uses 56 devices");
        rejected(() -> new BiasAdd().shard("bias", List.of(X, B), Strategy.of(new int[] {1, 1, 1, 1},
                new int[] {1}), Strategy.of(new int[] {1, 1, 1, 1}), 8), "BiasAdd 'bias'", "out_strategy");
    }
}
