package io.tessera.planner.zoo;

import io.tessera.layout.DType;
import io.tessera.layout.Limits;
import io.tessera.planner.op.RMSNorm;
import io.tessera.planner.op.Rope;

/**
 * The arguments of the zoo's {@code llama}: a Llama-family decoder (Llama 2/3, Mistral, Qwen2) with grouped-query
 * attention, rotary position embeddings, SwiGLU MLPs and RMSNorm, named and shaped as Hugging Face's
 * {@code LlamaForCausalLM} (see {@link Zoo#llama}). Immutable. {@link Zoo#hfConfig} reads one from a Hugging Face
 * {@code config.json}.
 *
 * @param layers         number of decoder layers, positive (HF {@code num_hidden_layers}; default 2)
 * @param hidden         model width, positive, a multiple of {@code heads} (HF {@code hidden_size}; default 64)
 * @param heads          query heads, positive (HF {@code num_attention_heads}; default 4)
 * @param kvHeads        key/value heads, positive, dividing {@code heads} (HF {@code num_key_value_heads}; default 2)
 * @param ffn            the MLP's intermediate width, positive (HF {@code intermediate_size}; default 128)
 * @param seq            sequence length in tokens, positive (default 32)
 * @param vocab          vocabulary size, at least 2 (HF {@code vocab_size}; default 128)
 * @param batch          batch size in sequences, positive (default 2)
 * @param dtype          the floating dtype of activations and parameters, not FP8 (default float32; token ids are
 *                       Int32)
 * @param rmsEps         the RMSNorms' epsilon, positive and finite (HF {@code rms_norm_eps}; default 1e-6)
 * @param ropeTheta      the RoPE base, positive and finite (HF {@code rope_theta}; default 10000)
 * @param ropeScaling    Llama 3's RoPE frequency rescaling, or null for none (HF {@code rope_scaling}; default null)
 * @param tiedEmbeddings whether the LM head multiplies by {@code model.embed_tokens.weight} instead of its own
 *                       {@code lm_head.weight} (HF {@code tie_word_embeddings}; default false)
 * @param attentionBias  whether the q, k and v projections add a bias, as Qwen2 does (default false)
 * @param fusedAttention whether each layer's attention core is one FlashAttention operator; the unfused form
 *                       (scores, scale, causal mask, softmax, context) needs {@code kvHeads == heads} (default true)
 * @param loadBalance    the context-parallel causal load balance: 1 keeps the sequence in order; {@code n > 1} means
 *                       the sequence is stored as Megatron's {@code 2n} chunks (chunk {@code i} and {@code 2n-1-i}
 *                       on context rank {@code i}), so {@code 2n} must divide {@code seq} and the attention must be
 *                       fused (default 1)
 * @param moe            the MLP: {@link MoeConfig#DENSE} (default; null means it) for Llama's dense SwiGLU
 *                       {@code mlp}, else a sparse mixture of experts on the layers it makes sparse (Mixtral's
 *                       {@code block_sparse_moe}, Qwen2-MoE's or DeepSeek-V3's sparse {@code mlp}); its groups
 *                       must divide {@code batch * seq}
 * @param mla            DeepSeek's multi-head latent attention in place of the grouped-query q/k/v projections
 *                       ({@link MlaAttention}; {@code kvHeads} must then equal {@code heads} and the attention be
 *                       fused), or null (the default) for Llama's attention
 */
public record LlamaConfig(int layers, int hidden, int heads, int kvHeads, int ffn, int seq, int vocab, int batch,
                          DType dtype, double rmsEps, double ropeTheta, Rope.Llama3Scaling ropeScaling,
                          boolean tiedEmbeddings, boolean attentionBias, boolean fusedAttention, int loadBalance,
                          MoeConfig moe, MlaConfig mla) {

    private static final String WHO = "zoo model 'llama': ";

    /**
     * Validates sizes, head divisibility, the dtype, eps, theta, the attention form, the load balance and the MoE
     * groups.
     */
    public LlamaConfig {
        moe = moe == null ? MoeConfig.DENSE : moe;
        if (moe.sparse() && ((long) batch * seq) % moe.groups() != 0) {
            throw new IllegalArgumentException(WHO + "moe_groups " + moe.groups() + " does not divide the "
                    + (long) batch * seq + " tokens (batch " + batch + " x seq " + seq + "); choose moe_groups "
                    + "dividing batch x seq");
        }
        check("layers", layers);
        Limits.Limit.LAYERS.check(WHO + "layers", layers);
        check("hidden", hidden);
        check("heads", heads);
        check("kv_heads", kvHeads);
        check("ffn", ffn);
        check("seq", seq);
        check("vocab", vocab);
        check("batch", batch);
        if (vocab < 2) {
            throw new IllegalArgumentException(WHO + "vocab is " + vocab + "; expected at least 2 tokens (the "
                    + "cross-entropy over one class is always 0, so training would have no gradient)");
        }
        if (hidden % heads != 0) {
            throw new IllegalArgumentException(WHO + "hidden " + hidden + " is not a multiple of heads " + heads
                    + "; choose heads dividing hidden (HF hidden_size and num_attention_heads)");
        }
        if (heads % kvHeads != 0) {
            throw new IllegalArgumentException(WHO + "heads " + heads + " is not a multiple of kv_heads " + kvHeads
                    + "; choose kv_heads dividing heads (HF num_attention_heads and num_key_value_heads)");
        }
        if (dtype == null || !dtype.isFloating() || dtype.isFp8()) {
            throw new IllegalArgumentException(WHO + "dtype is " + (dtype == null ? "null" : dtype.jsonName())
                    + "; expected a floating storage dtype such as float32 or bfloat16 (FP8 is not one)");
        }
        if (!(rmsEps > 0) || Double.isInfinite(rmsEps)) {
            throw new IllegalArgumentException(WHO + "rms_eps is " + rmsEps
                    + "; expected a small positive number such as 1e-5 (HF rms_norm_eps)");
        }
        if (!(ropeTheta > 0) || Double.isInfinite(ropeTheta)) {
            throw new IllegalArgumentException(WHO + "rope_theta is " + ropeTheta
                    + "; expected a positive finite base such as 10000 or 500000 (HF rope_theta)");
        }
        if (!fusedAttention && kvHeads != heads) {
            throw new IllegalArgumentException(WHO + "fused_attention is false with kv_heads " + kvHeads + " < heads "
                    + heads + "; the unfused attention has no grouped-query form: set fused_attention true");
        }
        if (loadBalance < 1) {
            throw new IllegalArgumentException(WHO + "load_balance is " + loadBalance
                    + "; expected a positive count of context ranks (1: the sequence in order)");
        }
        if (loadBalance > 1 && seq % (2 * loadBalance) != 0) {
            throw new IllegalArgumentException(WHO + "load_balance " + loadBalance + " needs seq divisible by "
                    + 2 * loadBalance + " (2 x load_balance chunks); found seq " + seq + ": change seq or load_balance");
        }
        if (mla != null && (kvHeads != heads || !fusedAttention || attentionBias)) {
            throw new IllegalArgumentException(WHO + "multi-head latent attention with kv_heads " + kvHeads + ", heads "
                    + heads + ", fused_attention " + fusedAttention + ", attention_bias " + attentionBias
                    + "; expected kv_heads = heads, the fused attention and no q/k/v biases (DeepSeek's attention)");
        }
        if (loadBalance > 1 && !fusedAttention) {
            throw new IllegalArgumentException(WHO + "load_balance " + loadBalance + " with fused_attention false; "
                    + "the load-balanced causal order needs the fused attention: set fused_attention true");
        }
    }

    /** Llama's attention (no {@code mla}): the canonical constructor without it. */
    public LlamaConfig(int layers, int hidden, int heads, int kvHeads, int ffn, int seq, int vocab, int batch,
                       DType dtype, double rmsEps, double ropeTheta, Rope.Llama3Scaling ropeScaling,
                       boolean tiedEmbeddings, boolean attentionBias, boolean fusedAttention, int loadBalance,
                       MoeConfig moe) {
        this(layers, hidden, heads, kvHeads, ffn, seq, vocab, batch, dtype, rmsEps, ropeTheta, ropeScaling,
                tiedEmbeddings, attentionBias, fusedAttention, loadBalance, moe, null);
    }

    /** A dense Llama ({@link MoeConfig#DENSE}): the canonical constructor without {@code moe} and {@code mla}. */
    public LlamaConfig(int layers, int hidden, int heads, int kvHeads, int ffn, int seq, int vocab, int batch,
                       DType dtype, double rmsEps, double ropeTheta, Rope.Llama3Scaling ropeScaling,
                       boolean tiedEmbeddings, boolean attentionBias, boolean fusedAttention, int loadBalance) {
        this(layers, hidden, heads, kvHeads, ffn, seq, vocab, batch, dtype, rmsEps, ropeTheta, ropeScaling,
                tiedEmbeddings, attentionBias, fusedAttention, loadBalance, MoeConfig.DENSE);
    }

    private static void check(String what, int v) {
        if (v <= 0) {
            throw new IllegalArgumentException(WHO + what + " is " + v + "; expected a positive size");
        }
    }

    /**
     * The defaults, small for quick tests: 2 layers, hidden 64, 4 heads, 2 KV heads, ffn 128, seq 32, vocab 128,
     * batch 2, float32, rms_eps 1e-6, rope_theta 10000, no rope scaling, untied, no attention bias, fused attention,
     * load balance 1, dense MLP.
     */
    public static LlamaConfig defaults() {
        return new LlamaConfig(2, 64, 4, 2, 128, 32, 128, 2, DType.FLOAT32, RMSNorm.DEFAULT_EPS, Rope.DEFAULT_THETA,
                null, false, false, true, 1);
    }

    /** The width of one attention head: {@code hidden / heads}. */
    public int headDim() {
        return hidden / heads;
    }

    /** The same configuration with {@code layers} layers. */
    public LlamaConfig withLayers(int layers) {
        return new LlamaConfig(layers, hidden, heads, kvHeads, ffn, seq, vocab, batch, dtype, rmsEps, ropeTheta,
                ropeScaling, tiedEmbeddings, attentionBias, fusedAttention, loadBalance, moe, mla);
    }

    /** The same configuration with sequence length {@code seq}. */
    public LlamaConfig withSeq(int seq) {
        return new LlamaConfig(layers, hidden, heads, kvHeads, ffn, seq, vocab, batch, dtype, rmsEps, ropeTheta,
                ropeScaling, tiedEmbeddings, attentionBias, fusedAttention, loadBalance, moe, mla);
    }

    /** The same configuration with batch size {@code batch}. */
    public LlamaConfig withBatch(int batch) {
        return new LlamaConfig(layers, hidden, heads, kvHeads, ffn, seq, vocab, batch, dtype, rmsEps, ropeTheta,
                ropeScaling, tiedEmbeddings, attentionBias, fusedAttention, loadBalance, moe, mla);
    }

    /** The same configuration in {@code dtype}. */
    public LlamaConfig withDtype(DType dtype) {
        return new LlamaConfig(layers, hidden, heads, kvHeads, ffn, seq, vocab, batch, dtype, rmsEps, ropeTheta,
                ropeScaling, tiedEmbeddings, attentionBias, fusedAttention, loadBalance, moe, mla);
    }

    /** The same configuration with {@code kvHeads} key/value heads. */
    public LlamaConfig withKvHeads(int kvHeads) {
        return new LlamaConfig(layers, hidden, heads, kvHeads, ffn, seq, vocab, batch, dtype, rmsEps, ropeTheta,
                ropeScaling, tiedEmbeddings, attentionBias, fusedAttention, loadBalance, moe, mla);
    }

    /** The same configuration with Llama 3's RoPE rescaling {@code ropeScaling} (null: none). */
    public LlamaConfig withRopeScaling(Rope.Llama3Scaling ropeScaling) {
        return new LlamaConfig(layers, hidden, heads, kvHeads, ffn, seq, vocab, batch, dtype, rmsEps, ropeTheta,
                ropeScaling, tiedEmbeddings, attentionBias, fusedAttention, loadBalance, moe, mla);
    }

    /** The same configuration with the LM head tied to the embedding table, or not. */
    public LlamaConfig withTiedEmbeddings(boolean tiedEmbeddings) {
        return new LlamaConfig(layers, hidden, heads, kvHeads, ffn, seq, vocab, batch, dtype, rmsEps, ropeTheta,
                ropeScaling, tiedEmbeddings, attentionBias, fusedAttention, loadBalance, moe, mla);
    }

    /** The same configuration with or without the q/k/v biases. */
    public LlamaConfig withAttentionBias(boolean attentionBias) {
        return new LlamaConfig(layers, hidden, heads, kvHeads, ffn, seq, vocab, batch, dtype, rmsEps, ropeTheta,
                ropeScaling, tiedEmbeddings, attentionBias, fusedAttention, loadBalance, moe, mla);
    }

    /** The same configuration with the fused or the unfused attention core. */
    public LlamaConfig withFusedAttention(boolean fusedAttention) {
        return new LlamaConfig(layers, hidden, heads, kvHeads, ffn, seq, vocab, batch, dtype, rmsEps, ropeTheta,
                ropeScaling, tiedEmbeddings, attentionBias, fusedAttention, loadBalance, moe, mla);
    }

    /** The same configuration with context-parallel causal load balance {@code loadBalance} (1: none). */
    public LlamaConfig withLoadBalance(int loadBalance) {
        return new LlamaConfig(layers, hidden, heads, kvHeads, ffn, seq, vocab, batch, dtype, rmsEps, ropeTheta,
                ropeScaling, tiedEmbeddings, attentionBias, fusedAttention, loadBalance, moe, mla);
    }

    /** The same configuration with the MLP {@code moe} ({@link MoeConfig#DENSE}: Llama's dense MLP). */
    public LlamaConfig withMoe(MoeConfig moe) {
        return new LlamaConfig(layers, hidden, heads, kvHeads, ffn, seq, vocab, batch, dtype, rmsEps, ropeTheta,
                ropeScaling, tiedEmbeddings, attentionBias, fusedAttention, loadBalance, moe, mla);
    }

    /** The same configuration with multi-head latent attention {@code mla} (null: Llama's attention). */
    public LlamaConfig withMla(MlaConfig mla) {
        return new LlamaConfig(layers, hidden, heads, kvHeads, ffn, seq, vocab, batch, dtype, rmsEps, ropeTheta,
                ropeScaling, tiedEmbeddings, attentionBias, fusedAttention, loadBalance, moe, mla);
    }
}
