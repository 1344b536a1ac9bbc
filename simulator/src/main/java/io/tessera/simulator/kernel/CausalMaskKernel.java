package io.tessera.simulator.kernel;

import io.tessera.layout.Box;
import io.tessera.planner.op.CausalMask;
import io.tessera.simulator.array.NDArray;

import java.util.Arrays;
import java.util.List;

/**
 * {@code CausalMask}: elements of {@code x [..., q, k]} with key index above query index ({@code j > i}) become the
 * fill value, the others pass. The indices are global coordinates (the local index plus the start of the output's
 * global box), so any slicing of the tensor, on any number of ranks, masks the elements of the unsliced tensor.
 */
public final class CausalMaskKernel {

    private static final String NAME = "CausalMaskKernel";

    private CausalMaskKernel() {
    }

    /** {@code x} with the masked elements set to the fill value. */
    public static List<NDArray> forward(CausalMask op, KernelContext ctx, List<NDArray> inputs) {
        Shapes.checkInputs(NAME, inputs, 1);
        NDArray x = inputs.get(0);
        NDArray out = NDArray.zeros(x.shape());
        apply(box(ctx, x), x.data(), out.data(), op.fillValue());
        return List.of(out);
    }

    /** The input gradient: the output gradient where kept, 0 where masked. */
    public static List<NDArray> backward(CausalMask op, KernelContext ctx, List<NDArray> inputs,
                                         List<NDArray> outputs, List<NDArray> outputGrads, boolean[] needsGrad) {
        Shapes.checkBackward(NAME, inputs, 1, outputGrads, 1, needsGrad);
        NDArray x = inputs.get(0);
        if (!needsGrad[0]) {
            return Shapes.list(Shapes.gradients(1));
        }
        NDArray g = Shapes.outputGrad(NAME, outputGrads, 0, x.shape());
        NDArray dx = NDArray.zeros(x.shape());
        if (g != null) {
            apply(box(ctx, x), g.data(), dx.data(), 0);
        }
        return Shapes.list(dx);
    }

    /** The output's global box from the context; the full box of the local shape when the context gives none. */
    private static Box box(KernelContext ctx, NDArray x) {
        Box box = ctx == null || ctx.outputBoxes().isEmpty() ? Box.full(x.shape()) : ctx.outputBoxes().get(0);
        if (!Arrays.equals(box.shape(), x.shape()) || x.shape().length < 2) {
            throw new IllegalArgumentException(NAME + ": the output box " + box + " does not fit the local input "
                    + Arrays.toString(x.shape()) + "; expected a box of the input's shape with at least 2 dims");
        }
        return box;
    }

    /** {@code dst = src} where kept, {@code fill} where masked, over the global region {@code box}. */
    private static void apply(Box box, double[] src, double[] dst, double fill) {
        long[] shape = box.shape();
        int r = shape.length;
        int rows = Math.toIntExact(shape[r - 2]);
        int cols = Math.toIntExact(shape[r - 1]);
        long row0 = box.start(r - 2);
        long col0 = box.start(r - 1);
        int plane = rows * cols;
        for (int base = 0; base < dst.length; base += plane) {
            for (int i = 0; i < rows; i++) {
                long qi = row0 + i;
                int at = base + i * cols;
                for (int j = 0; j < cols; j++) {
                    dst[at + j] = col0 + j > qi ? fill : src[at + j];
                }
            }
        }
    }
}
