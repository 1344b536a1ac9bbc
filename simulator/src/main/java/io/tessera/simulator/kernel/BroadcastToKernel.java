package io.tessera.simulator.kernel;

import io.tessera.layout.Box;
import io.tessera.planner.op.BroadcastTo;
import io.tessera.simulator.array.NDArray;

import java.util.Arrays;
import java.util.List;

/**
 * The numeric kernel of {@link BroadcastTo}: the local x repeated along its size-1 dimensions to the local output's
 * shape (the output box of the context; the operator's shape on one device). The backward sums the output gradient
 * over the repeated dimensions; where the planner split such a dimension that sum is partial and the plan's
 * AllReduce completes it.
 */
public final class BroadcastToKernel {

    private static final String NAME = "BroadcastToKernel";

    private BroadcastToKernel() {
    }

    /** x repeated to the local output shape. */
    public static List<NDArray> forward(BroadcastTo op, KernelContext ctx, List<NDArray> inputs) {
        Shapes.checkInputs(NAME, inputs, 1);
        NDArray x = inputs.get(0);
        long[] shape = localShape(op, ctx, x.shape());
        NDArray out = NDArray.zeros(shape);
        double[] src = x.data();
        double[] dst = out.data();
        if (dst.length == 0) {
            return List.of(out);
        }
        Shapes.Cursor c = new Shapes.Cursor(shape, Shapes.strides(shape), Shapes.broadcastStrides(x.shape(), shape));
        int len = c.rowLength();
        int step = c.innerStride(1);
        do {
            int d = c.offset(0);
            int s = c.offset(1);
            for (int j = 0; j < len; j++) {
                dst[d + j] = src[s + j * step];
            }
        } while (c.next());
        return List.of(out);
    }

    /** x's gradient (null when not needed): the output gradient summed over the repeated dimensions. */
    public static List<NDArray> backward(BroadcastTo op, KernelContext ctx, List<NDArray> inputs,
                                         List<NDArray> outputs, List<NDArray> outputGrads, boolean[] needsGrad) {
        Shapes.checkBackward(NAME, inputs, 1, outputGrads, 1, needsGrad);
        NDArray x = inputs.get(0);
        if (!needsGrad[0]) {
            return Shapes.list((NDArray) null);
        }
        NDArray g = Shapes.outputGrad(NAME, outputGrads, 0, localShape(op, ctx, x.shape()));
        if (g == null) {
            return Shapes.list(NDArray.zeros(x.shape()));
        }
        NDArray dx = Shapes.sumTo(g, x.shape());
        return Shapes.list(dx == g ? g.copy() : dx);
    }

    /** The local output shape: the context's output box, else the operator's shape; checked against x. */
    private static long[] localShape(BroadcastTo op, KernelContext ctx, long[] x) {
        Box box = ctx == null || ctx.outputBoxes().isEmpty() ? null : ctx.outputBoxes().get(0);
        long[] shape = box == null ? op.shape() : box.shape();
        boolean fits = shape.length == x.length;
        for (int d = 0; fits && d < x.length; d++) {
            fits = x[d] == shape[d] || x[d] == 1;
        }
        if (!fits) {
            throw new IllegalArgumentException(NAME + ": x " + Arrays.toString(x) + " does not broadcast to the local"
                    + " output " + Arrays.toString(shape) + "; expected the same rank with each size equal or 1");
        }
        return shape;
    }
}
