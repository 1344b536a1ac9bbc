package io.tessera.planner.handplan;

import io.tessera.planner.zoo.Zoo;

import io.tessera.planner.zoo.GptConfig;

import io.tessera.planner.op.Strategy;
import io.tessera.planner.plan.PlanConfig;
import io.tessera.planner.strategy.DatasetStrategy;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Hand-written strategies for zoo models, the baselines users start from: Megatron-style tensor parallelism inside a
 * group of {@code mp} devices and data parallelism across {@code dp} groups, optionally with Megatron's sequence
 * parallelism.
 */
public final class HandPlans {

    private HandPlans() {
    }

    /**
     * Megatron-style strategies for {@link Zoo#gpt}: Q/K/V and the first FFN matrix column parallel, the attention
     * output and the second FFN matrix row parallel (one forward AllReduce each), attention heads split over
     * {@code mp}, LayerNorms and residuals data parallel, the vocabulary head column parallel. For the switches of
     * {@link GptConfig}: column-parallel biases ({@code q/k/v_bias}, {@code ffn.fc1_bias}) split with their MatMul's
     * output columns, row-parallel biases ({@code attention.out_bias}, {@code ffn.fc2_bias}) added after the
     * reduction in the residual's layout, every Dropout in its input's layout, the causal mask split like the
     * scores {@code (dp, mp, 1, 1)}, with fused attention the FlashAttention {@code attention.flash} splitting q, k
     * and v {@code (dp, mp, 1, 1)} (batch and heads), and with tied embeddings the head reads the word table's
     * vocabulary rows split {@code mp} ways (the lookup keeps the table replicated, as without tying, since a
     * row-split lookup may not have its indices split). The same as
     * {@link #megatronGpt(GptConfig, int, int, boolean) megatronGpt(c, dp, mp, false)}.
     *
     * @param c  the model
     * @param dp data-parallel degree (divides the batch)
     * @param mp tensor-parallel degree (divides heads, ffn and vocab)
     * @return in_strategy by operator name
     * @throws IllegalArgumentException when a degree does not divide its dimension
     */
    public static Map<String, Strategy> megatronGpt(GptConfig c, int dp, int mp) {
        return megatronGpt(c, dp, mp, false);
    }

    /**
     * The in_strategies of {@link #megatronGpt(GptConfig, int, int)}, with Megatron's sequence parallelism when
     * {@code sequenceParallel} is true (Korthikanti et al. 2022): the operators between the tensor-parallel MatMuls
     * (every LayerNorm and residual Add) split the {@code [batch * seq, hidden]} token rows {@code dp * mp} ways
     * instead of replicating them over the {@code mp} group. The rows of each data-parallel shard ({@code batch / dp}
     * sequences, batch-major) are cut into {@code mp} contiguous blocks, one per tensor-parallel rank: whole sequences
     * when {@code mp} divides {@code batch / dp}, else parts of a sequence (these operators act on each token alone,
     * so which tokens a rank holds does not matter, only that the blocks tile the shard in rank order). The
     * row-parallel MatMuls ({@code attention.out}, {@code ffn.fc2}) then need the out_strategies of
     * {@link #megatronGptOutStrategies}: their forward AllReduce becomes a ReduceScatter onto the token split, and the
     * input of each column-parallel MatMul ({@code q/k/v}, {@code ffn.fc1}, {@code head}) is AllGathered over the
     * {@code mp} group (backward: the reverse). The embedding stays as in Megatron (replicated over the group): the
     * first layer's LayerNorm and residual take their block of its output locally, and its gradient is AllGathered
     * once in backward. (Splitting the embedding's tokens instead would make the word table's gradient partial on
     * every rank of the group: an AllReduce of the whole table, {@code vocab * hidden}, against one AllGather of a
     * shard's {@code batch / dp * seq * hidden}.) Use {@link #megatronGptBuilder} to get both maps and the dataset
     * strategy at once.
     *
     * @param c                the model
     * @param dp               data-parallel degree (divides the batch)
     * @param mp               tensor-parallel degree (divides heads, ffn and vocab; with sequence parallelism also
     *                         the {@code batch / dp * seq} token rows of a data-parallel shard)
     * @param sequenceParallel whether to split the LayerNorm / residual regions along the sequence
     * @return in_strategy by operator name
     * @throws IllegalArgumentException when a degree does not divide its dimension
     */
    public static Map<String, Strategy> megatronGpt(GptConfig c, int dp, int mp, boolean sequenceParallel) {
        check(c, dp, mp, sequenceParallel);
        // sp: the split of the token rows [batch * seq, hidden] outside the tensor-parallel MatMuls
        int sp = sequenceParallel ? dp * mp : dp;
        Map<String, Strategy> s = new LinkedHashMap<>();
        s.put("embedding.lookup", Strategy.of(t(1, 1), t(dp, 1)));
        s.put("embedding.add_position", Strategy.of(t(dp, 1, 1), t(1, 1)));
        s.put("embedding.flatten", Strategy.of(t(dp, 1, 1)));
        dropout(s, c, "embedding.dropout", t(dp, 1));
        for (int i = 0; i < c.layers(); i++) {
            String p = "layers." + i + ".";
            s.put(p + "ln1", Strategy.of(t(sp, 1), t(1), t(1)));
            for (String x : new String[] {"q", "k", "v"}) {
                s.put(p + "attention." + x, Strategy.of(t(dp, 1), t(1, mp)));
                bias(s, c, p + "attention." + x + "_bias", dp, mp);
                s.put(p + "attention." + x + "_split", Strategy.of(t(dp, mp)));
                s.put(p + "attention." + x + "_heads", Strategy.of(t(dp, 1, mp, 1)));
            }
            if (c.fusedAttention()) {
                s.put(p + "attention.flash", Strategy.of(t(dp, mp, 1, 1), t(dp, mp, 1, 1), t(dp, mp, 1, 1)));
            } else {
                s.put(p + "attention.scores", Strategy.of(t(dp, mp, 1, 1), t(dp, mp, 1, 1)));
                s.put(p + "attention.scale_mul", Strategy.of(t(dp, mp, 1, 1), t(1)));
                if (c.causalMask()) {
                    s.put(p + "attention.causal_mask", Strategy.of(t(dp, mp, 1, 1)));
                }
                s.put(p + "attention.softmax", Strategy.of(t(dp, mp, 1, 1)));
                dropout(s, c, p + "attention.probs_dropout", t(dp, mp, 1, 1));
                s.put(p + "attention.context", Strategy.of(t(dp, mp, 1, 1), t(dp, mp, 1, 1)));
            }
            s.put(p + "attention.merge_heads", Strategy.of(t(dp, mp, 1, 1)));
            s.put(p + "attention.flatten", Strategy.of(t(dp, 1, mp, 1)));
            s.put(p + "attention.out", Strategy.of(t(dp, mp), t(mp, 1)));
            bias(s, c, p + "attention.out_bias", sp, 1);
            dropout(s, c, p + "attention.dropout", t(sp, 1));
            s.put(p + "residual1", Strategy.of(t(sp, 1), t(sp, 1)));
            s.put(p + "ln2", Strategy.of(t(sp, 1), t(1), t(1)));
            s.put(p + "ffn.fc1", Strategy.of(t(dp, 1), t(1, mp)));
            bias(s, c, p + "ffn.fc1_bias", dp, mp);
            s.put(p + "ffn.gelu", Strategy.of(t(dp, mp)));
            s.put(p + "ffn.fc2", Strategy.of(t(dp, mp), t(mp, 1)));
            bias(s, c, p + "ffn.fc2_bias", sp, 1);
            dropout(s, c, p + "ffn.dropout", t(sp, 1));
            s.put(p + "residual2", Strategy.of(t(sp, 1), t(sp, 1)));
        }
        s.put("final_ln", Strategy.of(t(sp, 1), t(1), t(1)));
        // tied: head.weight is the word table [vocab, hidden] read transposed, its vocabulary rows split mp ways
        s.put("head", Strategy.of(t(dp, 1), c.tiedEmbeddings() ? t(mp, 1) : t(1, mp)));
        s.put("loss_fn", Strategy.of(t(dp, 1), t(dp, 1)));
        s.put("loss", Strategy.of(t(dp)));
        return s;
    }

    /**
     * The out_strategies that go with {@link #megatronGpt(GptConfig, int, int, boolean)}: none without sequence
     * parallelism; with it, {@code ((dp * mp, 1))} for every {@code attention.out} and {@code ffn.fc2}, which makes
     * their partial sums ReduceScatter onto the token split instead of AllReduce.
     *
     * @throws IllegalArgumentException when a degree does not divide its dimension
     */
    public static Map<String, Strategy> megatronGptOutStrategies(GptConfig c, int dp, int mp,
                                                                 boolean sequenceParallel) {
        check(c, dp, mp, sequenceParallel);
        Map<String, Strategy> s = new LinkedHashMap<>();
        if (sequenceParallel) {
            for (int i = 0; i < c.layers(); i++) {
                s.put("layers." + i + ".attention.out", Strategy.of(t(dp * mp, 1)));
                s.put("layers." + i + ".ffn.fc2", Strategy.of(t(dp * mp, 1)));
            }
        }
        return s;
    }

    /**
     * A semi-auto configuration builder on {@code dp * mp} devices with the in_strategies, out_strategies and dataset
     * strategy of the Megatron plan (with sequence parallelism when {@code sequenceParallel}); set the optimizer,
     * optimizer parallelism or fusion on it before {@code build()}. The dataset strategy splits the tokens and the
     * labels {@code (dp, 1)}.
     *
     * @throws IllegalArgumentException when a degree does not divide its dimension
     */
    public static PlanConfig.Builder megatronGptBuilder(GptConfig c, int dp, int mp, boolean sequenceParallel) {
        PlanConfig.Builder b = PlanConfig.builder(dp * mp).dataset(new DatasetStrategy.Explicit(
                Strategy.of(t(dp, 1), t(dp, 1))));
        megatronGpt(c, dp, mp, sequenceParallel).forEach(b::strategy);
        megatronGptOutStrategies(c, dp, mp, sequenceParallel).forEach(b::outStrategy);
        return b;
    }

    /** A semi-auto configuration running {@link #megatronGpt} on {@code dp * mp} devices, data laid out dp ways. */
    public static PlanConfig megatronGptConfig(GptConfig c, int dp, int mp) {
        return megatronGptBuilder(c, dp, mp, false).build();
    }

    /**
     * A semi-auto configuration of {@link #megatronGptBuilder}: Megatron's plan on {@code dp * mp} devices, with
     * sequence parallelism when {@code sequenceParallel}.
     *
     * @throws IllegalArgumentException when a degree does not divide its dimension
     */
    public static PlanConfig megatronGptConfig(GptConfig c, int dp, int mp, boolean sequenceParallel) {
        return megatronGptBuilder(c, dp, mp, sequenceParallel).build();
    }

    /** With biases: BiasAdd {@code name} of {@code [rows, cols]} split {@code (rows, cols)}, its bias like cols. */
    private static void bias(Map<String, Strategy> s, GptConfig c, String name, int rows, int cols) {
        if (c.bias()) {
            s.put(name, Strategy.of(t(rows, cols), t(cols)));
        }
    }

    /** With dropouts: Dropout {@code name} in its input's layout {@code split}. */
    private static void dropout(Map<String, Strategy> s, GptConfig c, String name, int[] split) {
        if (c.dropout() > 0) {
            s.put(name, Strategy.of(split));
        }
    }

    private static void check(GptConfig c, int dp, int mp, boolean sequenceParallel) {
        check("batch", c.batch(), "dp", dp);
        check("heads", c.heads(), "mp", mp);
        check("ffn", c.ffn(), "mp", mp);
        check("vocab", c.vocab(), "mp", mp);
        long rows = (long) c.batch() / dp * c.seq();
        if (sequenceParallel && rows % mp != 0) {
            throw new IllegalArgumentException("Megatron GPT with sequence parallelism: mp = " + mp + " does not "
                    + "divide the " + rows + " token rows of a data-parallel shard (batch / dp * seq); choose an mp "
                    + "that divides them");
        }
    }

    private static void check(String dim, int size, String degree, int d) {
        if (d < 1 || size % d != 0) {
            throw new IllegalArgumentException("Megatron GPT: " + degree + " = " + d + " does not divide " + dim + " = "
                    + size + "; choose a " + degree + " that divides it");
        }
    }

    private static int[] t(int... v) {
        return v;
    }
}
