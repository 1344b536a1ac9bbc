package io.tessera.simulator.kernel;

import io.tessera.planner.op.LayerNorm;
import io.tessera.simulator.array.NDArray;

import java.util.Arrays;
import java.util.List;

/**
 * The numeric kernel of {@link LayerNorm}: each row of x (the dimensions from {@code beginNormAxis} on) is normalised
 * with its mean and biased variance plus epsilon, then scaled by gamma and shifted by beta (both covering x's
 * dimensions from {@code beginParamsAxis} on). Outputs y, mean and variance (normalised dimensions kept as size 1).
 * The normalised dimensions are never split, so every local slice holds whole rows; gamma's and beta's gradients
 * are partial when x's leading dimensions are split and are summed by the simulator.
 */
public final class LayerNormKernel {

    private LayerNormKernel() {
    }

    /** Row geometry of one call: rows, row length and parameter length. */
    private record Geometry(int norm, int rows, int rowLength, int paramLength) {
    }

    private static Geometry geometry(LayerNorm op, NDArray x) {
        int r = x.ndim();
        int norm = normalise(op.beginNormAxis(), r, "begin_norm_axis");
        int params = normalise(op.beginParamsAxis(), r, "begin_params_axis");
        long rowLength = 1;
        for (int d = norm; d < r; d++) {
            rowLength *= x.dim(d);
        }
        long paramLength = 1;
        for (int d = params; d < r; d++) {
            paramLength *= x.dim(d);
        }
        int rows = rowLength == 0 ? 0 : Math.toIntExact(x.size() / rowLength);
        return new Geometry(norm, rows, Math.toIntExact(rowLength), Math.toIntExact(paramLength));
    }

    private static int normalise(int axis, int rank, String what) {
        if (axis < -rank || axis >= rank) {
            throw new IllegalArgumentException("LayerNormKernel: " + what + " " + axis + " is out of range for an "
                    + "input of " + rank + " dims; expected " + (-rank) + ".." + (rank - 1));
        }
        return axis < 0 ? axis + rank : axis;
    }

    private static void checkParams(NDArray x, NDArray p, Geometry g, String what) {
        if (p.size() != g.paramLength()) {
            throw new IllegalArgumentException("LayerNormKernel: " + what + " " + Arrays.toString(p.shape())
                    + " has " + p.size() + " elements; expected " + g.paramLength() + " (x " + Arrays.toString(
                    x.shape()) + " from begin_params_axis on)");
        }
    }

    private static long[] statsShape(NDArray x, int norm) {
        long[] s = x.shape();
        for (int d = norm; d < s.length; d++) {
            s[d] = 1;
        }
        return s;
    }

    /** Per row mean and biased variance of x. */
    private static double[][] moments(NDArray x, Geometry g) {
        double[] xs = x.data();
        double[] mean = new double[g.rows()];
        double[] var = new double[g.rows()];
        int n = g.rowLength();
        for (int r = 0; r < g.rows(); r++) {
            int base = r * n;
            double s = 0;
            for (int i = 0; i < n; i++) {
                s += xs[base + i];
            }
            double m = s / n;
            double v = 0;
            for (int i = 0; i < n; i++) {
                double c = xs[base + i] - m;
                v += c * c;
            }
            mean[r] = m;
            var[r] = v / n;
        }
        return new double[][] {mean, var};
    }

    /** Outputs y, mean and variance of the local x (inputs x, gamma, beta). */
    public static List<NDArray> forward(LayerNorm op, KernelContext ctx, List<NDArray> inputs) {
        NDArray x = inputs.get(0);
        NDArray gamma = inputs.get(1);
        NDArray beta = inputs.get(2);
        Geometry g = geometry(op, x);
        checkParams(x, gamma, g, "gamma");
        checkParams(x, beta, g, "beta");
        double[][] mv = moments(x, g);
        double[] xs = x.data();
        double[] gs = gamma.data();
        double[] bs = beta.data();
        NDArray y = NDArray.zeros(x.shape());
        double[] ys = y.data();
        int n = g.rowLength();
        int p = g.paramLength();
        for (int r = 0; r < g.rows(); r++) {
            double m = mv[0][r];
            double rstd = 1 / Math.sqrt(mv[1][r] + op.epsilon());
            int base = r * n;
            for (int i = 0; i < n; i++) {
                int k = base + i;
                int pi = k % p;
                ys[k] = (xs[k] - m) * rstd * gs[pi] + bs[pi];
            }
        }
        long[] s = statsShape(x, g.norm());
        return List.of(y, NDArray.of(s, mv[0]), NDArray.of(s, mv[1]));
    }

    /**
     * Gradients of x, gamma and beta (null where {@code needsGrad[i]} is false) from the gradients of y, mean and
     * variance (a null entry means zeros). The statistics are recomputed from x; {@code outputs} is not read.
     */
    public static List<NDArray> backward(LayerNorm op, KernelContext ctx, List<NDArray> inputs, List<NDArray> outputs,
                                         List<NDArray> outputGrads, boolean[] needsGrad) {
        NDArray x = inputs.get(0);
        NDArray gamma = inputs.get(1);
        Geometry g = geometry(op, x);
        checkParams(x, gamma, g, "gamma");
        double[][] mv = moments(x, g);
        double[] xs = x.data();
        double[] gs = gamma.data();
        double[] dy = grad(outputGrads, 0);
        double[] dmean = grad(outputGrads, 1);
        double[] dvar = grad(outputGrads, 2);
        int n = g.rowLength();
        int p = g.paramLength();
        NDArray dx = needsGrad[0] ? NDArray.zeros(x.shape()) : null;
        NDArray dgamma = needsGrad[1] ? NDArray.zeros(gamma.shape()) : null;
        NDArray dbeta = needsGrad[2] ? NDArray.zeros(inputs.get(2).shape()) : null;
        double[] xhat = new double[n];
        for (int r = 0; r < g.rows(); r++) {
            double m = mv[0][r];
            double rstd = 1 / Math.sqrt(mv[1][r] + op.epsilon());
            int base = r * n;
            double sumDxhat = 0;
            double sumDxhatXhat = 0;
            for (int i = 0; i < n; i++) {
                int k = base + i;
                xhat[i] = (xs[k] - m) * rstd;
                if (dy != null) {
                    double d = dy[k] * gs[k % p];
                    sumDxhat += d;
                    sumDxhatXhat += d * xhat[i];
                    if (dgamma != null) {
                        dgamma.data()[k % p] += dy[k] * xhat[i];
                    }
                    if (dbeta != null) {
                        dbeta.data()[k % p] += dy[k];
                    }
                }
            }
            if (dx == null) {
                continue;
            }
            double[] dxs = dx.data();
            double meanTerm = dmean == null ? 0 : dmean[r] / n;
            double varTerm = dvar == null ? 0 : 2 * dvar[r] / n;
            for (int i = 0; i < n; i++) {
                int k = base + i;
                double v = meanTerm + varTerm * (xs[k] - m);
                if (dy != null) {
                    v += rstd * (dy[k] * gs[k % p] - sumDxhat / n - xhat[i] * sumDxhatXhat / n);
                }
                dxs[k] = v;
            }
        }
        return Arrays.asList(dx, dgamma, dbeta);
    }

    private static double[] grad(List<NDArray> grads, int i) {
        if (grads == null || grads.size() <= i || grads.get(i) == null) {
            return null;
        }
        return grads.get(i).data();
    }
}
