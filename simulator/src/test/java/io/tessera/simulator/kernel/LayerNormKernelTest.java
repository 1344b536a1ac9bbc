package io.tessera.simulator.kernel;

import io.tessera.planner.op.LayerNorm;
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

class LayerNormKernelTest {

    private static List<NDArray> run(LayerNorm op, List<NDArray> in) {
        return LayerNormKernel.forward(op, CentralDifference.single(in, List.of()), in);
    }

    @Test
    void normalisesEachRowWithBiasedVarianceAndAffine() {
        double eps = 1e-7;
        LayerNorm op = new LayerNorm(-1, -1, eps);
        NDArray x = array(new long[] {2, 3}, 1, 2, 3, 4, 6, 8);
        NDArray gamma = array(new long[] {3}, 1, 2, 3);
        NDArray beta = array(new long[] {3}, 0, 0, 1);
        List<NDArray> out = run(op, List.of(x, gamma, beta));
        // row 0: mean 2, variance ((-1)^2 + 0 + 1^2) / 3; row 1: mean 6, variance (4 + 0 + 4) / 3
        double r0 = 1 / Math.sqrt(2.0 / 3 + eps);
        double r1 = 1 / Math.sqrt(8.0 / 3 + eps);
        assertClose(array(new long[] {2, 3}, -r0, 0, 3 * r0 + 1, -2 * r1, 0, 3 * 2 * r1 + 1), out.get(0), 1e-15, "y");
        assertEquals(array(new long[] {2, 1}, 2, 6), out.get(1));
        assertClose(array(new long[] {2, 1}, 2.0 / 3, 8.0 / 3), out.get(2), 1e-15, "variance");
    }

    @Test
    void normalisesSeveralTrailingDimsWithParamsFromAnEarlierAxis() {
        // x (2, 2, 2): normalise dims 1.. (4 values per row), gamma over dims 1.. as well
        LayerNorm op = new LayerNorm(1, 1, 1e-5);
        NDArray x = array(new long[] {2, 2, 2}, 0, 0, 0, 4, 1, 1, 1, 1);
        NDArray gamma = NDArray.full(1, 2, 2);
        NDArray beta = NDArray.zeros(2, 2);
        List<NDArray> out = run(op, List.of(x, gamma, beta));
        double r = 1 / Math.sqrt(3 + 1e-5);
        assertClose(array(new long[] {2, 2, 2}, -r, -r, -r, 3 * r, 0, 0, 0, 0), out.get(0), 1e-15, "y");
        assertEquals(array(new long[] {2, 1, 1}, 1, 1), out.get(1));
        assertEquals(array(new long[] {2, 1, 1}, 3, 0), out.get(2));
    }

    @Test
    void nullStatisticGradientsMeanZerosAndUnneededGradientsAreNull() {
        Random r = CentralDifference.random("LayerNorm null grads", 42);
        LayerNorm op = LayerNorm.of(-1);
        List<NDArray> in = List.of(uniform(r, 3, 4), uniform(r, 4), uniform(r, 4));
        List<NDArray> out = run(op, in);
        NDArray dy = uniform(r, 3, 4);
        List<NDArray> withZeros = LayerNormKernel.backward(op, null, in, out,
                List.of(dy, NDArray.zeros(3, 1), NDArray.zeros(3, 1)), flags(3, 0, 1, 2));
        List<NDArray> withNulls = LayerNormKernel.backward(op, null, in, out, Arrays.asList(dy, null, null),
                flags(3, 0, 1, 2));
        assertEquals(withZeros, withNulls);
        List<NDArray> onlyGamma = LayerNormKernel.backward(op, null, in, out, Arrays.asList(dy, null, null),
                flags(3, 1));
        assertNull(onlyGamma.get(0));
        assertEquals(withZeros.get(1), onlyGamma.get(1));
        assertNull(onlyGamma.get(2));
    }

    @Test
    void batchSplitRowsGiveTheRowsOfTheFullResultAndPartialParameterGradients() {
        Random r = CentralDifference.random("LayerNorm batch split", 43);
        LayerNorm op = LayerNorm.of(-1);
        NDArray x = uniform(r, 4, 5);
        NDArray gamma = uniform(r, 5);
        NDArray beta = uniform(r, 5);
        NDArray dy = uniform(r, 4, 5);
        List<NDArray> full = run(op, List.of(x, gamma, beta));
        List<NDArray> fullGrad = LayerNormKernel.backward(op, null, List.of(x, gamma, beta), full,
                Arrays.asList(dy, null, null), flags(3, 0, 1, 2));
        NDArray[] dgamma = new NDArray[2];
        NDArray[] dbeta = new NDArray[2];
        for (int h = 0; h < 2; h++) {
            NDArray xh = CentralDifference.slice(x, 0, 2 * h, 2 * h + 2);
            List<NDArray> part = run(op, List.of(xh, gamma, beta));
            assertClose(CentralDifference.slice(full.get(0), 0, 2 * h, 2 * h + 2), part.get(0), 1e-15, "y half");
            List<NDArray> g = LayerNormKernel.backward(op, null, List.of(xh, gamma, beta), part,
                    Arrays.asList(CentralDifference.slice(dy, 0, 2 * h, 2 * h + 2), null, null), flags(3, 0, 1, 2));
            assertClose(CentralDifference.slice(fullGrad.get(0), 0, 2 * h, 2 * h + 2), g.get(0), 1e-14, "dx half");
            dgamma[h] = g.get(1);
            dbeta[h] = g.get(2);
        }
        assertClose(fullGrad.get(1), CentralDifference.add(dgamma[0], dgamma[1]), 1e-14, "dgamma");
        assertClose(fullGrad.get(2), CentralDifference.add(dbeta[0], dbeta[1]), 1e-14, "dbeta");
        assertArrayEquals(new long[] {4, 1}, full.get(1).shape());
    }
}
