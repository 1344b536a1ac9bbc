package io.tessera.simulator.kernel;

import io.tessera.planner.op.Gather;
import io.tessera.simulator.array.NDArray;

import java.util.Arrays;
import java.util.List;

/**
 * The numeric kernel of {@link Gather}: {@code out = params[:axis] + indices.shape + params[axis+1:]}. The local table
 * covers rows {@code [start, end)} of the gather axis, as given by {@code ctx.inputBoxes().get(0)} (the whole axis
 * on one device); an index outside that range produces zeros (the masked lookup of a row-split table, completed by
 * the simulator's AllReduce sum). Backward scatter-adds the output gradient into the local rows; the indices get no
 * gradient.
 */
public final class GatherKernel {

    private GatherKernel() {
    }

    /** The table viewed as (outer, rows, inner) around the axis, and the global row range of the local table. */
    private record Geometry(int axis, int outer, int rows, int inner, long start) {
    }

    private static Geometry geometry(Gather op, KernelContext ctx, NDArray params) {
        int rank = params.ndim();
        int axis = op.axis();
        if (axis < -rank || axis >= rank) {
            throw new IllegalArgumentException("GatherKernel: axis " + axis + " is out of range for the table "
                    + Arrays.toString(params.shape()) + "; expected " + (-rank) + ".." + (rank - 1));
        }
        int ax = axis < 0 ? axis + rank : axis;
        int outer = 1;
        for (int d = 0; d < ax; d++) {
            outer = Math.multiplyExact(outer, Math.toIntExact(params.dim(d)));
        }
        int inner = 1;
        for (int d = ax + 1; d < rank; d++) {
            inner = Math.multiplyExact(inner, Math.toIntExact(params.dim(d)));
        }
        long start = 0;
        if (ctx != null && !ctx.inputBoxes().isEmpty()) {
            var box = ctx.inputBoxes().get(0);
            if (box.rank() != rank || box.extent(ax) != params.dim(ax)) {
                throw new IllegalArgumentException("GatherKernel: the table box " + box + " does not match the local "
                        + "table " + Arrays.toString(params.shape()));
            }
            start = box.start(ax);
        }
        return new Geometry(ax, outer, Math.toIntExact(params.dim(ax)), inner, start);
    }

    private static long[] outputShape(Geometry g, NDArray params, NDArray indices) {
        long[] p = params.shape();
        long[] i = indices.shape();
        long[] out = new long[p.length - 1 + i.length];
        System.arraycopy(p, 0, out, 0, g.axis());
        System.arraycopy(i, 0, out, g.axis(), i.length);
        System.arraycopy(p, g.axis() + 1, out, g.axis() + i.length, p.length - g.axis() - 1);
        return out;
    }

    /** Local row of index value {@code v}, or -1 when the local table does not hold it. */
    private static int localRow(Geometry g, double v) {
        long row = (long) Math.floor(v) - g.start();
        return row >= 0 && row < g.rows() ? (int) row : -1;
    }

    /** The masked lookup of the indices (input 1) in the local table (input 0). */
    public static List<NDArray> forward(Gather op, KernelContext ctx, List<NDArray> inputs) {
        NDArray params = inputs.get(0);
        NDArray indices = inputs.get(1);
        Geometry g = geometry(op, ctx, params);
        NDArray out = NDArray.zeros(outputShape(g, params, indices));
        double[] src = params.data();
        double[] dst = out.data();
        double[] idx = indices.data();
        int n = idx.length;
        int inner = g.inner();
        for (int o = 0; o < g.outer(); o++) {
            for (int k = 0; k < n; k++) {
                int row = localRow(g, idx[k]);
                if (row >= 0) {
                    System.arraycopy(src, (o * g.rows() + row) * inner, dst, (o * n + k) * inner, inner);
                }
            }
        }
        return List.of(out);
    }

    /** The table's gradient: the output gradient scatter-added into the local rows; null for the indices. */
    public static List<NDArray> backward(Gather op, KernelContext ctx, List<NDArray> inputs, List<NDArray> outputs,
                                         List<NDArray> outputGrads, boolean[] needsGrad) {
        NDArray params = inputs.get(0);
        if (!needsGrad[0]) {
            return Arrays.asList(null, null);
        }
        NDArray grad = NDArray.zeros(params.shape());
        NDArray dy = outputGrads == null || outputGrads.isEmpty() ? null : outputGrads.get(0);
        if (dy == null) {
            return Arrays.asList(grad, null);
        }
        NDArray indices = inputs.get(1);
        Geometry g = geometry(op, ctx, params);
        double[] dst = grad.data();
        double[] src = dy.data();
        double[] idx = indices.data();
        int n = idx.length;
        int inner = g.inner();
        if (src.length != g.outer() * n * inner) {
            throw new IllegalArgumentException("GatherKernel: the output gradient " + Arrays.toString(dy.shape())
                    + " does not match the output " + Arrays.toString(outputShape(g, params, indices)));
        }
        for (int o = 0; o < g.outer(); o++) {
            for (int k = 0; k < n; k++) {
                int row = localRow(g, idx[k]);
                if (row >= 0) {
                    int to = (o * g.rows() + row) * inner;
                    int from = (o * n + k) * inner;
                    for (int j = 0; j < inner; j++) {
                        dst[to + j] += src[from + j];
                    }
                }
            }
        }
        return Arrays.asList(grad, null);
    }
}
