package io.tessera.simulator.kernel;

import io.tessera.planner.op.MoeAuxLoss;
import io.tessera.planner.op.MoeRouter;
import io.tessera.simulator.array.NDArray;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Random;

import static io.tessera.simulator.kernel.CentralDifference.array;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The load-balancing loss: hand-computed values, the balanced minimum, central differences, index checks. */
class MoeAuxLossKernelTest {

    private static double loss(MoeAuxLoss op, NDArray logits, NDArray indices) {
        List<NDArray> in = List.of(logits, indices);
        return MoeAuxLossKernel.forward(op, CentralDifference.single(in, List.of()), in).get(0).get(0);
    }

    @Test
    void handComputedSwitchLoss() {
        // 2 tokens, 2 experts, top-1: token 0 -> expert 0, token 1 -> expert 0: f = (1, 0)
        NDArray logits = array(new long[] {2, 2}, 0, 0, Math.log(3), 0);
        NDArray indices = array(new long[] {2, 1}, 0, 0);
        // P_0 = (1/2 + 3/4) / 2 = 5/8; loss = 0.1 * 2 * (1 * 5/8)
        assertEquals(0.1 * 2 * 5.0 / 8, loss(new MoeAuxLoss(1, 0.1), logits, indices), 1e-15);
        assertEquals(0, MoeAuxLossKernel.forward(MoeAuxLoss.of(1), null, List.of(logits, indices)).get(0).ndim());
        // top-2 of 2 experts: f = (1/2, 1/2), so the loss is coefficient * 2 * (P_0 + P_1) / 2 = coefficient
        NDArray both = array(new long[] {2, 2}, 0, 1, 1, 0);
        assertEquals(0.01, loss(MoeAuxLoss.of(2), logits, both), 1e-15);
    }

    @Test
    void aBalancedUniformRoutingGivesTheCoefficient() {
        // E experts, uniform probabilities and each expert chosen equally: E * sum (1/E)(1/E) = 1
        NDArray logits = NDArray.zeros(4, 4);
        NDArray indices = array(new long[] {4, 2}, 0, 1, 2, 3, 1, 0, 3, 2);
        assertEquals(0.01, loss(MoeAuxLoss.of(2), logits, indices), 1e-15);
    }

    @Test
    void backwardMatchesCentralDifferencesOnARoutersChoice() {
        long seed = 20261215L;
        System.out.println("MoeAuxLossKernelTest: seed " + seed);
        Random r = new Random(seed);
        for (int k : new int[] {1, 2, 3}) {
            NDArray logits = CentralDifference.uniform(r, 7, 5);
            MoeRouter router = MoeRouter.softmax(k, true);
            NDArray indices = MoeRouterKernel.forward(router, null, List.of(logits)).get(1);
            MoeAuxLoss op = new MoeAuxLoss(k, 5); // large enough for the check's gradient floor
            List<NDArray> in = List.of(logits, indices);
            KernelContext ctx = CentralDifference.single(in, List.of());
            CentralDifference.check("MoeAuxLoss top-" + k, r, in, new boolean[] {true, false},
                    x -> MoeAuxLossKernel.forward(op, ctx, x),
                    (x, y, g, n) -> MoeAuxLossKernel.backward(op, ctx, x, y, g, n));
        }
    }

    @Test
    void indicesOutOfRangeOrOfTheWrongShapeAreRejected() {
        NDArray logits = NDArray.zeros(2, 3);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> loss(MoeAuxLoss.of(1), logits, array(new long[] {2, 1}, 0, 3)));
        assertTrue(e.getMessage().contains("index 3.0 is not an expert of 3"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> loss(MoeAuxLoss.of(2), logits, array(new long[] {2, 1}, 0, 1)));
        assertTrue(e.getMessage().contains("do not fit top_k 2"), e.getMessage());
    }
}
