package io.tessera.simulator.kernel;

import io.tessera.planner.op.SoftmaxCrossEntropyWithLogits;
import io.tessera.simulator.array.NDArray;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Random;

import static io.tessera.simulator.kernel.KernelTesting.array;
import static io.tessera.simulator.kernel.KernelTesting.assertClose;
import static io.tessera.simulator.kernel.KernelTesting.shape;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

class SoftmaxCrossEntropyKernelTest {

    private static final SoftmaxCrossEntropyWithLogits OP = new SoftmaxCrossEntropyWithLogits();

    private static NDArray run(NDArray logits, NDArray labels) {
        List<NDArray> in = List.of(logits, labels);
        List<NDArray> out = SoftmaxCrossEntropyKernel.forward(OP, KernelTesting.ctx(in), in);
        KernelTesting.assertShapes(OP, in, out);
        return out.get(0);
    }

    private static NDArray oneHot(Random r, int n, int c) {
        NDArray y = NDArray.zeros(n, c);
        for (int i = 0; i < n; i++) {
            y.set(i * c + r.nextInt(c), 1);
        }
        return y;
    }

    @Test
    void forwardHandComputed() {
        // equal logits: -log(1/2); a confident right answer: log(1 + e^-10); huge logits stay finite
        NDArray loss = run(array(shape(3, 2), 0, 0, 10, 0, 1000, -1000), array(shape(3, 2), 1, 0, 1, 0, 0, 1));
        assertClose(array(shape(3), Math.log(2), Math.log1p(Math.exp(-10)), 2000), loss, 1e-12);
    }

    @Test
    void backwardMatchesFiniteDifferences() {
        Random r = KernelTesting.seeded("SoftmaxCrossEntropy backward");
        for (NDArray labels : new NDArray[] {oneHot(r, 4, 5), KernelTesting.random(r, 4, 5)}) {
            List<NDArray> in = List.of(KernelTesting.random(r, 4, 5).reshape(4, 5), labels);
            KernelContext ctx = KernelTesting.ctx(in);
            KernelTesting.checkGradients("SoftmaxCrossEntropy", r, x -> SoftmaxCrossEntropyKernel.forward(OP, ctx, x),
                    (x, y, g, needs) -> SoftmaxCrossEntropyKernel.backward(OP, ctx, x, y, g, needs), in,
                    new boolean[] {true, false}, KernelTesting.EPS, KernelTesting.TOL);
        }
    }

    @Test
    void labelsGetZerosWhenAskedAndNullOtherwise() {
        Random r = KernelTesting.seeded("SoftmaxCrossEntropy labels");
        List<NDArray> in = List.of(KernelTesting.random(r, 2, 3), oneHot(r, 2, 3));
        KernelContext ctx = KernelTesting.ctx(in);
        NDArray g = KernelTesting.random(r, 2);
        List<NDArray> both = SoftmaxCrossEntropyKernel.backward(OP, ctx, in, null, List.of(g),
                new boolean[] {true, true});
        assertEquals(NDArray.zeros(2, 3), both.get(1));
        assertNull(SoftmaxCrossEntropyKernel.backward(OP, ctx, in, null, List.of(g), new boolean[] {true, false})
                .get(1));
        KernelTesting.checkAbsentGradients("SoftmaxCrossEntropy", (x, y, gr, needs) ->
                SoftmaxCrossEntropyKernel.backward(OP, ctx, x, y, gr, needs), in, List.of(g), 0);
    }
}
