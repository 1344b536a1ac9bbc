package io.tessera.simulator.kernel;

import io.tessera.planner.op.MoeCombine;
import io.tessera.planner.op.MoeSlots;
import io.tessera.simulator.array.NDArray;

import java.util.Arrays;
import java.util.List;

/**
 * The numeric kernel of {@link MoeCombine}: each local token's output is the weighted sum of its kept slots' expert
 * rows, the slots recomputed by {@link MoeSlots} exactly as the dispatch assigned them. The backward scatters the
 * weights times y's gradient to the slots (expert_out's gradient) and dots y's gradient with each slot's expert row
 * (the weights' gradient, 0 for a dropped slot).
 */
public final class MoeCombineKernel {

    private static final String NAME = "MoeCombineKernel";

    private MoeCombineKernel() {
    }

    /** The local {@code y [T_local, h_local]}. */
    public static List<NDArray> forward(MoeCombine op, KernelContext ctx, List<NDArray> inputs) {
        Shapes.checkInputs(NAME, inputs, 3);
        Geometry g = geometry(op, ctx, inputs);
        NDArray y = NDArray.zeros(g.r.tokens(), g.h);
        double[] eo = inputs.get(0).data();
        double[] w = inputs.get(2).data();
        double[] out = y.data();
        for (int t = 0; t < g.r.tokens(); t++) {
            for (int j = 0; j < g.r.k(); j++) {
                int row = g.r.row(t, j);
                double wt = w[t * g.r.k() + j];
                for (int c = 0; row >= 0 && c < g.h; c++) {
                    out[t * g.h + c] += wt * eo[row * g.h + c];
                }
            }
        }
        return List.of(y);
    }

    /** The gradients of expert_out and the weights (null where not needed); the indices get none. */
    public static List<NDArray> backward(MoeCombine op, KernelContext ctx, List<NDArray> inputs,
                                         List<NDArray> outputs, List<NDArray> outputGrads, boolean[] needsGrad) {
        Shapes.checkBackward(NAME, inputs, 3, outputGrads, 1, needsGrad);
        if (!needsGrad[0] && !needsGrad[2]) {
            return Shapes.list(null, null, null);
        }
        Geometry g = geometry(op, ctx, inputs);
        NDArray deo = needsGrad[0] ? NDArray.zeros(inputs.get(0).shape()) : null;
        NDArray dw = needsGrad[2] ? NDArray.zeros(inputs.get(2).shape()) : null;
        NDArray dy = Shapes.outputGrad(NAME, outputGrads, 0, new long[] {g.r.tokens(), g.h});
        if (dy != null) {
            double[] eo = inputs.get(0).data();
            double[] w = inputs.get(2).data();
            double[] gy = dy.data();
            for (int t = 0; t < g.r.tokens(); t++) {
                for (int j = 0; j < g.r.k(); j++) {
                    int row = g.r.row(t, j);
                    if (row < 0) {
                        continue;
                    }
                    double wt = w[t * g.r.k() + j];
                    double dot = 0;
                    for (int c = 0; c < g.h; c++) {
                        dot += gy[t * g.h + c] * eo[row * g.h + c];
                        if (deo != null) {
                            deo.data()[row * g.h + c] += wt * gy[t * g.h + c];
                        }
                    }
                    if (dw != null) {
                        dw.data()[t * g.r.k() + j] = dot;
                    }
                }
            }
        }
        return Shapes.list(deo, null, dw);
    }

    /** The routing and the local hidden size, with the inputs' shapes checked against it. */
    private record Geometry(MoeDispatchKernel.Routing r, int h) {
    }

    private static Geometry geometry(MoeCombine op, KernelContext ctx, List<NDArray> inputs) {
        NDArray indices = inputs.get(1);
        MoeDispatchKernel.Routing r = MoeDispatchKernel.Routing.of(NAME, op.experts(), op.capacityFactor(),
                op.groups(), indices, ctx.globalDim(1, 0, indices.dim(0)));
        NDArray eo = inputs.get(0);
        long h = eo.ndim() == 4 ? eo.dim(3) : -1;
        if (!Arrays.equals(eo.shape(), r.bufferShape(h))) {
            throw new IllegalArgumentException(NAME + ": expert_out " + Arrays.toString(eo.shape()) + " is not the "
                    + "local buffer " + Arrays.toString(r.bufferShape(Math.max(h, 0))) + " of the indices; expected"
                    + " the dispatch's [groups, experts, capacity, hidden] slice");
        }
        if (!Arrays.equals(inputs.get(2).shape(), indices.shape())) {
            throw new IllegalArgumentException(NAME + ": weights " + Arrays.toString(inputs.get(2).shape())
                    + " do not match indices " + Arrays.toString(indices.shape()) + "; expected one weight per (token,"
                    + " slot)");
        }
        return new Geometry(r, Math.toIntExact(h));
    }
}
