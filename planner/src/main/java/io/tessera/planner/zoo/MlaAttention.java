package io.tessera.planner.zoo;

import io.tessera.layout.DType;
import io.tessera.planner.graph.Network;
import io.tessera.planner.op.BroadcastTo;
import io.tessera.planner.op.Concat;
import io.tessera.planner.op.FlashAttention;
import io.tessera.planner.op.MatMul;
import io.tessera.planner.op.RMSNorm;
import io.tessera.planner.op.Reshape;
import io.tessera.planner.op.Rope;
import io.tessera.planner.op.Split;
import io.tessera.planner.op.Transpose;

import java.util.List;

/**
 * DeepSeek-V2/V3's multi-head latent attention (MLA) as Hugging Face's {@code DeepseekV3Attention}: the query through
 * a low-rank compression, the keys and values through one shared compressed latent plus one rotary key shared by all
 * heads. Built under the {@code model.layers.i.self_attn} scope {@code A} from the normed hidden states
 * {@code x [T, hidden]} ({@code T = batch * seq}, {@code H} heads, {@code n = qk_nope_head_dim}, {@code r =
 * qk_rope_head_dim}, {@code v = v_head_dim}, {@code q = n + r}).
 *
 * <p>Parameters (Hugging Face's names and {@code [out, in]} shapes, used as {@code x W^T}):
 * {@code A.q_a_proj.weight [q_lora_rank, hidden]}, {@code A.q_a_layernorm.weight [q_lora_rank]},
 * {@code A.q_b_proj.weight [H*q, q_lora_rank]} (or {@code A.q_proj.weight [H*q, hidden]} when q_lora_rank is 0),
 * {@code A.kv_a_proj_with_mqa.weight [kv_lora_rank + r, hidden]}, {@code A.kv_a_layernorm.weight [kv_lora_rank]},
 * {@code A.kv_b_proj.weight [H*(n+v), kv_lora_rank]}, {@code A.o_proj.weight [hidden, H*v]}.
 *
 * <p>Operators, in order (all under {@code A.}):
 * <ul>
 *   <li>query: {@code q_a_proj} {@code [T, q_lora_rank]}, {@code q_a_layernorm} (RMSNorm), {@code q_b_proj}
 *       {@code [T, H*q]} (or {@code q_proj}); {@code q_split} (Reshape {@code [b, s, H, q]}), {@code q_heads}
 *       (Transpose {@code [b, H, s, q]}), {@code q_nope_pe} (Split sizes {@code [n, r]}: {@code q_nope_pe} is
 *       {@code q_nope}, {@code q_nope_pe:1} is {@code q_pe}), {@code q_rope} (RoPE of q_pe), {@code q_concat}
 *       (Concat of q_nope and the rotated q_pe, {@code [b, H, s, q]});</li>
 *   <li>compressed key/value: {@code kv_a_proj_with_mqa} {@code [T, kv_lora_rank + r]}, {@code kv_split} (Split sizes
 *       {@code [kv_lora_rank, r]}: {@code kv_split} the latent, {@code kv_split:1} the shared {@code k_pe}),
 *       {@code kv_a_layernorm} (RMSNorm of the latent), {@code kv_b_proj} {@code [T, H*(n+v)]},
 *       {@code kv_b_split} (Reshape {@code [b, s, H, n+v]}), {@code kv_heads} (Transpose {@code [b, H, s, n+v]}),
 *       {@code kv_nope_v} (Split sizes {@code [n, v]}: {@code kv_nope_v} is {@code k_nope}, {@code kv_nope_v:1} the
 *       value {@code [b, H, s, v]});</li>
 *   <li>shared rotary key: {@code k_pe_heads} (Reshape of {@code k_pe [T, r]} to one head {@code [b, 1, s, r]}),
 *       {@code k_rope} (RoPE), {@code k_pe_broadcast} (BroadcastTo {@code [b, H, s, r]}), {@code k_concat} (Concat
 *       of k_nope and the broadcast k_pe, {@code [b, H, s, q]});</li>
 *   <li>{@code attention} (causal FlashAttention with scale {@link MlaConfig#softmaxScale}, qk head width {@code q},
 *       value width {@code v}; {@code [b, H, s, v]}), {@code merge_heads} (Transpose {@code [b, s, H, v]}),
 *       {@code flatten} (Reshape {@code [T, H*v]}), {@code o_proj} {@code [T, hidden]}.</li>
 * </ul>
 * RoPE rotates the rope parts as DeepSeek's code with {@link MlaConfig#ropeInterleave} (the default: adjacent pairs
 * de-interleaved into {@code rotate_half} order, Hugging Face's {@code apply_rotary_pos_emb_interleave}), else in
 * Hugging Face's Llama pairing, with {@link LlamaConfig#ropeTheta()} and the MLA's YaRN scaling (else the config's
 * own); the same causal load balance as the config's attention. The fused attention is always used (the unfused form has no value width of its
 * own).
 */
public final class MlaAttention {

    /** Hugging Face's linear layers: {@code x W^T} with {@code W [out, in]}. */
    private static final MatMul LINEAR = MatMul.of(false, true);

    private MlaAttention() {
    }

    /**
     * Builds the attention of one layer under {@code attn} ({@code model.layers.i.self_attn}) on {@code x
     * [batch*seq, hidden]}; returns the name of the {@code o_proj} output {@code [batch*seq, hidden]}.
     *
     * @param attn the layer's {@code self_attn} scope
     * @param x    the normed hidden states
     * @param c    the model (batch, seq, hidden, heads, dtype, rms_eps, rope_theta, load balance)
     * @param m    the latent attention's sizes
     */
    public static String build(Network.Builder attn, String x, LlamaConfig c, MlaConfig m) {
        DType dt = c.dtype();
        long b = c.batch();
        long s = c.seq();
        long tokens = b * s;
        long h = c.heads();
        int n = m.qkNopeHeadDim();
        int r = m.qkRopeHeadDim();
        int v = m.vHeadDim();
        int qk = m.qkHeadDim();
        Rope rope = new Rope(c.ropeTheta(), m.ropeScaling() != null ? m.ropeScaling() : c.ropeScaling(),
                c.loadBalance(), m.ropeInterleave());

        // query: q_a_proj -> q_a_layernorm -> q_b_proj (or q_proj), heads, nope | pe, RoPE on pe, joined
        String q;
        if (m.qLoraRank() > 0) {
            q = linear(attn, "q_a_proj", x, m.qLoraRank(), c.hidden(), dt);
            q = rmsNorm(attn, "q_a_layernorm", q, m.qLoraRank(), c);
            q = linear(attn, "q_b_proj", q, h * qk, m.qLoraRank(), dt);
        } else {
            q = linear(attn, "q_proj", x, h * qk, c.hidden(), dt);
        }
        q = attn.op("q_split", Reshape.of(b, s, h, qk), q);
        q = attn.op("q_heads", Transpose.of(0, 2, 1, 3), q);
        List<String> qParts = attn.opOutputs("q_nope_pe", Split.sizes(-1, n, r), q);
        String qPe = attn.op("q_rope", rope, qParts.get(1));
        String query = attn.op("q_concat", Concat.of(-1), qParts.get(0), qPe);

        // compressed key/value and the shared rotary key
        String kv = linear(attn, "kv_a_proj_with_mqa", x, m.kvLoraRank() + r, c.hidden(), dt);
        List<String> kvParts = attn.opOutputs("kv_split", Split.sizes(-1, m.kvLoraRank(), r), kv);
        String latent = rmsNorm(attn, "kv_a_layernorm", kvParts.get(0), m.kvLoraRank(), c);
        kv = linear(attn, "kv_b_proj", latent, h * (n + v), m.kvLoraRank(), dt);
        kv = attn.op("kv_b_split", Reshape.of(b, s, h, n + v), kv);
        kv = attn.op("kv_heads", Transpose.of(0, 2, 1, 3), kv);
        List<String> kvHeads = attn.opOutputs("kv_nope_v", Split.sizes(-1, n, v), kv);
        String kPe = attn.op("k_pe_heads", Reshape.of(b, 1, s, r), kvParts.get(1));
        kPe = attn.op("k_rope", rope, kPe);
        kPe = attn.op("k_pe_broadcast", BroadcastTo.of(b, h, s, r), kPe);
        String key = attn.op("k_concat", Concat.of(-1), kvHeads.get(0), kPe);

        FlashAttention fa = new FlashAttention(m.softmaxScale(), true, 1).withLoadBalance(c.loadBalance());
        String out = attn.op("attention", fa, query, key, kvHeads.get(1));
        out = attn.op("merge_heads", Transpose.of(0, 2, 1, 3).withOutputDeviceOrder(), out);
        out = attn.op("flatten", Reshape.of(tokens, h * v), out);
        return linear(attn, "o_proj", out, c.hidden(), h * v, dt);
    }

    /** The linear layer {@code name} ({@code name.weight [out, in]}, "normal") of {@code x}. */
    private static String linear(Network.Builder attn, String name, String x, long out, long in, DType dt) {
        String w = attn.scope(name).parameter("weight", "normal", dt, out, in);
        return attn.op(name, LINEAR, x, w);
    }

    /** RMSNorm {@code name} of {@code x} with {@code name.weight [width]} ("ones") and the config's epsilon. */
    private static String rmsNorm(Network.Builder attn, String name, String x, long width, LlamaConfig c) {
        String w = attn.scope(name).parameter("weight", "ones", c.dtype(), width);
        return attn.op(name, new RMSNorm(c.rmsEps()), x, w);
    }
}
