package io.tessera.simulator.kernel;

import io.tessera.layout.DType;
import io.tessera.planner.op.Reduce;
import io.tessera.simulator.array.NDArray;

import java.util.Arrays;
import java.util.List;

/**
 * {@code ReduceSum}, {@code ReduceMean}, {@code ReduceMax}, {@code ReduceMin} over axes (none = all), dropping the
 * reduced dimensions or keeping them with size 1. On a slice whose reduced dimension is split, the result is partial:
 * MEAN divides by the LOCAL count of reduced elements (the simulator combines the equal-sized local means). The
 * MAX / MIN gradient goes, whole, to every position equal to the result.
 */
public final class ReduceKernel {

    private static final String NAME = "ReduceKernel";

    private ReduceKernel() {
    }

    /** The reduction of the input over {@code op.axes()}. */
    public static List<NDArray> forward(Reduce op, KernelContext ctx, List<NDArray> inputs) {
        Shapes.checkInputs(NAME, inputs, 1);
        NDArray x = inputs.get(0);
        boolean[] reduced = reduced(op, x.ndim());
        NDArray kept = reduceKeepDims(op.kind(), x, reduced);
        return List.of(kept.reshape(outShape(x.shape(), reduced, op.keepDims())));
    }

    /**
     * The input gradient: the output gradient broadcast back over the reduced dimensions (divided by the local count
     * for MEAN; only where the input equals the result for MAX / MIN).
     */
    public static List<NDArray> backward(Reduce op, KernelContext ctx, List<NDArray> inputs, List<NDArray> outputs,
                                         List<NDArray> outputGrads, boolean[] needsGrad) {
        Shapes.checkBackward(NAME, inputs, 1, outputGrads, 1, needsGrad);
        NDArray x = inputs.get(0);
        if (!needsGrad[0]) {
            return Shapes.list(Shapes.gradients(1));
        }
        long[] shape = x.shape();
        boolean[] reduced = reduced(op, shape.length);
        long[] keepShape = outShape(shape, reduced, true);
        NDArray g = Shapes.outputGrad(NAME, outputGrads, 0, outShape(shape, reduced, op.keepDims()));
        NDArray dx = NDArray.zeros(shape);
        if (g == null || dx.size() == 0) {
            return Shapes.list(dx);
        }
        double[] gd = g.data();
        double[] d = dx.data();
        double[] xd = x.data();
        Shapes.Cursor c = new Shapes.Cursor(shape, Shapes.strides(shape), Shapes.broadcastStrides(keepShape, shape));
        int len = c.rowLength();
        int step = c.innerStride(1);
        Reduce.Kind kind = op.kind();
        if (kind == Reduce.Kind.SUM || kind == Reduce.Kind.MEAN) {
            double scale = kind == Reduce.Kind.MEAN ? 1.0 / (x.size() / g.size()) : 1.0;
            do {
                int s = c.offset(0);
                int r = c.offset(1);
                for (int j = 0; j < len; j++) {
                    d[s + j] = gd[r + j * step] * scale;
                }
            } while (c.next());
        } else {
            // recomputed: a given output may be rounded to float32 and then match no input
            double[] yd = reduceKeepDims(kind, x, reduced).data();
            // with the reduced dims split, the given output is the extreme over every rank (after the forward
            // AllReduce): a local extreme that is not the global one receives no gradient
            double[] given = outputs == null || outputs.isEmpty() || outputs.get(0) == null ? null
                    : outputs.get(0).data();
            if (given != null && given.length != yd.length) {
                throw new IllegalArgumentException(NAME + ": output 0 has " + given.length + " elements; expected "
                        + yd.length + " (the reduced shape of input 0 " + Arrays.toString(shape)
                        + "); pass the forward's output");
            }
            DType dtype = ctx == null ? DType.FLOAT64 : ctx.dtype();
            boolean[] extreme = new boolean[yd.length];
            for (int k = 0; k < yd.length; k++) {
                extreme[k] = given == null || yd[k] == given[k]
                        || CastKernel.convert(yd[k], dtype) == CastKernel.convert(given[k], dtype);
            }
            do {
                int s = c.offset(0);
                int r = c.offset(1);
                for (int j = 0; j < len; j++) {
                    int o = r + j * step;
                    d[s + j] = xd[s + j] == yd[o] && extreme[o] ? gd[o] : 0;
                }
            } while (c.next());
        }
        return Shapes.list(dx);
    }

    /** Which dimensions of a rank-{@code rank} input {@code op} reduces. */
    static boolean[] reduced(Reduce op, int rank) {
        boolean[] r = new boolean[rank];
        int[] axes = op.axes();
        if (axes.length == 0) {
            Arrays.fill(r, true);
            return r;
        }
        for (int a : axes) {
            int d = Shapes.axis(NAME, a, rank);
            if (r[d]) {
                throw new IllegalArgumentException(NAME + ": axes " + Arrays.toString(axes) + " name dim " + d
                        + " twice");
            }
            r[d] = true;
        }
        return r;
    }

    /** The output shape: reduced dims dropped, or kept with size 1. */
    static long[] outShape(long[] shape, boolean[] reduced, boolean keepDims) {
        long[] out = new long[shape.length];
        int j = 0;
        for (int i = 0; i < shape.length; i++) {
            if (!reduced[i]) {
                out[j++] = shape[i];
            } else if (keepDims) {
                out[j++] = 1;
            }
        }
        return Arrays.copyOf(out, j);
    }

    /** The reduction with the reduced dims kept (size 1). */
    private static NDArray reduceKeepDims(Reduce.Kind kind, NDArray x, boolean[] reduced) {
        long[] shape = x.shape();
        long[] keepShape = outShape(shape, reduced, true);
        NDArray out = NDArray.zeros(keepShape);
        double[] o = out.data();
        double[] xd = x.data();
        if (xd.length == 0) {
            return out;
        }
        boolean max = kind == Reduce.Kind.MAX;
        boolean extreme = max || kind == Reduce.Kind.MIN;
        if (extreme) {
            Arrays.fill(o, max ? Double.NEGATIVE_INFINITY : Double.POSITIVE_INFINITY);
        }
        Shapes.Cursor c = new Shapes.Cursor(shape, Shapes.strides(shape), Shapes.broadcastStrides(keepShape, shape));
        int len = c.rowLength();
        int step = c.innerStride(1);
        do {
            int s = c.offset(0);
            int r = c.offset(1);
            if (!extreme) {
                if (step == 0) {
                    double acc = 0;
                    for (int j = 0; j < len; j++) {
                        acc += xd[s + j];
                    }
                    o[r] += acc;
                } else {
                    for (int j = 0; j < len; j++) {
                        o[r + j] += xd[s + j];
                    }
                }
            } else if (max) {
                for (int j = 0; j < len; j++) {
                    int k = r + j * step;
                    double v = xd[s + j];
                    if (v > o[k] || Double.isNaN(v)) {
                        o[k] = v;
                    }
                }
            } else {
                for (int j = 0; j < len; j++) {
                    int k = r + j * step;
                    double v = xd[s + j];
                    if (v < o[k] || Double.isNaN(v)) {
                        o[k] = v;
                    }
                }
            }
        } while (c.next());
        if (kind == Reduce.Kind.MEAN) {
            double inv = 1.0 / (xd.length / o.length);
            for (int i = 0; i < o.length; i++) {
                o[i] *= inv;
            }
        }
        return out;
    }
}
