package io.tessera.simulator.kernel;

import io.tessera.planner.op.BiasAdd;
import io.tessera.simulator.array.NDArray;
import org.junit.jupiter.api.Test;

import java.util.List;

import static io.tessera.simulator.kernel.KernelTesting.array;
import static io.tessera.simulator.kernel.KernelTesting.shape;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

class BiasAddKernelTest {

    private static final BiasAdd OP = new BiasAdd();

    private static NDArray run(NDArray x, NDArray bias) {
        List<NDArray> in = List.of(x, bias);
        List<NDArray> out = BiasAddKernel.forward(OP, KernelTesting.ctx(in), in);
        KernelTesting.assertShapes(OP, in, out);
        return out.get(0);
    }

    @Test
    void forwardHandComputed() {
        assertEquals(array(shape(2, 2), 11, 22, 13, 24),
                run(array(shape(2, 2), 1, 2, 3, 4), array(shape(2), 10, 20)));
        // (N=1, C=2, H=1, W=2): the bias is added along dimension 1, not the last
        assertEquals(array(shape(1, 2, 1, 2), 11, 12, 23, 24),
                run(array(shape(1, 2, 1, 2), 1, 2, 3, 4), array(shape(2), 10, 20)));
    }

    @Test
    void biasGradientSumsBatchAndSpatialDims() {
        NDArray g = array(shape(2, 2, 2), 1, 2, 3, 4, 5, 6, 7, 8);
        List<NDArray> in = List.of(NDArray.zeros(2, 2, 2), NDArray.zeros(2));
        List<NDArray> grads = BiasAddKernel.backward(OP, KernelTesting.ctx(in), in, null, List.of(g),
                new boolean[] {true, true});
        assertEquals(g, grads.get(0));
        assertEquals(array(shape(2), 1 + 2 + 5 + 6, 3 + 4 + 7 + 8), grads.get(1));
        KernelTesting.checkAbsentGradients("BiasAdd", (x, y, gr, needs) -> BiasAddKernel.backward(OP,
                KernelTesting.ctx(in), x, y, gr, needs), in, List.of(g), 1);
    }

    @Test
    void rejectsABiasOfTheWrongSize() {
        assertThrows(IllegalArgumentException.class, () -> run(NDArray.zeros(2, 3), NDArray.zeros(2)));
    }
}
