package io.tessera.planner.zoo;

import com.fasterxml.jackson.databind.JsonNode;
import io.tessera.planner.op.MoeRouter;

import java.util.LinkedHashSet;
import java.util.Set;

/**
 * Reads the mixture-of-experts keys of a Hugging Face {@code config.json} into a {@link MoeConfig} (dropless, one
 * dispatch group: the network arguments {@code capacity_factor} and {@code moe_groups} change those). Defaults are
 * those of Hugging Face's config classes; the number of routed experts is required.
 * <ul>
 *   <li>{@code mixtral}: {@code num_local_experts} (required), {@code num_experts_per_tok} (2),
 *       {@code router_aux_loss_coef} (0.02); Mixtral's block ({@link MoeConfig.Naming#MIXTRAL}).</li>
 *   <li>{@code qwen2_moe}: {@code num_experts} (required), {@code num_experts_per_tok} (4),
 *       {@code moe_intermediate_size} (1408), {@code shared_expert_intermediate_size} (5632, gated),
 *       {@code norm_topk_prob} (false), {@code decoder_sparse_step} (1), {@code mlp_only_layers} ([]),
 *       {@code router_aux_loss_coef} (0.001).</li>
 *   <li>{@code deepseek_v3}: {@code n_routed_experts} (required), {@code num_experts_per_tok} (8),
 *       {@code moe_intermediate_size} (2048), {@code n_shared_experts} (1; 0 or null: none),
 *       {@code first_k_dense_replace} (3), {@code moe_layer_freq} (1), {@code routed_scaling_factor} (2.5),
 *       {@code scoring_func} ("sigmoid" or "softmax"), {@code topk_method} ("noaux_tc": the selection bias and the
 *       grouped top-k of {@code n_group} (8) and {@code topk_group} (4); "greedy": neither),
 *       {@code norm_topk_prob} (true), {@code router_aux_loss_coef} (0: DeepSeek-V3 balances through the bias; its
 *       sequence-wise {@code aux_loss_alpha} is not modelled).</li>
 * </ul>
 * {@code output_router_logits} must be a boolean when given and is otherwise not read: the auxiliary loss is added
 * whenever its coefficient is above 0 (the network argument {@code aux_loss} turns it off), as for Mixtral.
 */
final class HfMoe {

    /** The model types with a mixture-of-experts block. */
    static final Set<String> MODEL_TYPES = Set.of("mixtral", "qwen2_moe", "deepseek_v3");

    private final JsonNode root;

    private HfMoe(JsonNode root) {
        this.root = root;
    }

    /**
     * The block of {@code config} (a {@code config.json} object) for {@code modelType}; {@link MoeConfig#DENSE} for a
     * type without experts.
     *
     * @throws IllegalArgumentException one line: "key 'k' is v; expected ..." or a relation between two keys
     */
    static MoeConfig read(JsonNode config, String modelType) {
        if (config == null || !config.isObject()) {
            throw new IllegalArgumentException("config.json: found " + config + "; expected a JSON object");
        }
        HfMoe r = new HfMoe(config);
        if (config.hasNonNull("output_router_logits")) {
            r.bool("output_router_logits", false);
        }
        return switch (modelType == null ? "" : modelType) {
            case "mixtral" -> r.mixtral();
            case "qwen2_moe" -> r.qwen2Moe();
            case "deepseek_v3" -> r.deepseekV3();
            default -> MoeConfig.DENSE;
        };
    }

    private MoeConfig mixtral() {
        int experts = requiredPositive("num_local_experts");
        int topK = topK(experts, "num_local_experts", 2);
        double coef = nonNegativeReal("router_aux_loss_coef", MoeConfig.MIXTRAL_AUX_LOSS_COEF);
        return new MoeConfig(experts, topK, 0, 1, coef);
    }

    private MoeConfig qwen2Moe() {
        int experts = requiredPositive("num_experts");
        int topK = topK(experts, "num_experts", 4);
        int ffn = positive("moe_intermediate_size", 1408);
        int shared = positive("shared_expert_intermediate_size", 5632);
        boolean norm = bool("norm_topk_prob", false);
        int step = positive("decoder_sparse_step", 1);
        Set<Integer> dense = layerList("mlp_only_layers");
        double coef = nonNegativeReal("router_aux_loss_coef", MoeConfig.QWEN2_MOE_AUX_LOSS_COEF);
        return new MoeConfig(experts, topK, 0, 1, coef, MoeConfig.Routing.softmax(norm), ffn,
                new MoeConfig.Shared(shared, true), new MoeConfig.SparseLayers(0, step, 1, dense),
                MoeConfig.Naming.QWEN2_MOE);
    }

    private MoeConfig deepseekV3() {
        int experts = requiredPositive("n_routed_experts");
        int topK = topK(experts, "n_routed_experts", 8);
        int ffn = positive("moe_intermediate_size", 2048);
        int nShared = nonNegative("n_shared_experts", 1);
        int firstDense = nonNegative("first_k_dense_replace", 3);
        int freq = positive("moe_layer_freq", 1);
        double factor = positiveReal("routed_scaling_factor", 2.5);
        MoeRouter.Score score = score();
        String method = text("topk_method", "noaux_tc");
        boolean grouped;
        switch (method) {
            case "noaux_tc" -> grouped = true;
            case "greedy" -> grouped = false;
            default -> throw bad("topk_method", root.get("topk_method"), "\"noaux_tc\" (DeepSeek-V3: selection bias "
                    + "and grouped top-k) or \"greedy\" (plain top-k); group_limited_greedy is not supported");
        }
        int nGroup = grouped ? positive("n_group", 8) : 1;
        int topkGroup = grouped ? positive("topk_group", 4) : 1;
        if (grouped && experts % nGroup != 0) {
            throw new IllegalArgumentException("n_group " + nGroup + " does not divide n_routed_experts " + experts
                    + "; fix the config so that n_group divides n_routed_experts");
        }
        if (grouped && topkGroup > nGroup) {
            throw new IllegalArgumentException("topk_group " + topkGroup + " exceeds n_group " + nGroup
                    + "; fix the config so that topk_group <= n_group");
        }
        if (grouped && topK > topkGroup * (experts / nGroup)) {
            throw new IllegalArgumentException("num_experts_per_tok " + topK + " exceeds the " + topkGroup
                    * (experts / nGroup) + " experts of topk_group " + topkGroup + " groups of " + experts / nGroup
                    + "; fix the config so that num_experts_per_tok <= topk_group x n_routed_experts / n_group");
        }
        boolean norm = bool("norm_topk_prob", true);
        double coef = nonNegativeReal("router_aux_loss_coef", 0);
        long sharedFfn = (long) nShared * ffn;
        if (sharedFfn > Integer.MAX_VALUE) {
            throw bad("n_shared_experts", root.get("n_shared_experts"), "n_shared_experts x moe_intermediate_size "
                    + "below 2^31");
        }
        return new MoeConfig(experts, topK, 0, 1, coef,
                new MoeConfig.Routing(score, norm, factor, grouped, nGroup, topkGroup), ffn,
                new MoeConfig.Shared((int) sharedFfn, false), new MoeConfig.SparseLayers(firstDense, freq, 0, null),
                MoeConfig.Naming.DEEPSEEK_V3);
    }

    private int topK(int experts, String expertsKey, int def) {
        int topK = positive("num_experts_per_tok", def);
        if (topK > experts) {
            throw new IllegalArgumentException("num_experts_per_tok " + topK + " exceeds " + expertsKey + " "
                    + experts + "; fix the config so that num_experts_per_tok <= " + expertsKey);
        }
        return topK;
    }

    private MoeRouter.Score score() {
        String s = text("scoring_func", "sigmoid");
        return switch (s) {
            case "sigmoid" -> MoeRouter.Score.SIGMOID;
            case "softmax" -> MoeRouter.Score.SOFTMAX;
            default -> throw bad("scoring_func", root.get("scoring_func"), "\"sigmoid\" (DeepSeek-V3) or \"softmax\"");
        };
    }

    private Set<Integer> layerList(String key) {
        JsonNode n = root.get(key);
        if (n == null || n.isNull()) {
            return Set.of();
        }
        if (!n.isArray()) {
            throw bad(key, n, "a list of layer indices >= 0 such as [] or [0, 1]");
        }
        Set<Integer> out = new LinkedHashSet<>();
        for (JsonNode e : n) {
            if (!e.isIntegralNumber() || !e.canConvertToInt() || e.intValue() < 0) {
                throw bad(key, n, "a list of layer indices >= 0 such as [] or [0, 1]");
            }
            out.add(e.intValue());
        }
        return out;
    }

    private IllegalArgumentException bad(String key, JsonNode found, String expected) {
        return new IllegalArgumentException("key '" + key + "' is " + found + "; expected " + expected);
    }

    private int requiredPositive(String key) {
        if (!root.hasNonNull(key)) {
            throw new IllegalArgumentException("missing required key '" + key + "'; add it as Hugging Face's "
                    + "config.json of the model has it");
        }
        return positive(key, 0);
    }

    private int positive(String key, int def) {
        JsonNode n = root.get(key);
        if (n == null || n.isNull()) {
            return def;
        }
        if (!n.isIntegralNumber() || !n.canConvertToInt() || n.intValue() <= 0) {
            throw bad(key, n, "a positive integer");
        }
        return n.intValue();
    }

    private int nonNegative(String key, int def) {
        JsonNode n = root.get(key);
        if (n == null || n.isNull()) {
            return def;
        }
        if (!n.isIntegralNumber() || !n.canConvertToInt() || n.intValue() < 0) {
            throw bad(key, n, "an integer at least 0");
        }
        return n.intValue();
    }

    private double positiveReal(String key, double def) {
        JsonNode n = root.get(key);
        if (n == null || n.isNull()) {
            return def;
        }
        if (!n.isNumber() || !(n.doubleValue() > 0) || Double.isInfinite(n.doubleValue())) {
            throw bad(key, n, "a positive finite number");
        }
        return n.doubleValue();
    }

    private double nonNegativeReal(String key, double def) {
        JsonNode n = root.get(key);
        if (n == null || n.isNull()) {
            return def;
        }
        if (!n.isNumber() || !(n.doubleValue() >= 0) || Double.isInfinite(n.doubleValue())) {
            throw bad(key, n, "a finite number at least 0");
        }
        return n.doubleValue();
    }

    private boolean bool(String key, boolean def) {
        JsonNode n = root.get(key);
        if (n == null || n.isNull()) {
            return def;
        }
        if (!n.isBoolean()) {
            throw bad(key, n, "true or false");
        }
        return n.booleanValue();
    }

    private String text(String key, String def) {
        JsonNode n = root.get(key);
        if (n == null || n.isNull()) {
            return def;
        }
        if (!n.isTextual()) {
            throw bad(key, n, "a string");
        }
        return n.asText();
    }
}
