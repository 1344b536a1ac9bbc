package io.tessera.simulator.kernel;

import io.tessera.layout.Box;
import io.tessera.planner.op.FlashAttention;
import io.tessera.planner.op.LoadBalance;
import io.tessera.simulator.array.NDArray;

import java.util.Arrays;
import java.util.List;

/**
 * {@code FlashAttentionScore}: fused attention on {@code q [b, h, s_q, d]}, {@code k [b, h_kv, s_k, d]},
 * {@code v [b, h_kv, s_k, d_v]}, row by row as FlashAttention computes it: the scores of a query row, their
 * log-sum-exp, the probabilities, their dropout and the context, with nothing of size {@code s_q x s_k} kept. Query
 * head {@code i} uses key/value head {@code i / (h / h_kv)} (grouped-query attention).
 *
 * <p>Global coordinates make sharded runs equal one device: the causal mask compares the global query and key
 * indices (the starts of q's and k's boxes plus the local ones), and the dropout mask of probability (batch, head,
 * query, key) is {@link DropoutKernel#mask} over the global box of a {@code [b, h, s_q, s_k]} tensor with the
 * context's seed: the same mask as a {@code Dropout} of the same seed on the unfused probabilities.
 *
 * <p>The backward reads the saved log-sum-exp to recompute the probabilities ({@code p = exp(s - lse)}) and the
 * output for the softmax correction {@code D_i = sum dO_i * out_i}: {@code dS = p * (dP - D)} with
 * {@code dP = (dO v^T) * mask / keep}; {@code dq = scale dS k}, {@code dk = scale dS^T q},
 * {@code dv = (p * mask / keep)^T dO}. When the outputs are not given it recomputes them.
 */
public final class FlashAttentionKernel {

    private static final String NAME = "FlashAttentionKernel";

    private FlashAttentionKernel() {
    }

    /** {@code attention_out} and {@code softmax_lse}. */
    public static List<NDArray> forward(FlashAttention op, KernelContext ctx, List<NDArray> inputs) {
        Shapes.checkInputs(NAME, inputs, 3);
        Geometry g = Geometry.of(op, ctx, inputs);
        NDArray out = NDArray.zeros(g.b, g.h, g.sq, g.dv);
        NDArray lse = NDArray.zeros(g.b, g.h, g.sq);
        double[] q = inputs.get(0).data();
        double[] k = inputs.get(1).data();
        double[] v = inputs.get(2).data();
        double[] o = out.data();
        double[] l = lse.data();
        double[] mask = g.mask(op, ctx);
        double[] s = new double[g.sk];
        int[] keys = new int[g.sk];
        for (int bi = 0; bi < g.b; bi++) {
            for (int hi = 0; hi < g.h; hi++) {
                int kvh = bi * g.hkv + hi / g.group;
                for (int i = 0; i < g.sq; i++) {
                    int row = (bi * g.h + hi) * g.sq + i;
                    int visible = g.scores(q, k, row, kvh, i, s, keys);
                    if (visible == 0) {
                        l[row] = Double.NEGATIVE_INFINITY;
                        continue;
                    }
                    double max = Double.NEGATIVE_INFINITY;
                    for (int j = 0; j < visible; j++) {
                        max = Math.max(max, s[j]);
                    }
                    double sum = 0;
                    for (int j = 0; j < visible; j++) {
                        s[j] = Math.exp(s[j] - max);
                        sum += s[j];
                    }
                    l[row] = max + Math.log(sum);
                    for (int j = 0; j < visible; j++) {
                        double p = s[j] / sum * g.keep(mask, row, keys[j]);
                        if (p != 0) {
                            int vo = (kvh * g.sk + keys[j]) * g.dv;
                            for (int c = 0; c < g.dv; c++) {
                                o[row * g.dv + c] += p * v[vo + c];
                            }
                        }
                    }
                }
            }
        }
        return List.of(out, lse);
    }

    /**
     * Merges the partial result of one key/value block into a running one, in place, as FlashAttention's blockwise
     * (and ring attention's) online softmax does: with {@code L = logaddexp(lse, lseBlock)} the row's output becomes
     * {@code out exp(lse - L) + outBlock exp(lseBlock - L)} and its log-sum-exp {@code L}. A row that sees no key of
     * a block has {@code lseBlock = -inf} and keeps its result. The block's result is what {@link #forward} gives on
     * that block alone (with the block's global box): each is normalised by its own log-sum-exp, so the merge gives
     * exactly the attention over the union of the blocks.
     *
     * @param out      the running {@code attention_out [b, h, s_q, d_v]}, updated
     * @param lse      the running {@code softmax_lse [b, h, s_q]}, updated ({@code -inf} before the first block)
     * @param outBlock the block's {@code attention_out}
     * @param lseBlock the block's {@code softmax_lse}
     */
    public static void merge(NDArray out, NDArray lse, NDArray outBlock, NDArray lseBlock) {
        double[] o = out.data();
        double[] l = lse.data();
        double[] ob = outBlock.data();
        double[] lb = lseBlock.data();
        if (ob.length != o.length || lb.length != l.length || l.length == 0 || o.length % l.length != 0) {
            throw new IllegalArgumentException(NAME + ": merging a block of " + ob.length + " outputs and " + lb.length
                    + " statistics into " + o.length + " and " + l.length + "; expected the same shapes");
        }
        int dv = o.length / l.length;
        for (int r = 0; r < l.length; r++) {
            if (lb[r] == Double.NEGATIVE_INFINITY) {
                continue;
            }
            if (l[r] == Double.NEGATIVE_INFINITY) {
                l[r] = lb[r];
                System.arraycopy(ob, r * dv, o, r * dv, dv);
                continue;
            }
            double m = Math.max(l[r], lb[r]);
            double all = m + Math.log(Math.exp(l[r] - m) + Math.exp(lb[r] - m));
            double a = Math.exp(l[r] - all);
            double b = Math.exp(lb[r] - all);
            for (int c = 0; c < dv; c++) {
                o[r * dv + c] = o[r * dv + c] * a + ob[r * dv + c] * b;
            }
            l[r] = all;
        }
    }

    /** The gradients of q, k and v (null where not asked for) from the gradient of {@code attention_out}. */
    public static List<NDArray> backward(FlashAttention op, KernelContext ctx, List<NDArray> inputs,
                                         List<NDArray> outputs, List<NDArray> outputGrads, boolean[] needsGrad) {
        Shapes.checkBackward(NAME, inputs, 3, outputGrads, 2, needsGrad);
        NDArray[] grads = Shapes.gradients(3);
        if (!needsGrad[0] && !needsGrad[1] && !needsGrad[2]) {
            return Shapes.list(grads);
        }
        Geometry g = Geometry.of(op, ctx, inputs);
        for (int i = 0; i < 3; i++) {
            if (needsGrad[i]) {
                grads[i] = NDArray.zeros(inputs.get(i).shape());
            }
        }
        NDArray dy = Shapes.outputGrad(NAME, outputGrads, 0, new long[] {g.b, g.h, g.sq, g.dv});
        if (dy == null) {
            return Shapes.list(grads);
        }
        NDArray outArr = Shapes.output(outputs, 0);
        NDArray lseArr = Shapes.output(outputs, 1);
        if (outArr == null || lseArr == null) {
            List<NDArray> again = forward(op, ctx, inputs);
            outArr = again.get(0);
            lseArr = again.get(1);
        }
        double[] q = inputs.get(0).data();
        double[] k = inputs.get(1).data();
        double[] v = inputs.get(2).data();
        double[] o = outArr.data();
        double[] l = lseArr.data();
        double[] dO = dy.data();
        double[] dq = needsGrad[0] ? grads[0].data() : null;
        double[] dk = needsGrad[1] ? grads[1].data() : null;
        double[] dv = needsGrad[2] ? grads[2].data() : null;
        double[] mask = g.mask(op, ctx);
        double[] s = new double[g.sk];
        int[] keys = new int[g.sk];
        for (int bi = 0; bi < g.b; bi++) {
            for (int hi = 0; hi < g.h; hi++) {
                int kvh = bi * g.hkv + hi / g.group;
                for (int i = 0; i < g.sq; i++) {
                    int row = (bi * g.h + hi) * g.sq + i;
                    int visible = g.scores(q, k, row, kvh, i, s, keys);
                    if (visible == 0 || l[row] == Double.NEGATIVE_INFINITY) {
                        continue;
                    }
                    double correction = 0;
                    for (int c = 0; c < g.dv; c++) {
                        correction += dO[row * g.dv + c] * o[row * g.dv + c];
                    }
                    for (int j = 0; j < visible; j++) {
                        double p = Math.exp(s[j] - l[row]);
                        double keep = g.keep(mask, row, keys[j]);
                        int vo = (kvh * g.sk + keys[j]) * g.dv;
                        if (dv != null && keep != 0) {
                            for (int c = 0; c < g.dv; c++) {
                                dv[vo + c] += p * keep * dO[row * g.dv + c];
                            }
                        }
                        double dp = 0;
                        if (keep != 0) {
                            for (int c = 0; c < g.dv; c++) {
                                dp += dO[row * g.dv + c] * v[vo + c];
                            }
                            dp *= keep;
                        }
                        double ds = p * (dp - correction) * g.scale;
                        int ko = (kvh * g.sk + keys[j]) * g.d;
                        int qo = row * g.d;
                        for (int c = 0; c < g.d; c++) {
                            if (dq != null) {
                                dq[qo + c] += ds * k[ko + c];
                            }
                            if (dk != null) {
                                dk[ko + c] += ds * q[qo + c];
                            }
                        }
                    }
                }
            }
        }
        return Shapes.list(grads);
    }

    /**
     * The local sizes, the global offsets of the boxes and the scale of one call.
     */
    private static final class Geometry {
        int b;
        int h;
        int hkv;
        int group;
        int sq;
        int sk;
        int d;
        int dv;
        double scale;
        boolean causal;
        long[] qStart;
        long kStart;
        /** The global sequence lengths of q and k, and the load balance (for the token positions). */
        long sqAll;
        long skAll;
        int chunks;
        /** Per local key, its token position (null in the natural order: the global index). */
        long[] kPos;

        static Geometry of(FlashAttention op, KernelContext ctx, List<NDArray> in) {
            long[] q = in.get(0).shape();
            long[] k = in.get(1).shape();
            long[] v = in.get(2).shape();
            if (q.length != 4 || k.length != 4 || v.length != 4 || k[0] != q[0] || v[0] != q[0] || k[1] != v[1]
                    || k[2] != v[2] || k[3] != q[3] || k[1] == 0 || q[1] % k[1] != 0) {
                throw new IllegalArgumentException(NAME + ": q " + Arrays.toString(q) + ", k " + Arrays.toString(k)
                        + ", v " + Arrays.toString(v) + " do not fit; expected q [b, h, s_q, d], k [b, h_kv, s_k, d],"
                        + " v [b, h_kv, s_k, d_v] with h_kv dividing h");
            }
            Geometry g = new Geometry();
            g.b = Math.toIntExact(q[0]);
            g.h = Math.toIntExact(q[1]);
            g.hkv = Math.toIntExact(k[1]);
            g.group = g.h / g.hkv;
            g.sq = Math.toIntExact(q[2]);
            g.sk = Math.toIntExact(k[2]);
            g.d = Math.toIntExact(q[3]);
            g.dv = Math.toIntExact(v[3]);
            g.scale = op.scaleFor(q[3]);
            g.causal = op.causal();
            g.qStart = box(ctx, 0, q).start();
            g.kStart = box(ctx, 1, k).start(2);
            g.chunks = op.loadBalance();
            if (g.chunks > 1) {
                g.sqAll = ctx == null ? q[2] : ctx.globalDim(0, 2, q[2]);
                g.skAll = ctx == null ? k[2] : ctx.globalDim(1, 2, k[2]);
                g.kPos = new long[g.sk];
                for (int j = 0; j < g.sk; j++) {
                    g.kPos[j] = op.position(g.kStart + j, g.skAll);
                }
            }
            return g;
        }

        /** Input {@code i}'s global box from the context; the full box of the local shape when it gives none. */
        private static Box box(KernelContext ctx, int i, long[] shape) {
            Box box = ctx == null || ctx.inputBoxes().size() <= i ? Box.full(shape) : ctx.inputBoxes().get(i);
            if (!Arrays.equals(box.shape(), shape)) {
                throw new IllegalArgumentException(NAME + ": the box " + box + " of input " + i
                        + " does not fit the local shape " + Arrays.toString(shape));
            }
            return box;
        }

        /**
         * The scaled scores of query row {@code row} (local query {@code i}) against key/value head {@code kvh}, in
         * {@code s[0..visible)}, of the local keys {@code keys[0..visible)} (ascending); returns how many keys the row
         * sees: all, or with the causal mask those whose token position is at most the query's (in the natural order
         * the global indices: the first keys; with a load balance the positions of {@link FlashAttention#position}).
         */
        int scores(double[] q, double[] k, int row, int kvh, int i, double[] s, int[] keys) {
            int visible = 0;
            if (!causal) {
                for (int j = 0; j < sk; j++) {
                    keys[visible++] = j;
                }
            } else if (kPos == null) {
                long last = qStart[2] + i - kStart; // the last visible local key
                int n = (int) Math.max(0, Math.min(sk, last + 1));
                for (int j = 0; j < n; j++) {
                    keys[visible++] = j;
                }
            } else {
                long p = LoadBalance.position(qStart[2] + i, sqAll, chunks);
                for (int j = 0; j < sk; j++) {
                    if (kPos[j] <= p) {
                        keys[visible++] = j;
                    }
                }
            }
            int qo = row * d;
            for (int j = 0; j < visible; j++) {
                int ko = (kvh * sk + keys[j]) * d;
                double dot = 0;
                for (int c = 0; c < d; c++) {
                    dot += q[qo + c] * k[ko + c];
                }
                s[j] = dot * scale;
            }
            return visible;
        }

        /** The dropout factor ({@code mask / keep_prob}) of probability (row, key {@code j}); 1 without dropout. */
        double keep(double[] mask, int row, int j) {
            return mask == null ? 1 : mask[row * sk + j];
        }

        /**
         * The dropout factors of the local {@code [b, h, s_q, s_k]} probabilities, {@code mask / keep_prob}, keyed by
         * global coordinates; null without dropout.
         */
        double[] mask(FlashAttention op, KernelContext ctx) {
            if (op.keepProb() >= 1) {
                return null;
            }
            long[] start = {qStart[0], qStart[1], qStart[2], kStart};
            long[] end = {qStart[0] + b, qStart[1] + h, qStart[2] + sq, kStart + sk};
            double[] m = DropoutKernel.mask(op.keepProb(), ctx == null ? 0 : ctx.seed(), Box.of(start, end)).data();
            double f = 1 / op.keepProb();
            for (int i = 0; i < m.length; i++) {
                m[i] *= f;
            }
            return m;
        }
    }
}
