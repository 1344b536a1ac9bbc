package io.tessera.planner.op;

import io.tessera.layout.DType;
import io.tessera.layout.DeviceMatrix;
import io.tessera.layout.TensorMap;
import org.junit.jupiter.api.Test;

import java.util.List;

import static io.tessera.planner.op.OpTests.rejected;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** CausalMask: any strategy (queries and keys included), output = input layout, no communication. */
class CausalMaskTest {

    private static final TensorType SCORES = TensorType.of(DType.FLOAT16, 4, 8, 16, 16);

    @Test
    void outputHasTheInputLayoutEvenWithQueriesSplit() {
        CausalMask op = CausalMask.of();
        assertEquals("CausalMask", op.type());
        assertEquals(-10000.0, op.fillValue());
        OpSharding sh = op.shard("mask", List.of(SCORES), Strategy.of(new int[] {2, 2, 2, 1}), null, 16);
        assertEquals(DeviceMatrix.of(2, 2, 2, 1, 2), sh.devMatrix());
        assertEquals(TensorMap.of(4, 3, 2, 1), sh.inputMaps().get(0));
        assertEquals(TensorMap.of(4, 3, 2, 1), sh.outputMaps().get(0));
        assertTrue(sh.comms().isEmpty());
        assertEquals(List.of(SCORES), op.outputs("mask", List.of(SCORES)));
        assertEquals(4L * 8 * 16 * 16, op.forwardFlops(List.of(SCORES.shape()), List.of(SCORES.shape())));
    }

    @Test
    void rejectsWhatItCannotMask() {
        assertTrue(assertThrows(IllegalArgumentException.class, () -> new CausalMask(Double.NEGATIVE_INFINITY))
                .getMessage().startsWith("CausalMask: fill_value is -Infinity; expected a finite number"));
        rejected(() -> CausalMask.of().outputs("mask", List.of(TensorType.of(DType.FLOAT32, 8))), "CausalMask 'mask'",
                "expected at least 2 (..., query, key)");
        rejected(() -> CausalMask.of().outputs("mask", List.of(TensorType.of(DType.INT32, 8, 8))),
                "CausalMask 'mask'", "expected a floating dtype");
        rejected(() -> CausalMask.of().shard("mask", List.of(SCORES), Strategy.of(new int[] {1, 1, 1, 1}),
                Strategy.of(new int[] {1, 1, 1, 1}), 8), "CausalMask 'mask'", "out_strategy");
        assertEquals(Strategy.of(new int[] {4, 1, 1, 1}), CausalMask.of().dataParallel(List.of(SCORES), 8));
    }
}
