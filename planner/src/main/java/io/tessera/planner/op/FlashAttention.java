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
 * <p>Sharding rule, in q's strategy {@code (batch, t, cp, 1)} and k's and v's {@code (batch, g, c_kv, 1)} (k and v
 * split alike; the head dimension never split):
 * <ul>
 *   <li><b>Heads</b> (tensor parallel with grouped-query attention, as Megatron): q's heads split {@code t} ways and
 *       k's and v's {@code g} ways, {@code g} dividing {@code kv_heads} and {@code t}, and either {@code g = t} or
 *       {@code g = kv_heads} (key/value heads split while the tensor degree is at most {@code kv_heads}, replicated
 *       beyond). Each group of {@code t/g} consecutive ranks of the head axis shares one key/value slice: the device
 *       matrix is {@code [batch, g, t/g, 1, 1]}, with context parallelism {@code [batch, cp, g, t/g, 1]} (Megatron's
 *       rank order; no {@code t/g} dimension when {@code g = t}), so the shared slice
 *       lines up with k and v produced by a product whose weight is split {@code g} ways on {@code t}-way tensor
 *       ranks (the repeated-calculation dimension of size {@code t/g} is the fastest-varying one). The gradients of k
 *       and v are partial over the {@code t/g} sharing ranks and summed in backward.</li>
 *   <li><b>Context parallel, all-gather form</b> (Llama 3): q's sequence split {@code cp} ways, k's and v's not
 *       ({@code c_kv = 1}): the planner gathers k and v from their sequence-split producer (a redistribution) and in
 *       backward reduce-scatters their gradients, partial over the {@code cp} ranks.</li>
 *   <li><b>Context parallel, ring form</b>: q, k and v split {@code cp} ways alike ({@code c_kv = cp}): the operator
 *       passes the key/value blocks around the {@code cp} ring ({@code cp - 1} steps, each overlapping the compute of
 *       the block in hand), merging the partial results of the blocks by their log-sum-exp; in backward the
 *       key/value blocks and their gradients travel the ring again, each gradient block ending on its owner.</li>
 * </ul>
 * The form is chosen by the strategy alone; any other {@code c_kv} is an error naming both forms. With
 * {@code load_balance = c} the sequence index holds the token of {@link LoadBalance#position} (Megatron's order of
 * {@code 2c} chunks: a {@code c}-way split gives rank {@code r} chunks {@code r} and {@code 2c - 1 - r}), and the
 * causal mask compares those positions; {@link Rope} must then use the same {@code load_balance}.
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
 * @param loadBalance the causal load balance {@code c} of {@link LoadBalance}: the sequence holds {@code 2c} chunks
 *                 in Megatron's order, {@code 2c} dividing both sequence lengths; 1 (the default) is the natural order
 */
public record FlashAttention(double scale, boolean causal, double keepProb, int loadBalance) implements Operator {

    /** The encoding of the default scale {@code 1 / sqrt(head_dim)}: 0. */
    public static final double DEFAULT_SCALE = 0;

    private static final String[] NAMES = {"q", "k", "v"};

    /**
     * Validates a scale that is 0 (default) or positive and finite, {@code 0 < keepProb <= 1} and a positive
     * {@code loadBalance}.
     */
    public FlashAttention {
        if (!(scale >= 0) || Double.isInfinite(scale)) {
            throw new IllegalArgumentException("FlashAttentionScore: scale_value is " + scale
                    + "; expected a positive finite factor, or 0 for the default 1/sqrt(head_dim)");
        }
        if (!(keepProb > 0 && keepProb <= 1)) {
            throw new IllegalArgumentException("FlashAttentionScore: keep_prob is " + keepProb
                    + "; expected a probability in (0, 1] (1 keeps everything)");
        }
        if (loadBalance < 1) {
            throw new IllegalArgumentException("FlashAttentionScore: load_balance is " + loadBalance
                    + "; expected a positive number of chunk pairs (1, the default, keeps the natural order)");
        }
    }

    /** Attention in the natural sequence order ({@code load_balance} 1). */
    public FlashAttention(double scale, boolean causal, double keepProb) {
        this(scale, causal, keepProb, 1);
    }

    /** This attention with the causal load balance {@code c} ({@link LoadBalance}; 1 is the natural order). */
    public FlashAttention withLoadBalance(int c) {
        return new FlashAttention(scale, causal, keepProb, c);
    }

    /** The token position held at sequence index {@code i} of a sequence of {@code seq} ({@link LoadBalance}). */
    public long position(long i, long seq) {
        return LoadBalance.position(i, seq, loadBalance);
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
        LoadBalance.check(label, "input 0 (q) " + q, q.dim(2), loadBalance);
        LoadBalance.check(label, "input 1 (k) " + k, k.dim(2), loadBalance);
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
     * The device matrix {@code [batch, t, 1, 1]} or {@code [batch, g, t/g, 1, 1]} when k's and v's heads are split
     * {@code g < t} ways, {@code [batch, cp, t, 1]} or {@code [batch, cp, g, t/g, 1]} when q's sequence is split
     * {@code cp} ways (see the class comment for the rule and the context-parallel forms); the outputs follow q
     * (the log-sum-exp its first three dimensions). The gradients of k and v are summed over the dimensions they do
     * not use (the {@code t/g} sharing ranks; in the all-gather form also the {@code cp} ranks).
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
            Sharding.checkUnsplit(label, what, 3, t, "the head dimension is contracted by the products");
        }
        int[] tq = in.tuple(0);
        int[] tk = in.tuple(1);
        for (int i = 1; i < 3; i++) {
            Sharding.checkEqual(label, "input " + i + " (" + NAMES[i] + ") dim 0", in.tuple(i)[0], "input 0 (q) dim 0",
                    tq[0], "q, k and v share the batch split; give k and v q's batch split " + tq[0]);
        }
        for (int d = 1; d < 3; d++) {
            Sharding.checkEqual(label, "input 2 (v) dim " + d, in.tuple(2)[d], "input 1 (k) dim " + d, tk[d],
                    "k and v are split alike; give v k's split " + Arrays.toString(tk));
        }
        int t = tq[1];
        int g = tk[1];
        long kvHeads = inputs.get(1).dim(1);
        if (kvHeads % g != 0 || t % g != 0 || (g != t && g != kvHeads)) {
            throw new IllegalArgumentException(label + ": the heads of input 0 (q) are split " + t + " ways and those"
                    + " of input 1 (k) " + g + " ways, with " + kvHeads + " key/value heads; expected k's and v's head"
                    + " split g dividing " + kvHeads + " and " + t + ", equal to " + t + " or to " + kvHeads
                    + " (Megatron: g = min(tensor, kv_heads) = " + Math.min(t, kvHeads) + ")"
                    + (t % kvHeads == 0 || kvHeads % t == 0 ? "" : "; choose a head split dividing or divided by "
                    + kvHeads));
        }
        int cp = tq[2];
        int ckv = tk[2];
        if (ckv != 1 && ckv != cp) {
            throw new IllegalArgumentException(label + ": input 1 (k) dim 2 (sequence) is split " + ckv + " ways but"
                    + " input 0 (q) dim 2 is split " + cp + " ways; expected 1 (context parallel, all-gather form: k"
                    + " and v whole, gathered from their producer) or " + cp + " (ring form: k and v split like q,"
                    + " their blocks passed around the ring)");
        }
        Sharding.checkStrategy(label, inputs, in);
        int rep = t / g;
        boolean ring = ckv == cp;
        int[] dev;
        int[][] q;
        int[][] kv;
        if (cp == 1) {
            // [batch, g, (t/g,) 1, 1]: the heads' repeated part fastest, as a product's repeated calculation
            dev = rep == 1 ? new int[] {tq[0], t, 1, 1} : new int[] {tq[0], g, rep, 1, 1};
            int last = dev.length - 1;
            q = new int[][] {{0}, rep == 1 ? new int[] {1} : g > 1 ? new int[] {1, 2} : new int[] {2}, {last - 1},
                {last}};
            kv = new int[][] {{0}, {1}, {last - 1}, {last}};
        } else {
            // [batch, cp, g, (t/g,) 1]: Megatron's rank order (tensor fastest, then context, then data)
            dev = rep == 1 ? new int[] {tq[0], cp, t, 1} : new int[] {tq[0], cp, g, rep, 1};
            int last = dev.length - 1;
            q = new int[][] {{0}, rep == 1 ? new int[] {2} : g > 1 ? new int[] {2, 3} : new int[] {3}, {1}, {last}};
            kv = new int[][] {{0}, {2}, ring ? new int[] {1} : new int[0], {last}};
        }
        int[][] lse = {q[0], q[1], q[2]};
        return Sharding.derive(label, dev, List.of(q, kv, kv), List.of(q, lse),
                new boolean[] {true, true, true}, devices, ReduceOp.SUM, "", List.of());
    }

    /**
     * The context-parallel form of a sharding of this operator (from its input layouts): {@code NONE} when q's
     * sequence is whole, {@code ALL_GATHER} when q's is split and k's is not, {@code RING} when both are split.
     */
    public static ContextForm contextForm(List<io.tessera.layout.Layout> inputs) {
        int cq = inputs.get(0).splits(2);
        int ck = inputs.get(1).splits(2);
        return cq == 1 ? ContextForm.NONE : ck == 1 ? ContextForm.ALL_GATHER : ContextForm.RING;
    }

    /** How a sharding of {@link FlashAttention} splits the sequence ({@link #contextForm}). */
    public enum ContextForm {
        /** The sequence of q is not split. */
        NONE,
        /** q's sequence split, k and v whole (gathered by a redistribution): Llama 3's form. */
        ALL_GATHER,
        /** q, k and v split alike; the key/value blocks pass around the ring. */
        RING
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

    /**
     * The attributes: {@code scale_value} (0: the default), {@code causal} and {@code keep_prob} always,
     * {@code load_balance} only when not 1 (so networks without it read and write as before).
     */
    @Override
    public ObjectNode encodeAttrs() {
        ObjectNode o = OpAttrs.object();
        o.put("scale_value", scale);
        o.put("causal", causal);
        o.put("keep_prob", keepProb);
        if (loadBalance != 1) {
            o.put("load_balance", loadBalance);
        }
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
            sum = Flops.sum(sum, Flops.product(2, g.batch(), g.m(), g.n(), g.k()));
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
     * The products of the slowest rank, forward or backward, from the operator's input and output layouts (the
     * global shapes and the split), as the cost model prices a sharding. Without context parallelism (q's sequence
     * whole) these are {@link #forwardGemms} and {@link #backwardGemms} of the slices, unchanged. With it every rank
     * covers all the keys (gathered, or block by block around the ring) for its query slice; under the causal mask
     * the rank's work is the (query, key) pairs it sees, counted exactly ({@link LoadBalance#visiblePairs}, the
     * largest over the query slices: with the load balance equal on every rank, in the natural order the last
     * rank's) and written as {@code ceil(pairs / s_k)} full rows of each product.
     */
    public List<Gemm> rankGemms(List<io.tessera.layout.Layout> in, List<io.tessera.layout.Layout> out,
                                boolean backward) {
        List<long[]> inSlices = new ArrayList<>();
        in.forEach(l -> inSlices.add(l.sliceShape()));
        List<long[]> outSlices = new ArrayList<>();
        out.forEach(l -> outSlices.add(l.sliceShape()));
        if (contextForm(in) == ContextForm.NONE) {
            return backward ? backwardGemms(inSlices, outSlices) : forwardGemms(inSlices, outSlices);
        }
        long[] s = sizes(inSlices);
        if (s == null) {
            return List.of();
        }
        long bh = s[0];
        long sq = s[1];
        long d = s[3];
        long dv = s[4];
        long seqQ = in.get(0).shape()[2];
        long seqK = in.get(1).shape()[2];
        long rows = sq;
        if (causal) {
            long pairs = 0;
            if (seqQ == seqK) {
                for (long from = 0; from < seqQ; from += sq) {
                    pairs = Math.max(pairs, LoadBalance.visiblePairs(from, from + sq, seqQ, loadBalance));
                }
            } else {
                pairs = rows(sq) * seqK;
            }
            rows = Math.max(1, (pairs + seqK - 1) / seqK);
        }
        if (!backward) {
            return List.of(Gemm.of(bh, rows, seqK, d), Gemm.of(bh, rows, dv, seqK));
        }
        return List.of(Gemm.of(bh, rows, seqK, d), Gemm.of(bh, rows, dv, seqK), Gemm.of(bh, rows, seqK, dv),
                Gemm.of(bh, rows, d, seqK), Gemm.of(bh, rows, d, seqK));
    }

    /** The FLOPs of the slowest rank's forward from the layouts: the sum of {@link #rankGemms}' (forward). */
    public long rankFlops(List<io.tessera.layout.Layout> in, List<io.tessera.layout.Layout> out) {
        long sum = 0;
        for (Gemm g : rankGemms(in, out, false)) {
            sum = Flops.sum(sum, Flops.product(2, g.batch(), g.m(), g.n(), g.k()));
        }
        return sum;
    }

    /**
     * The strategies a search tries: input 0's (q's) tuples that split neither the sequence nor the head dimension,
     * each with k and v split like q or, for grouped-query attention beyond the key/value heads, with one of k's
     * tuples splitting the heads fewer ways (a divisor of q's head split; the rule keeps {@code kv_heads}'s). Context
     * parallelism is not searched here: it is chosen by the parallelism settings (a strategy splitting q's
     * sequence), so the search's results without it are unchanged.
     */
    @Override
    public List<Strategy> searchCandidates(List<List<int[]>> perInput) {
        java.util.Map<Long, int[]> kvByBatchAndHeads = new java.util.HashMap<>();
        for (int[] b : perInput.get(1)) {
            if (b.length == 4 && b[2] == 1 && b[3] == 1) {
                kvByBatchAndHeads.putIfAbsent(((long) b[0] << 32) | b[1], b);
            }
        }
        List<Strategy> out = new ArrayList<>();
        for (int[] t : perInput.get(0)) {
            if (t.length == 4 && t[2] == 1 && t[3] == 1) {
                out.add(Strategy.of(t, t.clone(), t.clone()));
                for (int g = 1; g < t[1]; g++) {
                    int[] b = t[1] % g == 0 ? kvByBatchAndHeads.get(((long) t[0] << 32) | g) : null;
                    if (b != null) {
                        out.add(Strategy.of(t, b.clone(), b.clone()));
                    }
                }
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
