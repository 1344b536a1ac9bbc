package io.tessera.simulator.kernel;

import io.tessera.layout.Box;
import io.tessera.planner.op.LoadBalance;
import io.tessera.planner.op.Rope;
import io.tessera.simulator.array.NDArray;

import java.util.Arrays;
import java.util.List;

/**
 * {@code RotaryPositionEmbedding}: each row {@code x[b, h, s, :]} rotated pairwise, element {@code i} with
 * {@code i + head_dim/2}, by the angle {@code position * invFreq[i]} ({@link Rope#invFreq}). The position is the
 * global sequence index (the local index plus the start of the output's global box, as {@link CausalMaskKernel}
 * finds its coordinates; with a {@code load_balance} the token position that index holds, {@link LoadBalance}), so a
 * rank holding any slice of the sequence rotates exactly as one device does. The
 * backward applies the inverse rotation (the angle negated) to the output gradient. A YaRN scaling multiplies
 * {@code cos} and {@code sin} by its attention factor, forward and backward (the transpose of {@code m R} is
 * {@code m R^T}). With {@code interleaved} the forward reads the pairs {@code (2i, 2i+1)} (de-interleaving as
 * Hugging Face's {@code apply_rotary_pos_emb_interleave}) and the backward writes the gradient back to them.
 */
public final class RopeKernel {

    private static final String NAME = "RopeKernel";

    private RopeKernel() {
    }

    /** {@code x} rotated by its global positions. */
    public static List<NDArray> forward(Rope op, KernelContext ctx, List<NDArray> inputs) {
        Shapes.checkInputs(NAME, inputs, 1);
        NDArray x = inputs.get(0);
        NDArray out = NDArray.zeros(x.shape());
        rotate(op, box(ctx, x), seq(ctx, x), x.data(), out.data(), 1);
        return List.of(out);
    }

    /** The input gradient: the output gradient rotated back (the transpose of a rotation is its inverse). */
    public static List<NDArray> backward(Rope op, KernelContext ctx, List<NDArray> inputs, List<NDArray> outputs,
                                         List<NDArray> outputGrads, boolean[] needsGrad) {
        Shapes.checkBackward(NAME, inputs, 1, outputGrads, 1, needsGrad);
        NDArray x = inputs.get(0);
        if (!needsGrad[0]) {
            return Shapes.list(Shapes.gradients(1));
        }
        NDArray g = Shapes.outputGrad(NAME, outputGrads, 0, x.shape());
        NDArray dx = NDArray.zeros(x.shape());
        if (g != null) {
            rotate(op, box(ctx, x), seq(ctx, x), g.data(), dx.data(), -1);
        }
        return Shapes.list(dx);
    }

    /** The output's global box from the context; the full box of the local shape when the context gives none. */
    private static Box box(KernelContext ctx, NDArray x) {
        Box box = ctx == null || ctx.outputBoxes().isEmpty() ? Box.full(x.shape()) : ctx.outputBoxes().get(0);
        if (!Arrays.equals(box.shape(), x.shape()) || x.shape().length != 4) {
            throw new IllegalArgumentException(NAME + ": the output box " + box + " does not fit the local input "
                    + Arrays.toString(x.shape()) + "; expected a box of the input's shape [batch, heads, seq,"
                    + " head_dim]");
        }
        return box;
    }

    /** The global sequence length (for the load-balanced order): from the context, else the box's end. */
    private static long seq(KernelContext ctx, NDArray x) {
        return ctx == null ? x.shape()[2] : ctx.globalDim(0, 2, box(ctx, x).end(2));
    }

    /**
     * {@code dst = R(sign * angle) src} per row, over the global region {@code box} of a sequence of {@code seqAll}
     * tokens: {@code sign} 1 rotates forward, -1 back.
     */
    private static void rotate(Rope op, Box box, long seqAll, double[] src, double[] dst, int sign) {
        long[] shape = box.shape();
        int seq = Math.toIntExact(shape[2]);
        int d = Math.toIntExact(shape[3]);
        int half = d / 2;
        long pos0 = box.start(2);
        double[] invFreq = op.invFreq(d); // head_dim is never split: the local width is the whole head
        double m = op.attentionFactor(); // YaRN's factor of cos and sin (1 otherwise)
        double[] cos = new double[seq * half];
        double[] sin = new double[seq * half];
        for (int s = 0; s < seq; s++) {
            double p = LoadBalance.position(pos0 + s, seqAll, op.loadBalance());
            for (int i = 0; i < half; i++) {
                double a = p * invFreq[i];
                cos[s * half + i] = m * Math.cos(a);
                sin[s * half + i] = m * sign * Math.sin(a);
            }
        }
        int plane = seq * d;
        for (int base = 0; base < dst.length; base += plane) {
            for (int s = 0; s < seq; s++) {
                int row = base + s * d;
                for (int i = 0; i < half; i++) {
                    double c = cos[s * half + i];
                    double sn = sin[s * half + i];
                    // interleaved: the forward reads pair (2i, 2i+1) and writes (i, i + half), the backward (the
                    // transpose) reads (i, i + half) and writes (2i, 2i+1)
                    int a = op.interleaved() && sign > 0 ? 2 * i : i;
                    int b = op.interleaved() && sign > 0 ? 2 * i + 1 : half + i;
                    int da = op.interleaved() && sign < 0 ? 2 * i : i;
                    int db = op.interleaved() && sign < 0 ? 2 * i + 1 : half + i;
                    double x1 = src[row + a];
                    double x2 = src[row + b];
                    dst[row + da] = x1 * c - x2 * sn;
                    dst[row + db] = x2 * c + x1 * sn;
                }
            }
        }
    }
}
