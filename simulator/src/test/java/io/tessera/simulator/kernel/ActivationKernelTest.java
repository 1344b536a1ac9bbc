package io.tessera.simulator.kernel;

import io.tessera.planner.op.Activation;
import io.tessera.simulator.array.NDArray;
import org.junit.jupiter.api.Test;

import java.util.List;

import static io.tessera.simulator.kernel.KernelTesting.array;
import static io.tessera.simulator.kernel.KernelTesting.shape;
import static org.junit.jupiter.api.Assertions.assertEquals;

class ActivationKernelTest {

    private static NDArray run(Activation op, NDArray x) {
        List<NDArray> in = List.of(x);
        List<NDArray> out = ActivationKernel.forward(op, KernelTesting.ctx(in), in);
        KernelTesting.assertShapes(op, in, out);
        return out.get(0);
    }

    @Test
    void forwardHandComputed() {
        NDArray x = array(shape(2, 2), -2, -0.5, 0, 3);
        assertEquals(array(shape(2, 2), 0, 0, 0, 3), run(Activation.relu(), x));
        NDArray t = run(Activation.tanh(), x);
        assertEquals(Math.tanh(-2), t.get(0), 0);
        assertEquals(0, t.get(2), 0);
        NDArray s = run(Activation.sigmoid(), array(shape(4), 0, Math.log(3), -800, 800));
        assertEquals(0.5, s.get(0), 1e-15);
        assertEquals(0.75, s.get(1), 1e-15);
        assertEquals(0, s.get(2), 0);
        assertEquals(1, s.get(3), 0);
    }

    @Test
    void geluIsMindSporesTanhApproximation() {
        // MindSpore's documented example for GeLU on [1, 2, 3] (float32): [0.841192, 1.9545976, 2.9963627]
        NDArray y = run(Activation.gelu(), array(shape(3), 1, 2, 3));
        assertEquals(0.841192, y.get(0), 1e-6);
        assertEquals(1.9545976, y.get(1), 1e-6);
        assertEquals(2.9963627, y.get(2), 1e-6);
        double x = -0.7;
        double expected = 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x)));
        assertEquals(expected, run(Activation.gelu(), NDArray.scalar(x)).get(0), 1e-16);
        // saturated: exact 0 and x far out, a finite gradient even where x^3 overflows
        NDArray far = array(shape(2), -1e200, 1e200);
        assertEquals(array(shape(2), -0.0, 1e200), run(Activation.gelu(), far));
        List<NDArray> in = List.of(far);
        assertEquals(array(shape(2), 0, 1), ActivationKernel.backward(Activation.gelu(), KernelTesting.ctx(in), in,
                null, List.of(NDArray.full(1, 2)), new boolean[] {true}).get(0));
    }

}
