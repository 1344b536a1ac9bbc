package io.tessera.simulator.kernel;

import io.tessera.planner.op.Binary;
import io.tessera.simulator.array.NDArray;
import org.junit.jupiter.api.Test;

import java.util.List;

import static io.tessera.simulator.kernel.KernelTesting.array;
import static io.tessera.simulator.kernel.KernelTesting.shape;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

class BinaryKernelTest {

    private static NDArray run(Binary op, NDArray a, NDArray b) {
        List<NDArray> in = List.of(a, b);
        List<NDArray> out = BinaryKernel.forward(op, KernelTesting.ctx(in), in);
        KernelTesting.assertShapes(op, in, out);
        return out.get(0);
    }

    @Test
    void forwardHandComputed() {
        NDArray x = array(shape(2, 2), 1, 2, 3, 4);
        NDArray row = array(shape(2), 10, 20);
        NDArray col = array(shape(2, 1), 10, 20);
        assertEquals(array(shape(2, 2), 11, 22, 13, 24), run(Binary.add(), x, row));
        assertEquals(array(shape(2, 2), 11, 12, 23, 24), run(Binary.add(), x, col));
        assertEquals(array(shape(2, 2), -9, -18, -7, -16), run(Binary.sub(), x, row));
        assertEquals(array(shape(2, 2), 9, 18, 7, 16), run(Binary.sub(), row, x));
        assertEquals(array(shape(2, 2), 10, 20, 60, 80), run(Binary.mul(), x, col));
        assertEquals(array(shape(2, 2), 10, 5, 20.0 / 3, 5), run(Binary.div(), col, x));
        // an outer product from (2, 1) and (3): shape (2, 3)
        assertEquals(array(shape(2, 3), 10, 20, 30, 20, 40, 60),
                run(Binary.mul(), col.reshape(2, 1), array(shape(3), 1, 2, 3)).reshape(2, 3));
        assertEquals(array(shape(2, 2), 2, 4, 6, 8), run(Binary.mul(), x, NDArray.scalar(2)));
        assertEquals(NDArray.scalar(0.5), run(Binary.div(), NDArray.scalar(1), NDArray.scalar(2)));
    }

    @Test
    void broadcastGradientIsSummed() {
        // bias-like y (3) added to x (2, 3): dy = the column sums of the output gradient
        NDArray g = array(shape(2, 3), 1, 2, 3, 4, 5, 6);
        List<NDArray> in = List.of(NDArray.zeros(2, 3), NDArray.zeros(3));
        List<NDArray> grads = BinaryKernel.backward(Binary.add(), KernelTesting.ctx(in), in, null, List.of(g),
                new boolean[] {true, true});
        assertEquals(g, grads.get(0));
        assertEquals(array(shape(3), 5, 7, 9), grads.get(1));
    }

    @Test
    void rejectsShapesThatDoNotBroadcast() {
        assertThrows(IllegalArgumentException.class, () -> run(Binary.add(), NDArray.zeros(2, 3), NDArray.zeros(2)));
    }
}
