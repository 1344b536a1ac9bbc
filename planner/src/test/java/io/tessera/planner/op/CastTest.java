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

/** Cast: the dtype changes, the layout does not. */
class CastTest {

    private static final TensorType X = TensorType.of(DType.FLOAT32, 16, 64);

    @Test
    void outputHasTheTargetDtypeAndTheInputLayout() {
        Cast op = new Cast(DType.FLOAT16);
        assertEquals("Cast", op.type());
        assertEquals(List.of(TensorType.of(DType.FLOAT16, 16, 64)), op.outputs("cast", List.of(X)));
        OpSharding sh = op.shard("cast", List.of(X), Strategy.of(new int[] {2, 4}), null, 8);
        assertEquals(DeviceMatrix.of(2, 4), sh.devMatrix());
        assertEquals(TensorMap.of(1, 0), sh.outputMaps().get(0));
        assertEquals(8 * 16 * 2, sh.outputLayout(0, op.outputs("cast", List.of(X)).get(0)).sliceBytes(DType.FLOAT16),
                "a Float16 slice of [8, 16]");
        assertTrue(sh.comms().isEmpty());
    }

    @Test
    void dataParallelAndRejections() {
        Cast op = new Cast(DType.INT32);
        assertEquals(Strategy.of(new int[] {4, 1}), op.dataParallel(List.of(X), 4));
        assertTrue(op.shard("cast", List.of(X), op.dataParallel(List.of(X), 8), null, 8).comms().isEmpty());
        rejected(() -> op.shard("cast", List.of(X), Strategy.of(new int[] {1, 1}, new int[] {1}), null, 8),
                "Cast 'cast'", "has 2 tuples but the operator has 1 input");
        rejected(() -> op.shard("cast", List.of(X), Strategy.of(new int[] {1, 0}), null, 8), "Cast 'cast'",
                "input 0 dim 1 is split 0 ways; expected a positive number of slices");
        assertThrows(IllegalArgumentException.class, () -> new Cast(null));
    }
}
