package io.tessera.planner.op;

import io.tessera.layout.DType;
import io.tessera.layout.Layout;

import java.util.ArrayList;
import java.util.List;

/**
 * FLOP counting, independent of any device: the FLOPs of one rank's slice of an operator's forward, from the slice
 * shapes of its inputs and outputs. MatMul / BatchMatMul: {@code 2 * batch * m * n * k} over the local slices (batch
 * dims broadcast). Conv2D: {@code 2 * N * Co * Ho * Wo * (Ci / group) * kh * kw} over the local slices. Element-wise
 * operators: the per-element constants of this class times the output slice's elements (reductions and cross
 * entropy: the input slice's). Gather, Reshape, Transpose and Split: 0 (they only move memory). Each formula lives
 * in its operator's record ({@link Operator#forwardFlops}); this class holds the shared constants and delegates. The
 * cost model turns these into seconds on a device; a pipeline split balances them without one.
 */
public final class Flops {

    private Flops() {
    }

    /** FLOPs per output element of Add / Sub / Mul / Div, BiasAdd and Cast. */
    public static final int BINARY = 1;
    /** FLOPs per element of ReLU. */
    public static final int RELU = 1;
    /** FLOPs per element of Tanh and Sigmoid (an exponential, an add and a divide). */
    public static final int TANH_SIGMOID = 4;
    /** FLOPs per element of GeLU (tanh approximation: a cubic, a tanh, three multiplies and adds). */
    public static final int GELU = 8;
    /** FLOPs per element of SiLU (a sigmoid and a multiply). */
    public static final int SILU = 5;
    /** FLOPs per element of Dropout (compare the random mask, multiply, scale). */
    public static final int DROPOUT = 2;
    /** FLOPs per element of Softmax and LogSoftmax (max, subtract, exp, sum, divide or log). */
    public static final int SOFTMAX = 5;
    /** FLOPs per element of LayerNorm and BatchNorm (mean, variance, normalise, scale, shift). */
    public static final int NORM = 8;
    /** FLOPs per element of RMSNorm (square, sum, scale by the inverse RMS, multiply by the weight). */
    public static final int RMS_NORM = 4;
    /** FLOPs per logit of SoftmaxCrossEntropyWithLogits (softmax, log, multiply by the label, sum). */
    public static final int CROSS_ENTROPY = 8;
    /** FLOPs per input element of a reduction. */
    public static final int REDUCE = 1;


    /**
     * FLOPs of one rank's forward of {@code o} on input slices of shapes {@code in} and output slices {@code out}:
     * the operator's own rule ({@link Operator#forwardFlops}).
     */
    public static long forward(Operator o, List<long[]> in, List<long[]> out) {
        return o.forwardFlops(in, out);
    }

    /**
     * Bytes of a forward that reads every input slice and writes every output slice once, each element in its
     * tensor's dtype: the memory traffic of most operators ({@link Operator#forwardBytes}).
     */
    public static long streamedBytes(List<long[]> in, List<DType> inTypes, List<long[]> out, List<DType> outTypes) {
        long bytes = 0;
        for (int i = 0; i < out.size(); i++) {
            bytes += volume(out.get(i)) * outTypes.get(i).bytes();
        }
        for (int i = 0; i < in.size(); i++) {
            bytes += volume(in.get(i)) * inTypes.get(i).bytes();
        }
        return bytes;
    }

    /**
     * The product of {@code factors} (FLOPs of a matrix product or convolution), checked.
     *
     * @throws IllegalArgumentException one line when the product overflows a 64-bit integer
     */
    public static long product(long... factors) {
        long v = 1;
        for (long f : factors) {
            try {
                v = Math.multiplyExact(v, f);
            } catch (ArithmeticException e) {
                throw new IllegalArgumentException("FLOPs " + java.util.Arrays.toString(factors).replace(", ", " x ")
                        + " overflow a 64-bit integer; use smaller sizes", e);
            }
        }
        return v;
    }

    /** {@code a + b} FLOPs, checked: one line when the sum overflows a 64-bit integer. */
    public static long sum(long a, long b) {
        try {
            return Math.addExact(a, b);
        } catch (ArithmeticException e) {
            throw new IllegalArgumentException("FLOPs " + a + " + " + b + " overflow a 64-bit integer; use smaller "
                    + "sizes", e);
        }
    }

    /** The slice shape of each layout. */
    public static List<long[]> sliceShapes(List<Layout> layouts) {
        List<long[]> out = new ArrayList<>(layouts.size());
        for (Layout l : layouts) {
            out.add(l.sliceShape());
        }
        return out;
    }

    /** The number of elements of a slice of shape {@code shape} (1 for a scalar). */
    public static long volume(long[] shape) {
        long v = 1;
        for (long d : shape) {
            v *= d;
        }
        return v;
    }
}
