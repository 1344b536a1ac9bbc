package io.tessera.simulator.kernel;

import io.tessera.layout.Box;
import io.tessera.layout.DType;
import io.tessera.planner.op.MoeCombine;
import io.tessera.planner.op.MoeDispatch;
import io.tessera.simulator.array.NDArray;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;

import static io.tessera.simulator.kernel.CentralDifference.array;
import static io.tessera.simulator.kernel.CentralDifference.assertClose;
import static io.tessera.simulator.kernel.CentralDifference.uniform;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** MoeDispatch and MoeCombine kernels: hand-computed slots (GShard's order, drops, groups), gradients, slices. */
class MoeKernelTest {

    /** Four tokens of hidden 2: token t is {@code [t + 1, 10 * (t + 1)]}. */
    private static final NDArray X = array(new long[] {4, 2}, 1, 10, 2, 20, 3, 30, 4, 40);

    private static NDArray dispatch(MoeDispatch op, NDArray x, NDArray indices) {
        List<NDArray> in = List.of(x, indices);
        return MoeDispatchKernel.forward(op, CentralDifference.single(in, List.of()), in).get(0);
    }

    private static NDArray combine(MoeCombine op, NDArray eo, NDArray indices, NDArray w) {
        List<NDArray> in = List.of(eo, indices, w);
        return MoeCombineKernel.forward(op, CentralDifference.single(in, List.of()), in).get(0);
    }

    @Test
    void slotsClaimCapacityInGShardsPriorityOrderAndDropWhenFull() {
        // E 2, top-2, capacity ceil(0.5 * 4 * 2 / 2) = 2. Slot 0 pass: t0 -> e0 row 0, t1 -> e0 row 1, t2 -> e1
        // row 0, t3 -> e0 full (dropped). Slot 1 pass: t0 -> e1 row 1, t1 -> e1 full, t2 -> e0 full, t3 -> e1 full.
        // (Token-major order would instead have kept both slots of t0 and t1.)
        NDArray idx = array(new long[] {4, 2}, 0, 1, 0, 1, 1, 0, 0, 1);
        MoeDispatch d = new MoeDispatch(2, 0.5, 1);
        NDArray buf = dispatch(d, X, idx);
        assertEquals(array(new long[] {1, 2, 2, 2}, 1, 10, 2, 20, 3, 30, 1, 10), buf);
        // combine: y0 = 0.5 e0[0] + 0.25 e1[1]; y1 = 1 e0[1]; y2 = 3 e1[0]; t3 dropped entirely
        MoeCombine c = MoeCombine.of(d);
        NDArray w = array(new long[] {4, 2}, 0.5, 0.25, 1, 2, 3, 4, 5, 6);
        assertEquals(array(new long[] {4, 2}, 0.75, 7.5, 2, 20, 9, 90, 0, 0), combine(c, buf, idx, w));
        // combine backward with dy = ones: expert_out's gradient is the weight at each kept slot, the weights'
        // gradient the kept row's sum (0 where dropped)
        List<NDArray> in = List.of(buf, idx, w);
        List<NDArray> g = MoeCombineKernel.backward(c, CentralDifference.single(in, List.of()), in, null,
                List.of(NDArray.full(1, 4, 2)), new boolean[] {true, false, true});
        assertEquals(array(new long[] {1, 2, 2, 2}, 0.5, 0.5, 1, 1, 3, 3, 0.25, 0.25), g.get(0));
        assertNull(g.get(1));
        assertEquals(array(new long[] {4, 2}, 11, 11, 22, 0, 33, 0, 0, 0), g.get(2));
        // dispatch backward: each token gathers the gradient rows of its kept slots
        List<NDArray> dx = MoeDispatchKernel.backward(d, CentralDifference.single(List.of(X, idx), List.of()),
                List.of(X, idx), null, List.of(buf), new boolean[] {true, false});
        assertEquals(array(new long[] {4, 2}, 2, 20, 2, 20, 3, 30, 0, 0), dx.get(0));
        assertNull(dx.get(1));
    }

    @Test
    void capacityIsPerGroup() {
        // top-1 to E 2. One group: capacity ceil(4 / 2) = 2, t3 finds e0 full. Two groups of 2 tokens: capacity 1
        // each; t1 finds e0 full in group 0, t3 takes e0 of group 1.
        NDArray idx = array(new long[] {4, 1}, 0, 0, 1, 0);
        assertEquals(array(new long[] {1, 2, 2, 2}, 1, 10, 2, 20, 3, 30, 0, 0),
                dispatch(new MoeDispatch(2, 1.0, 1), X, idx));
        assertEquals(array(new long[] {2, 2, 1, 2}, 1, 10, 0, 0, 4, 40, 3, 30),
                dispatch(new MoeDispatch(2, 1.0, 2), X, idx));
    }

    @Test
    void droplessKeepsEverySlotAndCombineOfIdentityExpertsScalesByTheWeightSum() {
        Random r = CentralDifference.random("Moe dropless", 3);
        NDArray x = uniform(r, 8, 3);
        NDArray idx = distinct(r, 8, 3, 5);
        NDArray w = uniform(r, 8, 3);
        MoeDispatch d = new MoeDispatch(5, 0, 2);
        NDArray buf = dispatch(d, x, idx);
        assertEquals(List.of(2L, 5L, 4L, 3L), List.of(buf.dim(0), buf.dim(1), buf.dim(2), buf.dim(3)));
        NDArray y = combine(MoeCombine.of(d), buf, idx, w);
        NDArray expected = NDArray.zeros(8, 3);
        for (int t = 0; t < 8; t++) {
            double s = w.get(t * 3) + w.get(t * 3 + 1) + w.get(t * 3 + 2);
            for (int c = 0; c < 3; c++) {
                expected.set(t * 3 + c, s * x.get(t * 3 + c));
            }
        }
        assertClose(expected, y, 1e-14, "y = (sum of weights) x");
    }

    @Test
    void aRankHoldingWholeGroupsComputesItsSliceOfTheBuffer() {
        Random r = CentralDifference.random("Moe slices", 5);
        NDArray x = uniform(r, 8, 4);
        NDArray idx = distinct(r, 8, 2, 4);
        MoeDispatch d = new MoeDispatch(4, 0.75, 4);
        NDArray whole = dispatch(d, x, idx);
        for (int rank = 0; rank < 2; rank++) {
            NDArray xs = CentralDifference.slice(x, 0, rank * 4, rank * 4 + 4);
            NDArray is = CentralDifference.slice(idx, 0, rank * 4, rank * 4 + 4);
            List<NDArray> in = List.of(xs, is);
            KernelContext ctx = new KernelContext(List.of(Box.full(xs.shape()), Box.full(is.shape())), List.of(),
                    DType.FLOAT64, 7, List.of(x.shape(), idx.shape()));
            assertEquals(CentralDifference.slice(whole, 0, rank * 2, rank * 2 + 2),
                    MoeDispatchKernel.forward(d, ctx, in).get(0), "rank " + rank);
        }
    }

    @Test
    void backwardMatchesCentralDifferencesAtFixedRouting() {
        Random r = CentralDifference.random("Moe backward", 9);
        for (double cf : new double[] {0, 0.5, 1.5}) {
            NDArray x = uniform(r, 12, 3);
            NDArray idx = distinct(r, 12, 2, 4);
            MoeDispatch d = new MoeDispatch(4, cf, 3);
            List<NDArray> din = List.of(x, idx);
            KernelContext dctx = CentralDifference.single(din, List.of());
            CentralDifference.check("MoeDispatch cf " + cf, r, din, new boolean[] {true, false},
                    in -> MoeDispatchKernel.forward(d, dctx, in),
                    (in, y, g, n) -> MoeDispatchKernel.backward(d, dctx, in, y, g, n));
            MoeCombine c = MoeCombine.of(d);
            NDArray eo = uniform(r, 3, 4, d.capacity(12, 2), 3);
            List<NDArray> cin = List.of(eo, idx, uniform(r, 12, 2));
            KernelContext cctx = CentralDifference.single(cin, List.of());
            CentralDifference.check("MoeCombine cf " + cf, r, cin, new boolean[] {true, false, true},
                    in -> MoeCombineKernel.forward(c, cctx, in),
                    (in, y, g, n) -> MoeCombineKernel.backward(c, cctx, in, y, g, n));
        }
    }

    @Test
    void expertIdsOutOfRangeAndMismatchedInputsAreOneLineErrors() {
        MoeDispatch d = MoeDispatch.of(4);
        NDArray bad = array(new long[] {2, 2}, 0, 1, 4, 2);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> dispatch(d, CentralDifference.slice(X, 0, 0, 2), bad));
        assertEquals("MoeDispatchKernel: indices[1, 0] is 4.0; expected an expert id, an integer in [0, 4) (the"
                + " router's top-k output)", e.getMessage());
        NDArray frac = array(new long[] {2, 1}, 0.5, 1);
        assertEquals("MoeCombineKernel: indices[0, 0] is 0.5; expected an expert id, an integer in [0, 4) (the"
                + " router's top-k output)", assertThrows(IllegalArgumentException.class,
                () -> combine(MoeCombine.of(d), NDArray.zeros(1, 4, 2, 2), frac, NDArray.zeros(2, 1)))
                .getMessage());
        NDArray idx = array(new long[] {2, 1}, 0, 1);
        assertEquals("MoeCombineKernel: weights [2, 2] do not match indices [2, 1]; expected one weight per (token,"
                + " slot)", assertThrows(IllegalArgumentException.class,
                () -> combine(MoeCombine.of(d), NDArray.zeros(1, 4, 2, 2), idx, NDArray.zeros(2, 2))).getMessage());
    }

    /** {@code k} distinct expert ids in [0, experts) per token. */
    private static NDArray distinct(Random r, int tokens, int k, int experts) {
        NDArray a = NDArray.zeros(tokens, k);
        for (int t = 0; t < tokens; t++) {
            List<Integer> ids = new ArrayList<>();
            for (int e = 0; e < experts; e++) {
                ids.add(e);
            }
            Collections.shuffle(ids, r);
            for (int j = 0; j < k; j++) {
                a.set(t * k + j, ids.get(j));
            }
        }
        return a;
    }
}
