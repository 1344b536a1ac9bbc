package io.tessera.planner.zoo;

import io.tessera.planner.json.InputFiles;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.tessera.layout.DType;
import io.tessera.planner.graph.Network;
import io.tessera.planner.op.Rope;
import io.tessera.planner.op.RMSNorm;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Reads a Hugging Face {@code config.json} into a zoo network: {@code model_type} {@code llama}, {@code mistral}
 * (as llama; {@code sliding_window} is accepted and not modelled), {@code qwen2} (q, k and v biases),
 * {@code mixtral} (a sparse mixture-of-experts MLP, {@link MoeConfig}) and {@code qwen2_moe} (q, k and v biases and
 * Qwen2-MoE's sparse block with its gated shared expert; {@link HfMoe} lists the keys) and {@code deepseek_v3}
 * (multi-head latent attention, {@link MlaConfig#fromHf}, with its YaRN RoPE, and DeepSeek-V3's first dense layers and
 * sparse blocks with a shared expert) become {@link LlamaConfig}s.
 * Keys not read are ignored, as Hugging Face's own configs carry many (token ids, dropout, initializer range, ...).
 */
final class HfConfig {

    /** The supported {@code model_type}s. */
    static final List<String> MODEL_TYPES = List.of("llama", "mistral", "qwen2", "gpt2", "mixtral", "qwen2_moe",
            "deepseek_v3");

    /** The Llama-family types among {@link #MODEL_TYPES} (built by {@link Zoo#llama}). */
    static final List<String> LLAMA_TYPES = List.of("llama", "mistral", "qwen2", "mixtral", "qwen2_moe",
            "deepseek_v3");

    /** The types whose q, k and v projections add a bias (Qwen2's attention). */
    private static final List<String> QKV_BIAS_TYPES = List.of("qwen2", "qwen2_moe");

    /** The arguments that may override a config's values. */
    static final List<String> ARGS = List.of("seq", "batch", "layers", "dtype", "fused_attention", "load_balance",
            "capacity_factor", "moe_groups", "aux_loss");

    /** The longest default sequence: {@code seq} defaults to {@code min(max_position_embeddings, 4096)}. */
    static final int MAX_DEFAULT_SEQ = 4096;

    private static final ObjectMapper MAPPER = InputFiles.mapperBuilder().build();

    private final Path file;
    private final JsonNode root;

    private HfConfig(Path file, JsonNode root) {
        this.file = file;
        this.root = root;
    }

    /** Reads {@code file}: a JSON object. */
    static HfConfig read(Path file) {
        if (file == null) {
            throw new IllegalArgumentException("hf_config: found no path; expected the path of a Hugging Face "
                    + "config.json");
        }
        String text;
        try {
            text = InputFiles.readText(file, "Hugging Face config.json");
        } catch (InputFiles.InputFileException e) {
            throw new IllegalArgumentException("hf_config " + InputFiles.show(file) + ": cannot read the file ("
                    + e.problem() + "); expected a Hugging Face config.json, the path relative to the strategy file");
        }
        JsonNode root;
        try {
            root = MAPPER.readTree(text);
        } catch (JsonProcessingException e) {
            throw new IllegalArgumentException("hf_config " + InputFiles.show(file) + ": not valid JSON ("
                    + InputFiles.jsonMessage(e) + "); expected a Hugging Face config.json object");
        }
        if (root == null || !root.isObject()) {
            throw new IllegalArgumentException("hf_config " + file + ": found " + (root == null ? "nothing"
                    : root.getNodeType().toString().toLowerCase(java.util.Locale.ROOT))
                    + "; expected a JSON object (a Hugging Face config.json)");
        }
        return new HfConfig(file, root);
    }

    /** The network of this config with {@code args} applied; dispatches on {@code model_type}. */
    Network network(Map<String, ?> args) {
        String type = modelType();
        switch (type) {
            case "llama", "mistral", "qwen2", "mixtral", "qwen2_moe", "deepseek_v3":
                return Zoo.llama(llama(args));
            case HfGpt2.MODEL_TYPE:
                return HfGpt2.network(HfGpt2.fromJson(root, args == null ? Map.of() : args));
            default:
                throw unsupported(type);
        }
    }

    private IllegalArgumentException unsupported(String type) {
        return new IllegalArgumentException("hf_config " + file + ": model_type '" + type + "' is not supported; "
                + "expected one of " + String.join(", ", MODEL_TYPES));
    }

    /** The {@code model_type}, required. */
    String modelType() {
        JsonNode n = required("model_type");
        if (!n.isTextual()) {
            throw bad("model_type", n, "a string such as \"llama\"");
        }
        return n.asText();
    }

    /** The Llama-family configuration of this file with {@code args} applied. */
    LlamaConfig llama(Map<String, ?> args) {
        String type = modelType();
        if (!LLAMA_TYPES.contains(type)) {
            throw type.equals(HfGpt2.MODEL_TYPE) ? new IllegalArgumentException("hf_config " + file + ": model_type "
                    + "gpt2 is not of the Llama family; expected one of " + String.join(", ", LLAMA_TYPES)
                    + " here (GPT-2 builds through Zoo.fromHfConfig, and its parallelism section supports data and "
                    + "pipeline degrees only)") : unsupported(type);
        }
        int hidden = positive("hidden_size");
        int layers = positive("num_hidden_layers");
        int heads = positive("num_attention_heads");
        int kvHeads = root.hasNonNull("num_key_value_heads") ? positive("num_key_value_heads") : heads;
        int ffn = positive("intermediate_size");
        int vocab = positive("vocab_size");
        if (hidden % heads != 0) {
            throw new IllegalArgumentException(where() + "hidden_size " + hidden + " is not a multiple of "
                    + "num_attention_heads " + heads + "; fix the config so that num_attention_heads divides "
                    + "hidden_size");
        }
        if (heads % kvHeads != 0) {
            throw new IllegalArgumentException(where() + "num_attention_heads " + heads + " is not a multiple of "
                    + "num_key_value_heads " + kvHeads + "; fix the config so that num_key_value_heads divides "
                    + "num_attention_heads");
        }
        boolean deepseek = "deepseek_v3".equals(type);
        if (!deepseek && root.hasNonNull("head_dim") && positive("head_dim") != hidden / heads) {
            throw new IllegalArgumentException(where() + "head_dim " + root.get("head_dim") + " differs from "
                    + "hidden_size / num_attention_heads = " + hidden / heads + "; expected them equal (a separate "
                    + "head_dim is not supported): remove head_dim or fix it");
        }
        if (root.hasNonNull("hidden_act") && !"silu".equals(root.get("hidden_act").asText())) {
            throw bad("hidden_act", root.get("hidden_act"), "\"silu\" (the SwiGLU MLP)");
        }
        for (String flag : List.of("attention_bias", "mlp_bias")) {
            if (root.hasNonNull(flag) && !QKV_BIAS_TYPES.contains(type) && root.get(flag).asBoolean(false)) {
                throw bad(flag, root.get(flag), "false (biases are supported as Qwen2's, on q, k and v only)");
            }
        }
        int maxPositions = root.hasNonNull("max_position_embeddings") ? positive("max_position_embeddings")
                : defaultMaxPositions(type);
        double eps = root.hasNonNull("rms_norm_eps") ? positiveReal("rms_norm_eps") : RMSNorm.DEFAULT_EPS;
        double theta = root.hasNonNull("rope_theta") ? positiveReal("rope_theta") : Rope.DEFAULT_THETA;
        // DeepSeek's YaRN scaling belongs to its latent attention (MlaConfig)
        Rope.Llama3Scaling scaling = !deepseek && root.hasNonNull("rope_scaling")
                ? ropeScaling(MAPPER.convertValue(root.get("rope_scaling"), Object.class), where() + "rope_scaling")
                : null;
        boolean tied = root.hasNonNull("tie_word_embeddings") && bool("tie_word_embeddings");
        DType dtype = root.hasNonNull("torch_dtype") ? dtype() : DType.FLOAT32;
        MoeConfig moe;
        try {
            moe = MoeConfig.fromHf(root, type);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(where() + e.getMessage(), e);
        }
        boolean sparse = moe.sparse();
        double coef = moe.auxLossCoef();
        MlaConfig mla;
        try {
            mla = deepseek ? MlaConfig.fromHf(root, heads) : null;
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(where() + e.getMessage(), e);
        }

        LlamaConfig d = LlamaConfig.defaults();
        Map<String, Object> defaults = new LinkedHashMap<>();
        defaults.put("seq", Math.min(maxPositions, MAX_DEFAULT_SEQ));
        defaults.put("batch", 1);
        defaults.put("layers", layers);
        defaults.put("dtype", dtype.jsonName());
        defaults.put("fused_attention", d.fusedAttention());
        defaults.put("load_balance", d.loadBalance());
        if (sparse) {
            defaults.put("capacity_factor", 0.0);
            defaults.put("moe_groups", 1);
            defaults.put("aux_loss", coef > 0);
        }
        Zoo.Args a = Zoo.Args.labelled("hf_config " + file, args == null ? Map.of() : args, defaults);
        try {
            return new LlamaConfig(a.positive("layers", layers), hidden, heads, kvHeads, ffn,
                    a.positive("seq", Math.min(maxPositions, MAX_DEFAULT_SEQ)), vocab, a.positive("batch", 1),
                    a.has("dtype") ? a.dtype() : dtype, eps, theta, scaling, tied, QKV_BIAS_TYPES.contains(type),
                    a.bool("fused_attention", d.fusedAttention()), a.positive("load_balance", d.loadBalance()),
                    !sparse ? MoeConfig.DENSE : moe.withCapacityFactor(a.nonNegativeReal("capacity_factor", 0))
                            .withGroups(a.positive("moe_groups", 1)).withAuxLossCoef(a.bool("aux_loss", coef > 0)
                                    ? coef : 0), mla);
        } catch (IllegalArgumentException e) {
            throw e.getMessage().startsWith("hf_config ") ? e
                    : new IllegalArgumentException(where() + e.getMessage(), e);
        }
    }

    /** Hugging Face's default {@code max_position_embeddings} of a model type's config class. */
    private static int defaultMaxPositions(String type) {
        return switch (type) {
            case "mistral", "mixtral" -> 4096 * 32;
            case "qwen2" -> 32768;
            case "qwen2_moe" -> 8192;
            case "deepseek_v3" -> 4096;
            default -> 2048;
        };
    }

    /**
     * Llama 3's {@code rope_scaling} from its JSON object as Java values: {@code rope_type} (or the older
     * {@code type}) "llama3" with {@code factor}, {@code low_freq_factor}, {@code high_freq_factor} and
     * {@code original_max_position_embeddings}; {@code rope_type} "default" means none (null).
     *
     * @param where the message prefix naming the key, e.g. {@code "hf_config f.json: rope_scaling"}
     */
    static Rope.Llama3Scaling ropeScaling(Object value, String where) {
        if (value == null) {
            return null;
        }
        if (!(value instanceof Map<?, ?> m)) {
            throw new IllegalArgumentException(where + " is " + value + "; expected an object such as {\"rope_type\": "
                    + "\"llama3\", \"factor\": 8, \"low_freq_factor\": 1, \"high_freq_factor\": 4, "
                    + "\"original_max_position_embeddings\": 8192}, or null for none");
        }
        Object type = m.containsKey("rope_type") ? m.get("rope_type") : m.get("type");
        if ("default".equals(type)) {
            return null;
        }
        if (!"llama3".equals(type)) {
            throw new IllegalArgumentException(where + ": rope_type is " + (type == null ? "missing" : "'" + type
                    + "'") + "; expected \"llama3\" (the only rescaling supported) or no rope_scaling");
        }
        double factor = number(m, "factor", where);
        double low = number(m, "low_freq_factor", where);
        double high = number(m, "high_freq_factor", where);
        double original = number(m, "original_max_position_embeddings", where);
        if (original != Math.rint(original)) {
            throw new IllegalArgumentException(where + ": original_max_position_embeddings is " + original
                    + "; expected a positive integer such as 8192");
        }
        try {
            return new Rope.Llama3Scaling(factor, low, high, (long) original);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(where + ": " + e.getMessage(), e);
        }
    }

    private static double number(Map<?, ?> m, String key, String where) {
        Object v = m.get(key);
        if (!(v instanceof Number n) || !Double.isFinite(n.doubleValue())) {
            throw new IllegalArgumentException(where + ": " + key + " is " + (v == null ? "missing" : v)
                    + "; expected a number (Llama 3.1: factor 8, low_freq_factor 1, high_freq_factor 4, "
                    + "original_max_position_embeddings 8192)");
        }
        return n.doubleValue();
    }

    private String where() {
        return "hf_config " + file + ": ";
    }

    private IllegalArgumentException bad(String key, JsonNode found, String expected) {
        return new IllegalArgumentException(where() + "key '" + key + "' is " + found + "; expected " + expected);
    }

    private JsonNode required(String key) {
        JsonNode n = root.get(key);
        if (n == null || n.isNull()) {
            throw new IllegalArgumentException(where() + "missing required key '" + key + "'; add it as Hugging "
                    + "Face's config.json of the model has it");
        }
        return n;
    }

    private int positive(String key) {
        JsonNode n = required(key);
        if (!n.isIntegralNumber() || !n.canConvertToInt() || n.intValue() <= 0) {
            throw bad(key, n, "a positive integer");
        }
        return n.intValue();
    }

    private double positiveReal(String key) {
        JsonNode n = required(key);
        if (!n.isNumber() || !(n.doubleValue() > 0) || Double.isInfinite(n.doubleValue())) {
            throw bad(key, n, "a positive finite number");
        }
        return n.doubleValue();
    }

    private boolean bool(String key) {
        JsonNode n = required(key);
        if (!n.isBoolean()) {
            throw bad(key, n, "true or false");
        }
        return n.booleanValue();
    }

    private DType dtype() {
        JsonNode n = root.get("torch_dtype");
        String expected = "\"bfloat16\", \"float16\" or \"float32\"";
        if (!n.isTextual()) {
            throw bad("torch_dtype", n, expected);
        }
        DType d;
        try {
            d = DType.parse(n.asText());
        } catch (IllegalArgumentException e) {
            throw bad("torch_dtype", n, expected);
        }
        if (!d.isFloating() || d.isFp8()) {
            throw bad("torch_dtype", n, expected);
        }
        return d;
    }
}
