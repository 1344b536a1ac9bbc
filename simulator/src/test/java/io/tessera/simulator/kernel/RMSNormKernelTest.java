package io.tessera.simulator.kernel;

import io.tessera.planner.op.RMSNorm;
import io.tessera.simulator.array.NDArray;
import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.List;
import java.util.Random;

import static io.tessera.simulator.kernel.CentralDifference.array;
import static io.tessera.simulator.kernel.CentralDifference.assertClose;
import static io.tessera.simulator.kernel.CentralDifference.flags;
import static io.tessera.simulator.kernel.CentralDifference.uniform;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class RMSNormKernelTest {

    private static List<NDArray> run(RMSNorm op, List<NDArray> in) {
        return RMSNormKernel.forward(op, CentralDifference.single(in, List.of()), in);
    }

    private static List<NDArray> grad(RMSNorm op, List<NDArray> in, List<NDArray> out, List<NDArray> dOut,
                                      boolean[] needs) {
        return RMSNormKernel.backward(op, null, in, out, dOut, needs);
    }

    @Test
    void dividesEachRowByItsRootMeanSquareAndScalesByWeight() {
        double eps = 1e-6;
        RMSNorm op = new RMSNorm(eps);
        NDArray x = array(new long[] {2, 2}, 3, 4, -1, 1);
        NDArray w = array(new long[] {2}, 1, 2);
        List<NDArray> out = run(op, List.of(x, w));
        // row 0: mean square (9 + 16) / 2 = 12.5; row 1: (1 + 1) / 2 = 1; no mean is subtracted
        double r0 = 1 / Math.sqrt(12.5 + eps);
        double r1 = 1 / Math.sqrt(1 + eps);
        assertClose(array(new long[] {2, 2}, 3 * r0, 8 * r0, -r1, 2 * r1), out.get(0), 1e-15, "y");
        assertClose(array(new long[] {2, 1}, r0, r1), out.get(1), 1e-15, "rstd");
        // Llama's eps: a constant row keeps its value up to eps
        NDArray c = run(RMSNorm.of(), List.of(NDArray.full(0.5, 1, 4), NDArray.full(1, 4))).get(0);
        assertClose(NDArray.full(0.5 / Math.sqrt(0.25 + 1e-6), 1, 4), c, 1e-15, "constant row");
    }

    @Test
    void backwardMatchesCentralDifferencesForYAndRstd() {
        Random r = CentralDifference.random("RMSNorm central differences", 7);
        RMSNorm op = new RMSNorm(1e-3);
        for (long[] shape : new long[][] {{3, 5}, {2, 3, 4}, {6}, {4, 2}}) {
            List<NDArray> in = List.of(uniform(r, shape), uniform(r, shape[shape.length - 1]));
            // both outputs' gradients (rstd's too), then y's alone as the network gives it
            CentralDifference.check("RMSNorm " + Arrays.toString(shape), r, in, flags(2, 0, 1),
                    a -> run(op, a), (a, o, g, n) -> grad(op, a, o, g, n));
            CentralDifference.check("RMSNorm y only " + Arrays.toString(shape), r, in, flags(2, 0, 1),
                    a -> run(op, a).subList(0, 1), (a, o, g, n) -> grad(op, a, o, Arrays.asList(g.get(0), null), n));
        }
    }

    @Test
    void absentGradientsMeanZerosAndUnneededGradientsAreNull() {
        Random r = CentralDifference.random("RMSNorm null grads", 8);
        RMSNorm op = RMSNorm.of();
        List<NDArray> in = List.of(uniform(r, 3, 4), uniform(r, 4));
        List<NDArray> out = run(op, in);
        NDArray dy = uniform(r, 3, 4);
        List<NDArray> withZeros = grad(op, in, out, List.of(dy, NDArray.zeros(3, 1)), flags(2, 0, 1));
        List<NDArray> withNull = grad(op, in, out, Arrays.asList(dy, null), flags(2, 0, 1));
        assertEquals(withZeros, withNull);
        List<NDArray> onlyWeight = grad(op, in, out, Arrays.asList(dy, null), flags(2, 1));
        assertNull(onlyWeight.get(0));
        assertEquals(withZeros.get(1), onlyWeight.get(1));
        List<NDArray> none = grad(op, in, out, Arrays.asList(null, null), flags(2, 0, 1));
        assertEquals(NDArray.zeros(3, 4), none.get(0));
        assertEquals(NDArray.zeros(4), none.get(1));
    }

    @Test
    void rowSplitsGiveTheRowsOfTheFullResultAndPartialWeightGradients() {
        Random r = CentralDifference.random("RMSNorm row split", 9);
        RMSNorm op = RMSNorm.of();
        NDArray x = uniform(r, 4, 5);
        NDArray w = uniform(r, 5);
        NDArray dy = uniform(r, 4, 5);
        List<NDArray> full = run(op, List.of(x, w));
        List<NDArray> fullGrad = grad(op, List.of(x, w), full, Arrays.asList(dy, null), flags(2, 0, 1));
        NDArray[] dw = new NDArray[2];
        for (int h = 0; h < 2; h++) {
            NDArray xh = CentralDifference.slice(x, 0, 2 * h, 2 * h + 2);
            List<NDArray> part = run(op, List.of(xh, w));
            assertClose(CentralDifference.slice(full.get(0), 0, 2 * h, 2 * h + 2), part.get(0), 1e-15, "y half");
            assertClose(CentralDifference.slice(full.get(1), 0, 2 * h, 2 * h + 2), part.get(1), 1e-15, "rstd half");
            List<NDArray> g = grad(op, List.of(xh, w), part,
                    Arrays.asList(CentralDifference.slice(dy, 0, 2 * h, 2 * h + 2), null), flags(2, 0, 1));
            assertClose(CentralDifference.slice(fullGrad.get(0), 0, 2 * h, 2 * h + 2), g.get(0), 1e-14, "dx half");
            dw[h] = g.get(1);
        }
        assertClose(fullGrad.get(1), CentralDifference.add(dw[0], dw[1]), 1e-14, "dweight");
        assertArrayEquals(new long[] {4, 1}, full.get(1).shape());
    }

    @Test
    void aWeightOfTheWrongLengthIsNamed() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> run(RMSNorm.of(), List.of(NDArray.zeros(2, 3), NDArray.zeros(4))));
        assertTrue(e.getMessage().contains("RMSNormKernel: weight [4] does not match x [2, 3]; expected [3]"),
                e.getMessage());
    }
}
