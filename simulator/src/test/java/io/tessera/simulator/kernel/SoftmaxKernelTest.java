package io.tessera.simulator.kernel;

import io.tessera.planner.op.Softmax;
import io.tessera.simulator.array.NDArray;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.List;
import java.util.Random;

import static io.tessera.simulator.kernel.KernelTesting.array;
import static io.tessera.simulator.kernel.KernelTesting.assertClose;
import static io.tessera.simulator.kernel.KernelTesting.shape;
import static org.junit.jupiter.api.Assertions.assertEquals;

class SoftmaxKernelTest {

    private static NDArray run(Softmax op, NDArray x) {
        List<NDArray> in = List.of(x);
        List<NDArray> out = SoftmaxKernel.forward(op, KernelTesting.ctx(in), in);
        KernelTesting.assertShapes(op, in, out);
        return out.get(0);
    }

    @Test
    void forwardHandComputed() {
        double e1 = Math.E;
        double e2 = Math.exp(2);
        double sum = 1 + e1 + e2;
        assertClose(array(shape(3), 1 / sum, e1 / sum, e2 / sum), run(Softmax.of(-1), array(shape(3), 0, 1, 2)),
                1e-15);
        double lse = Math.log(sum);
        assertClose(array(shape(3), -lse, 1 - lse, 2 - lse), run(Softmax.log(0), array(shape(3), 0, 1, 2)), 1e-15);
        // axis 0 of a (2, 2): columns normalise
        assertClose(array(shape(2, 2), 0.5, 1 / (1 + e1), 0.5, e1 / (1 + e1)),
                run(Softmax.of(0), array(shape(2, 2), 3, 5, 3, 6)), 1e-15);
    }

    @Test
    void largeLogitsAreStable() {
        NDArray y = run(Softmax.of(-1), array(shape(2), 1000, 1000 + Math.log(3)));
        assertClose(array(shape(2), 0.25, 0.75), y, 1e-12);
        NDArray l = run(Softmax.log(-1), array(shape(2), -1000, 0));
        assertEquals(-1000, l.get(0), 1e-12);
        assertEquals(0, l.get(1), 1e-12);
    }

    @ParameterizedTest(name = "axis {0}")
    @ValueSource(ints = {0, 1, 2, -1, -2})
    void softmaxSumsToOneAlongTheAxis(int axis) {
        // the finite-difference check of every axis and log variant is in OperatorContractTest
        Random r = KernelTesting.seeded("Softmax backward");
        Softmax op = new Softmax(axis, false);
        List<NDArray> in = List.of(KernelTesting.random(r, 2, 3, 4));
        KernelContext ctx = KernelTesting.ctx(in);
        NDArray y = run(op, in.get(0));
        NDArray ones = ReduceKernel.forward(io.tessera.planner.op.Reduce.sum(false, axis), ctx, List.of(y)).get(0);
        assertClose(NDArray.full(1, ones.shape()), ones, 1e-14);
    }
}
