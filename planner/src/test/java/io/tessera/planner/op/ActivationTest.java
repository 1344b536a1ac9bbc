package io.tessera.planner.op;

import io.tessera.layout.DType;
import io.tessera.layout.DeviceMatrix;
import io.tessera.layout.TensorMap;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.util.List;

import static io.tessera.planner.op.OpTests.rejected;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** ReLU/GeLU/Tanh/Sigmoid/SiLU: any strategy, output = input layout, no communication. */
class ActivationTest {

    private static final TensorType X = TensorType.of(DType.FLOAT32, 8, 16, 32);

    @Test
    void namesAndFactories() {
        assertEquals(List.of("ReLU", "GeLU", "Tanh", "Sigmoid"), List.of(Activation.relu().type(),
                Activation.gelu().type(), Activation.tanh().type(), Activation.sigmoid().type()));
        assertThrows(IllegalArgumentException.class, () -> new Activation(null));
    }

    @Test
    void siluIsAnActivationReadingOnlyItsInputInBackward() {
        Activation silu = Activation.silu();
        assertEquals("SiLU", silu.type());
        assertEquals(new Activation(Activation.Kind.SILU), silu);
        assertEquals(OperatorKind.ACTIVATION, OperatorKind.forType("SiLU"));
        assertEquals(silu, OperatorKind.ACTIVATION.decode("SiLU", new OpAttrs("ops[0]", silu.encodeAttrs())));
        assertEquals("{}", silu.encodeAttrs().toString());
        // x sigmoid(x): the derivative s (1 + x (1 - s)) is recomputed from x, the output is not kept
        assertEquals(List.of(TensorRef.input(0)), silu.gradientReads(0));
        List<long[]> slice = List.<long[]>of(new long[] {4, 8});
        assertEquals(Flops.SILU * 32L, silu.forwardFlops(slice, slice));
        assertEquals(Flops.TANH_SIGMOID * 32L, Activation.sigmoid().forwardFlops(slice, slice));
        assertEquals(Flops.GELU * 32L, Activation.gelu().forwardFlops(slice, slice));
        assertEquals(List.of(TensorRef.output(0)), Activation.sigmoid().gradientReads(0));
    }

    @ParameterizedTest
    @EnumSource(Activation.Kind.class)
    void anyStrategyOutputHasTheInputLayout(Activation.Kind kind) {
        Activation op = new Activation(kind);
        OpSharding sh = op.shard("act", List.of(X), Strategy.of(new int[] {2, 4, 8}), null, 64);
        assertEquals(DeviceMatrix.of(2, 4, 8), sh.devMatrix());
        assertEquals(TensorMap.of(2, 1, 0), sh.inputMaps().get(0));
        assertEquals(sh.inputMaps().get(0), sh.outputMaps().get(0));
        assertArrayEquals(new long[] {4, 4, 4}, sh.outputLayout(0, X).sliceShape());
        assertTrue(sh.comms().isEmpty(), sh.comms().toString());
        assertEquals(List.of(X), op.outputs("act", List.of(X)));
    }

    @Test
    void repeatedDimensionWhenTheStrategyCoversFewerDevices() {
        OpSharding sh = Activation.gelu().shard("act", List.of(X), Strategy.of(new int[] {1, 1, 4}), null, 8);
        assertEquals(DeviceMatrix.of(1, 1, 4, 2), sh.devMatrix());
        assertEquals(2, sh.repeated());
        assertEquals(TensorMap.of(3, 2, 1), sh.outputMaps().get(0));
        assertTrue(sh.comms().isEmpty());
    }

    @Test
    void dataParallelDefault() {
        assertEquals(Strategy.of(new int[] {8, 1, 1}), Activation.relu().dataParallel(List.of(X), 32));
        assertEquals(Strategy.of(new int[] {}), Activation.relu().dataParallel(
                List.of(TensorType.of(DType.FLOAT32)), 8));
        OpSharding scalar = Activation.relu().shard("act", List.of(TensorType.of(DType.FLOAT32)),
                Strategy.of(new int[] {}), null, 8);
        assertEquals(DeviceMatrix.of(8), scalar.devMatrix());
        assertTrue(scalar.comms().isEmpty());
    }

    @Test
    void rejections() {
        rejected(() -> Activation.tanh().shard("act", List.of(X), Strategy.of(new int[] {3, 1, 1}), null, 8),
                "Tanh 'act'", "input 0 dim 0 of size 8 is split 3 ways, which does not divide it");
        rejected(() -> Activation.tanh().shard("act", List.of(X), Strategy.of(new int[] {2, 1}), null, 8),
                "Tanh 'act'", "has 2 values but the tensor Float32[8, 16, 32] has 3 dims");
        rejected(() -> Activation.tanh().shard("act", List.of(X), Strategy.of(new int[] {2, 4, 2}), null, 8),
                "Tanh 'act'", "uses 16 devices but the stage has 8");
        rejected(() -> Activation.sigmoid().shard("act", List.of(X), Strategy.of(new int[] {2, 1, 1}),
                Strategy.of(new int[] {2, 1, 1}), 8), "Sigmoid 'act'", "out_strategy [[2, 1, 1]] is not supported");
        rejected(() -> Activation.relu().outputs("act", List.of(X, X)), "ReLU 'act'",
                "found 2 inputs; expected 1 (x)");
    }
}
