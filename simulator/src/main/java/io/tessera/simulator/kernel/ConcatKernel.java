package io.tessera.simulator.kernel;

import io.tessera.planner.op.Concat;
import io.tessera.simulator.array.NDArray;

import java.util.Arrays;
import java.util.List;

/**
 * The numeric kernel of {@link Concat}: the local inputs joined along the axis (which is never split across ranks,
 * so every local slice joins exactly as the whole tensors do). The backward hands each input its slice of the output
 * gradient (zeros when there is none).
 */
public final class ConcatKernel {

    private static final String NAME = "ConcatKernel";

    private ConcatKernel() {
    }

    /** The inputs joined along the axis. */
    public static List<NDArray> forward(Concat op, KernelContext ctx, List<NDArray> inputs) {
        Shapes.checkInputs(NAME, inputs, op.inputNum());
        Geometry g = geometry(op, inputs);
        NDArray out = NDArray.zeros(g.outShape);
        double[] dst = out.data();
        for (int i = 0; i < inputs.size(); i++) {
            double[] src = inputs.get(i).data();
            for (int o = 0; o < g.outer; o++) {
                System.arraycopy(src, o * g.chunks[i], dst, o * g.row + g.offsets[i], g.chunks[i]);
            }
        }
        return List.of(out);
    }

    /** Each input's gradient (null when not needed): its slice of the output gradient. */
    public static List<NDArray> backward(Concat op, KernelContext ctx, List<NDArray> inputs, List<NDArray> outputs,
                                         List<NDArray> outputGrads, boolean[] needsGrad) {
        Shapes.checkBackward(NAME, inputs, op.inputNum(), outputGrads, 1, needsGrad);
        Geometry g = geometry(op, inputs);
        NDArray dy = Shapes.outputGrad(NAME, outputGrads, 0, g.outShape);
        NDArray[] grads = Shapes.gradients(inputs.size());
        for (int i = 0; i < inputs.size(); i++) {
            if (!needsGrad[i]) {
                continue;
            }
            grads[i] = NDArray.zeros(inputs.get(i).shape());
            if (dy == null) {
                continue;
            }
            double[] src = dy.data();
            double[] dst = grads[i].data();
            for (int o = 0; o < g.outer; o++) {
                System.arraycopy(src, o * g.row + g.offsets[i], dst, o * g.chunks[i], g.chunks[i]);
            }
        }
        return Shapes.list(grads);
    }

    /**
     * The memory geometry: {@code outer} rows (the dims before the axis), each output row of {@code row} elements
     * holding input {@code i}'s {@code chunks[i]} elements from {@code offsets[i]}.
     */
    private record Geometry(long[] outShape, int outer, int row, int[] offsets, int[] chunks) {
    }

    private static Geometry geometry(Concat op, List<NDArray> inputs) {
        long[] first = inputs.get(0).shape();
        if (first.length == 0) {
            throw new IllegalArgumentException(NAME + ": input 0 is a scalar; expected at least one dimension");
        }
        int a = Shapes.axis(NAME, op.axis(), first.length);
        long outer = 1;
        for (int d = 0; d < a; d++) {
            outer *= first[d];
        }
        long inner = 1;
        for (int d = a + 1; d < first.length; d++) {
            inner *= first[d];
        }
        int[] offsets = new int[inputs.size()];
        int[] chunks = new int[inputs.size()];
        long at = 0;
        for (int i = 0; i < inputs.size(); i++) {
            long[] s = inputs.get(i).shape();
            boolean fits = s.length == first.length;
            for (int d = 0; fits && d < s.length; d++) {
                fits = d == a || s[d] == first[d];
            }
            if (!fits) {
                throw new IllegalArgumentException(NAME + ": input " + i + " " + Arrays.toString(s) + " does not fit"
                        + " input 0 " + Arrays.toString(first) + "; expected the same sizes except along axis " + a);
            }
            offsets[i] = Math.toIntExact(at * inner);
            chunks[i] = Math.toIntExact(s[a] * inner);
            at += s[a];
        }
        long[] out = first.clone();
        out[a] = at;
        return new Geometry(out, Math.toIntExact(outer), Math.toIntExact(at * inner), offsets, chunks);
    }
}
