package io.tessera.planner.zoo;

import io.tessera.layout.DType;
import io.tessera.layout.Limits;

import java.util.Locale;

/**
 * The arguments of the zoo's {@code resnet} (a small ResNet-style CNN). Immutable.
 *
 * @param batch    batch size, positive (default 8)
 * @param channels channels of every conv, positive (default 16)
 * @param blocks   residual blocks, positive (default 2)
 * @param image    image height and width, positive (default 32)
 * @param classes  number of classes, at least 2 (default 10)
 * @param norm     the normalisation (default BatchNorm)
 * @param dtype    the floating dtype (default float32)
 */
public record ResNetConfig(int batch, int channels, int blocks, int image, int classes, Norm norm, DType dtype) {

    /** The normalisation after each convolution. */
    public enum Norm {
        /** BatchNorm per channel; scale and bias trainable, moving mean and variance not. */
        BATCHNORM,
        /** LayerNorm over C, H and W. */
        LAYERNORM;

        /** The name in zoo arguments: {@code batchnorm} or {@code layernorm}. */
        public String jsonName() {
            return name().toLowerCase(Locale.ROOT);
        }

        /**
         * Parses {@code batchnorm} or {@code layernorm} (case-insensitive).
         *
         * @throws IllegalArgumentException naming the valid values
         */
        public static Norm parse(String s) {
            String k = s == null ? "" : s.trim().toLowerCase(Locale.ROOT).replace("_", "");
            for (Norm n : values()) {
                if (n.jsonName().equals(k)) {
                    return n;
                }
            }
            throw new IllegalArgumentException("zoo model 'resnet': argument 'norm' is '" + s
                    + "'; expected batchnorm or layernorm");
        }
    }

    /** Validates positive sizes, a norm and a floating dtype. */
    public ResNetConfig {
        check("batch", batch);
        check("channels", channels);
        check("blocks", blocks);
        Limits.Limit.BLOCKS.check("zoo model 'resnet': blocks", blocks);
        check("image", image);
        check("classes", classes);
        if (classes < 2) {
            throw new IllegalArgumentException("zoo model 'resnet': classes is " + classes + "; expected at least 2 "
                    + "(the cross-entropy over one class is always 0, so training would have no gradient)");
        }
        if (norm == null) {
            throw new IllegalArgumentException("zoo model 'resnet': norm is null; expected BATCHNORM or LAYERNORM");
        }
        if (dtype == null || !dtype.isFloating()) {
            throw new IllegalArgumentException("zoo model 'resnet': dtype is " + dtype
                    + "; expected a floating dtype such as FLOAT32");
        }
    }

    private static void check(String what, int v) {
        if (v <= 0) {
            throw new IllegalArgumentException("zoo model 'resnet': " + what + " is " + v
                    + "; expected a positive size");
        }
    }

    /** The defaults: batch 8, 16 channels, 2 blocks, 32x32 images, 10 classes, BatchNorm, float32. */
    public static ResNetConfig defaults() {
        return new ResNetConfig(8, 16, 2, 32, 10, Norm.BATCHNORM, DType.FLOAT32);
    }
}
