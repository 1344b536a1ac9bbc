package io.tessera.simulator.kernel;

import io.tessera.planner.op.Activation;
import io.tessera.simulator.array.NDArray;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Random;

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

    @Test
    void siluIsXTimesSigmoidWithItsDerivative() {
        // SiLU(1) = 1 / (1 + e^-1), SiLU(-2) = -2 / (1 + e^2); far out: 0 below, x above
        NDArray y = run(Activation.silu(), array(shape(5), 0, 1, -2, -800, 800));
        assertEquals(0, y.get(0), 0);
        assertEquals(0.7310585786300049, y.get(1), 1e-15);
        assertEquals(-2 / (1 + Math.exp(2)), y.get(2), 1e-15);
        assertEquals(0, y.get(3), 0);
        assertEquals(800, y.get(4), 0);
        // derivative s (1 + x (1 - s)): 1/2 at 0, 0 and 1 when saturated, finite at -infinity
        NDArray x = array(shape(4), 0, 1.5, -1e300, Double.NEGATIVE_INFINITY);
        List<NDArray> in = List.of(x);
        NDArray d = ActivationKernel.backward(Activation.silu(), KernelTesting.ctx(in), in, null,
                List.of(NDArray.full(1, 4)), new boolean[] {true}).get(0);
        double s = 1 / (1 + Math.exp(-1.5));
        assertEquals(array(shape(4), 0.5, s * (1 + 1.5 * (1 - s)), 0, 0), d);
    }

    @Test
    void siluBackwardMatchesCentralDifferences() {
        Random r = KernelTesting.seeded("SiLU central differences");
        Activation op = Activation.silu();
        KernelTesting.checkGradients("SiLU", r, in -> ActivationKernel.forward(op, KernelTesting.ctx(in), in),
                (in, out, g, needs) -> ActivationKernel.backward(op, KernelTesting.ctx(in), in, out, g, needs),
                List.of(KernelTesting.awayFromZero(r, 0.01, 6, 4, 5)));
    }
}
