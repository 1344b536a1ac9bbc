package io.tessera.simulator.kernel;

import io.tessera.planner.op.SoftmaxCrossEntropyWithLogits;
import io.tessera.simulator.array.NDArray;

import java.util.Arrays;
import java.util.List;

/**
 * {@code SoftmaxCrossEntropyWithLogits}: logits {@code (N, C)} and one-hot labels {@code (N, C)} give the per-sample
 * loss {@code (N)}, {@code -sum_c labels * log_softmax(logits)}. Only the logits get a gradient; like MindSpore's
 * bprop, the labels' gradient is zeros when asked for.
 */
public final class SoftmaxCrossEntropyKernel {

    private static final String NAME = "SoftmaxCrossEntropyKernel";

    private SoftmaxCrossEntropyKernel() {
    }

    /** The per-sample loss {@code (N)}. */
    public static List<NDArray> forward(SoftmaxCrossEntropyWithLogits op, KernelContext ctx, List<NDArray> inputs) {
        Shapes.checkInputs(NAME, inputs, 2);
        NDArray logits = inputs.get(0);
        NDArray labels = inputs.get(1);
        check(logits, labels);
        int n = Math.toIntExact(logits.dim(0));
        int c = Math.toIntExact(logits.dim(1));
        NDArray logp = SoftmaxKernel.compute(logits, 1, true);
        double[] lp = logp.data();
        double[] lb = labels.data();
        NDArray loss = NDArray.zeros(n);
        double[] l = loss.data();
        for (int i = 0; i < n; i++) {
            double acc = 0;
            for (int j = 0, k = i * c; j < c; j++, k++) {
                if (lb[k] != 0) {
                    acc -= lb[k] * lp[k];
                }
            }
            l[i] = acc;
        }
        return List.of(loss);
    }

    /**
     * The logits' gradient {@code g_n (softmax * sum_c labels - labels)}; zeros for the labels when
     * {@code needsGrad[1]}.
     */
    public static List<NDArray> backward(SoftmaxCrossEntropyWithLogits op, KernelContext ctx, List<NDArray> inputs,
                                         List<NDArray> outputs, List<NDArray> outputGrads, boolean[] needsGrad) {
        Shapes.checkBackward(NAME, inputs, 2, outputGrads, 1, needsGrad);
        NDArray logits = inputs.get(0);
        NDArray labels = inputs.get(1);
        check(logits, labels);
        int n = Math.toIntExact(logits.dim(0));
        int c = Math.toIntExact(logits.dim(1));
        NDArray g = Shapes.outputGrad(NAME, outputGrads, 0, new long[] {n});
        NDArray[] grads = Shapes.gradients(2);
        if (needsGrad[1]) {
            grads[1] = NDArray.zeros(labels.shape());
        }
        if (!needsGrad[0]) {
            return Shapes.list(grads);
        }
        NDArray dx = NDArray.zeros(logits.shape());
        grads[0] = dx;
        if (g == null) {
            return Shapes.list(grads);
        }
        double[] p = SoftmaxKernel.compute(logits, 1, false).data();
        double[] lb = labels.data();
        double[] gd = g.data();
        double[] d = dx.data();
        for (int i = 0; i < n; i++) {
            double total = 0;
            for (int j = 0, k = i * c; j < c; j++, k++) {
                total += lb[k];
            }
            for (int j = 0, k = i * c; j < c; j++, k++) {
                d[k] = gd[i] * (p[k] * total - lb[k]);
            }
        }
        return Shapes.list(grads);
    }

    private static void check(NDArray logits, NDArray labels) {
        if (logits.ndim() != 2 || !Arrays.equals(logits.shape(), labels.shape())) {
            throw new IllegalArgumentException(NAME + ": logits " + Arrays.toString(logits.shape()) + " and labels "
                    + Arrays.toString(labels.shape()) + " do not fit; expected both (N, C)");
        }
    }
}
