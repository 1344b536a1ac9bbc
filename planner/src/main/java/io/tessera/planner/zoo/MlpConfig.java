package io.tessera.planner.zoo;

import io.tessera.layout.DType;
import io.tessera.layout.Limits;

import java.util.Arrays;
import java.util.List;

/**
 * The arguments of the zoo's {@code mlp}: layer {@code i} maps {@code widths[i]} features to {@code widths[i+1]}.
 * Immutable; the widths are copied in and out.
 *
 * @param widths the feature widths, at least two, each positive, the last (the classes) at least 2; the layer count
 *               is {@code widths.length - 1}
 * @param batch  the batch size, positive
 * @param dtype  the floating dtype of inputs and parameters
 */
public record MlpConfig(long[] widths, int batch, DType dtype) {

    /** The default widths: two layers, 1024 -> 4096 -> 1024. */
    public static final List<Integer> DEFAULT_WIDTHS = List.of(1024, 4096, 1024);

    /** Validates and copies. */
    public MlpConfig {
        if (widths == null || widths.length < 2) {
            throw new IllegalArgumentException("zoo model 'mlp': widths " + (widths == null ? "null"
                    : Arrays.toString(widths)) + " has fewer than 2 entries; give the input width and one output "
                    + "width per layer, e.g. [1024, 4096, 1024]");
        }
        Limits.Limit.LAYERS.check("zoo model 'mlp': layers", widths.length - 1L);
        widths = widths.clone();
        for (long w : widths) {
            if (w <= 0) {
                throw new IllegalArgumentException("zoo model 'mlp': widths " + Arrays.toString(widths) + " holds "
                        + w + "; expected positive widths");
            }
        }
        if (widths[widths.length - 1] < 2) {
            throw new IllegalArgumentException("zoo model 'mlp': widths " + Arrays.toString(widths) + " end with "
                    + widths[widths.length - 1] + " classes; expected at least 2 (the cross-entropy over one class is "
                    + "always 0, so training would have no gradient)");
        }
        if (batch <= 0) {
            throw new IllegalArgumentException("zoo model 'mlp': batch is " + batch + "; expected a positive size");
        }
        if (dtype == null || !dtype.isFloating()) {
            throw new IllegalArgumentException("zoo model 'mlp': dtype is " + dtype
                    + "; expected a floating dtype such as FLOAT32");
        }
    }

    /** The defaults: widths [1024, 4096, 1024], batch 8, float32. */
    public static MlpConfig defaults() {
        return of(null, null, 8, DType.FLOAT32);
    }

    /**
     * A configuration from a layer count and/or widths (either may be null). Widths alone fix the layers; layers alone
     * use widths alternating 1024 and 4096 starting with 1024 (2 layers give the default [1024, 4096, 1024]);
     * neither gives the defaults.
     *
     * @throws IllegalArgumentException when both are given and {@code layers != widths.length - 1}
     */
    public static MlpConfig of(Integer layers, long[] widths, int batch, DType dtype) {
        if (widths == null) {
            int n = layers == null ? DEFAULT_WIDTHS.size() - 1 : layers;
            if (n <= 0) {
                throw new IllegalArgumentException("zoo model 'mlp': layers is " + n + "; expected at least 1");
            }
            Limits.Limit.LAYERS.check("zoo model 'mlp': layers", n);
            widths = new long[n + 1];
            for (int i = 0; i <= n; i++) {
                widths[i] = i % 2 == 0 ? 1024 : 4096;
            }
        } else if (layers != null && layers != widths.length - 1) {
            throw new IllegalArgumentException("zoo model 'mlp': layers is " + layers + " but widths "
                    + Arrays.toString(widths) + " describe " + (widths.length - 1) + " layers; give layers = "
                    + "widths.size() - 1, or only one of the two");
        }
        return new MlpConfig(widths, batch, dtype);
    }

    @Override
    public long[] widths() {
        return widths.clone();
    }

    /** The number of layers: {@code widths.length - 1}. */
    public int layers() {
        return widths.length - 1;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof MlpConfig c && Arrays.equals(widths, c.widths) && batch == c.batch && dtype == c.dtype;
    }

    @Override
    public int hashCode() {
        return (Arrays.hashCode(widths) * 31 + batch) * 31 + dtype.hashCode();
    }

    /** Prints as {@code MlpConfig[widths=[1024, 4096, 1024], batch=8, dtype=Float32]}. */
    @Override
    public String toString() {
        return "MlpConfig[widths=" + Arrays.toString(widths) + ", batch=" + batch + ", dtype=" + dtype + "]";
    }
}
