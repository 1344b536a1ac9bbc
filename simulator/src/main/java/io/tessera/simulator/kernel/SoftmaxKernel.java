package io.tessera.simulator.kernel;

import io.tessera.planner.op.Softmax;
import io.tessera.simulator.array.NDArray;

import java.util.List;

/**
 * {@code Softmax} / {@code LogSoftmax} along one axis, numerically stable (the maximum along the axis is subtracted
 * before exponentiating). The axis must be whole in the local slice (the planner never splits it).
 */
public final class SoftmaxKernel {

    private static final String NAME = "SoftmaxKernel";

    private SoftmaxKernel() {
    }

    /** Softmax, or log-softmax when {@code op.log()}, along {@code op.axis()}. */
    public static List<NDArray> forward(Softmax op, KernelContext ctx, List<NDArray> inputs) {
        Shapes.checkInputs(NAME, inputs, 1);
        NDArray x = inputs.get(0);
        return List.of(compute(x, op.axis(), op.log()));
    }

    /**
     * The input gradient: {@code y (g - sum(g y))} for softmax, {@code g - softmax sum(g)} for log-softmax, the sums
     * along the axis. The output is recomputed from the input when not given.
     */
    public static List<NDArray> backward(Softmax op, KernelContext ctx, List<NDArray> inputs, List<NDArray> outputs,
                                         List<NDArray> outputGrads, boolean[] needsGrad) {
        Shapes.checkBackward(NAME, inputs, 1, outputGrads, 1, needsGrad);
        NDArray x = inputs.get(0);
        if (!needsGrad[0]) {
            return Shapes.list(Shapes.gradients(1));
        }
        NDArray g = Shapes.outputGrad(NAME, outputGrads, 0, x.shape());
        NDArray dx = NDArray.zeros(x.shape());
        if (g == null) {
            return Shapes.list(dx);
        }
        // recomputed in float64: a float32-rounded output would bias the gradient
        NDArray y = compute(x, op.axis(), op.log());
        int[] oli = split(x, op.axis());
        int outer = oli[0];
        int len = oli[1];
        int inner = oli[2];
        double[] yd = y.data();
        double[] gd = g.data();
        double[] d = dx.data();
        for (int o = 0; o < outer; o++) {
            for (int in = 0; in < inner; in++) {
                int base = o * len * inner + in;
                double sum = 0;
                for (int l = 0, i = base; l < len; l++, i += inner) {
                    sum += op.log() ? gd[i] : gd[i] * yd[i];
                }
                for (int l = 0, i = base; l < len; l++, i += inner) {
                    d[i] = op.log() ? gd[i] - Math.exp(yd[i]) * sum : yd[i] * (gd[i] - sum);
                }
            }
        }
        return Shapes.list(dx);
    }

    /** {outer, axis length, inner} of {@code x} around {@code axis}. */
    static int[] split(NDArray x, int axis) {
        long[] s = x.shape();
        int a = Shapes.axis(NAME, axis, s.length);
        long outer = 1;
        long inner = 1;
        for (int i = 0; i < a; i++) {
            outer *= s[i];
        }
        for (int i = a + 1; i < s.length; i++) {
            inner *= s[i];
        }
        return new int[] {Math.toIntExact(outer), Math.toIntExact(s[a]), Math.toIntExact(inner)};
    }

    /** Softmax or log-softmax of {@code x} along {@code axis}. */
    static NDArray compute(NDArray x, int axis, boolean log) {
        int[] oli = split(x, axis);
        int outer = oli[0];
        int len = oli[1];
        int inner = oli[2];
        NDArray out = NDArray.zeros(x.shape());
        double[] xd = x.data();
        double[] yd = out.data();
        for (int o = 0; o < outer; o++) {
            for (int in = 0; in < inner; in++) {
                int base = o * len * inner + in;
                double max = Double.NEGATIVE_INFINITY;
                for (int l = 0, i = base; l < len; l++, i += inner) {
                    max = Math.max(max, xd[i]);
                }
                if (max == Double.NEGATIVE_INFINITY) {
                    max = 0;
                }
                double sum = 0;
                for (int l = 0, i = base; l < len; l++, i += inner) {
                    double e = Math.exp(xd[i] - max);
                    yd[i] = e;
                    sum += e;
                }
                if (log) {
                    double lse = max + Math.log(sum);
                    for (int l = 0, i = base; l < len; l++, i += inner) {
                        yd[i] = xd[i] - lse;
                    }
                } else {
                    double inv = 1 / sum;
                    for (int l = 0, i = base; l < len; l++, i += inner) {
                        yd[i] *= inv;
                    }
                }
            }
        }
        return out;
    }
}
