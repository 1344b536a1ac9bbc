package io.tessera.planner.zoo;

import io.tessera.layout.DType;
import io.tessera.layout.Limits;

/**
 * The arguments of the zoo's {@code gpt} (decoder-only transformer). Immutable. The four switches
 * {@code bias}, {@code dropout}, {@code causalMask} and {@code tiedEmbeddings} add the parts of the model that
 * GPT-2 / Megatron training runs execute, and {@code fusedAttention} runs each layer's attention core as one
 * FlashAttention operator; they are all off by default, which builds exactly the network of the 8-argument
 * constructor (same operators, parameters and values), so existing strategy files keep their meaning.
 *
 * @param layers         number of transformer layers, positive (default 2)
 * @param hidden         model width, positive, a multiple of {@code heads} (default 64)
 * @param heads          attention heads, positive (default 4)
 * @param ffn            feed-forward width, positive (default 4 x hidden)
 * @param seq            sequence length, positive (default 16)
 * @param vocab          vocabulary size, at least 2 (default 128)
 * @param batch          batch size, positive (default 4)
 * @param dtype          the floating dtype of activations and parameters (default float32; tokens are Int32)
 * @param bias           whether every linear layer of the blocks (q, k, v, attention.out, ffn.fc1, ffn.fc2) adds a
 *                       bias, as GPT-2 and Megatron do; the LM head has none (default false)
 * @param dropout        the drop probability of Megatron's dropouts, in [0, 1): the embedding dropout, the
 *                       attention-probability dropout and the hidden dropouts after the attention output and after
 *                       the second FFN matrix; 0 adds no dropout operator (default 0)
 * @param causalMask     whether the attention scores are masked causally (key index above query index excluded)
 *                       before the softmax (default false)
 * @param tiedEmbeddings whether the LM head multiplies by the word-embedding table (transposed) instead of its own
 *                       {@code head.weight}, as Megatron's shared embedding and output weights (default false)
 * @param fusedAttention whether each layer's attention core (scores, scale, causal mask, softmax, probability
 *                       dropout, context) is one {@code FlashAttentionScore} operator {@code attention.flash}, causal
 *                       when {@code causalMask} and dropping with probability {@code dropout} (default false)
 * @param fp8            whether the blocks' linear layers (q, k, v, attention.out, ffn.fc1, ffn.fc2) cast their inputs
 *                       to FP8 as Transformer Engine does ({@code MatMul} {@code gemm_dtype float8_e4m3fn}); the
 *                       attention products and the LM head stay in {@code dtype}, as in Megatron-LM with TE, whose
 *                       output layer is not a TE module (default false; the parallelism section's {@code precision
 *                       fp8} sets it with dtype bfloat16)
 */
public record GptConfig(int layers, int hidden, int heads, int ffn, int seq, int vocab, int batch, DType dtype,
                        boolean bias, double dropout, boolean causalMask, boolean tiedEmbeddings,
                        boolean fusedAttention, boolean fp8) {

    /** Validates positive sizes, {@code hidden % heads == 0}, a floating dtype and a dropout in [0, 1). */
    public GptConfig {
        check("layers", layers);
        Limits.Limit.LAYERS.check("zoo model 'gpt': layers", layers);
        check("hidden", hidden);
        check("heads", heads);
        check("ffn", ffn);
        check("seq", seq);
        check("vocab", vocab);
        check("batch", batch);
        if (vocab < 2) {
            throw new IllegalArgumentException("zoo model 'gpt': vocab is " + vocab + "; expected at least 2 tokens "
                    + "(the cross-entropy over one class is always 0, so training would have no gradient)");
        }
        if (hidden % heads != 0) {
            throw new IllegalArgumentException("zoo model 'gpt': hidden " + hidden + " is not a multiple of heads "
                    + heads + "; choose heads dividing hidden");
        }
        if (dtype == null || !dtype.isFloating()) {
            throw new IllegalArgumentException("zoo model 'gpt': dtype is " + dtype
                    + "; expected a floating dtype such as FLOAT32");
        }
        if (dtype.isFp8()) {
            throw new IllegalArgumentException("zoo model 'gpt': dtype is " + dtype.jsonName() + "; FP8 is a GEMM "
                    + "input format, not a storage dtype: use dtype bfloat16 with fp8 true (precision fp8)");
        }
        if (!(dropout >= 0 && dropout < 1)) {
            throw new IllegalArgumentException("zoo model 'gpt': dropout is " + dropout
                    + "; expected a drop probability in [0, 1) such as 0.1 (0 adds no dropout)");
        }
    }

    /**
     * The model without biases, dropouts, causal mask or tied embeddings (the switches off), as before they existed.
     */
    public GptConfig(int layers, int hidden, int heads, int ffn, int seq, int vocab, int batch, DType dtype) {
        this(layers, hidden, heads, ffn, seq, vocab, batch, dtype, false, 0, false, false);
    }

    /** The model with the given switches and the unfused attention core ({@code fusedAttention} false). */
    public GptConfig(int layers, int hidden, int heads, int ffn, int seq, int vocab, int batch, DType dtype,
                     boolean bias, double dropout, boolean causalMask, boolean tiedEmbeddings) {
        this(layers, hidden, heads, ffn, seq, vocab, batch, dtype, bias, dropout, causalMask, tiedEmbeddings, false);
    }

    /** The model with the given switches, without FP8 linear layers ({@code fp8} false). */
    public GptConfig(int layers, int hidden, int heads, int ffn, int seq, int vocab, int batch, DType dtype,
                     boolean bias, double dropout, boolean causalMask, boolean tiedEmbeddings,
                     boolean fusedAttention) {
        this(layers, hidden, heads, ffn, seq, vocab, batch, dtype, bias, dropout, causalMask, tiedEmbeddings,
                fusedAttention, false);
    }

    private static void check(String what, int v) {
        if (v <= 0) {
            throw new IllegalArgumentException("zoo model 'gpt': " + what + " is " + v + "; expected a positive size");
        }
    }

    /** The defaults: 2 layers, hidden 64, 4 heads, ffn 256, seq 16, vocab 128, batch 4, float32, switches off. */
    public static GptConfig defaults() {
        return new GptConfig(2, 64, 4, 256, 16, 128, 4, DType.FLOAT32);
    }

    /** The same configuration with {@code layers} layers. */
    public GptConfig withLayers(int layers) {
        return new GptConfig(layers, hidden, heads, ffn, seq, vocab, batch, dtype, bias, dropout, causalMask,
                tiedEmbeddings, fusedAttention, fp8);
    }

    /** The same configuration with or without the biases of the blocks' linear layers. */
    public GptConfig withBias(boolean bias) {
        return new GptConfig(layers, hidden, heads, ffn, seq, vocab, batch, dtype, bias, dropout, causalMask,
                tiedEmbeddings, fusedAttention, fp8);
    }

    /** The same configuration with drop probability {@code dropout} in [0, 1) (0: no dropout operators). */
    public GptConfig withDropout(double dropout) {
        return new GptConfig(layers, hidden, heads, ffn, seq, vocab, batch, dtype, bias, dropout, causalMask,
                tiedEmbeddings, fusedAttention, fp8);
    }

    /** The same configuration with or without the causal mask of the attention scores. */
    public GptConfig withCausalMask(boolean causalMask) {
        return new GptConfig(layers, hidden, heads, ffn, seq, vocab, batch, dtype, bias, dropout, causalMask,
                tiedEmbeddings, fusedAttention, fp8);
    }

    /** The same configuration with or without the LM head tied to the word-embedding table. */
    public GptConfig withTiedEmbeddings(boolean tiedEmbeddings) {
        return new GptConfig(layers, hidden, heads, ffn, seq, vocab, batch, dtype, bias, dropout, causalMask,
                tiedEmbeddings, fusedAttention, fp8);
    }

    /** The same configuration with the attention core fused into one FlashAttention operator, or unfused. */
    public GptConfig withFusedAttention(boolean fusedAttention) {
        return new GptConfig(layers, hidden, heads, ffn, seq, vocab, batch, dtype, bias, dropout, causalMask,
                tiedEmbeddings, fusedAttention, fp8);
    }

    /** The same configuration with the blocks' linear layers in FP8 ({@code gemm_dtype float8_e4m3fn}) or not. */
    public GptConfig withFp8(boolean fp8) {
        return new GptConfig(layers, hidden, heads, ffn, seq, vocab, batch, dtype, bias, dropout, causalMask,
                tiedEmbeddings, fusedAttention, fp8);
    }

    /**
     * The model as GPT-2 and Megatron train it: biases, the causal mask and tied embeddings on, and dropouts of
     * probability {@code dropout} (Megatron's default is 0.1; 0 leaves them out); {@code fusedAttention} unchanged.
     */
    public GptConfig asTrained(double dropout) {
        return new GptConfig(layers, hidden, heads, ffn, seq, vocab, batch, dtype, true, dropout, true, true,
                fusedAttention, fp8);
    }

    /** The width of one attention head: {@code hidden / heads}. */
    public int headDim() {
        return hidden / heads;
    }
}
