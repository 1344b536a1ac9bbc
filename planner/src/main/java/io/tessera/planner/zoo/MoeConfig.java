package io.tessera.planner.zoo;

import com.fasterxml.jackson.databind.JsonNode;
import io.tessera.planner.op.MoeRouter;

import java.util.List;
import java.util.Set;
import java.util.TreeSet;

/**
 * The sparse mixture-of-experts MLP of a Llama-family decoder ({@link LlamaConfig#moe}): a gate, a top-k router,
 * stacked SwiGLU experts, optionally shared experts and the load-balancing auxiliary loss. Three published forms:
 * Hugging Face's {@code MixtralSparseMoeBlock} ({@link Naming#MIXTRAL}: softmax renormalised over the chosen experts,
 * every layer sparse, no shared expert; the 5-argument constructor), {@code Qwen2MoeSparseMoeBlock}
 * ({@link Naming#QWEN2_MOE}: softmax, {@code norm_topk_prob}, a shared expert behind a sigmoid gate, the sparse layers
 * chosen by {@code decoder_sparse_step} and {@code mlp_only_layers}) and DeepSeek-V3's {@code DeepseekV3MoE}
 * ({@link Naming#DEEPSEEK_V3}: sigmoid scores, the selection bias {@code e_score_correction_bias}, grouped top-k,
 * scaled weights, {@code n_shared_experts} ungated shared experts, the first {@code first_k_dense_replace} layers
 * dense). Immutable. {@link #DENSE} (experts 0) means the dense {@code mlp} of Llama.
 *
 * @param experts        the routed experts E, 0 for the dense MLP (HF {@code num_local_experts}, {@code num_experts},
 *                       {@code n_routed_experts}; default 0)
 * @param topK           experts per token, {@code 1..experts} with experts, 0 without (HF
 *                       {@code num_experts_per_tok}; default 2 with experts)
 * @param capacityFactor the dispatch's capacity factor: 0 for dropless (every token reaches its experts), else
 *                       {@code C = ceil(factor * (T / G) * k / E)} rows per (group, expert), the rest dropped
 *                       (default 0)
 * @param groups         the token groups G of the dispatch and combine, at least 1, dividing batch x seq (default 1;
 *                       a plan splitting the tokens {@code s} ways needs {@code s} dividing G)
 * @param auxLossCoef    the load-balancing loss's coefficient, finite and at least 0: 0 adds no auxiliary loss
 *                       (HF {@code router_aux_loss_coef}; Mixtral 0.02, Qwen-MoE 0.001)
 * @param routing        the router's scoring, normalisation, scaling, bias and grouped top-k (default
 *                       {@link Routing#MIXTRAL}; null means it)
 * @param expertFfn      each routed expert's intermediate width, or 0 for the model's {@code intermediate_size}
 *                       (HF {@code moe_intermediate_size}; Mixtral 0)
 * @param shared         the shared experts every token passes through (default {@link Shared#NONE}; null means it)
 * @param layers         which decoder layers are sparse (default {@link SparseLayers#ALL}; null means it); the others
 *                       keep the dense {@code mlp} of width {@code intermediate_size}
 * @param naming         the block's scope and parameter names (default {@link Naming#MIXTRAL}; null means it)
 */
public record MoeConfig(int experts, int topK, double capacityFactor, int groups, double auxLossCoef,
                        Routing routing, int expertFfn, Shared shared, SparseLayers layers, Naming naming) {

    /** The dense MLP: no experts. */
    public static final MoeConfig DENSE = new MoeConfig(0, 0, 0, 1, 0);

    /** Mixtral's {@code router_aux_loss_coef}. */
    public static final double MIXTRAL_AUX_LOSS_COEF = 0.02;

    /** Qwen2-MoE's default {@code router_aux_loss_coef}. */
    public static final double QWEN2_MOE_AUX_LOSS_COEF = 0.001;

    private static final String WHO = "zoo model 'llama': ";

    /**
     * The names of a mixture-of-experts block: its scope under {@code model.layers.i}, the stacked experts' three
     * projections (SwiGLU gate, up, down) and the shared experts' scope.
     */
    public enum Naming {
        /** Mixtral: {@code block_sparse_moe}, {@code experts.w1 / w3 / w2}, {@code shared_expert}. */
        MIXTRAL("block_sparse_moe", "w1", "w3", "w2", "shared_expert"),
        /** Qwen2-MoE: {@code mlp}, {@code experts.gate_proj / up_proj / down_proj}, {@code shared_expert}. */
        QWEN2_MOE("mlp", "gate_proj", "up_proj", "down_proj", "shared_expert"),
        /** DeepSeek-V3: {@code mlp}, {@code experts.gate_proj / up_proj / down_proj}, {@code shared_experts}. */
        DEEPSEEK_V3("mlp", "gate_proj", "up_proj", "down_proj", "shared_experts");

        private final String scope;
        private final String gateProj;
        private final String upProj;
        private final String downProj;
        private final String sharedScope;

        Naming(String scope, String gateProj, String upProj, String downProj, String sharedScope) {
            this.scope = scope;
            this.gateProj = gateProj;
            this.upProj = upProj;
            this.downProj = downProj;
            this.sharedScope = sharedScope;
        }

        /** The block's scope under {@code model.layers.i}, e.g. {@code block_sparse_moe} or {@code mlp}. */
        public String scope() {
            return scope;
        }

        /** The experts' SwiGLU gate projection, {@code w1} or {@code gate_proj}. */
        public String gateProj() {
            return gateProj;
        }

        /** The experts' up projection, {@code w3} or {@code up_proj}. */
        public String upProj() {
            return upProj;
        }

        /** The experts' down projection, {@code w2} or {@code down_proj}. */
        public String downProj() {
            return downProj;
        }

        /** The shared experts' scope under the block, {@code shared_expert} or {@code shared_experts}. */
        public String sharedScope() {
            return sharedScope;
        }
    }

    /**
     * The router of the block (see {@link MoeRouter}).
     *
     * @param score          softmax over all experts or sigmoid per expert (HF {@code scoring_func}; default softmax)
     * @param normTopkProb   whether the chosen weights are divided by their sum (HF {@code norm_topk_prob}; Mixtral
     *                       true, Qwen-MoE false by default, DeepSeek-V3 true)
     * @param scalingFactor  the factor the weights are multiplied by, positive and finite (HF
     *                       {@code routed_scaling_factor}; default 1, DeepSeek-V3 2.5)
     * @param bias           whether DeepSeek-V3's non-trained {@code e_score_correction_bias [E]} corrects the selection
     *                       scores (HF {@code topk_method: noaux_tc}; default false)
     * @param nGroup         the expert groups of the grouped top-k, positive, dividing the experts (HF {@code n_group};
     *                       default 1: no grouping)
     * @param topkGroup      the groups kept, {@code 1..nGroup} (HF {@code topk_group}; default 1)
     */
    public record Routing(MoeRouter.Score score, boolean normTopkProb, double scalingFactor, boolean bias, int nGroup,
                          int topkGroup) {

        /** Mixtral's router: softmax, renormalised, unscaled, no bias, no groups. */
        public static final Routing MIXTRAL = new Routing(MoeRouter.Score.SOFTMAX, true, 1, false, 1, 1);

        /** Validates the score, the factor and the groups, naming the Hugging Face key. */
        public Routing {
            if (score == null) {
                throw new IllegalArgumentException(WHO + "scoring_func is null; expected \"softmax\" or \"sigmoid\"");
            }
            if (!(scalingFactor > 0) || Double.isInfinite(scalingFactor)) {
                throw new IllegalArgumentException(WHO + "routed_scaling_factor is " + scalingFactor
                        + "; expected a positive finite factor (1 by default, DeepSeek-V3 2.5)");
            }
            if (nGroup < 1) {
                throw new IllegalArgumentException(WHO + "n_group is " + nGroup
                        + "; expected a positive number of expert groups (1: no grouped top-k)");
            }
            if (topkGroup < 1 || topkGroup > nGroup) {
                throw new IllegalArgumentException(WHO + "topk_group is " + topkGroup + " with n_group " + nGroup
                        + "; expected 1 <= topk_group <= n_group");
            }
        }

        /** Softmax routing, renormalised over the chosen experts when {@code normTopkProb} (Qwen-MoE). */
        public static Routing softmax(boolean normTopkProb) {
            return new Routing(MoeRouter.Score.SOFTMAX, normTopkProb, 1, false, 1, 1);
        }

        /** DeepSeek-V3's: sigmoid, normalised, scaled by {@code factor}, biased, top-{@code topkGroup} of groups. */
        public static Routing deepseek(double factor, int nGroup, int topkGroup) {
            return new Routing(MoeRouter.Score.SIGMOID, true, factor, true, nGroup, topkGroup);
        }

        /** The router operator choosing {@code topK} experts per token. */
        public MoeRouter router(int topK) {
            return new MoeRouter(topK, score, normTopkProb, scalingFactor, nGroup, topkGroup, bias);
        }
    }

    /**
     * The shared experts, one SwiGLU MLP every token passes through, added to the routed experts' output.
     *
     * @param ffn  its intermediate width, 0 for none (HF Qwen2-MoE {@code shared_expert_intermediate_size}; DeepSeek
     *             {@code n_shared_experts x moe_intermediate_size})
     * @param gate whether the output is scaled by {@code sigmoid(x W)}, {@code W = shared_expert_gate.weight
     *             [1, hidden]} (Qwen2-MoE); needs {@code ffn > 0}
     */
    public record Shared(int ffn, boolean gate) {

        /** No shared expert. */
        public static final Shared NONE = new Shared(0, false);

        /** Validates a non-negative width and a gate only with a shared expert. */
        public Shared {
            if (ffn < 0) {
                throw new IllegalArgumentException(WHO + "shared expert ffn is " + ffn + "; expected 0 (none) or a "
                        + "positive width (HF shared_expert_intermediate_size, or n_shared_experts x "
                        + "moe_intermediate_size)");
            }
            if (gate && ffn == 0) {
                throw new IllegalArgumentException(WHO + "shared expert gate without a shared expert; expected a "
                        + "positive shared ffn (HF shared_expert_intermediate_size) or no gate");
            }
        }

        /** Whether there is a shared expert ({@code ffn > 0}). */
        public boolean present() {
            return ffn > 0;
        }
    }

    /**
     * Which layers are sparse: layer {@code i} (from 0) is sparse when {@code i >= firstDense}, {@code (i + offset)
     * % every == 0} and {@code i} is not in {@code dense}. DeepSeek: {@code firstDense = first_k_dense_replace},
     * {@code every = moe_layer_freq}, offset 0; Qwen2-MoE: {@code every = decoder_sparse_step}, offset 1,
     * {@code dense = mlp_only_layers}.
     *
     * @param firstDense the leading dense layers, at least 0 (HF {@code first_k_dense_replace}; default 0)
     * @param every      the period of the sparse layers, positive (HF {@code moe_layer_freq},
     *                   {@code decoder_sparse_step}; default 1)
     * @param offset     added to the layer index before the period test, 0 or 1 (default 0)
     * @param dense      layers kept dense whatever the period (HF {@code mlp_only_layers}; default none; null means
     *                   none), each at least 0
     */
    public record SparseLayers(int firstDense, int every, int offset, Set<Integer> dense) {

        /** Every layer sparse. */
        public static final SparseLayers ALL = new SparseLayers(0, 1, 0, Set.of());

        /** Validates the counts, copying {@code dense} into a sorted immutable set. */
        public SparseLayers {
            if (firstDense < 0) {
                throw new IllegalArgumentException(WHO + "first_k_dense_replace is " + firstDense
                        + "; expected a number of leading dense layers >= 0");
            }
            if (every < 1) {
                throw new IllegalArgumentException(WHO + "sparse layer period is " + every + "; expected a positive "
                        + "period (HF moe_layer_freq or decoder_sparse_step, 1: every layer)");
            }
            if (offset < 0 || offset > 1) {
                throw new IllegalArgumentException(WHO + "sparse layer offset is " + offset + "; expected 0 "
                        + "(DeepSeek's i % moe_layer_freq) or 1 (Qwen's (i + 1) % decoder_sparse_step)");
            }
            TreeSet<Integer> d = new TreeSet<>();
            for (Integer i : dense == null ? Set.<Integer>of() : dense) {
                if (i == null || i < 0) {
                    throw new IllegalArgumentException(WHO + "mlp_only_layers holds " + i + "; expected layer "
                            + "indices >= 0");
                }
                d.add(i);
            }
            dense = java.util.Collections.unmodifiableSortedSet(d);
        }

        /** Whether layer {@code i} (from 0) is sparse. */
        public boolean sparse(int i) {
            return i >= firstDense && (i + offset) % every == 0 && !dense.contains(i);
        }
    }

    /**
     * Validates the counts, top-k within the experts, the capacity factor, the groups, the coefficient, the expert
     * width and the expert groups; null routing, shared, layers and naming take their defaults.
     */
    public MoeConfig {
        routing = routing == null ? Routing.MIXTRAL : routing;
        shared = shared == null ? Shared.NONE : shared;
        layers = layers == null ? SparseLayers.ALL : layers;
        naming = naming == null ? Naming.MIXTRAL : naming;
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
        if (expertFfn < 0) {
            throw new IllegalArgumentException(WHO + "expert ffn is " + expertFfn + "; expected 0 (the model's "
                    + "intermediate_size) or a positive width (HF moe_intermediate_size)");
        }
        if (experts > 0 && experts % routing.nGroup() != 0) {
            throw new IllegalArgumentException(WHO + "n_group " + routing.nGroup() + " does not divide the "
                    + experts + " experts; expected a divisor of the experts (HF n_group and n_routed_experts)");
        }
        if (experts > 0 && topK > (long) routing.topkGroup() * (experts / routing.nGroup())) {
            throw new IllegalArgumentException(WHO + "top_k " + topK + " exceeds the " + routing.topkGroup()
                    * (experts / routing.nGroup()) + " experts of the topk_group " + routing.topkGroup()
                    + " kept groups; raise topk_group or lower num_experts_per_tok");
        }
    }

    /** Mixtral's block: {@link Routing#MIXTRAL}, the model's ffn, no shared expert, every layer sparse. */
    public MoeConfig(int experts, int topK, double capacityFactor, int groups, double auxLossCoef) {
        this(experts, topK, capacityFactor, groups, auxLossCoef, Routing.MIXTRAL, 0, Shared.NONE, SparseLayers.ALL,
                Naming.MIXTRAL);
    }

    /** A dropless single-group mixture of {@code experts} experts, top-{@code topK}, with aux loss {@code coef}. */
    public static MoeConfig of(int experts, int topK, double coef) {
        return new MoeConfig(experts, topK, 0, 1, coef);
    }

    /** Whether the MLP is a mixture of experts ({@code experts > 0}). */
    public boolean sparse() {
        return experts > 0;
    }

    /** Whether layer {@code i} (from 0) has the sparse block: experts, and {@link #layers} makes it sparse. */
    public boolean sparse(int i) {
        return sparse() && layers.sparse(i);
    }

    /** Whether the network adds the load-balancing loss ({@code auxLossCoef > 0}, with experts). */
    public boolean auxLoss() {
        return sparse() && auxLossCoef > 0;
    }

    /** Each routed expert's width: {@link #expertFfn} or, when 0, the model's {@code ffn}. */
    public int expertFfn(int ffn) {
        return expertFfn > 0 ? expertFfn : ffn;
    }

    /** The same block with capacity factor {@code factor}. */
    public MoeConfig withCapacityFactor(double factor) {
        return new MoeConfig(experts, topK, factor, groups, auxLossCoef, routing, expertFfn, shared, layers, naming);
    }

    /** The same block with {@code groups} dispatch groups. */
    public MoeConfig withGroups(int groups) {
        return new MoeConfig(experts, topK, capacityFactor, groups, auxLossCoef, routing, expertFfn, shared, layers,
                naming);
    }

    /** The same block with auxiliary-loss coefficient {@code coef} (0: none). */
    public MoeConfig withAuxLossCoef(double coef) {
        return new MoeConfig(experts, topK, capacityFactor, groups, coef, routing, expertFfn, shared, layers, naming);
    }

    /** The same block with {@code routing}. */
    public MoeConfig withRouting(Routing routing) {
        return new MoeConfig(experts, topK, capacityFactor, groups, auxLossCoef, routing, expertFfn, shared, layers,
                naming);
    }

    /** The same block with routed experts of width {@code expertFfn} (0: the model's ffn). */
    public MoeConfig withExpertFfn(int expertFfn) {
        return new MoeConfig(experts, topK, capacityFactor, groups, auxLossCoef, routing, expertFfn, shared, layers,
                naming);
    }

    /** The same block with shared experts {@code shared}. */
    public MoeConfig withShared(Shared shared) {
        return new MoeConfig(experts, topK, capacityFactor, groups, auxLossCoef, routing, expertFfn, shared, layers,
                naming);
    }

    /** The same block on the sparse layers {@code layers}. */
    public MoeConfig withLayers(SparseLayers layers) {
        return new MoeConfig(experts, topK, capacityFactor, groups, auxLossCoef, routing, expertFfn, shared, layers,
                naming);
    }

    /** The same block named as {@code naming}. */
    public MoeConfig withNaming(Naming naming) {
        return new MoeConfig(experts, topK, capacityFactor, groups, auxLossCoef, routing, expertFfn, shared, layers,
                naming);
    }

    /**
     * The block a Hugging Face {@code config.json} of {@code modelType} describes ({@code mixtral}, {@code qwen2_moe}
     * or {@code deepseek_v3}; {@link #DENSE} for other types), dropless in one group ({@link HfMoe} lists the keys).
     *
     * @throws IllegalArgumentException one line naming the key, its value and what is expected
     */
    static MoeConfig fromHf(JsonNode config, String modelType) {
        return HfMoe.read(config, modelType);
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
