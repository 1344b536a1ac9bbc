package io.tessera.layout.init;

import io.tessera.layout.Box;
import io.tessera.layout.DType;
import io.tessera.layout.tensor.Tensor;
import org.apache.commons.rng.UniformRandomProvider;

import java.util.Arrays;
import java.util.Locale;
import java.util.function.LongToDoubleFunction;

/**
 * Shared machinery of the built-in initializers: the counter-based random stream keyed by
 * (seed, global element index), region traversal, fan and gain computations, argument checks.
 */
final class Generation {

    /** The SplitMix64 increment (golden ratio), also used to space element counters. */
    static final long GOLDEN = 0x9E3779B97F4A7C15L;
    private static final long SUB_GAMMA = 0xD1B54A32D192ED03L;
    private static final long SEED_SALT = 0x5851F42D4C957F2DL;

    private Generation() {
    }

    /** Stafford's Mix13 finaliser (the SplitMix64 output function): a bijective 64-bit mix. */
    static long mix(long z) {
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }

    /** The stream key of a seed (bijective, so distinct seeds give distinct keys). */
    static long keyOf(long seed) {
        return mix(seed ^ SEED_SALT);
    }

    /**
     * A {@link UniformRandomProvider} positioned on one element: its {@code k}-th {@code nextLong()} is a pure
     * function of (key, element index, k). Samplers from Commons RNG draw from it, so an element's value never
     * depends on which other elements were generated, nor in which order: rejection samplers simply consume more
     * sub-counters of the same element.
     */
    static final class ElementStream implements UniformRandomProvider {
        private final long key;
        private long base;
        private long sub;

        ElementStream(long seed) {
            this.key = keyOf(seed);
        }

        /** Positions the stream on the element of global flat index {@code index}. */
        void at(long index) {
            base = mix(key + (index + 1) * GOLDEN);
            sub = 0;
        }

        @Override
        public long nextLong() {
            long s = sub++;
            return s == 0 ? base : mix(base + s * SUB_GAMMA);
        }
    }

    /** A value of one element from its global flat index and global multi-index (read-only). */
    @FunctionalInterface
    interface ElementFunction {
        double at(long globalFlat, long[] index);
    }

    /**
     * Generates {@code region} of a tensor of {@code shape}: element values from {@code f}, visited in row-major
     * order of the region, converted to {@code dtype}. Memory: the region's storage only.
     */
    static Tensor fill(String who, long[] shape, DType dtype, Box region, ElementFunction f) {
        checkRegion(who, shape, dtype, region);
        return Tensor.fromFunction(dtype, region.shape(), new Cursor(shape, region, f));
    }

    /** One random element value drawn from a stream positioned on that element. */
    @FunctionalInterface
    interface RandomElement {
        double sample(ElementStream stream);
    }

    /**
     * Generates {@code region} with each element drawn by {@code sampler} from the stream of (seed, its global
     * flat index). {@code samplerFactory} receives the one stream object (repositioned per element) so that
     * Commons RNG samplers can be built once per call.
     */
    static Tensor random(String who, long[] shape, DType dtype, long seed, Box region,
                         java.util.function.Function<ElementStream, RandomElement> samplerFactory) {
        ElementStream stream = new ElementStream(seed);
        RandomElement sampler = samplerFactory.apply(stream);
        return fill(who, shape, dtype, region, (g, idx) -> {
            stream.at(g);
            return sampler.sample(stream);
        });
    }

    /** Walks the region in row-major order, tracking the global flat index incrementally. */
    private static final class Cursor implements LongToDoubleFunction {
        private final long[] shape;
        private final long[] start;
        private final long[] end;
        private final long[] stride;
        private final long[] index;
        private final ElementFunction f;
        private long global;

        Cursor(long[] shape, Box region, ElementFunction f) {
            this.shape = shape.clone();
            this.start = region.start();
            this.end = region.end();
            this.index = region.start();
            this.f = f;
            int nd = shape.length;
            this.stride = new long[nd];
            long s = 1;
            for (int i = nd - 1; i >= 0; i--) {
                stride[i] = s;
                s *= shape[i];
            }
            long g = 0;
            for (int i = 0; i < nd; i++) {
                g += index[i] * stride[i];
            }
            this.global = g;
        }

        @Override
        public double applyAsDouble(long localIndex) {
            double v = f.at(global, index);
            advance();
            return v;
        }

        private void advance() {
            int k = shape.length - 1;
            while (k >= 0) {
                index[k]++;
                global += stride[k];
                if (index[k] < end[k]) {
                    return;
                }
                global -= (index[k] - start[k]) * stride[k];
                index[k] = start[k];
                k--;
            }
        }
    }

    /** Checks a shape (non-null, sizes >= 0) and returns it. */
    static long[] checkShape(String who, long[] shape) {
        if (shape == null) {
            throw new IllegalArgumentException(who + ": shape is null; expected dimension sizes such as"
                    + " new long[] {2, 3}");
        }
        for (int i = 0; i < shape.length; i++) {
            if (shape[i] < 0) {
                throw new IllegalArgumentException(who + ": shape " + Tensor.shapeString(shape) + " has size "
                        + shape[i] + " in dim " + i + "; expected sizes >= 0");
            }
        }
        return shape;
    }

    static void checkRegion(String who, long[] shape, DType dtype, Box region) {
        checkShape(who, shape);
        if (dtype == null) {
            throw new IllegalArgumentException(who + ": dtype is null; expected a DType such as Float32");
        }
        if (region == null) {
            throw new IllegalArgumentException(who + ": region is null; expected a Box such as Box.full(shape)");
        }
        if (region.rank() != shape.length) {
            throw new IllegalArgumentException(who + ": region " + region + " has " + region.rank()
                    + " dims but shape " + Tensor.shapeString(shape) + " has " + shape.length
                    + "; give one bound per dimension");
        }
        for (int i = 0; i < shape.length; i++) {
            if (region.end(i) > shape[i]) {
                throw new IllegalArgumentException(who + ": region " + region + " leaves shape "
                        + Tensor.shapeString(shape) + " in dim " + i + " (end " + region.end(i) + " > " + shape[i]
                        + "); give a region inside the tensor");
            }
        }
    }

    /**
     * MindSpore's fan_in and fan_out: 2-D {@code (out, in)} gives {@code fan_in = shape[1]}, {@code fan_out =
     * shape[0]}; higher ranks multiply both by the receptive field (product of dims from 2).
     */
    static long[] fans(String who, long[] shape) {
        checkShape(who, shape);
        if (shape.length < 2) {
            throw new IllegalArgumentException(who + ": fan_in and fan_out cannot be computed for shape "
                    + Tensor.shapeString(shape) + " (" + shape.length + " dims); expected at least 2 dims"
                    + " ((out, in) or conv (out, in, k...)); use Normal or Uniform for vectors and scalars");
        }
        long rf = 1;
        for (int i = 2; i < shape.length; i++) {
            rf *= shape[i];
        }
        return new long[] {shape[1] * rf, shape[0] * rf};
    }

    /** The valid nonlinearity names of {@link #gain}. */
    static final String[] NONLINEARITIES = {"linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d",
        "conv_transpose2d", "conv_transpose3d", "sigmoid", "tanh", "relu", "leaky_relu", "selu"};

    /** Normalises and checks a nonlinearity name. */
    static String checkNonlinearity(String who, String nonlinearity) {
        String n = nonlinearity == null ? null : nonlinearity.trim().toLowerCase(Locale.ROOT);
        if (n == null || !Arrays.asList(NONLINEARITIES).contains(n)) {
            throw new IllegalArgumentException(who + ": nonlinearity is '" + nonlinearity + "'; expected one of "
                    + String.join(", ", NONLINEARITIES));
        }
        return n;
    }

    /** Normalises and checks a fan mode ({@code fan_in} or {@code fan_out}). */
    static String checkMode(String who, String mode) {
        String m = mode == null ? null : mode.trim().toLowerCase(Locale.ROOT);
        if (!"fan_in".equals(m) && !"fan_out".equals(m)) {
            throw new IllegalArgumentException(who + ": mode is '" + mode + "'; expected 'fan_in' (preserves the"
                    + " forward variance) or 'fan_out' (preserves the backward variance)");
        }
        return m;
    }

    /** The recommended gain of a nonlinearity (MindSpore's / PyTorch's {@code calculate_gain}). */
    static double gain(String nonlinearity, double negativeSlope) {
        switch (nonlinearity) {
            case "tanh":
                return 5.0 / 3.0;
            case "relu":
                return Math.sqrt(2.0);
            case "leaky_relu":
                return Math.sqrt(2.0 / (1.0 + negativeSlope * negativeSlope));
            case "selu":
                return 0.75;
            default:
                return 1.0;
        }
    }

    /** Checks that a distribution parameter is finite and, when {@code nonNegative}, >= 0. */
    static double checkFinite(String who, String what, double v, boolean nonNegative) {
        if (!Double.isFinite(v) || (nonNegative && v < 0)) {
            throw new IllegalArgumentException(who + ": " + what + " is " + v + "; expected a finite number"
                    + (nonNegative ? " >= 0" : ""));
        }
        return v;
    }
}
