package io.tessera.simulator.kernel;

import io.tessera.planner.op.BiasAdd;
import io.tessera.simulator.array.NDArray;

import java.util.Arrays;
import java.util.List;

/**
 * {@code BiasAdd}: {@code x (N, C, ...) + bias (C)}, the bias broadcast along every dimension but the channel
 * dimension 1. The bias gradient sums the output gradient over the batch and spatial dimensions of the local slice.
 */
public final class BiasAddKernel {

    private static final String NAME = "BiasAddKernel";

    private BiasAddKernel() {
    }

    /** {@code x + bias} along dimension 1. */
    public static List<NDArray> forward(BiasAdd op, KernelContext ctx, List<NDArray> inputs) {
        Shapes.checkInputs(NAME, inputs, 2);
        NDArray x = inputs.get(0);
        NDArray bias = inputs.get(1);
        int[] nci = dims(x, bias);
        NDArray out = NDArray.zeros(x.shape());
        double[] xd = x.data();
        double[] bd = bias.data();
        double[] o = out.data();
        int channels = nci[1];
        int inner = nci[2];
        int i = 0;
        for (int n = 0; n < nci[0]; n++) {
            for (int c = 0; c < channels; c++) {
                double v = bd[c];
                for (int s = 0; s < inner; s++, i++) {
                    o[i] = xd[i] + v;
                }
            }
        }
        return List.of(out);
    }

    /** Gradients of x (the output gradient) and bias (its sum per channel); null where not needed. */
    public static List<NDArray> backward(BiasAdd op, KernelContext ctx, List<NDArray> inputs, List<NDArray> outputs,
                                         List<NDArray> outputGrads, boolean[] needsGrad) {
        Shapes.checkBackward(NAME, inputs, 2, outputGrads, 1, needsGrad);
        NDArray x = inputs.get(0);
        NDArray bias = inputs.get(1);
        int[] nci = dims(x, bias);
        NDArray g = Shapes.outputGrad(NAME, outputGrads, 0, x.shape());
        NDArray[] grads = Shapes.gradients(2);
        if (needsGrad[0]) {
            grads[0] = g == null ? NDArray.zeros(x.shape()) : g.copy();
        }
        if (needsGrad[1]) {
            NDArray gb = NDArray.zeros(bias.shape());
            if (g != null) {
                double[] gd = g.data();
                double[] bd = gb.data();
                int i = 0;
                for (int n = 0; n < nci[0]; n++) {
                    for (int c = 0; c < nci[1]; c++) {
                        double acc = 0;
                        for (int s = 0; s < nci[2]; s++, i++) {
                            acc += gd[i];
                        }
                        bd[c] += acc;
                    }
                }
            }
            grads[1] = gb;
        }
        return Shapes.list(grads);
    }

    /** {N, C, product of the dims after C}; checks the bias shape. */
    private static int[] dims(NDArray x, NDArray bias) {
        long[] s = x.shape();
        if (s.length < 2 || bias.ndim() != 1 || bias.dim(0) != s[1]) {
            throw new IllegalArgumentException(NAME + ": x " + Arrays.toString(s) + " and bias "
                    + Arrays.toString(bias.shape()) + " do not fit; expected x (N, C, ...) and bias (C)");
        }
        long inner = 1;
        for (int i = 2; i < s.length; i++) {
            inner *= s[i];
        }
        return new int[] {Math.toIntExact(s[0]), Math.toIntExact(s[1]), Math.toIntExact(inner)};
    }
}
