package io.tessera.simulator.kernel;

import io.tessera.planner.op.Split;
import io.tessera.simulator.array.NDArray;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * The numeric kernel of {@link Split}: the local x cut into {@code output_num} pieces (equal, or of the
 * {@code size_splits}) along the split axis
 * (which is never split across ranks, so every local slice cuts exactly as the whole tensor does). The backward
 * concatenates the output gradients along the axis, a missing one counting as zeros.
 */
public final class SplitKernel {

    private static final String NAME = "SplitKernel";

    private SplitKernel() {
    }

    /** The {@code output_num} pieces of the local x. */
    public static List<NDArray> forward(Split op, KernelContext ctx, List<NDArray> inputs) {
        Shapes.checkInputs(NAME, inputs, 1);
        NDArray x = inputs.get(0);
        Geometry g = geometry(op, x.shape());
        double[] src = x.data();
        List<NDArray> out = new ArrayList<>(op.outputNum());
        for (int j = 0; j < op.outputNum(); j++) {
            NDArray piece = NDArray.zeros(g.pieceShapes[j]);
            double[] dst = piece.data();
            for (int o = 0; o < g.outer; o++) {
                System.arraycopy(src, o * g.row + g.offsets[j], dst, o * g.chunks[j], g.chunks[j]);
            }
            out.add(piece);
        }
        return out;
    }

    /**
     * x's gradient (null when not needed): the output gradients concatenated along the axis, zeros where an output
     * has no gradient. {@code outputs} is not read.
     */
    public static List<NDArray> backward(Split op, KernelContext ctx, List<NDArray> inputs, List<NDArray> outputs,
                                         List<NDArray> outputGrads, boolean[] needsGrad) {
        Shapes.checkBackward(NAME, inputs, 1, outputGrads, op.outputNum(), needsGrad);
        if (!needsGrad[0]) {
            return Shapes.list((NDArray) null);
        }
        NDArray x = inputs.get(0);
        Geometry g = geometry(op, x.shape());
        NDArray dx = NDArray.zeros(x.shape());
        double[] dst = dx.data();
        for (int j = 0; j < op.outputNum(); j++) {
            NDArray dy = Shapes.outputGrad(NAME, outputGrads, j, g.pieceShapes[j]);
            if (dy == null) {
                continue;
            }
            double[] src = dy.data();
            for (int o = 0; o < g.outer; o++) {
                System.arraycopy(src, o * g.chunks[j], dst, o * g.row + g.offsets[j], g.chunks[j]);
            }
        }
        return Shapes.list(dx);
    }

    /**
     * The memory geometry of a split of {@code shape}: {@code outer} rows (the dims before the axis) of {@code row}
     * elements each, output {@code j} taking {@code chunks[j]} consecutive elements of each row from
     * {@code offsets[j]}.
     */
    private record Geometry(long[][] pieceShapes, int outer, int row, int[] offsets, int[] chunks) {
    }

    private static Geometry geometry(Split op, long[] shape) {
        if (shape.length == 0) {
            throw new IllegalArgumentException(NAME + ": x is a scalar; expected at least one dimension to split");
        }
        int a = Shapes.axis(NAME, op.axis(), shape.length);
        if (op.sizes().isEmpty() && shape[a] % op.outputNum() != 0) {
            throw new IllegalArgumentException(NAME + ": x " + Arrays.toString(shape) + " dim " + a + " of size "
                    + shape[a] + " does not divide into output_num " + op.outputNum() + " equal parts");
        }
        long[] sizes = op.pieceSizes(shape[a]);
        if (Arrays.stream(sizes).sum() != shape[a]) {
            throw new IllegalArgumentException(NAME + ": x " + Arrays.toString(shape) + " dim " + a + " of size "
                    + shape[a] + " does not match size_splits " + op.sizes());
        }
        long outer = 1;
        for (int d = 0; d < a; d++) {
            outer *= shape[d];
        }
        long inner = 1;
        for (int d = a + 1; d < shape.length; d++) {
            inner *= shape[d];
        }
        long[][] pieces = new long[sizes.length][];
        int[] offsets = new int[sizes.length];
        int[] chunks = new int[sizes.length];
        long at = 0;
        for (int j = 0; j < sizes.length; j++) {
            pieces[j] = shape.clone();
            pieces[j][a] = sizes[j];
            offsets[j] = Math.toIntExact(at * inner);
            chunks[j] = Math.toIntExact(sizes[j] * inner);
            at += sizes[j];
        }
        return new Geometry(pieces, Math.toIntExact(outer), Math.toIntExact(shape[a] * inner), offsets, chunks);
    }
}
