package io.tessera.simulator.kernel;

import io.tessera.simulator.array.NDArray;

import java.util.Arrays;
import java.util.List;

/**
 * Shape helpers shared by the kernels: argument checks, numpy broadcasting (right-aligned), summing a broadcast
 * gradient back to an input's shape, and a row cursor walking several arrays laid over one shape.
 */
final class Shapes {

    private Shapes() {
    }

    /** Checks the number of inputs and that none is null. */
    static void checkInputs(String kernel, List<NDArray> inputs, int count) {
        if (inputs == null || inputs.size() != count) {
            throw new IllegalArgumentException(kernel + ": found " + (inputs == null ? 0 : inputs.size())
                    + " inputs; expected " + count);
        }
        for (int i = 0; i < count; i++) {
            if (inputs.get(i) == null) {
                throw new IllegalArgumentException(kernel + ": input " + i + " is null");
            }
        }
    }

    /** Checks the arguments of a backward call: inputs, one needsGrad flag per input. */
    static void checkBackward(String kernel, List<NDArray> inputs, int count, List<NDArray> outputGrads,
                              int outputs, boolean[] needsGrad) {
        checkInputs(kernel, inputs, count);
        if (needsGrad == null || needsGrad.length != count) {
            throw new IllegalArgumentException(kernel + ": needsGrad has " + (needsGrad == null ? 0 : needsGrad.length)
                    + " entries; expected one per input (" + count + ")");
        }
        if (outputGrads != null && outputGrads.size() != outputs) {
            throw new IllegalArgumentException(kernel + ": found " + outputGrads.size() + " output gradients; expected "
                    + outputs);
        }
    }

    /** Output gradient {@code i}, or null when absent (meaning zeros); checks its shape. */
    static NDArray outputGrad(String kernel, List<NDArray> outputGrads, int i, long[] shape) {
        NDArray g = outputGrads == null ? null : outputGrads.get(i);
        if (g != null && !Arrays.equals(g.shape(), shape)) {
            throw new IllegalArgumentException(kernel + ": output gradient " + i + " has shape "
                    + Arrays.toString(g.shape()) + "; expected the output's shape " + Arrays.toString(shape));
        }
        return g;
    }

    /** Output {@code i} from a backward call, or null when it was not given (the kernel then recomputes it). */
    static NDArray output(List<NDArray> outputs, int i) {
        return outputs == null || outputs.size() <= i ? null : outputs.get(i);
    }

    /** A list of {@code n} gradients, each null unless set later. */
    static NDArray[] gradients(int n) {
        return new NDArray[n];
    }

    /** The list view of a gradient array (entries may be null, unlike {@link List#of}). */
    static List<NDArray> list(NDArray... grads) {
        return java.util.Collections.unmodifiableList(Arrays.asList(grads));
    }

    /** Normalises {@code axis} (negative counts from the end) for a rank-{@code rank} array. */
    static int axis(String kernel, int axis, int rank) {
        if (axis < -rank || axis >= rank) {
            throw new IllegalArgumentException(kernel + ": axis " + axis + " is out of range for a " + rank
                    + "-d input; expected " + (-rank) + ".." + (rank - 1));
        }
        return axis < 0 ? axis + rank : axis;
    }

    /** Row-major element strides of {@code shape}. */
    static int[] strides(long[] shape) {
        int[] s = new int[shape.length];
        int acc = 1;
        for (int i = shape.length - 1; i >= 0; i--) {
            s[i] = acc;
            acc = Math.multiplyExact(acc, Math.toIntExact(shape[i]));
        }
        return s;
    }

    /** The numpy broadcast of two shapes (right-aligned; equal sizes or 1). */
    static long[] broadcast(String kernel, long[] a, long[] b) {
        int r = Math.max(a.length, b.length);
        long[] out = new long[r];
        for (int i = 0; i < r; i++) {
            long da = dimAt(a, i, r);
            long db = dimAt(b, i, r);
            if (da != db && da != 1 && db != 1) {
                throw new IllegalArgumentException(kernel + ": shapes " + Arrays.toString(a) + " and "
                        + Arrays.toString(b) + " do not broadcast: right-aligned dim " + i + " is " + da + " vs " + db);
            }
            out[i] = da == 1 ? db : da;
        }
        return out;
    }

    /** Size of right-aligned position {@code i} of a rank-{@code r} result in {@code shape}; 1 when absent. */
    static long dimAt(long[] shape, int i, int r) {
        int own = i - (r - shape.length);
        return own < 0 ? 1 : shape[own];
    }

    /**
     * Strides of {@code in} laid over the (broadcast) shape {@code out}, right-aligned: 0 where {@code in} lacks the
     * dimension or has size 1.
     */
    static int[] broadcastStrides(long[] in, long[] out) {
        int[] own = strides(in);
        int[] s = new int[out.length];
        int shift = out.length - in.length;
        for (int i = 0; i < out.length; i++) {
            int j = i - shift;
            s[i] = j < 0 || in[j] == 1 ? 0 : own[j];
        }
        return s;
    }

    /** Sums {@code g} (of a broadcast shape) down to {@code target}, which broadcasts to {@code g}'s shape. */
    static NDArray sumTo(NDArray g, long[] target) {
        long[] shape = g.shape();
        if (Arrays.equals(shape, target)) {
            return g;
        }
        NDArray out = NDArray.zeros(target);
        double[] src = g.data();
        double[] dst = out.data();
        if (src.length == 0) {
            return out;
        }
        Cursor c = new Cursor(shape, strides(shape), broadcastStrides(target, shape));
        int len = c.rowLength();
        int step = c.innerStride(1);
        do {
            int s = c.offset(0);
            int d = c.offset(1);
            if (step == 0) {
                double acc = 0;
                for (int j = 0; j < len; j++) {
                    acc += src[s + j];
                }
                dst[d] += acc;
            } else {
                for (int j = 0; j < len; j++) {
                    dst[d + j] += src[s + j];
                }
            }
        } while (c.next());
        return out;
    }

    /**
     * Walks the rows (all dimensions but the last) of a shape, keeping one element offset per operand from its own
     * strides (0 = broadcast). The last dimension is left to the caller's inner loop.
     */
    static final class Cursor {
        private final long[] shape;
        private final int[][] strides;
        private final int[] index;
        private final int[] offsets;
        private final int rows;
        private int row;

        Cursor(long[] shape, int[]... strides) {
            this.shape = shape;
            this.strides = strides;
            this.index = new int[Math.max(0, shape.length - 1)];
            this.offsets = new int[strides.length];
            long n = 1;
            for (int i = 0; i < shape.length - 1; i++) {
                n *= shape[i];
            }
            this.rows = Math.toIntExact(n);
        }

        /** Length of a row: the last dimension (1 for a scalar). */
        int rowLength() {
            return shape.length == 0 ? 1 : Math.toIntExact(shape[shape.length - 1]);
        }

        /** Stride of operand {@code o} along the last dimension (0 for a scalar). */
        int innerStride(int o) {
            return shape.length == 0 ? 0 : strides[o][shape.length - 1];
        }

        /** Offset of operand {@code o} at the start of the current row. */
        int offset(int o) {
            return offsets[o];
        }

        /** Moves to the next row; false when the rows are exhausted. */
        boolean next() {
            if (++row >= rows) {
                return false;
            }
            for (int d = index.length - 1; d >= 0; d--) {
                index[d]++;
                for (int o = 0; o < offsets.length; o++) {
                    offsets[o] += strides[o][d];
                }
                if (index[d] < shape[d]) {
                    return true;
                }
                for (int o = 0; o < offsets.length; o++) {
                    offsets[o] -= strides[o][d] * (int) shape[d];
                }
                index[d] = 0;
            }
            return true;
        }
    }
}
