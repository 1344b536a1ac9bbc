package io.tessera.simulator.kernel;

import io.tessera.planner.op.Transpose;
import io.tessera.simulator.array.NDArray;

import java.util.Arrays;
import java.util.List;

/**
 * The numeric kernel of {@link Transpose}: output dimension {@code j} is input dimension {@code perm[j]}. Each rank
 * transposes its own slice; the gradient is the output gradient transposed by the inverse permutation.
 */
public final class TransposeKernel {

    private TransposeKernel() {
    }

    /** The local input with its dimensions permuted. */
    public static List<NDArray> forward(Transpose op, KernelContext ctx, List<NDArray> inputs) {
        return List.of(permute(inputs.get(0), op.perm()));
    }

    /** The output gradient permuted back (null when not needed; zeros for a null output gradient). */
    public static List<NDArray> backward(Transpose op, KernelContext ctx, List<NDArray> inputs, List<NDArray> outputs,
                                         List<NDArray> outputGrads, boolean[] needsGrad) {
        if (!needsGrad[0]) {
            return Arrays.asList((NDArray) null);
        }
        NDArray dy = outputGrads == null || outputGrads.isEmpty() ? null : outputGrads.get(0);
        if (dy == null) {
            return List.of(NDArray.zeros(inputs.get(0).shape()));
        }
        int[] perm = op.perm();
        int[] inverse = new int[perm.length];
        for (int j = 0; j < perm.length; j++) {
            inverse[perm[j]] = j;
        }
        return List.of(permute(dy, inverse));
    }

    /** {@code a} transposed so that output dimension {@code j} is dimension {@code perm[j]} of {@code a}. */
    static NDArray permute(NDArray a, int[] perm) {
        int r = a.ndim();
        if (perm.length != r) {
            throw new IllegalArgumentException("TransposeKernel: perm " + Arrays.toString(perm) + " has "
                    + perm.length + " entries but the array " + Arrays.toString(a.shape()) + " has " + r + " dims");
        }
        long[] inShape = a.shape();
        long[] inStride = new long[r];
        long s = 1;
        for (int d = r - 1; d >= 0; d--) {
            inStride[d] = s;
            s *= inShape[d];
        }
        long[] outShape = new long[r];
        int[] step = new int[r];
        for (int j = 0; j < r; j++) {
            outShape[j] = inShape[perm[j]];
            step[j] = Math.toIntExact(inStride[perm[j]]);
        }
        NDArray out = NDArray.zeros(outShape);
        double[] src = a.data();
        double[] dst = out.data();
        if (dst.length == 0) {
            return out;
        }
        int[] idx = new int[r];
        int offset = 0;
        for (int k = 0; k < dst.length; k++) {
            dst[k] = src[offset];
            for (int j = r - 1; j >= 0; j--) {
                idx[j]++;
                offset += step[j];
                if (idx[j] < outShape[j]) {
                    break;
                }
                offset -= step[j] * idx[j];
                idx[j] = 0;
            }
        }
        return out;
    }
}
