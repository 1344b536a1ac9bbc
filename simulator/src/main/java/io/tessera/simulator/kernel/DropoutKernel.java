package io.tessera.simulator.kernel;

import io.tessera.layout.Box;
import io.tessera.planner.op.Dropout;
import io.tessera.simulator.array.NDArray;

import java.util.Arrays;
import java.util.List;

/**
 * {@code Dropout}: keeps each element with probability {@code keepProb} and scales kept elements by
 * {@code 1 / keepProb}. The mask is a 64-bit hash of {@code (ctx.seed, global coordinates of the element)}, the
 * coordinates being the local index plus the start of the output's global box: any slicing of the tensor, on any
 * number of ranks, draws the same mask as the unsliced tensor, and the same seed always draws the same mask.
 */
public final class DropoutKernel {

    private static final String NAME = "DropoutKernel";
    private static final long GOLDEN = 0x9E3779B97F4A7C15L;

    private DropoutKernel() {
    }

    /** {@code x * mask / keepProb}. */
    public static List<NDArray> forward(Dropout op, KernelContext ctx, List<NDArray> inputs) {
        Shapes.checkInputs(NAME, inputs, 1);
        NDArray x = inputs.get(0);
        NDArray out = NDArray.zeros(x.shape());
        scaleByMask(op.keepProb(), ctx.seed(), box(ctx, x), x, out);
        return List.of(out);
    }

    /** The input gradient: the output gradient times the same mask, over {@code keepProb}. */
    public static List<NDArray> backward(Dropout op, KernelContext ctx, List<NDArray> inputs, List<NDArray> outputs,
                                         List<NDArray> outputGrads, boolean[] needsGrad) {
        Shapes.checkBackward(NAME, inputs, 1, outputGrads, 1, needsGrad);
        NDArray x = inputs.get(0);
        if (!needsGrad[0]) {
            return Shapes.list(Shapes.gradients(1));
        }
        NDArray g = Shapes.outputGrad(NAME, outputGrads, 0, x.shape());
        NDArray dx = NDArray.zeros(x.shape());
        if (g != null) {
            scaleByMask(op.keepProb(), ctx.seed(), box(ctx, x), g, dx);
        }
        return Shapes.list(dx);
    }

    /**
     * The keep mask (1 kept, 0 dropped) of the elements of global region {@code box}: a pure function of
     * {@code (seed, global coordinates)}.
     */
    public static NDArray mask(double keepProb, long seed, Box box) {
        NDArray m = NDArray.zeros(box.shape());
        scaleByMask(keepProb, seed, box, null, m);
        return m;
    }

    /** The output's global box from the context; the full box of the local shape when the context gives none. */
    private static Box box(KernelContext ctx, NDArray x) {
        Box box = ctx == null || ctx.outputBoxes().isEmpty() ? Box.full(x.shape()) : ctx.outputBoxes().get(0);
        if (!Arrays.equals(box.shape(), x.shape())) {
            throw new IllegalArgumentException(NAME + ": the output box " + box + " does not fit the local input "
                    + Arrays.toString(x.shape()));
        }
        return box;
    }

    /**
     * {@code out = in * mask / keepProb} over the global region {@code box}; with {@code in} null, {@code out} is the
     * mask itself (1 kept, 0 dropped).
     */
    private static void scaleByMask(double keepProb, long seed, Box box, NDArray in, NDArray out) {
        double[] src = in == null ? null : in.data();
        double[] dst = out.data();
        if (dst.length == 0) {
            return;
        }
        if (keepProb >= 1) {
            if (src == null) {
                Arrays.fill(dst, 1);
            } else {
                System.arraycopy(src, 0, dst, 0, dst.length);
            }
            return;
        }
        double scale = 1 / keepProb;
        long[] start = box.start();
        long[] shape = box.shape();
        int rank = shape.length;
        long[] coord = start.clone();
        int len = rank == 0 ? 1 : Math.toIntExact(shape[rank - 1]);
        long last = rank == 0 ? 0 : start[rank - 1];
        int i = 0;
        while (i < dst.length) {
            // hash of the seed and the leading coordinates, shared by the row
            long h = mix(seed ^ GOLDEN);
            for (int d = 0; d < rank - 1; d++) {
                h = mix(h ^ (coord[d] * GOLDEN + d + 1));
            }
            for (int j = 0; j < len; j++, i++) {
                boolean kept = keep(h, last + j, keepProb);
                dst[i] = src == null ? (kept ? 1 : 0) : kept ? src[i] * scale : 0;
            }
            for (int d = rank - 2; d >= 0; d--) {
                if (++coord[d] < start[d] + shape[d]) {
                    break;
                }
                coord[d] = start[d];
            }
        }
    }

    private static boolean keep(long rowHash, long lastCoord, double keepProb) {
        long h = mix(rowHash ^ (lastCoord * GOLDEN + 0x632BE59BD9B4E019L));
        return (h >>> 11) * 0x1.0p-53 < keepProb;
    }

    /** The splitmix64 finaliser. */
    private static long mix(long z) {
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }
}
