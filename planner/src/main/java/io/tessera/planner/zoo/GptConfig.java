package io.tessera.planner.zoo;

import io.tessera.layout.DType;

/**
 * The arguments of the zoo's {@code gpt} (decoder-only transformer). Immutable.
 *
 * @param layers number of transformer layers, positive (default 2)
 * @param hidden model width, positive, a multiple of {@code heads} (default 64)
 * @param heads  attention heads, positive (default 4)
 * @param ffn    feed-forward width, positive (default 4 x hidden)
 * @param seq    sequence length, positive (default 16)
 * @param vocab  vocabulary size, positive (default 128)
 * @param batch  batch size, positive (default 4)
 * @param dtype  the floating dtype of activations and parameters (default float32; tokens are Int32)
 */
public record GptConfig(int layers, int hidden, int heads, int ffn, int seq, int vocab, int batch, DType dtype) {

    /** Validates positive sizes, {@code hidden % heads == 0} and a floating dtype. */
    public GptConfig {
        check("layers", layers);
        check("hidden", hidden);
        check("heads", heads);
        check("ffn", ffn);
        check("seq", seq);
        check("vocab", vocab);
        check("batch", batch);
        if (hidden % heads != 0) {
            throw new IllegalArgumentException("zoo model 'gpt': hidden " + hidden + " is not a multiple of heads "
                    + heads + "; choose heads dividing hidden");
        }
        if (dtype == null || !dtype.isFloating()) {
            throw new IllegalArgumentException("zoo model 'gpt': dtype is " + dtype
                    + "; expected a floating dtype such as FLOAT32");
        }
    }

    private static void check(String what, int v) {
        if (v <= 0) {
            throw new IllegalArgumentException("zoo model 'gpt': " + what + " is " + v + "; expected a positive size");
        }
    }

    /** The defaults: 2 layers, hidden 64, 4 heads, ffn 256, seq 16, vocab 128, batch 4, float32. */
    public static GptConfig defaults() {
        return new GptConfig(2, 64, 4, 256, 16, 128, 4, DType.FLOAT32);
    }

    /** The same configuration with {@code layers} layers. */
    public GptConfig withLayers(int layers) {
        return new GptConfig(layers, hidden, heads, ffn, seq, vocab, batch, dtype);
    }

    /** The width of one attention head: {@code hidden / heads}. */
    public int headDim() {
        return hidden / heads;
    }
}
