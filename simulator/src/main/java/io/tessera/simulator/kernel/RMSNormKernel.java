package io.tessera.simulator.kernel;

import io.tessera.planner.op.RMSNorm;
import io.tessera.simulator.array.NDArray;

import java.util.Arrays;
import java.util.List;

/**
 * The numeric kernel of {@link RMSNorm}: each row of x (its last dimension) is divided by its root mean square,
 * {@code rstd = 1 / sqrt(mean(x^2) + eps)}, and scaled by weight. Outputs y and rstd (last dimension kept as size 1).
 * The last dimension is never split, so every local slice holds whole rows; weight's gradient is partial when x's
 * leading dimensions are split and is summed by the simulator.
 */
public final class RMSNormKernel {

    private static final String NAME = "RMSNormKernel";

    private RMSNormKernel() {
    }

    /** The row length (x's last dim), checking x's rank and weight's size. */
    private static int rowLength(NDArray x, NDArray weight) {
        if (x.ndim() == 0) {
            throw new IllegalArgumentException(NAME + ": x is a scalar; expected at least one dimension (the last one"
                    + " is normalised)");
        }
        long n = x.dim(x.ndim() - 1);
        if (weight.ndim() != 1 || weight.size() != n) {
            throw new IllegalArgumentException(NAME + ": weight " + Arrays.toString(weight.shape()) + " does not match x "
                    + Arrays.toString(x.shape()) + "; expected [" + n + "] (x's last dim)");
        }
        return Math.toIntExact(n);
    }

    /** Per row {@code 1 / sqrt(mean(x^2) + eps)}. */
    private static double[] rstd(NDArray x, int n, double eps) {
        double[] xs = x.data();
        int rows = n == 0 ? 0 : xs.length / n;
        double[] out = new double[rows];
        for (int r = 0; r < rows; r++) {
            double s = 0;
            for (int i = r * n; i < (r + 1) * n; i++) {
                s += xs[i] * xs[i];
            }
            out[r] = 1 / Math.sqrt(s / n + eps);
        }
        return out;
    }

    /** Outputs y and rstd of the local x (inputs x, weight). */
    public static List<NDArray> forward(RMSNorm op, KernelContext ctx, List<NDArray> inputs) {
        Shapes.checkInputs(NAME, inputs, 2);
        NDArray x = inputs.get(0);
        NDArray weight = inputs.get(1);
        int n = rowLength(x, weight);
        double[] rstd = rstd(x, n, op.eps());
        double[] xs = x.data();
        double[] ws = weight.data();
        NDArray y = NDArray.zeros(x.shape());
        double[] ys = y.data();
        for (int r = 0; r < rstd.length; r++) {
            for (int i = 0; i < n; i++) {
                int k = r * n + i;
                ys[k] = xs[k] * rstd[r] * ws[i];
            }
        }
        long[] s = x.shape();
        s[s.length - 1] = 1;
        return List.of(y, NDArray.of(s, rstd));
    }

    /**
     * Gradients of x and weight (null where {@code needsGrad[i]} is false) from the gradients of y and rstd (a null
     * entry means zeros): with {@code g = dy * weight} and {@code xhat = x * rstd},
     * {@code dx = rstd (g - xhat mean(g xhat)) - drstd rstd^3 x / n} and {@code dweight = sum over rows of dy xhat}.
     * rstd is recomputed from x; {@code outputs} is not read.
     */
    public static List<NDArray> backward(RMSNorm op, KernelContext ctx, List<NDArray> inputs, List<NDArray> outputs,
                                         List<NDArray> outputGrads, boolean[] needsGrad) {
        Shapes.checkBackward(NAME, inputs, 2, outputGrads, 2, needsGrad);
        NDArray x = inputs.get(0);
        NDArray weight = inputs.get(1);
        int n = rowLength(x, weight);
        double[] rstd = rstd(x, n, op.eps());
        long[] statsShape = x.shape();
        statsShape[statsShape.length - 1] = 1;
        NDArray dyArray = Shapes.outputGrad(NAME, outputGrads, 0, x.shape());
        NDArray drArray = Shapes.outputGrad(NAME, outputGrads, 1, statsShape);
        double[] dy = dyArray == null ? null : dyArray.data();
        double[] dr = drArray == null ? null : drArray.data();
        double[] xs = x.data();
        double[] ws = weight.data();
        NDArray dx = needsGrad[0] ? NDArray.zeros(x.shape()) : null;
        NDArray dw = needsGrad[1] ? NDArray.zeros(weight.shape()) : null;
        for (int r = 0; r < rstd.length; r++) {
            double rs = rstd[r];
            int base = r * n;
            double sumGXhat = 0;
            if (dy != null) {
                for (int i = 0; i < n; i++) {
                    int k = base + i;
                    double xhat = xs[k] * rs;
                    sumGXhat += dy[k] * ws[i] * xhat;
                    if (dw != null) {
                        dw.data()[i] += dy[k] * xhat;
                    }
                }
            }
            if (dx == null) {
                continue;
            }
            double[] dxs = dx.data();
            double statTerm = dr == null ? 0 : -dr[r] * rs * rs * rs / n;
            for (int i = 0; i < n; i++) {
                int k = base + i;
                double v = 0;
                if (dr != null) {
                    v += statTerm * xs[k];
                }
                if (dy != null) {
                    v += rs * (dy[k] * ws[i] - xs[k] * rs * sumGXhat / n);
                }
                dxs[k] = v;
            }
        }
        return Shapes.list(dx, dw);
    }
}
