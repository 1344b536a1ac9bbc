package io.tessera.simulator.kernel;

import io.tessera.planner.op.MoeRouter;
import io.tessera.simulator.array.NDArray;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;

import static io.tessera.simulator.kernel.CentralDifference.array;
import static io.tessera.simulator.kernel.CentralDifference.assertClose;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

/**
 * The router kernel: Mixtral and DeepSeek-V3 semantics on hand-computed cases, tie-breaking by the lower index, and
 * the backward against central differences at fixed routing (well-separated scores, so that no perturbation changes
 * the choice).
 */
class MoeRouterKernelTest {

    private static List<NDArray> run(MoeRouter op, NDArray... in) {
        return MoeRouterKernel.forward(op, CentralDifference.single(List.of(in), List.of()), List.of(in));
    }

    private static double sigmoid(double x) {
        return 1 / (1 + Math.exp(-x));
    }

    @Test
    void mixtralSoftmaxTopTwoPlainAndRenormalised() {
        NDArray logits = array(new long[] {2, 4}, 1, 2, 3, 0, 0, -1, 0.5, 2);
        double z0 = Math.exp(1) + Math.exp(2) + Math.exp(3) + 1;
        double z1 = 1 + Math.exp(-1) + Math.exp(0.5) + Math.exp(2);
        List<NDArray> plain = run(MoeRouter.softmax(2, false), logits);
        assertEquals(array(new long[] {2, 2}, 2, 1, 3, 2), plain.get(1));
        assertClose(array(new long[] {2, 2}, Math.exp(3) / z0, Math.exp(2) / z0, Math.exp(2) / z1,
                Math.exp(0.5) / z1), plain.get(0), 1e-15, "softmax top-2 weights");
        // renormalised: p_a / (p_a + p_b) = sigmoid(l_a - l_b)
        List<NDArray> norm = run(MoeRouter.softmax(2, true), logits);
        assertEquals(plain.get(1), norm.get(1));
        assertClose(array(new long[] {2, 2}, sigmoid(1), sigmoid(-1), sigmoid(1.5), sigmoid(-1.5)), norm.get(0),
                1e-15, "renormalised weights");
    }

    /** Logits of 8 experts in 4 groups of 2 where the bias flips both the kept groups and the chosen experts. */
    private static final NDArray DS = array(new long[] {1, 8}, 0, 0, 3, -2, 1, 1, -1, 2);
    private static final NDArray BIAS = array(new long[] {8}, 0, 0, 0, 0, 0, 0, 0, -1);

    @Test
    void deepseekGroupedTopKWithTheBiasChoosingAndTheUnbiasedScoresWeighing() {
        // sigmoid scores: .5 .5 | .953 .119 | .731 .731 | .269 .881; biased expert 7: -.119
        // group scores (best two biased): 1.0, 1.072, 1.462, 0.150 -> keep groups 2 and 1 -> experts 2, 3, 4, 5
        // top-3: 2 (.953), then 4 and 5 tied at .731 -> 4 first
        List<NDArray> out = run(MoeRouter.deepseek(3, 4, 2, 2.5), DS, BIAS);
        assertEquals(array(new long[] {1, 3}, 2, 4, 5), out.get(1));
        double s2 = sigmoid(3);
        double s4 = sigmoid(1);
        double sum = s2 + 2 * s4;
        assertClose(array(new long[] {1, 3}, 2.5 * s2 / sum, 2.5 * s4 / sum, 2.5 * s4 / sum), out.get(0), 1e-15,
                "normalised, scaled, unbiased");
        // without the bias, group 3 (.269 + .881 = 1.150) beats group 1 (1.072): experts 7, 4, 5
        MoeRouter noBias = new MoeRouter(3, MoeRouter.Score.SIGMOID, false, 1, 4, 2, false);
        List<NDArray> plain = run(noBias, DS);
        assertEquals(array(new long[] {1, 3}, 7, 4, 5), plain.get(1));
        assertClose(array(new long[] {1, 3}, sigmoid(2), s4, s4), plain.get(0), 1e-15, "plain sigmoid scores");
        // no grouping, with the bias: the best three biased over all experts: 2, 4, 5; without it: 2, 7, 4
        assertEquals(array(new long[] {1, 3}, 2, 4, 5),
                run(new MoeRouter(3, MoeRouter.Score.SIGMOID, true, 1, 1, 1, true), DS, BIAS).get(1));
        assertEquals(array(new long[] {1, 3}, 2, 7, 4),
                run(new MoeRouter(3, MoeRouter.Score.SIGMOID, true, 1, 1, 1, false), DS).get(1));
    }

    @Test
    void tiesGoToTheLowerExpertAndTheLowerGroup() {
        NDArray zeros = NDArray.zeros(2, 8);
        List<NDArray> out = run(MoeRouter.softmax(3, false), zeros);
        assertEquals(array(new long[] {2, 3}, 0, 1, 2, 0, 1, 2), out.get(1));
        assertEquals(NDArray.full(0.125, 2, 3), out.get(0));
        // groups tied too: the lowest topk_group groups are kept
        NDArray ties = array(new long[] {1, 8}, 0, 0, 0, 0, 1, 0, 0, 0);
        assertEquals(array(new long[] {1, 3}, 4, 0, 1),
                run(new MoeRouter(3, MoeRouter.Score.SIGMOID, false, 1, 4, 2, false), ties).get(1));
        assertEquals(array(new long[] {1, 2}, 4, 5),
                run(new MoeRouter(2, MoeRouter.Score.SIGMOID, false, 1, 4, 1, false), ties).get(1));
    }

    /** Logits whose scores are far apart: each row a shuffle of 0, 0.7, 1.4, ... plus a little noise. */
    private static NDArray separated(Random r, int tokens, int experts) {
        NDArray a = NDArray.zeros(tokens, experts);
        for (int t = 0; t < tokens; t++) {
            List<Integer> order = new ArrayList<>();
            for (int e = 0; e < experts; e++) {
                order.add(e);
            }
            Collections.shuffle(order, r);
            for (int e = 0; e < experts; e++) {
                a.set(t * experts + e, 0.7 * order.get(e) - 2 + 0.05 * r.nextDouble());
            }
        }
        return a;
    }

    @Test
    void backwardMatchesCentralDifferencesAtFixedRouting() {
        long seed = 20261214L;
        System.out.println("MoeRouterKernelTest: seed " + seed);
        Random r = new Random(seed);
        MoeRouter[] ops = {MoeRouter.softmax(2, false), MoeRouter.softmax(2, true), MoeRouter.softmax(3, true),
            MoeRouter.deepseek(3, 4, 2, 2.5), new MoeRouter(2, MoeRouter.Score.SIGMOID, false, 1.5, 2, 1, true),
            new MoeRouter(2, MoeRouter.Score.SOFTMAX, true, 2, 4, 3, true)};
        for (MoeRouter op : ops) {
            List<NDArray> in = new ArrayList<>();
            in.add(separated(r, 5, 8));
            if (op.withBias()) {
                in.add(CentralDifference.uniform(r, 8).copy());
            }
            boolean[] needs = op.withBias() ? new boolean[] {true, false} : new boolean[] {true};
            KernelContext ctx = CentralDifference.single(in, List.of());
            CentralDifference.check(op.toString(), r, in, needs, x -> MoeRouterKernel.forward(op, ctx, x),
                    (x, y, g, n) -> MoeRouterKernel.backward(op, ctx, x, y, g, n));
            // the routing did not change between the perturbed evaluations: indices as at the unperturbed point
            List<NDArray> out = MoeRouterKernel.forward(op, ctx, in);
            NDArray moved = in.get(0).copy();
            for (int k = 0; k < moved.size(); k++) {
                moved.set(k, moved.get(k) + (k % 2 == 0 ? 1e-6 : -1e-6));
            }
            List<NDArray> shifted = new ArrayList<>(in);
            shifted.set(0, moved);
            assertEquals(out.get(1), MoeRouterKernel.forward(op, ctx, shifted).get(1), op.toString());
        }
    }

    @Test
    void theBiasGetsZerosWhenAskedAndAbsentGradientsGiveZeros() {
        MoeRouter op = MoeRouter.deepseek(3, 4, 2, 2.5);
        List<NDArray> in = List.of(DS, BIAS);
        List<NDArray> grads = MoeRouterKernel.backward(op, null, in, null,
                java.util.Arrays.asList(NDArray.full(1, 1, 3), null), new boolean[] {false, true});
        assertNull(grads.get(0));
        assertEquals(NDArray.zeros(8), grads.get(1));
        assertEquals(NDArray.zeros(1, 8), MoeRouterKernel.backward(op, null, in, null, null,
                new boolean[] {true, false}).get(0));
    }
}
