package io.tessera.simulator.kernel;

import io.tessera.planner.op.Conv2D;
import io.tessera.simulator.array.NDArray;

import java.util.Arrays;
import java.util.List;

/**
 * The numeric kernel of {@link Conv2D} in NCHW: x {@code (N, Ci, H, W)}, weight {@code (Co, Ci / group, kh, kw)},
 * with stride, padding {@code (top, bottom, left, right)}, dilation and groups; direct loops. On a slice whose C-in
 * is split the output is the partial sum over the local channels (AllReduced by the simulator); an H or W split is
 * only planned when each rank's output rows read only its own input rows, so the local output size follows from the
 * local input. Backward gives the gradients of x and of the weight.
 */
public final class Conv2DKernel {

    private Conv2DKernel() {
    }

    /** Sizes of one call. */
    private record Geometry(int n, int ci, int h, int w, int co, int cig, int cog, int groups, int kh, int kw,
                            int sh, int sw, int pt, int pl, int dh, int dw, int ho, int wo) {
    }

    private static Geometry geometry(Conv2D op, NDArray x, NDArray w) {
        if (x.ndim() != 4 || w.ndim() != 4) {
            throw new IllegalArgumentException("Conv2DKernel: x " + Arrays.toString(x.shape()) + " and weight "
                    + Arrays.toString(w.shape()) + " must both have 4 dims (NCHW and (Co, Ci / group, kh, kw))");
        }
        int groups = op.group();
        int ci = Math.toIntExact(x.dim(1));
        int cig = Math.toIntExact(w.dim(1));
        int co = Math.toIntExact(w.dim(0));
        int[] k = op.kernel();
        if (cig * groups != ci || co % groups != 0 || w.dim(2) != k[0] || w.dim(3) != k[1]) {
            throw new IllegalArgumentException("Conv2DKernel: local x " + Arrays.toString(x.shape()) + " and weight "
                    + Arrays.toString(w.shape()) + " do not fit group " + groups + " and kernel "
                    + Arrays.toString(k));
        }
        int[] s = op.stride();
        int[] p = op.pad();
        int[] d = op.dilation();
        int h = Math.toIntExact(x.dim(2));
        int wd = Math.toIntExact(x.dim(3));
        int ho = outSize(h, p[0] + p[1], d[0] * (k[0] - 1) + 1, s[0]);
        int wo = outSize(wd, p[2] + p[3], d[1] * (k[1] - 1) + 1, s[1]);
        return new Geometry(Math.toIntExact(x.dim(0)), ci, h, wd, co, cig, co / groups, groups, k[0], k[1], s[0],
                s[1], p[0], p[2], d[0], d[1], ho, wo);
    }

    private static int outSize(int in, int pad, int effective, int stride) {
        int padded = in + pad - effective;
        return padded < 0 ? 0 : padded / stride + 1;
    }

    /** The (partial, when C-in is split) convolution of the local x (input 0) with the local weight (input 1). */
    public static List<NDArray> forward(Conv2D op, KernelContext ctx, List<NDArray> inputs) {
        NDArray x = inputs.get(0);
        NDArray w = inputs.get(1);
        Geometry g = geometry(op, x, w);
        NDArray y = NDArray.zeros(g.n(), g.co(), g.ho(), g.wo());
        double[] xs = x.data();
        double[] ws = w.data();
        double[] ys = y.data();
        for (int b = 0; b < g.n(); b++) {
            for (int oc = 0; oc < g.co(); oc++) {
                int grp = oc / g.cog();
                int yBase = (b * g.co() + oc) * g.ho() * g.wo();
                for (int c = 0; c < g.cig(); c++) {
                    int xBase = (b * g.ci() + grp * g.cig() + c) * g.h() * g.w();
                    int wBase = (oc * g.cig() + c) * g.kh() * g.kw();
                    for (int i = 0; i < g.kh(); i++) {
                        for (int j = 0; j < g.kw(); j++) {
                            double wv = ws[wBase + i * g.kw() + j];
                            for (int oh = 0; oh < g.ho(); oh++) {
                                int ih = oh * g.sh() - g.pt() + i * g.dh();
                                if (ih < 0 || ih >= g.h()) {
                                    continue;
                                }
                                int xRow = xBase + ih * g.w();
                                int yRow = yBase + oh * g.wo();
                                for (int ow = 0; ow < g.wo(); ow++) {
                                    int iw = ow * g.sw() - g.pl() + j * g.dw();
                                    if (iw >= 0 && iw < g.w()) {
                                        ys[yRow + ow] += wv * xs[xRow + iw];
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        return List.of(y);
    }

    /** Gradients of x and of the weight (null where not needed; zeros for a null output gradient). */
    public static List<NDArray> backward(Conv2D op, KernelContext ctx, List<NDArray> inputs, List<NDArray> outputs,
                                         List<NDArray> outputGrads, boolean[] needsGrad) {
        NDArray x = inputs.get(0);
        NDArray w = inputs.get(1);
        Geometry g = geometry(op, x, w);
        NDArray dx = needsGrad[0] ? NDArray.zeros(x.shape()) : null;
        NDArray dw = needsGrad[1] ? NDArray.zeros(w.shape()) : null;
        NDArray dy = outputGrads == null || outputGrads.isEmpty() ? null : outputGrads.get(0);
        if (dy == null || (dx == null && dw == null)) {
            return Arrays.asList(dx, dw);
        }
        long[] expected = {g.n(), g.co(), g.ho(), g.wo()};
        if (!Arrays.equals(dy.shape(), expected)) {
            throw new IllegalArgumentException("Conv2DKernel: the output gradient " + Arrays.toString(dy.shape())
                    + " does not match the local output " + Arrays.toString(expected));
        }
        double[] xs = x.data();
        double[] ws = w.data();
        double[] ds = dy.data();
        double[] dxs = dx == null ? null : dx.data();
        double[] dws = dw == null ? null : dw.data();
        for (int b = 0; b < g.n(); b++) {
            for (int oc = 0; oc < g.co(); oc++) {
                int grp = oc / g.cog();
                int yBase = (b * g.co() + oc) * g.ho() * g.wo();
                for (int c = 0; c < g.cig(); c++) {
                    int xBase = (b * g.ci() + grp * g.cig() + c) * g.h() * g.w();
                    int wBase = (oc * g.cig() + c) * g.kh() * g.kw();
                    for (int i = 0; i < g.kh(); i++) {
                        for (int j = 0; j < g.kw(); j++) {
                            int wi = wBase + i * g.kw() + j;
                            double wv = ws[wi];
                            double acc = 0;
                            for (int oh = 0; oh < g.ho(); oh++) {
                                int ih = oh * g.sh() - g.pt() + i * g.dh();
                                if (ih < 0 || ih >= g.h()) {
                                    continue;
                                }
                                int xRow = xBase + ih * g.w();
                                int yRow = yBase + oh * g.wo();
                                for (int ow = 0; ow < g.wo(); ow++) {
                                    int iw = ow * g.sw() - g.pl() + j * g.dw();
                                    if (iw >= 0 && iw < g.w()) {
                                        double d = ds[yRow + ow];
                                        acc += d * xs[xRow + iw];
                                        if (dxs != null) {
                                            dxs[xRow + iw] += d * wv;
                                        }
                                    }
                                }
                            }
                            if (dws != null) {
                                dws[wi] += acc;
                            }
                        }
                    }
                }
            }
        }
        return Arrays.asList(dx, dw);
    }
}
