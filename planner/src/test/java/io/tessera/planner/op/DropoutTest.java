package io.tessera.planner.op;

import io.tessera.layout.DType;
import io.tessera.layout.DeviceMatrix;
import io.tessera.layout.TensorMap;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.List;

import static io.tessera.planner.op.OpTests.rejected;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Dropout: any strategy, output = input layout, no communication; keep_prob in (0, 1]. */
class DropoutTest {

    private static final TensorType X = TensorType.of(DType.FLOAT16, 16, 128);

    @Test
    void outputHasTheInputLayout() {
        Dropout op = new Dropout(0.9);
        assertEquals("Dropout", op.type());
        OpSharding sh = op.shard("drop", List.of(X), Strategy.of(new int[] {4, 2}), null, 16);
        assertEquals(DeviceMatrix.of(4, 2, 2), sh.devMatrix());
        assertEquals(2, sh.repeated(), "two ranks hold each slice (and share its mask seed)");
        assertEquals(TensorMap.of(2, 1), sh.inputMaps().get(0));
        assertEquals(TensorMap.of(2, 1), sh.outputMaps().get(0));
        assertTrue(sh.comms().isEmpty());
        assertEquals(List.of(X), op.outputs("drop", List.of(X)));
    }

    @ParameterizedTest
    @ValueSource(doubles = {0.0, -0.1, 1.5, Double.NaN})
    void keepProbOutsideTheUnitIntervalIsRejected(double p) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new Dropout(p));
        assertTrue(e.getMessage().startsWith("Dropout: keep_prob is " + p + "; expected a probability in (0, 1]"),
                e.getMessage());
    }

    @Test
    void keepProbOneIsAllowed() {
        assertEquals(1.0, new Dropout(1.0).keepProb());
    }

    @Test
    void dataParallelAndRejections() {
        assertEquals(Strategy.of(new int[] {8, 1}), new Dropout(0.5).dataParallel(List.of(X), 8));
        rejected(() -> new Dropout(0.5).shard("drop", List.of(X), Strategy.of(new int[] {16, 1}), null, 8),
                "Dropout 'drop'", "uses 16 devices but the stage has 8");
        rejected(() -> new Dropout(0.5).shard("drop", List.of(X), Strategy.of(new int[] {1, 1}),
                Strategy.of(new int[] {1, 1}), 8), "Dropout 'drop'", "out_strategy");
    }
}
