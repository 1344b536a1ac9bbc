package io.tessera.simulator.kernel;

import io.tessera.planner.op.MoeAuxLoss;
import io.tessera.simulator.array.NDArray;

import java.util.Arrays;
import java.util.List;

/**
 * The numeric kernel of {@link MoeAuxLoss}: {@code coefficient * E * sum_e f_e P_e} over the whole (never split)
 * logits and indices, {@code f_e} the fraction of (token, slot) pairs routed to expert {@code e}, {@code P_e} the
 * mean softmax probability of {@code e}. The backward differentiates {@code P} (the counts are constant).
 */
public final class MoeAuxLossKernel {

    private static final String NAME = "MoeAuxLossKernel";

    private MoeAuxLossKernel() {
    }

    /** The scalar loss. */
    public static List<NDArray> forward(MoeAuxLoss op, KernelContext ctx, List<NDArray> inputs) {
        Shapes.checkInputs(NAME, inputs, 2);
        NDArray logits = inputs.get(0);
        double[] f = fractions(op, logits, inputs.get(1));
        int tokens = Math.toIntExact(logits.dim(0));
        int n = f.length;
        double[] p = SoftmaxKernel.compute(logits, 1, false).data();
        double total = 0;
        for (int e = 0; e < n; e++) {
            double mean = 0;
            for (int t = 0; t < tokens; t++) {
                mean += p[t * n + e];
            }
            total += f[e] * mean / tokens;
        }
        return List.of(NDArray.scalar(op.coefficient() * n * total));
    }

    /**
     * The logits' gradient (null when not needed), {@code g coefficient E / tokens * p (f - p . f)} per token; zeros
     * for the indices when asked for. {@code outputs} is not read.
     */
    public static List<NDArray> backward(MoeAuxLoss op, KernelContext ctx, List<NDArray> inputs,
                                         List<NDArray> outputs, List<NDArray> outputGrads, boolean[] needsGrad) {
        Shapes.checkBackward(NAME, inputs, 2, outputGrads, 1, needsGrad);
        NDArray[] grads = Shapes.gradients(2);
        if (needsGrad[1]) {
            grads[1] = NDArray.zeros(inputs.get(1).shape());
        }
        if (!needsGrad[0]) {
            return Shapes.list(grads);
        }
        NDArray logits = inputs.get(0);
        double[] f = fractions(op, logits, inputs.get(1));
        NDArray dx = NDArray.zeros(logits.shape());
        grads[0] = dx;
        NDArray g = Shapes.outputGrad(NAME, outputGrads, 0, new long[0]);
        if (g == null) {
            return Shapes.list(grads);
        }
        int tokens = Math.toIntExact(logits.dim(0));
        int n = f.length;
        double scale = g.get(0) * op.coefficient() * n / tokens;
        double[] p = SoftmaxKernel.compute(logits, 1, false).data();
        double[] d = dx.data();
        for (int t = 0; t < tokens; t++) {
            double dot = 0;
            for (int e = 0; e < n; e++) {
                dot += f[e] * p[t * n + e];
            }
            for (int e = 0; e < n; e++) {
                d[t * n + e] = scale * p[t * n + e] * (f[e] - dot);
            }
        }
        return Shapes.list(grads);
    }

    /** {@code f_e}: the fraction of the {@code tokens * k} (token, slot) pairs routed to each expert. */
    private static double[] fractions(MoeAuxLoss op, NDArray logits, NDArray indices) {
        if (logits.ndim() != 2 || indices.ndim() != 2 || indices.dim(0) != logits.dim(0)
                || indices.dim(1) != op.topK()) {
            throw new IllegalArgumentException(NAME + ": logits " + Arrays.toString(logits.shape()) + " and indices "
                    + Arrays.toString(indices.shape()) + " do not fit top_k " + op.topK() + "; expected [tokens, E]"
                    + " and [tokens, top_k]");
        }
        int n = Math.toIntExact(logits.dim(1));
        double[] f = new double[n];
        double[] ix = indices.data();
        for (double v : ix) {
            if (v != Math.rint(v) || v < 0 || v >= n) {
                throw new IllegalArgumentException(NAME + ": index " + v + " is not an expert of " + n
                        + "; expected integers in [0, " + n + ") from the router");
            }
            f[(int) v] += 1.0 / ix.length;
        }
        return f;
    }
}
