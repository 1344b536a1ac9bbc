package io.tessera.planner.op;

import io.tessera.layout.DType;
import io.tessera.layout.DeviceMatrix;
import io.tessera.layout.TensorMap;
import org.junit.jupiter.api.Test;

import java.util.List;

import static io.tessera.planner.op.OpTests.rejected;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** SoftmaxCrossEntropyWithLogits: labels split like logits, class dim unsplit, loss keeps the batch dim. */
class SoftmaxCrossEntropyWithLogitsTest {

    private static final TensorType L = TensorType.of(DType.FLOAT32, 32, 1000);
    private static final SoftmaxCrossEntropyWithLogits OP = new SoftmaxCrossEntropyWithLogits();

    private static OpSharding shard(Strategy s, int devices) {
        return OP.shard("loss", List.of(L, L), s, null, devices);
    }

    @Test
    void lossKeepsTheBatchDimension() {
        assertEquals("SoftmaxCrossEntropyWithLogits", OP.type());
        assertEquals(List.of(TensorType.of(DType.FLOAT32, 32)), OP.outputs("loss", List.of(L, L)));
        OpSharding sh = shard(Strategy.of(new int[] {8, 1}, new int[] {8, 1}), 8);
        assertEquals(DeviceMatrix.of(8, 1), sh.devMatrix());
        assertEquals(TensorMap.of(1, 0), sh.inputMaps().get(0));
        assertEquals(TensorMap.of(1, 0), sh.inputMaps().get(1));
        assertEquals(TensorMap.of(1), sh.outputMaps().get(0));
        assertArrayEquals(new long[] {4}, sh.outputLayout(0, TensorType.of(DType.FLOAT32, 32)).sliceShape());
        assertTrue(sh.comms().isEmpty(), sh.comms().toString());
    }

    @Test
    void repeatedDimension() {
        OpSharding sh = shard(Strategy.of(new int[] {2, 1}, new int[] {2, 1}), 8);
        assertEquals(DeviceMatrix.of(2, 1, 4), sh.devMatrix());
        assertEquals(TensorMap.of(2), sh.outputMaps().get(0));
        assertTrue(sh.comms().isEmpty());
    }

    @Test
    void labelsMustBeSplitLikeLogits() {
        String m = rejected(() -> shard(Strategy.of(new int[] {8, 1}, new int[] {4, 1}), 8),
                "SoftmaxCrossEntropyWithLogits 'loss'");
        assertEquals("SoftmaxCrossEntropyWithLogits 'loss': input 1 (labels) dim 0 is split 4 ways but input 0 "
                + "(logits) dim 0 is split 8 ways; labels must be split like logits", m);
    }

    @Test
    void classDimensionMustNotBeSplit() {
        String m = rejected(() -> shard(Strategy.of(new int[] {4, 2}, new int[] {4, 2}), 8),
                "SoftmaxCrossEntropyWithLogits 'loss'");
        assertEquals("SoftmaxCrossEntropyWithLogits 'loss': input 0 (logits) dim 1 is split 2 ways but must not be "
                + "split (the softmax sums over the class dimension); set it to 1", m);
    }

    @Test
    void dataParallelAndShapeErrors() {
        assertEquals(Strategy.of(new int[] {16, 1}, new int[] {16, 1}), OP.dataParallel(List.of(L, L), 16));
        rejected(() -> OP.outputs("loss", List.of(L, TensorType.of(DType.FLOAT32, 32, 10))),
                "SoftmaxCrossEntropyWithLogits 'loss'", "input 1 (labels) Float32[32, 10] does not match");
        rejected(() -> OP.outputs("loss", List.of(TensorType.of(DType.FLOAT32, 2, 32, 10),
                TensorType.of(DType.FLOAT32, 2, 32, 10))), "SoftmaxCrossEntropyWithLogits 'loss'",
                "has 3 dims; expected 2 (N, C)");
        rejected(() -> OP.shard("loss", List.of(L, L), Strategy.of(new int[] {8, 1}, new int[] {8, 1}),
                Strategy.of(new int[] {8}), 8), "SoftmaxCrossEntropyWithLogits 'loss'", "out_strategy");
    }
}
