package io.tessera.simulator.kernel;

import io.tessera.planner.op.MoeRouter;
import io.tessera.simulator.array.NDArray;

import java.util.Arrays;
import java.util.List;

/**
 * The numeric kernel of {@link MoeRouter}: per token row of the local logits (the expert dimension is never split,
 * so every rank routes its own tokens exactly as one device does), the scores, the (grouped) top-k choice with ties
 * going to the lower index, and the chosen weights. The backward recomputes the routing and differentiates the
 * chosen weights with respect to the logits at that fixed routing.
 */
public final class MoeRouterKernel {

    private static final String NAME = "MoeRouterKernel";

    private MoeRouterKernel() {
    }

    /** weights {@code [tokens, k]} and indices {@code [tokens, k]} (integral values) of the local tokens. */
    public static List<NDArray> forward(MoeRouter op, KernelContext ctx, List<NDArray> inputs) {
        Shapes.checkInputs(NAME, inputs, op.inputCount());
        Routing r = route(op, inputs);
        NDArray weights = NDArray.zeros(r.tokens, op.topK());
        NDArray indices = NDArray.zeros(r.tokens, op.topK());
        double[] w = weights.data();
        double[] ix = indices.data();
        for (int t = 0; t < r.tokens; t++) {
            double total = r.normaliser(op, t);
            for (int j = 0; j < op.topK(); j++) {
                int e = r.chosen[t][j];
                w[t * op.topK() + j] = r.scores[t * r.experts + e] / total * op.routedScalingFactor();
                ix[t * op.topK() + j] = e;
            }
        }
        return List.of(weights, indices);
    }

    /**
     * The logits' gradient (null when not needed) from the weights' gradient at the routing of the forward; zeros
     * for the bias when asked for (it has no gradient). The indices' gradient and {@code outputs} are not read.
     */
    public static List<NDArray> backward(MoeRouter op, KernelContext ctx, List<NDArray> inputs,
                                         List<NDArray> outputs, List<NDArray> outputGrads, boolean[] needsGrad) {
        Shapes.checkBackward(NAME, inputs, op.inputCount(), outputGrads, 2, needsGrad);
        NDArray[] grads = Shapes.gradients(inputs.size());
        if (op.withBias() && needsGrad[1]) {
            grads[1] = NDArray.zeros(inputs.get(1).shape());
        }
        if (!needsGrad[0]) {
            return Shapes.list(grads);
        }
        NDArray logits = inputs.get(0);
        NDArray dx = NDArray.zeros(logits.shape());
        grads[0] = dx;
        Routing r = route(op, inputs);
        NDArray g = Shapes.outputGrad(NAME, outputGrads, 0, new long[] {r.tokens, op.topK()});
        if (g == null) {
            return Shapes.list(grads);
        }
        int k = op.topK();
        int n = r.experts;
        double[] gd = g.data();
        double[] d = dx.data();
        double a = op.routedScalingFactor();
        double[] ds = new double[n];
        for (int t = 0; t < r.tokens; t++) {
            // the gradient of the scores s of this token: w_j = a s_{i_j} / S, S = sum of the chosen s (or 1)
            Arrays.fill(ds, 0);
            double total = r.normaliser(op, t);
            double dot = 0;
            for (int j = 0; j < k; j++) {
                dot += gd[t * k + j] * r.scores[t * n + r.chosen[t][j]];
            }
            for (int j = 0; j < k; j++) {
                double v = a * gd[t * k + j] / total;
                if (op.normTopkProb()) {
                    v -= a * dot / (total * total);
                }
                ds[r.chosen[t][j]] += v;
            }
            int row = t * n;
            if (op.score() == MoeRouter.Score.SOFTMAX) {
                double inner = 0;
                for (int e = 0; e < n; e++) {
                    inner += ds[e] * r.scores[row + e];
                }
                for (int e = 0; e < n; e++) {
                    d[row + e] = r.scores[row + e] * (ds[e] - inner);
                }
            } else {
                for (int e = 0; e < n; e++) {
                    double s = r.scores[row + e];
                    d[row + e] = ds[e] * s * (1 - s);
                }
            }
        }
        return Shapes.list(grads);
    }

    /**
     * The routing of the local tokens: the scores {@code [tokens * experts]} and per token the chosen experts in
     * slot order.
     */
    private record Routing(int tokens, int experts, double[] scores, int[][] chosen) {

        /** The sum of token {@code t}'s chosen scores when the op renormalises, else 1. */
        double normaliser(MoeRouter op, int t) {
            if (!op.normTopkProb()) {
                return 1;
            }
            double total = 0;
            for (int e : chosen[t]) {
                total += scores[t * experts + e];
            }
            return total;
        }
    }

    /** The scores and the chosen experts of each local token. */
    private static Routing route(MoeRouter op, List<NDArray> inputs) {
        NDArray logits = inputs.get(0);
        if (logits.ndim() != 2) {
            throw new IllegalArgumentException(NAME + ": logits " + Arrays.toString(logits.shape()) + " are not"
                    + " [tokens, experts]");
        }
        int tokens = Math.toIntExact(logits.dim(0));
        int n = Math.toIntExact(logits.dim(1));
        if (op.topK() > n || n % op.nGroup() != 0) {
            throw new IllegalArgumentException(NAME + ": " + n + " experts do not fit top_k " + op.topK()
                    + " and n_group " + op.nGroup() + "; expected top_k <= experts and n_group dividing them");
        }
        double[] bias = null;
        if (op.withBias()) {
            NDArray b = inputs.get(1);
            if (b.ndim() != 1 || b.dim(0) != n) {
                throw new IllegalArgumentException(NAME + ": bias " + Arrays.toString(b.shape()) + " does not fit "
                        + n + " experts; expected [" + n + "]");
            }
            bias = b.data();
        }
        double[] x = logits.data();
        double[] s = new double[x.length];
        double[] c = new double[n];
        int[][] chosen = new int[tokens][];
        int size = n / op.nGroup();
        for (int t = 0; t < tokens; t++) {
            int row = t * n;
            scores(op.score(), x, s, row, n);
            for (int e = 0; e < n; e++) {
                c[e] = s[row + e] + (bias == null ? 0 : bias[e]);
            }
            boolean[] eligible = new boolean[n];
            if (op.nGroup() == 1) {
                Arrays.fill(eligible, true);
            } else {
                double[] groupScore = new double[op.nGroup()];
                for (int grp = 0; grp < op.nGroup(); grp++) {
                    int[] best = topK(c, grp * size, size, Math.min(2, size), null);
                    for (int e : best) {
                        groupScore[grp] += c[e];
                    }
                }
                for (int grp : topK(groupScore, 0, op.nGroup(), op.topkGroup(), null)) {
                    Arrays.fill(eligible, grp * size, (grp + 1) * size, true);
                }
            }
            chosen[t] = topK(c, 0, n, op.topK(), eligible);
        }
        return new Routing(tokens, n, s, chosen);
    }

    /** Softmax over the row, or the sigmoid of each element, of {@code x[row, row + n)} into {@code s}. */
    private static void scores(MoeRouter.Score score, double[] x, double[] s, int row, int n) {
        if (score == MoeRouter.Score.SOFTMAX) {
            double max = Double.NEGATIVE_INFINITY;
            for (int e = 0; e < n; e++) {
                max = Math.max(max, x[row + e]);
            }
            double sum = 0;
            for (int e = 0; e < n; e++) {
                s[row + e] = Math.exp(x[row + e] - max);
                sum += s[row + e];
            }
            for (int e = 0; e < n; e++) {
                s[row + e] /= sum;
            }
        } else {
            for (int e = 0; e < n; e++) {
                s[row + e] = 1 / (1 + Math.exp(-x[row + e]));
            }
        }
    }

    /**
     * The {@code k} indices in {@code [from, from + count)} (only the {@code eligible} ones when given) of the
     * largest values, in descending order of value, ties going to the lower index.
     */
    static int[] topK(double[] v, int from, int count, int k, boolean[] eligible) {
        int[] out = new int[k];
        boolean[] taken = new boolean[v.length];
        for (int j = 0; j < k; j++) {
            int best = -1;
            for (int i = from; i < from + count; i++) {
                if (taken[i] || eligible != null && !eligible[i]) {
                    continue;
                }
                if (best < 0 || v[i] > v[best]) {
                    best = i;
                }
            }
            if (best < 0) {
                throw new IllegalArgumentException(NAME + ": only " + j + " eligible experts for top_k " + k
                        + "; expected topk_group groups holding at least top_k experts");
            }
            taken[best] = true;
            out[j] = best;
        }
        return out;
    }
}
