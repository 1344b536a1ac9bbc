package io.tessera.planner.zoo;

import com.fasterxml.jackson.databind.JsonNode;
import io.tessera.planner.op.Rope;

/**
 * The sizes of DeepSeek-V2/V3's multi-head latent attention (MLA, {@link MlaAttention}), named as Hugging Face's
 * {@code DeepseekV3Config}. Immutable; {@link #fromHf} reads one from a {@code config.json}.
 *
 * @param qLoraRank     the rank of the query compression {@code q_a_proj}, or 0 for none (a plain {@code q_proj};
 *                      HF {@code q_lora_rank}, null meaning 0; DeepSeek-V3: 1536)
 * @param kvLoraRank    the rank of the compressed key/value {@code kv_a_proj_with_mqa}, positive (HF
 *                      {@code kv_lora_rank}; DeepSeek-V3: 512)
 * @param qkNopeHeadDim the per-head query/key width without position, positive (HF {@code qk_nope_head_dim}; 128)
 * @param qkRopeHeadDim the rotary query/key width, its key shared by all heads, positive and even (HF
 *                      {@code qk_rope_head_dim}; 64)
 * @param vHeadDim      the per-head value width, positive (HF {@code v_head_dim}; 128)
 * @param softmaxScale  the factor of the attention scores, positive and finite: {@code 1/sqrt(qkNope + qkRope)},
 *                      times {@code mscale^2} under YaRN ({@link #softmaxScale(int, int, Rope.YarnScaling)})
 * @param ropeScaling   YaRN's rescaling of the rotary frequencies of the rope part, or null for the plain rotary
 *                      base (HF {@code rope_scaling} of type "yarn")
 * @param ropeInterleave whether the rope parts' rotated pairs are adjacent elements, de-interleaved before the
 *                      rotation as DeepSeek's code (HF {@code rope_interleave}; default true)
 */
public record MlaConfig(int qLoraRank, int kvLoraRank, int qkNopeHeadDim, int qkRopeHeadDim, int vHeadDim,
                        double softmaxScale, Rope.YarnScaling ropeScaling, boolean ropeInterleave) {

    private static final String WHO = "multi-head latent attention: ";

    /** Validates the ranks and widths and the scale, naming the Hugging Face keys. */
    public MlaConfig {
        if (qLoraRank < 0) {
            throw new IllegalArgumentException(WHO + "q_lora_rank is " + qLoraRank
                    + "; expected 0 (no query compression, a plain q_proj) or a positive rank such as 1536");
        }
        positive("kv_lora_rank", kvLoraRank, "512");
        positive("qk_nope_head_dim", qkNopeHeadDim, "128");
        positive("qk_rope_head_dim", qkRopeHeadDim, "64");
        if (qkRopeHeadDim % 2 != 0) {
            throw new IllegalArgumentException(WHO + "qk_rope_head_dim is " + qkRopeHeadDim + ", which is odd;"
                    + " expected an even width (RoPE rotates pairs), such as 64");
        }
        positive("v_head_dim", vHeadDim, "128");
        if (!(softmaxScale > 0) || Double.isInfinite(softmaxScale)) {
            throw new IllegalArgumentException(WHO + "softmax_scale is " + softmaxScale
                    + "; expected a positive finite factor such as 1/sqrt(qk_nope_head_dim + qk_rope_head_dim)");
        }
    }

    /** MLA without YaRN: the plain rotary base for the rope part, interleaved pairs (DeepSeek's). */
    public MlaConfig(int qLoraRank, int kvLoraRank, int qkNopeHeadDim, int qkRopeHeadDim, int vHeadDim,
                     double softmaxScale) {
        this(qLoraRank, kvLoraRank, qkNopeHeadDim, qkRopeHeadDim, vHeadDim, softmaxScale, null);
    }

    /** MLA with YaRN {@code ropeScaling} (null: none) and interleaved rope pairs (DeepSeek's). */
    public MlaConfig(int qLoraRank, int kvLoraRank, int qkNopeHeadDim, int qkRopeHeadDim, int vHeadDim,
                     double softmaxScale, Rope.YarnScaling ropeScaling) {
        this(qLoraRank, kvLoraRank, qkNopeHeadDim, qkRopeHeadDim, vHeadDim, softmaxScale, ropeScaling, true);
    }

    /** The same attention with the rope pairs interleaved (DeepSeek's) or in {@code rotate_half} order. */
    public MlaConfig withRopeInterleave(boolean ropeInterleave) {
        return new MlaConfig(qLoraRank, kvLoraRank, qkNopeHeadDim, qkRopeHeadDim, vHeadDim, softmaxScale, ropeScaling,
                ropeInterleave);
    }

    private static void positive(String key, int v, String example) {
        if (v <= 0) {
            throw new IllegalArgumentException(WHO + key + " is " + v + "; expected a positive size such as "
                    + example);
        }
    }

    /**
     * MLA of these sizes with the default scale {@code 1/sqrt(qkNope + qkRope)} and no YaRN.
     */
    public static MlaConfig of(int qLoraRank, int kvLoraRank, int qkNopeHeadDim, int qkRopeHeadDim, int vHeadDim) {
        return new MlaConfig(qLoraRank, kvLoraRank, qkNopeHeadDim, qkRopeHeadDim, vHeadDim,
                softmaxScale(qkNopeHeadDim, qkRopeHeadDim, null));
    }

    /** DeepSeek-V3's sizes (q_lora_rank 1536, kv_lora_rank 512, nope 128, rope 64, v 128), without YaRN. */
    public static MlaConfig deepseekV3() {
        return of(1536, 512, 128, 64, 128);
    }

    /** The query/key head width {@code qkNopeHeadDim + qkRopeHeadDim}. */
    public int qkHeadDim() {
        return qkNopeHeadDim + qkRopeHeadDim;
    }

    /**
     * DeepSeek's softmax scale: {@code (nope + rope)^-0.5}, times {@code mscale^2} with {@code mscale =
     * 0.1 mscale_all_dim ln(factor) + 1} when {@code yarn} is given with {@code factor > 1} and a non-zero
     * {@code mscale_all_dim} (as {@code DeepseekV3Attention}).
     */
    public static double softmaxScale(int qkNopeHeadDim, int qkRopeHeadDim, Rope.YarnScaling yarn) {
        double scale = 1 / Math.sqrt(qkNopeHeadDim + qkRopeHeadDim);
        if (yarn != null && yarn.mscaleAllDim() != 0) {
            double m = Rope.YarnScaling.mscale(yarn.factor(), yarn.mscaleAllDim());
            scale *= m * m;
        }
        return scale;
    }

    /**
     * The MLA sizes of a Hugging Face {@code deepseek_v3} (or {@code deepseek_v2}) {@code config.json}:
     * {@code q_lora_rank} (null or absent: 0), {@code kv_lora_rank}, {@code qk_nope_head_dim},
     * {@code qk_rope_head_dim}, {@code v_head_dim} (required), and {@code rope_scaling}: null, or YaRN's object
     * ({@code "type"} or {@code "rope_type"} "yarn" with {@code factor} and optionally
     * {@code original_max_position_embeddings} (4096), {@code beta_fast} (32), {@code beta_slow} (1), {@code mscale}
     * (1), {@code mscale_all_dim} (0)), which sets the softmax scale and the rope part's frequencies; and
     * {@code rope_interleave} (default true).
     *
     * @param config the parsed {@code config.json} object
     * @param heads  the query heads ({@code num_attention_heads}), positive
     * @throws IllegalArgumentException (one line, naming the key) for a missing or invalid value
     */
    public static MlaConfig fromHf(JsonNode config, int heads) {
        if (config == null || !config.isObject()) {
            throw new IllegalArgumentException(WHO + "config is " + config + "; expected the config.json object");
        }
        if (heads <= 0) {
            throw new IllegalArgumentException(WHO + "num_attention_heads is " + heads
                    + "; expected a positive number of heads such as 128");
        }
        int qLora = config.hasNonNull("q_lora_rank") ? integer(config, "q_lora_rank", "1536, or null for none") : 0;
        int kvLora = integer(config, "kv_lora_rank", "512");
        int nope = integer(config, "qk_nope_head_dim", "128");
        int rope = integer(config, "qk_rope_head_dim", "64");
        int v = integer(config, "v_head_dim", "128");
        Rope.YarnScaling yarn = yarn(config.get("rope_scaling"));
        JsonNode interleave = config.get("rope_interleave");
        if (interleave != null && !interleave.isNull() && !interleave.isBoolean()) {
            throw new IllegalArgumentException(WHO + "rope_interleave is " + interleave + "; expected true or false");
        }
        return new MlaConfig(qLora, kvLora, nope, rope, v,
                softmaxScale(Math.max(nope, 1), Math.max(rope, 0), yarn), yarn,
                interleave == null || interleave.isNull() || interleave.booleanValue());
    }

    private static int integer(JsonNode config, String key, String example) {
        JsonNode n = config.get(key);
        if (n == null || n.isNull()) {
            throw new IllegalArgumentException(WHO + key + " is missing; expected an integer such as " + example);
        }
        if (!n.isIntegralNumber() || !n.canConvertToInt()) {
            throw new IllegalArgumentException(WHO + key + " is " + n + "; expected an integer such as " + example);
        }
        return n.intValue();
    }

    /** YaRN's scaling from {@code rope_scaling}, null for none. */
    private static Rope.YarnScaling yarn(JsonNode s) {
        if (s == null || s.isNull()) {
            return null;
        }
        if (!s.isObject()) {
            throw new IllegalArgumentException(WHO + "rope_scaling is " + s + "; expected null or YaRN's object "
                    + "{\"type\": \"yarn\", \"factor\": 40, ...}");
        }
        JsonNode type = s.hasNonNull("rope_type") ? s.get("rope_type") : s.get("type");
        String t = type == null ? null : type.asText();
        if ("default".equals(t)) {
            return null;
        }
        if (!"yarn".equals(t)) {
            throw new IllegalArgumentException(WHO + "rope_scaling type is " + (t == null ? "missing" : "'" + t + "'")
                    + "; expected \"yarn\" (DeepSeek's rescaling) or no rope_scaling");
        }
        double factor = number(s, "factor", Double.NaN);
        double original = number(s, "original_max_position_embeddings", 4096);
        if (original != Math.rint(original) || original < 1) {
            throw new IllegalArgumentException(WHO + "rope_scaling original_max_position_embeddings is " + original
                    + "; expected a positive integer such as 4096");
        }
        try {
            return new Rope.YarnScaling(factor, (long) original, number(s, "beta_fast", 32), number(s, "beta_slow", 1),
                    number(s, "mscale", 1), number(s, "mscale_all_dim", 0));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(WHO + "rope_scaling: " + e.getMessage(), e);
        }
    }

    private static double number(JsonNode s, String key, double def) {
        JsonNode n = s.get(key);
        if (n == null || n.isNull()) {
            if (Double.isNaN(def)) {
                throw new IllegalArgumentException(WHO + "rope_scaling " + key + " is missing; expected a number"
                        + " such as 40");
            }
            return def;
        }
        if (!n.isNumber() || !Double.isFinite(n.doubleValue())) {
            throw new IllegalArgumentException(WHO + "rope_scaling " + key + " is " + n + "; expected a number");
        }
        return n.doubleValue();
    }
}
