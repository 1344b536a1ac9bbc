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

/** Softmax/LogSoftmax: the published case of spec §3 and the unsplit-axis rule. */
class SoftmaxTest {

    private static final TensorType X = TensorType.of(DType.FLOAT32, 2, 4, 8, 16);

    @Test
    void publishedAxisMinusTwo() {
        OpSharding sh = Softmax.of(-2).shard("sm", List.of(X), Strategy.of(new int[] {2, 4, 1, 16}), null, 128);
        assertArrayEquals(new long[] {1, 1, 8, 1}, sh.outputLayout(0, X).sliceShape());
        assertArrayEquals(new long[] {1, 1, 8, 1}, sh.inputLayout(0, X).sliceShape());
        assertEquals(DeviceMatrix.of(2, 4, 1, 16), sh.devMatrix());
        assertEquals(TensorMap.of(3, 2, 1, 0), sh.outputMaps().get(0));
        assertTrue(sh.comms().isEmpty());
    }

    @Test
    void splitAxisIsRejected() {
        String m = rejected(() -> Softmax.of(-2).shard("sm", List.of(X), Strategy.of(new int[] {2, 4, 2, 1}),
                null, 16), "Softmax 'sm'");
        assertEquals("Softmax 'sm': input 0 dim 2 is split 2 ways but must not be split (Softmax normalises along "
                + "axis -2); set it to 1", m);
        rejected(() -> Softmax.log(3).shard("sm", List.of(X), Strategy.of(new int[] {1, 1, 1, 16}), null, 16),
                "LogSoftmax 'sm'", "input 0 dim 3 is split 16 ways but must not be split");
    }

    @Test
    void logSoftmaxNameAndLayout() {
        assertEquals("LogSoftmax", Softmax.log(-1).type());
        assertEquals("Softmax", Softmax.of(-1).type());
        OpSharding sh = Softmax.log(-1).shard("ls", List.of(X), Strategy.of(new int[] {2, 2, 2, 1}), null, 16);
        assertEquals(DeviceMatrix.of(2, 2, 2, 1, 2), sh.devMatrix());
        assertEquals(TensorMap.of(4, 3, 2, 1), sh.outputMaps().get(0));
        assertTrue(sh.comms().isEmpty());
    }

    @Test
    void axisOutOfRange() {
        rejected(() -> Softmax.of(4).outputs("sm", List.of(X)), "Softmax 'sm'",
                "axis 4 is out of range for input 0 Float32[2, 4, 8, 16]; expected an axis in [-4, 3]");
        rejected(() -> Softmax.of(-5).shard("sm", List.of(X), Strategy.of(new int[] {1, 1, 1, 1}), null, 1),
                "Softmax 'sm'", "axis -5 is out of range");
    }

    @Test
    void dataParallelLeavesAnAxisZeroUnsplit() {
        assertEquals(Strategy.of(new int[] {2, 1, 1, 1}), Softmax.of(-1).dataParallel(List.of(X), 8));
        TensorType v = TensorType.of(DType.FLOAT32, 16, 4);
        assertEquals(Strategy.of(new int[] {1, 1}), Softmax.of(0).dataParallel(List.of(v), 8));
        assertEquals(8, Softmax.of(0).shard("sm", List.of(v), Softmax.of(0).dataParallel(List.of(v), 8), null, 8)
                .repeated());
    }

    @Test
    void outStrategyIsRejected() {
        rejected(() -> Softmax.of(-1).shard("sm", List.of(X), Strategy.of(new int[] {2, 1, 1, 1}),
                Strategy.of(new int[] {2, 1, 1, 1}), 8), "Softmax 'sm'", "out_strategy");
    }
}
