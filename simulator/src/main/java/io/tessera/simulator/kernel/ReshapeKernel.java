package io.tessera.simulator.kernel;

import io.tessera.planner.op.Reshape;
import io.tessera.simulator.array.NDArray;

import java.util.Arrays;
import java.util.List;

/**
 * The numeric kernel of {@link Reshape}: the local data reinterpreted with the output's local shape (the shape of
 * {@code ctx.outputBoxes().get(0)}). Valid because the planner only carries layouts whose flat order is preserved
 * (each rank's output slice is, as flat indices, exactly its input slice). Results are copies, never views.
 */
public final class ReshapeKernel {

    private ReshapeKernel() {
    }

    /** The local input copied into the output's local shape. */
    public static List<NDArray> forward(Reshape op, KernelContext ctx, List<NDArray> inputs) {
        NDArray x = inputs.get(0);
        long[] shape = ctx != null && !ctx.outputBoxes().isEmpty() ? ctx.outputBoxes().get(0).shape()
                : inferred(op.shape(), x.size());
        return List.of(reshaped(x, shape, "output"));
    }

    /** The output gradient copied back into the input's local shape (null when not needed). */
    public static List<NDArray> backward(Reshape op, KernelContext ctx, List<NDArray> inputs, List<NDArray> outputs,
                                         List<NDArray> outputGrads, boolean[] needsGrad) {
        if (!needsGrad[0]) {
            return Arrays.asList((NDArray) null);
        }
        long[] shape = inputs.get(0).shape();
        NDArray dy = outputGrads == null || outputGrads.isEmpty() ? null : outputGrads.get(0);
        return List.of(dy == null ? NDArray.zeros(shape) : reshaped(dy, shape, "input"));
    }

    private static NDArray reshaped(NDArray a, long[] shape, String what) {
        if (NDArray.count(shape) != a.size()) {
            throw new IllegalArgumentException("ReshapeKernel: the local " + what + " shape " + Arrays.toString(shape)
                    + " holds " + NDArray.count(shape) + " elements but the local array " + Arrays.toString(a.shape())
                    + " has " + a.size());
        }
        return NDArray.of(shape, a.data().clone());
    }

    /** The target shape with its {@code -1} resolved for {@code count} elements. */
    private static long[] inferred(long[] shape, long count) {
        long known = 1;
        int at = -1;
        for (int i = 0; i < shape.length; i++) {
            if (shape[i] == -1) {
                at = i;
            } else {
                known *= shape[i];
            }
        }
        long[] out = shape.clone();
        if (at >= 0) {
            out[at] = known == 0 ? 0 : count / known;
        }
        return out;
    }
}
