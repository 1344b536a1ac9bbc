package io.tessera.planner.zoo;

import io.tessera.planner.op.Strategy;
import io.tessera.planner.plan.PlanConfig;
import io.tessera.planner.strategy.DatasetStrategy;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Hand-written strategies for zoo models, the baselines users start from: Megatron-style tensor parallelism inside a
 * group of {@code mp} devices and data parallelism across {@code dp} groups.
 */
public final class HandPlans {

    private HandPlans() {
    }

    /**
     * Megatron-style strategies for {@link Zoo#gpt}: Q/K/V and the first FFN matrix column parallel, the attention
     * output and the second FFN matrix row parallel (one forward AllReduce each), attention heads split over
     * {@code mp}, LayerNorms and residuals data parallel, the vocabulary head column parallel.
     *
     * @param c  the model
     * @param dp data-parallel degree (divides the batch)
     * @param mp tensor-parallel degree (divides heads, ffn and vocab)
     * @return in_strategy by operator name
     * @throws IllegalArgumentException when a degree does not divide its dimension
     */
    public static Map<String, Strategy> megatronGpt(GptConfig c, int dp, int mp) {
        check("batch", c.batch(), "dp", dp);
        check("heads", c.heads(), "mp", mp);
        check("ffn", c.ffn(), "mp", mp);
        check("vocab", c.vocab(), "mp", mp);
        Map<String, Strategy> s = new LinkedHashMap<>();
        s.put("embedding.lookup", Strategy.of(t(1, 1), t(dp, 1)));
        s.put("embedding.add_position", Strategy.of(t(dp, 1, 1), t(1, 1)));
        s.put("embedding.flatten", Strategy.of(t(dp, 1, 1)));
        for (int i = 0; i < c.layers(); i++) {
            String p = "layers." + i + ".";
            s.put(p + "ln1", Strategy.of(t(dp, 1), t(1), t(1)));
            for (String x : new String[] {"q", "k", "v"}) {
                s.put(p + "attention." + x, Strategy.of(t(dp, 1), t(1, mp)));
                s.put(p + "attention." + x + "_split", Strategy.of(t(dp, mp)));
                s.put(p + "attention." + x + "_heads", Strategy.of(t(dp, 1, mp, 1)));
            }
            s.put(p + "attention.scores", Strategy.of(t(dp, mp, 1, 1), t(dp, mp, 1, 1)));
            s.put(p + "attention.scale_mul", Strategy.of(t(dp, mp, 1, 1), t(1)));
            s.put(p + "attention.softmax", Strategy.of(t(dp, mp, 1, 1)));
            s.put(p + "attention.context", Strategy.of(t(dp, mp, 1, 1), t(dp, mp, 1, 1)));
            s.put(p + "attention.merge_heads", Strategy.of(t(dp, mp, 1, 1)));
            s.put(p + "attention.flatten", Strategy.of(t(dp, 1, mp, 1)));
            s.put(p + "attention.out", Strategy.of(t(dp, mp), t(mp, 1)));
            s.put(p + "residual1", Strategy.of(t(dp, 1), t(dp, 1)));
            s.put(p + "ln2", Strategy.of(t(dp, 1), t(1), t(1)));
            s.put(p + "ffn.fc1", Strategy.of(t(dp, 1), t(1, mp)));
            s.put(p + "ffn.gelu", Strategy.of(t(dp, mp)));
            s.put(p + "ffn.fc2", Strategy.of(t(dp, mp), t(mp, 1)));
            s.put(p + "residual2", Strategy.of(t(dp, 1), t(dp, 1)));
        }
        s.put("final_ln", Strategy.of(t(dp, 1), t(1), t(1)));
        s.put("head", Strategy.of(t(dp, 1), t(1, mp)));
        s.put("loss_fn", Strategy.of(t(dp, 1), t(dp, 1)));
        s.put("loss", Strategy.of(t(dp)));
        return s;
    }

    /** A semi-auto configuration running {@link #megatronGpt} on {@code dp * mp} devices, data laid out dp ways. */
    public static PlanConfig megatronGptConfig(GptConfig c, int dp, int mp) {
        PlanConfig.Builder b = PlanConfig.builder(dp * mp)
                .dataset(new DatasetStrategy.Explicit(Strategy.of(t(dp, 1), t(dp, 1))));
        megatronGpt(c, dp, mp).forEach(b::strategy);
        return b.build();
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
