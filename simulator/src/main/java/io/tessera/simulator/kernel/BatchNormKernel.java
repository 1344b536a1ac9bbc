package io.tessera.simulator.kernel;

import io.tessera.planner.op.BatchNorm;
import io.tessera.simulator.array.NDArray;

import java.util.Arrays;
import java.util.List;

/**
 * The numeric kernel of {@link BatchNorm} in training mode: per channel (dimension 1) statistics over every other
 * dimension, biased variance plus epsilon, then scale and bias. When N or a spatial dimension is split each rank sees
 * part of the batch, so the kernel is exposed in phases: {@link #statistics} (partial sums the simulator AllReduces),
 * {@link #normalize} (with the global sums), and backward {@link #gradStatistics} (partial, AllReduced) then
 * {@link #backwardApply}. {@link #forward} and {@link #backward} chain the phases with local statistics (one device).
 */
public final class BatchNormKernel {

    private BatchNormKernel() {
    }

    /** x viewed as (outer N, channels C, inner spatial S). */
    private record Geometry(int n, int c, int s) {
    }

    private static Geometry geometry(NDArray x) {
        if (x.ndim() < 2) {
            throw new IllegalArgumentException("BatchNormKernel: x " + Arrays.toString(x.shape())
                    + " has fewer than 2 dims; expected (N, C, ...)");
        }
        int c = Math.toIntExact(x.dim(1));
        int n = Math.toIntExact(x.dim(0));
        int s = 1;
        for (int d = 2; d < x.ndim(); d++) {
            s = Math.multiplyExact(s, Math.toIntExact(x.dim(d)));
        }
        return new Geometry(n, c, s);
    }

    private static void checkChannels(Geometry g, NDArray a, String what, int rows) {
        if (a.size() != rows * g.c()) {
            throw new IllegalArgumentException("BatchNormKernel: " + what + " " + Arrays.toString(a.shape())
                    + " does not fit " + g.c() + " local channels; expected " + rows * g.c() + " values");
        }
    }

    /** Per channel {@code [sum(x), sum(x^2), count]} of the local x, shape {@code (3, C_local)}. */
    public static NDArray statistics(NDArray x) {
        Geometry g = geometry(x);
        NDArray out = NDArray.zeros(3, g.c());
        double[] o = out.data();
        double[] xs = x.data();
        for (int b = 0; b < g.n(); b++) {
            for (int ch = 0; ch < g.c(); ch++) {
                int base = (b * g.c() + ch) * g.s();
                double s = 0;
                double q = 0;
                for (int i = 0; i < g.s(); i++) {
                    double v = xs[base + i];
                    s += v;
                    q += v * v;
                }
                o[ch] += s;
                o[g.c() + ch] += q;
            }
        }
        double count = (double) g.n() * g.s();
        for (int ch = 0; ch < g.c(); ch++) {
            o[2 * g.c() + ch] = count;
        }
        return out;
    }

    /** Per channel mean and reciprocal standard deviation from {@code [sum, sum of squares, count]}. */
    private static double[][] meanRstd(BatchNorm op, Geometry g, NDArray stats) {
        checkChannels(g, stats, "statistics", 3);
        double[] st = stats.data();
        double[] mean = new double[g.c()];
        double[] rstd = new double[g.c()];
        for (int ch = 0; ch < g.c(); ch++) {
            double count = st[2 * g.c() + ch];
            double m = st[ch] / count;
            double var = Math.max(st[g.c() + ch] / count - m * m, 0);
            mean[ch] = m;
            rstd[ch] = 1 / Math.sqrt(var + op.epsilon());
        }
        return new double[][] {mean, rstd};
    }

    /** y of the local x normalised with the (global) statistics {@code [sum, sum of squares, count]} per channel. */
    public static NDArray normalize(BatchNorm op, NDArray x, NDArray scale, NDArray bias, NDArray globalStats) {
        Geometry g = geometry(x);
        checkChannels(g, scale, "scale", 1);
        checkChannels(g, bias, "bias", 1);
        double[][] mr = meanRstd(op, g, globalStats);
        double[] xs = x.data();
        NDArray y = NDArray.zeros(x.shape());
        double[] ys = y.data();
        for (int b = 0; b < g.n(); b++) {
            for (int ch = 0; ch < g.c(); ch++) {
                double a = mr[1][ch] * scale.get(ch);
                double shift = bias.get(ch) - mr[0][ch] * a;
                int base = (b * g.c() + ch) * g.s();
                for (int i = 0; i < g.s(); i++) {
                    ys[base + i] = xs[base + i] * a + shift;
                }
            }
        }
        return y;
    }

    /**
     * Per channel gradient statistics of the local slice, shape {@code (2, C_local)}: row 0 is {@code sum(dy)}, row 1
     * is {@code sum(dy * (x - mean))} with the (global) forward mean, which is {@code sum(dy * x_hat) / rstd}: the
     * signature carries no epsilon, and rstd is one factor per channel on every rank, so these sums AllReduce exactly
     * like {@code sum(dy * x_hat)}; {@link #backwardApply} applies rstd.
     */
    public static NDArray gradStatistics(NDArray x, NDArray dy, NDArray globalStats) {
        Geometry g = geometry(x);
        checkSameShape(x, dy);
        checkChannels(g, globalStats, "statistics", 3);
        double[] st = globalStats.data();
        NDArray out = NDArray.zeros(2, g.c());
        double[] o = out.data();
        double[] xs = x.data();
        double[] ds = dy.data();
        for (int b = 0; b < g.n(); b++) {
            for (int ch = 0; ch < g.c(); ch++) {
                double mean = st[ch] / st[2 * g.c() + ch];
                int base = (b * g.c() + ch) * g.s();
                double s = 0;
                double sx = 0;
                for (int i = 0; i < g.s(); i++) {
                    s += ds[base + i];
                    sx += ds[base + i] * (xs[base + i] - mean);
                }
                o[ch] += s;
                o[g.c() + ch] += sx;
            }
        }
        return out;
    }

    private static void checkSameShape(NDArray x, NDArray dy) {
        if (!Arrays.equals(x.shape(), dy.shape())) {
            throw new IllegalArgumentException("BatchNormKernel: dy " + Arrays.toString(dy.shape())
                    + " does not match x " + Arrays.toString(x.shape()));
        }
    }

    /**
     * Gradients of x, scale, bias, mean and variance (the last two always null; others null where not needed).
     * x's gradient uses the global statistics and gradient statistics; scale's and bias's gradients are the local
     * sums {@code sum(dy * x_hat)} and {@code sum(dy)}, partial when the batch is split (summed by the simulator).
     */
    public static List<NDArray> backwardApply(BatchNorm op, NDArray x, NDArray dy, NDArray scale, NDArray globalStats,
                                              NDArray globalGradStats, boolean[] needsGrad) {
        Geometry g = geometry(x);
        checkSameShape(x, dy);
        checkChannels(g, scale, "scale", 1);
        checkChannels(g, globalGradStats, "gradient statistics", 2);
        double[][] mr = meanRstd(op, g, globalStats);
        double[] st = globalStats.data();
        double[] gst = globalGradStats.data();
        double[] xs = x.data();
        double[] ds = dy.data();
        NDArray dx = needsGrad.length > 0 && needsGrad[0] ? NDArray.zeros(x.shape()) : null;
        NDArray dscale = needsGrad.length > 1 && needsGrad[1] ? NDArray.zeros(g.c()) : null;
        NDArray dbias = needsGrad.length > 2 && needsGrad[2] ? NDArray.zeros(g.c()) : null;
        for (int ch = 0; ch < g.c(); ch++) {
            double mean = mr[0][ch];
            double rstd = mr[1][ch];
            double count = st[2 * g.c() + ch];
            double sumDy = gst[ch] / count;
            double sumDyXhat = rstd * gst[g.c() + ch] / count;
            double a = scale.get(ch) * rstd;
            double localDy = 0;
            double localDyXhat = 0;
            for (int b = 0; b < g.n(); b++) {
                int base = (b * g.c() + ch) * g.s();
                for (int i = 0; i < g.s(); i++) {
                    int k = base + i;
                    double xhat = (xs[k] - mean) * rstd;
                    localDy += ds[k];
                    localDyXhat += ds[k] * xhat;
                    if (dx != null) {
                        dx.data()[k] = a * (ds[k] - sumDy - xhat * sumDyXhat);
                    }
                }
            }
            if (dscale != null) {
                dscale.set(ch, localDyXhat);
            }
            if (dbias != null) {
                dbias.set(ch, localDy);
            }
        }
        return Arrays.asList(dx, dscale, dbias, null, null);
    }

    /** y of the local x with its local statistics (inputs x, scale, bias, mean, variance; mean and variance unused). */
    public static List<NDArray> forward(BatchNorm op, KernelContext ctx, List<NDArray> inputs) {
        NDArray x = inputs.get(0);
        return List.of(normalize(op, x, inputs.get(1), inputs.get(2), statistics(x)));
    }

    /** Gradients of x, scale and bias with local statistics (null for mean, variance and where not needed). */
    public static List<NDArray> backward(BatchNorm op, KernelContext ctx, List<NDArray> inputs, List<NDArray> outputs,
                                         List<NDArray> outputGrads, boolean[] needsGrad) {
        NDArray x = inputs.get(0);
        if (outputGrads == null || outputGrads.isEmpty() || outputGrads.get(0) == null) {
            long c = x.dim(1);
            return Arrays.asList(needsGrad[0] ? NDArray.zeros(x.shape()) : null,
                    needsGrad[1] ? NDArray.zeros(c) : null, needsGrad[2] ? NDArray.zeros(c) : null, null, null);
        }
        NDArray dy = outputGrads.get(0);
        NDArray stats = statistics(x);
        return backwardApply(op, x, dy, inputs.get(1), stats, gradStatistics(x, dy, stats), needsGrad);
    }
}
