package io.tessera.planner.op;

import io.tessera.layout.Layout;

import java.util.ArrayList;
import java.util.List;

/**
 * FLOP counting, independent of any device: the FLOPs of one rank's slice of an operator's forward, from the slice
 * shapes of its inputs and outputs. MatMul / BatchMatMul: {@code 2 * batch * m * n * k} over the local slices (batch
 * dims broadcast). Conv2D: {@code 2 * N * Co * Ho * Wo * (Ci / group) * kh * kw} over the local slices. Element-wise
 * operators: the per-element constants of this class times the output slice's elements (reductions and cross
 * entropy: the input slice's). Gather, Reshape and Transpose: 0 (they only move memory). The cost model turns these
 * into seconds on a device; a pipeline split balances them without one.
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
    /** FLOPs per element of Dropout (compare the random mask, multiply, scale). */
    public static final int DROPOUT = 2;
    /** FLOPs per element of Softmax and LogSoftmax (max, subtract, exp, sum, divide or log). */
    public static final int SOFTMAX = 5;
    /** FLOPs per element of LayerNorm and BatchNorm (mean, variance, normalise, scale, shift). */
    public static final int NORM = 8;
    /** FLOPs per logit of SoftmaxCrossEntropyWithLogits (softmax, log, multiply by the label, sum). */
    public static final int CROSS_ENTROPY = 8;
    /** FLOPs per input element of a reduction. */
    public static final int REDUCE = 1;


    /**
     * FLOPs of one rank's forward of {@code o} on input slices of shapes {@code in} and output slices {@code out}.
     *
     * @throws IllegalArgumentException for an operator without a FLOP rule
     */
    public static long forward(Operator o, List<long[]> in, List<long[]> out) {
        if (o instanceof MatMul mm) {
            long[] a = in.get(0);
            long[] b = in.get(1);
            long m = mm.transposeA() ? a[a.length - 1] : a[a.length - 2];
            long k = mm.transposeA() ? a[a.length - 2] : a[a.length - 1];
            long n = mm.transposeB() ? b[b.length - 2] : b[b.length - 1];
            long batch = 1;
            int dims = Math.max(a.length, b.length) - 2;
            for (int i = 1; i <= dims; i++) {
                long da = a.length - 2 - i >= 0 ? a[a.length - 2 - i] : 1;
                long db = b.length - 2 - i >= 0 ? b[b.length - 2 - i] : 1;
                batch *= Math.max(da, db);
            }
            return 2L * batch * m * n * k;
        }
        if (o instanceof Conv2D) {
            long[] y = out.get(0);
            long[] w = in.get(1);
            return 2L * y[0] * y[1] * y[2] * y[3] * w[1] * w[2] * w[3];
        }
        if (o instanceof Gather || o instanceof Reshape || o instanceof Transpose) {
            return 0;
        }
        if (o instanceof Reduce) {
            return REDUCE * volume(in.get(0));
        }
        if (o instanceof SoftmaxCrossEntropyWithLogits) {
            return (long) CROSS_ENTROPY * volume(in.get(0));
        }
        return perElement(o) * volume(out.get(0));
    }

    private static long perElement(Operator o) {
        if (o instanceof Binary || o instanceof BiasAdd || o instanceof Cast) {
            return BINARY;
        }
        if (o instanceof Activation a) {
            switch (a.kind()) {
                case RELU:
                    return RELU;
                case GELU:
                    return GELU;
                default:
                    return TANH_SIGMOID;
            }
        }
        if (o instanceof Dropout) {
            return DROPOUT;
        }
        if (o instanceof Softmax) {
            return SOFTMAX;
        }
        if (o instanceof LayerNorm || o instanceof BatchNorm) {
            return NORM;
        }
        throw new IllegalArgumentException("FLOPs: operator type " + o.type() + " has no FLOP rule; expected one "
                + "of the operator catalogue (add a rule to Flops.forward)");
    }


    /** The slice shape of each layout. */
    public static List<long[]> sliceShapes(List<Layout> layouts) {
        List<long[]> out = new ArrayList<>(layouts.size());
        for (Layout l : layouts) {
            out.add(l.sliceShape());
        }
        return out;
    }

    private static long volume(long[] shape) {
        long v = 1;
        for (long d : shape) {
            v *= d;
        }
        return v;
    }
}
