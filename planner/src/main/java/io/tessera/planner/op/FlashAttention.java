package io.tessera.planner.op;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.tessera.layout.DType;
import io.tessera.layout.redistribution.ReduceOp;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * {@code FlashAttentionScore}: fused scaled-dot-product attention as FlashAttention computes it (MindSpore's
 * {@code FlashAttentionScore}), one kernel for what the unfused form does in six operators (scores
 * {@code q k^T}, scale, causal mask, softmax, dropout of the probabilities, context {@code P v}). The
 * {@code s_q x s_k} scores and probabilities never reach memory: the forward keeps only the output and the row
 * log-sum-exp of the scores, and the backward recomputes the scores from q, k and that statistic.
 *
 * <p>Inputs (each 4-d, one floating dtype): {@code q [batch, heads, s_q, d]}, {@code k [batch, kv_heads, s_k, d]},
 * {@code v [batch, kv_heads, s_k, d_v]}. Grouped-query attention: {@code kv_heads} may be fewer than {@code heads}
 * if it divides them; query head {@code h} attends with key/value head {@code h / (heads / kv_heads)}
 * ({@code kv_heads == heads} is ordinary multi-head attention). Outputs: {@code attention_out [batch, heads, s_q,
 * d_v]} in q's dtype, and {@code softmax_lse [batch, heads, s_q]}, the row log-sum-exp of the (scaled, masked)
 * scores, in float32 (float64 when q is float64, so that float64 simulations stay exact), a saved statistic without
 * gradient.
 *
 * <p>Per query row {@code i}: {@code s_ij = scale * q_i . k_j} for the keys {@code j} it may see ({@code j <= i} in
 * global coordinates when causal, as {@link CausalMask}; all otherwise), {@code p = softmax(s)}, each {@code p_ij}
 * kept with probability {@code keepProb} and scaled by {@code 1 / keepProb} (the mask of element (batch, head,
 * query, key) is the one {@link Dropout} draws for that element of a {@code [batch, heads, s_q, s_k]} tensor with
 * the operator's seed), and {@code out_i = sum_j p_ij v_j}.
 *
 * <p>Sharding rule: batch and heads may be split, and q, k, v and the outputs share that split (the head split must
 * divide {@code kv_heads}, so each rank keeps the key/value heads of its query heads); the sequence and head
 * dimensions are not split (context parallelism is a later addition). No communication. Megatron's replication of
 * key/value heads when the tensor-parallel degree exceeds {@code kv_heads} is not this operator's: repeat k and v to
 * more heads before it.
 *
 * <p>Costs: the FLOPs are the two products' (the element-wise work on the scores runs on chip, hidden behind them),
 * {@code 2 b h s_q s_k (d + d_v)}, on the rows of the lower triangle only when causal ({@link #rows}); the memory
 * traffic is q, k, v, the output and the log-sum-exp, never the scores ({@link #keepsIntermediatesOnChip}).
 *
 * @param scale    the factor of the scores, positive and finite; 0 (the default, {@link #DEFAULT_SCALE}) means
 *                 {@code 1 / sqrt(d)}
 * @param causal   whether key {@code j} is hidden from query {@code i} when {@code j > i} (default false)
 * @param keepProb the probability of keeping an attention probability, in (0, 1], as {@link Dropout}'s
 *                 {@code keep_prob} (default 1: no dropout)
 */
public record FlashAttention(double scale, boolean causal, double keepProb) implements Operator {

    /** The encoding of the default scale {@code 1 / sqrt(head_dim)}: 0. */
    public static final double DEFAULT_SCALE = 0;

    private static final String[] NAMES = {"q", "k", "v"};

    /** Validates a scale that is 0 (default) or positive and finite, and {@code 0 < keepProb <= 1}. */
    public FlashAttention {
        if (!(scale >= 0) || Double.isInfinite(scale)) {
            throw new IllegalArgumentException("FlashAttentionScore: scale_value is " + scale
                    + "; expected a positive finite factor, or 0 for the default 1/sqrt(head_dim)");
        }
        if (!(keepProb > 0 && keepProb <= 1)) {
            throw new IllegalArgumentException("FlashAttentionScore: keep_prob is " + keepProb
                    + "; expected a probability in (0, 1] (1 keeps everything)");
        }
    }

    /** Attention with the default scale {@code 1 / sqrt(d)}, causal or not, keeping probabilities {@code keepProb}. */
    public static FlashAttention of(boolean causal, double keepProb) {
        return new FlashAttention(DEFAULT_SCALE, causal, keepProb);
    }

    /** Attention with the default scale, no mask and no dropout. */
    public static FlashAttention of() {
        return of(false, 1);
    }

    /** The factor applied to the scores for head dimension {@code headDim}: {@link #scale}, or 1/sqrt(headDim). */
    public double scaleFor(long headDim) {
        return scale == DEFAULT_SCALE ? 1 / Math.sqrt(headDim) : scale;
    }

    @Override
    public String type() {
        return "FlashAttentionScore";
    }

    @Override
    public int inputCount() {
        return 3;
    }

    /** {@code attention_out [b, heads, s_q, d_v]} (q's dtype) and {@code softmax_lse [b, heads, s_q]}. */
    @Override
    public List<TensorType> outputs(String name, List<TensorType> inputs) {
        String label = Sharding.label(this, name);
        Elementwise.checkCount(label, inputs, 3, "q, k and v");
        for (int i = 0; i < 3; i++) {
            TensorType t = inputs.get(i);
            if (t.rank() != 4) {
                throw new IllegalArgumentException(label + ": input " + i + " (" + NAMES[i] + ") " + t + " has "
                        + t.rank() + " dims; expected 4 [batch, heads, seq, head_dim] (split and transpose the heads"
                        + " first)");
            }
            if (t.dtype() != inputs.get(0).dtype() || !t.dtype().isFloating()) {
                throw new IllegalArgumentException(label + ": input " + i + " (" + NAMES[i] + ") is " + t.dtype()
                        + "; expected q's floating dtype " + inputs.get(0).dtype() + " for q, k and v");
            }
        }
        TensorType q = inputs.get(0);
        TensorType k = inputs.get(1);
        TensorType v = inputs.get(2);
        same(label, "batch", 0, q, k, v);
        if (k.dim(1) != v.dim(1) || k.dim(2) != v.dim(2)) {
            throw new IllegalArgumentException(label + ": input 1 (k) " + k + " and input 2 (v) " + v
                    + " differ in heads or sequence; expected the same [batch, kv_heads, s_k] for k and v");
        }
        if (q.dim(1) % k.dim(1) != 0) {
            throw new IllegalArgumentException(label + ": input 1 (k) has " + k.dim(1) + " heads, which do not divide"
                    + " the " + q.dim(1) + " query heads of input 0 (q); expected kv_heads dividing heads"
                    + " (grouped-query attention)");
        }
        if (q.dim(3) != k.dim(3)) {
            throw new IllegalArgumentException(label + ": input 0 (q) " + q + " has head_dim " + q.dim(3)
                    + " but input 1 (k) " + k + " has " + k.dim(3) + "; expected the same head_dim for q and k");
        }
        DType lse = q.dtype() == DType.FLOAT64 ? DType.FLOAT64 : DType.FLOAT32;
        return List.of(q.withShape(q.dim(0), q.dim(1), q.dim(2), v.dim(3)),
                TensorType.of(lse, q.dim(0), q.dim(1), q.dim(2)));
    }

    private static void same(String label, String what, int dim, TensorType q, TensorType k, TensorType v) {
        if (k.dim(dim) != q.dim(dim) || v.dim(dim) != q.dim(dim)) {
            throw new IllegalArgumentException(label + ": q " + q + ", k " + k + " and v " + v + " differ in dim "
                    + dim + " (" + what + "); expected the same " + what + " for q, k and v");
        }
    }

    /** The batch (dimension 0 of q, k and v) split over {@link Sharding#fit} of its size; everything else 1. */
    @Override
    public Strategy dataParallel(List<TensorType> inputs, int devices) {
        int[] t = Elementwise.batchTuple(inputs.get(0), devices);
        return Strategy.of(t, t.clone(), t.clone());
    }

    /**
     * The device matrix is q's strategy {@code (batch, heads, 1, 1)}; k and v must be split the same way, the
     * sequence and head dimensions not at all; the outputs follow q (the log-sum-exp its first three dimensions).
     */
    @Override
    public OpSharding shard(String name, List<TensorType> inputs, Strategy in, Strategy out, int devices) {
        String label = Sharding.label(this, name);
        outputs(name, inputs);
        Elementwise.rejectOutStrategy(label, out);
        if (in == null || in.size() != 3) {
            Sharding.checkStrategy(label, inputs, in); // throws: no strategy, or not one tuple per input
        }
        for (int i = 0; i < 3; i++) {
            int[] t = in.tuple(i);
            String what = "input " + i + " (" + NAMES[i] + ")";
            if (t.length != 4) {
                Sharding.checkTuple(label, what, inputs.get(i), t); // throws: one value per dimension
            }
            Sharding.checkUnsplit(label, what, 2, t, "the sequence is not split: each query row attends to every key;"
                    + " context parallelism is not supported yet");
            Sharding.checkUnsplit(label, what, 3, t, "the head dimension is contracted by the products");
        }
        int[] tq = in.tuple(0);
        for (int i = 1; i < 3; i++) {
            for (int d = 0; d < 2; d++) {
                Sharding.checkEqual(label, "input " + i + " (" + NAMES[i] + ") dim " + d, in.tuple(i)[d],
                        "input 0 (q) dim " + d, tq[d], "q, k and v share the batch and head split; give k and v q's"
                                + " split " + Arrays.toString(tq));
            }
        }
        long kvHeads = inputs.get(1).dim(1);
        if (kvHeads % tq[1] != 0) {
            throw new IllegalArgumentException(label + ": the heads are split " + tq[1] + " ways, which does not"
                    + " divide the " + kvHeads + " key/value heads of input 1 (k); choose a head split dividing "
                    + kvHeads + " (or repeat k and v to more heads first)");
        }
        Sharding.checkStrategy(label, inputs, in);
        int[][] dims = Elementwise.identity(4);
        int[][] lse = Elementwise.identity(3);
        return Sharding.derive(label, tq, List.of(dims, dims, dims), List.of(dims, lse),
                new boolean[] {true, true, true}, devices, ReduceOp.SUM, "", List.of());
    }

    @Override
    public OperatorKind operatorKind() {
        return OperatorKind.FLASH_ATTENTION;
    }

    /** q, k and v have gradients. */
    @Override
    public boolean differentiableInput(int i) {
        return true;
    }

    /** Only {@code attention_out} (output 0): the log-sum-exp is a saved statistic. */
    @Override
    public boolean differentiableOutput(int o) {
        return o == 0;
    }

    /**
     * FlashAttention's backward reads q, k, v, the output and the log-sum-exp for every input's gradient (the
     * scores and probabilities are recomputed from q, k and the log-sum-exp; {@code rowsum(dO * out)} gives the
     * softmax's correction; the dropout mask is drawn again from the seed).
     */
    @Override
    public List<TensorRef> gradientReads(int i) {
        return List.of(TensorRef.input(0), TensorRef.input(1), TensorRef.input(2), TensorRef.output(0),
                TensorRef.output(1));
    }

    /** The attributes, every one written: {@code scale_value} (0: the default), {@code causal}, {@code keep_prob}. */
    @Override
    public ObjectNode encodeAttrs() {
        ObjectNode o = OpAttrs.object();
        o.put("scale_value", scale);
        o.put("causal", causal);
        o.put("keep_prob", keepProb);
        return o;
    }

    /**
     * The query rows each product covers for {@code sQ} queries: all of them, or with the causal mask half of them
     * (rounded up), the share of a square causal score matrix on or below the diagonal that FlashAttention's blocks
     * visit (an approximation when {@code s_q != s_k}).
     */
    public long rows(long sQ) {
        return causal ? (sQ + 1) / 2 : sQ;
    }

    /** The FLOPs of the two products: the sum of {@link #forwardGemms}' FLOPs. */
    @Override
    public long forwardFlops(List<long[]> in, List<long[]> out) {
        long sum = 0;
        for (Gemm g : forwardGemms(in, out)) {
            sum += 2L * g.batch() * g.m() * g.n() * g.k();
        }
        return sum;
    }

    /**
     * {@code S = q k^T} as {@code Gemm(b * heads, s_q, s_k, d)} and {@code out = P v} as
     * {@code Gemm(b * heads, s_q, d_v, s_k)}; with the causal mask each product's {@code m} is {@link #rows}.
     */
    @Override
    public List<Gemm> forwardGemms(List<long[]> in, List<long[]> out) {
        long[] s = sizes(in);
        if (s == null) {
            return List.of();
        }
        long bh = s[0];
        long sq = s[1];
        long sk = s[2];
        long d = s[3];
        long dv = s[4];
        return List.of(Gemm.of(bh, rows(sq), sk, d), Gemm.of(bh, rows(sq), dv, sk));
    }

    /**
     * The recompute of {@code S = q k^T} ({@code Gemm(bh, s_q, s_k, d)}) and the four gradient products:
     * {@code dV = P^T dO} ({@code Gemm(bh, s_k, d_v, s_q)}), {@code dP = dO v^T} ({@code Gemm(bh, s_q, s_k, d_v)}),
     * {@code dQ = dS k} ({@code Gemm(bh, s_q, d, s_k)}) and {@code dK = dS^T q} ({@code Gemm(bh, s_k, d, s_q)}),
     * {@code bh = batch * heads} (query heads: with grouped-query attention the key/value gradients of a group are
     * summed on chip). With the causal mask each product's {@code m} is halved (rounded up) as in {@link #rows}.
     */
    @Override
    public List<Gemm> backwardGemms(List<long[]> in, List<long[]> out) {
        long[] s = sizes(in);
        if (s == null) {
            return List.of();
        }
        long bh = s[0];
        long sq = s[1];
        long sk = s[2];
        long d = s[3];
        long dv = s[4];
        return List.of(Gemm.of(bh, rows(sq), sk, d), Gemm.of(bh, rows(sk), dv, sq), Gemm.of(bh, rows(sq), sk, dv),
                Gemm.of(bh, rows(sq), d, sk), Gemm.of(bh, rows(sk), d, sq));
    }

    /**
     * Input 0's (q's) tuples that split neither the sequence nor the head dimension, each given to k and v too: the
     * only strategies the rule can accept (k's and v's tuples are not enumerated on their own).
     */
    @Override
    public List<Strategy> searchCandidates(List<List<int[]>> perInput) {
        List<Strategy> out = new ArrayList<>();
        for (int[] t : perInput.get(0)) {
            if (t.length == 4 && t[2] == 1 && t[3] == 1) {
                out.add(Strategy.of(t, t.clone(), t.clone()));
            }
        }
        return out;
    }

    /** True: the products exchange the scores and probabilities on chip. */
    @Override
    public boolean keepsIntermediatesOnChip() {
        return true;
    }

    /** {@code {batch * heads, s_q, s_k, d, d_v}} of the local slices, or null when a slice is empty. */
    private static long[] sizes(List<long[]> in) {
        long[] q = in.get(0);
        long[] k = in.get(1);
        long[] v = in.get(2);
        long[] s = {q[0] * q[1], q[2], k[2], q[3], v[3]};
        for (long x : s) {
            if (x <= 0) {
                return null;
            }
        }
        return s;
    }

    /**
     * Every input slice read and every output slice written once: q, k, v, the output and the log-sum-exp (the
     * scores stay on chip).
     */
    @Override
    public long forwardBytes(List<long[]> in, List<DType> inTypes, List<long[]> out, List<DType> outTypes) {
        return Flops.streamedBytes(in, inTypes, out, outTypes);
    }

    @Override
    public <R> R accept(Visitor<R> v) {
        return v.visit(this);
    }
}
