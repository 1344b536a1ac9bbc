package io.tessera.planner.zoo;

import java.util.List;

/**
 * The sparse mixture-of-experts MLP of a Llama-family decoder ({@link LlamaConfig#moe}), as Hugging Face's
 * {@code MixtralSparseMoeBlock}: a gate, a softmax top-k router renormalised over the chosen experts, SwiGLU experts
 * and, optionally, the load-balancing auxiliary loss. Immutable. {@link #DENSE} (experts 0) means the dense
 * {@code mlp} of Llama.
 *
 * @param experts        the routed experts E, 0 for the dense MLP (HF {@code num_local_experts}; default 0)
 * @param topK           experts per token, {@code 1..experts} with experts, 0 without (HF
 *                       {@code num_experts_per_tok}; default 2 with experts)
 * @param capacityFactor the dispatch's capacity factor: 0 for dropless (every token reaches its experts), else
 *                       {@code C = ceil(factor * (T / G) * k / E)} rows per (group, expert), the rest dropped
 *                       (default 0)
 * @param groups         the token groups G of the dispatch and combine, at least 1, dividing batch x seq (default 1;
 *                       a plan splitting the tokens {@code s} ways needs {@code s} dividing G)
 * @param auxLossCoef    the load-balancing loss's coefficient, finite and at least 0: 0 adds no auxiliary loss
 *                       (HF {@code router_aux_loss_coef}; Mixtral 0.02)
 */
public record MoeConfig(int experts, int topK, double capacityFactor, int groups, double auxLossCoef) {

    /** The dense MLP: no experts. */
    public static final MoeConfig DENSE = new MoeConfig(0, 0, 0, 1, 0);

    /** Mixtral's {@code router_aux_loss_coef}. */
    public static final double MIXTRAL_AUX_LOSS_COEF = 0.02;

    private static final String WHO = "zoo model 'llama': ";

    /** Validates the counts, top-k within the experts, the capacity factor, the groups and the coefficient. */
    public MoeConfig {
        if (experts < 0) {
            throw new IllegalArgumentException(WHO + "experts is " + experts
                    + "; expected 0 (dense MLP) or a positive number of experts (HF num_local_experts)");
        }
        if (experts == 0 && topK != 0) {
            throw new IllegalArgumentException(WHO + "top_k is " + topK + " without experts; expected experts > 0 "
                    + "(HF num_local_experts) for a mixture of experts, or top_k 0 for the dense MLP");
        }
        if (experts > 0 && (topK < 1 || topK > experts)) {
            throw new IllegalArgumentException(WHO + "top_k is " + topK + " with " + experts + " experts; expected "
                    + "1 <= top_k <= experts (HF num_experts_per_tok <= num_local_experts)");
        }
        if (!(capacityFactor >= 0) || Double.isInfinite(capacityFactor)) {
            throw new IllegalArgumentException(WHO + "capacity_factor is " + capacityFactor
                    + "; expected 0 (dropless) or a positive finite factor such as 1.25");
        }
        if (groups < 1) {
            throw new IllegalArgumentException(WHO + "moe_groups is " + groups
                    + "; expected a positive number of token groups (1 by default)");
        }
        if (!(auxLossCoef >= 0) || Double.isInfinite(auxLossCoef)) {
            throw new IllegalArgumentException(WHO + "aux loss coefficient is " + auxLossCoef
                    + "; expected 0 (no auxiliary loss) or a positive finite number such as 0.02");
        }
    }

    /** A dropless single-group mixture of {@code experts} experts, top-{@code topK}, with aux loss {@code coef}. */
    public static MoeConfig of(int experts, int topK, double coef) {
        return new MoeConfig(experts, topK, 0, 1, coef);
    }

    /** Whether the MLP is a mixture of experts ({@code experts > 0}). */
    public boolean sparse() {
        return experts > 0;
    }

    /** Whether the network adds the load-balancing loss ({@code auxLossCoef > 0}, with experts). */
    public boolean auxLoss() {
        return sparse() && auxLossCoef > 0;
    }

    /**
     * llama's MLP: dense unless {@code experts > 0}; then top_k, capacity_factor, moe_groups and aux_loss (with
     * Mixtral's coefficient {@link MoeConfig#MIXTRAL_AUX_LOSS_COEF}).
     */
    static MoeConfig fromArgs(Zoo.Args a) {
        int experts = a.nonNegative("experts", 0);
        if (experts == 0) {
            for (String k : List.of("top_k", "capacity_factor", "moe_groups", "aux_loss")) {
                if (a.has(k)) {
                    throw new IllegalArgumentException("zoo model 'llama': argument '" + k + "' is given without "
                            + "experts; set experts > 0 for a mixture-of-experts MLP, or drop '" + k + "'");
                }
            }
            return MoeConfig.DENSE;
        }
        return new MoeConfig(experts, a.nonNegative("top_k", 2), a.nonNegativeReal("capacity_factor", 0),
                a.positive("moe_groups", 1), a.bool("aux_loss", true) ? MoeConfig.MIXTRAL_AUX_LOSS_COEF : 0);
    }
}
