package io.tessera.simulator.kernel;

import io.tessera.planner.op.MoeDispatch;
import io.tessera.planner.op.MoeSlots;
import io.tessera.simulator.array.NDArray;

import java.util.Arrays;
import java.util.List;

/**
 * The numeric kernel of {@link MoeDispatch}: the local tokens copied into their (group, expert, row) slots of the
 * buffer by {@link MoeSlots}'s assignment. A rank holds whole groups (the rule's condition), so it assigns its local
 * groups exactly as one device does; the group size is the global token count over {@code groups}. The backward
 * gathers the buffer's gradient back to the tokens (a dropped slot gives nothing).
 */
public final class MoeDispatchKernel {

    private static final String NAME = "MoeDispatchKernel";

    private MoeDispatchKernel() {
    }

    /** The local buffer {@code [G_local, E, C, h_local]}. */
    public static List<NDArray> forward(MoeDispatch op, KernelContext ctx, List<NDArray> inputs) {
        Shapes.checkInputs(NAME, inputs, 2);
        NDArray x = inputs.get(0);
        Routing r = Routing.of(NAME, op.experts(), op.capacityFactor(), op.groups(), inputs.get(1),
                ctx.globalDim(1, 0, inputs.get(1).dim(0)));
        int h = r.checkTokens(NAME, "x", x);
        NDArray buf = NDArray.zeros(r.bufferShape(h));
        double[] src = x.data();
        double[] dst = buf.data();
        for (int t = 0; t < r.tokens; t++) {
            for (int j = 0; j < r.k; j++) {
                int row = r.row(t, j);
                if (row >= 0) {
                    System.arraycopy(src, t * h, dst, row * h, h);
                }
            }
        }
        return List.of(buf);
    }

    /** x's gradient (null when not needed): the buffer's gradient at each kept slot, summed per token. */
    public static List<NDArray> backward(MoeDispatch op, KernelContext ctx, List<NDArray> inputs,
                                         List<NDArray> outputs, List<NDArray> outputGrads, boolean[] needsGrad) {
        Shapes.checkBackward(NAME, inputs, 2, outputGrads, 1, needsGrad);
        if (!needsGrad[0]) {
            return Shapes.list(null, null);
        }
        NDArray x = inputs.get(0);
        Routing r = Routing.of(NAME, op.experts(), op.capacityFactor(), op.groups(), inputs.get(1),
                ctx.globalDim(1, 0, inputs.get(1).dim(0)));
        int h = r.checkTokens(NAME, "x", x);
        NDArray dx = NDArray.zeros(x.shape());
        NDArray dy = Shapes.outputGrad(NAME, outputGrads, 0, r.bufferShape(h));
        if (dy != null) {
            double[] g = dy.data();
            double[] d = dx.data();
            for (int t = 0; t < r.tokens; t++) {
                for (int j = 0; j < r.k; j++) {
                    int row = r.row(t, j);
                    for (int c = 0; row >= 0 && c < h; c++) {
                        d[t * h + c] += g[row * h + c];
                    }
                }
            }
        }
        return Shapes.list(dx, null);
    }

    /**
     * The slot assignment of a rank's local tokens: every (token, slot) pair's flat row in the local buffer
     * {@code [groups, experts, capacity]}, or -1 when dropped.
     *
     * @param tokens   the local tokens
     * @param k        the slots per token
     * @param groups   the local groups
     * @param experts  the experts E
     * @param capacity the rows per (group, expert)
     * @param rows     per (token, slot), the flat row {@code (g * E + e) * C + c}, or -1
     */
    record Routing(int tokens, int k, int groups, int experts, int capacity, int[] rows) {

        /**
         * The routing of local {@code indices [T_local, k]} when the global token count is {@code globalTokens}.
         *
         * @throws IllegalArgumentException for an expert id out of range, or local tokens that are not whole groups
         */
        static Routing of(String who, int experts, double capacityFactor, int groups, NDArray indices,
                          long globalTokens) {
            if (indices.ndim() != 2) {
                throw new IllegalArgumentException(who + ": indices " + Arrays.toString(indices.shape())
                        + " is not [tokens, k]");
            }
            int tokens = Math.toIntExact(indices.dim(0));
            int k = Math.toIntExact(indices.dim(1));
            if (globalTokens % groups != 0) {
                throw new IllegalArgumentException(who + ": groups " + groups + " does not divide the " + globalTokens
                        + " tokens; choose groups dividing " + globalTokens);
            }
            int groupSize = Math.toIntExact(globalTokens / groups);
            int capacity = MoeSlots.capacity(groupSize, k, experts, capacityFactor);
            int[] slot = MoeSlots.assign(indices.data(), tokens, k, groupSize, experts, capacity, who);
            int[] rows = new int[slot.length];
            for (int t = 0; t < tokens; t++) {
                for (int j = 0; j < k; j++) {
                    int c = slot[t * k + j];
                    int e = (int) indices.get(t * k + j);
                    rows[t * k + j] = c < 0 ? -1 : ((t / groupSize) * experts + e) * capacity + c;
                }
            }
            return new Routing(tokens, k, tokens / groupSize, experts, capacity, rows);
        }

        /** The flat buffer row of (token t, slot j), or -1 when dropped. */
        int row(int t, int j) {
            return rows[t * k + j];
        }

        /** The local buffer shape for hidden size {@code h}. */
        long[] bufferShape(long h) {
            return new long[] {groups, experts, capacity, h};
        }

        /** Checks that {@code a} is {@code [tokens, h]} and returns h. */
        int checkTokens(String who, String what, NDArray a) {
            if (a.ndim() != 2 || a.dim(0) != tokens) {
                throw new IllegalArgumentException(who + ": " + what + " " + Arrays.toString(a.shape())
                        + " is not [" + tokens + ", hidden]; expected one row per token of the indices");
            }
            return Math.toIntExact(a.dim(1));
        }
    }
}
