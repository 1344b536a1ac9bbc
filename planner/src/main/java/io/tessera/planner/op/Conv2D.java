package io.tessera.planner.op;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.tessera.layout.DType;
import io.tessera.layout.redistribution.ReduceOp;

import java.util.Arrays;
import java.util.List;

/**
 * {@code Conv2D} in NCHW: input 0 is {@code x (N, Ci, H, W)}, input 1 the weight {@code w (Co, Ci / group, kh, kw)};
 * the output is {@code (N, Co, Ho, Wo)} with {@code Ho = (H + top + bottom - dh * (kh - 1) - 1) / sh + 1} (floor) and
 * likewise for W, with x's dtype.
 *
 * <p>Rule (spec §3): the in_strategy is {@code x (n, ci, h, w)}, {@code w (co, ci, 1, 1)}: the weight's C-in split
 * must equal x's and its kernel dims are not split. The device matrix is {@code (n, ci, h, w, co)}; the output map is
 * {@code (n, co, h, w)}. A split C-in leaves partial sums: forward AllReduce(sum) over the ci group. Backward, x's
 * gradient is summed over the co group and w's over the n, h and w groups. Group convolution ({@code group > 1})
 * allows no channel split. H (or W) may be split only when no halo exchange is needed: no padding in that dim, an
 * effective kernel {@code d * (k - 1) + 1} not larger than the stride (kernel == stride is the common case), and
 * every slice a whole number of strides, so each rank's output rows read only its own input rows.
 *
 * @param outChannels the number of output channels {@code Co}, positive and a multiple of {@code group}
 * @param kernel      {@code (kh, kw)}; one value means both; copied in and out
 * @param stride      {@code (sh, sw)}; one value means both; copied in and out
 * @param pad         {@code (top, bottom, left, right)}; two values {@code (ph, pw)} mean {@code (ph, ph, pw, pw)}
 *                    and one value pads all four sides; each at least 0 and below the dilated kernel size
 *                    {@code d * (k - 1) + 1} of its dim; copied in and out
 * @param dilation    {@code (dh, dw)}; one value means both; copied in and out
 * @param group       the number of groups, at least 1, dividing {@code Ci} and {@code Co}
 */
public record Conv2D(int outChannels, int[] kernel, int[] stride, int[] pad, int[] dilation, int group)
        implements Operator {

    /** Validates positive sizes and normalises the arrays to 2, 2, 4, 2 values. */
    public Conv2D {
        kernel = pair("kernel", kernel, 1);
        stride = pair("stride", stride, 1);
        dilation = pair("dilation", dilation, 1);
        if (pad == null || (pad.length != 1 && pad.length != 2 && pad.length != 4)) {
            throw new IllegalArgumentException("Conv2D: pad " + (pad == null ? "null" : Arrays.toString(pad))
                    + " has the wrong length; expected 1, 2 (ph, pw) or 4 (top, bottom, left, right) values");
        }
        pad = pad.length == 4 ? pad.clone() : pad.length == 2 ? new int[] {pad[0], pad[0], pad[1], pad[1]}
                : new int[] {pad[0], pad[0], pad[0], pad[0]};
        for (int v : pad) {
            if (v < 0) {
                throw new IllegalArgumentException("Conv2D: pad " + Arrays.toString(pad) + " holds " + v
                        + "; expected values >= 0");
            }
        }
        for (int d = 0; d < 2; d++) {
            long span = (long) dilation[d] * (kernel[d] - 1) + 1;
            for (int side = 2 * d; side < 2 * d + 2; side++) {
                if (pad[side] >= span) {
                    throw new IllegalArgumentException("Conv2D: pad " + Arrays.toString(pad) + " holds " + pad[side]
                            + " in the " + (d == 0 ? "height" : "width") + "; expected each pad below the dilated "
                            + "kernel size " + span + " (a larger pad makes outputs that see only padding)");
                }
            }
        }
        if (group < 1) {
            throw new IllegalArgumentException("Conv2D: group is " + group + "; expected at least 1");
        }
        if (outChannels < 1 || outChannels % group != 0) {
            throw new IllegalArgumentException("Conv2D: out_channel is " + outChannels + "; expected a positive "
                    + "multiple of group " + group);
        }
    }

    private static int[] pair(String what, int[] v, int min) {
        if (v == null || (v.length != 1 && v.length != 2)) {
            throw new IllegalArgumentException("Conv2D: " + what + " " + (v == null ? "null" : Arrays.toString(v))
                    + " has the wrong length; expected 1 or 2 values (height, width)");
        }
        int[] out = v.length == 2 ? v.clone() : new int[] {v[0], v[0]};
        for (int x : out) {
            if (x < min) {
                throw new IllegalArgumentException("Conv2D: " + what + " " + Arrays.toString(v) + " holds " + x
                        + "; expected values >= " + min);
            }
        }
        return out;
    }

    /** A convolution with dilation 1 and group 1. */
    public static Conv2D of(int outChannels, int[] kernel, int[] stride, int[] pad) {
        return new Conv2D(outChannels, kernel, stride, pad, new int[] {1, 1}, 1);
    }

    /** A copy of {@code (kh, kw)}. */
    @Override
    public int[] kernel() {
        return kernel.clone();
    }

    /** A copy of {@code (sh, sw)}. */
    @Override
    public int[] stride() {
        return stride.clone();
    }

    /** A copy of {@code (top, bottom, left, right)}. */
    @Override
    public int[] pad() {
        return pad.clone();
    }

    /** A copy of {@code (dh, dw)}. */
    @Override
    public int[] dilation() {
        return dilation.clone();
    }

    @Override
    public String type() {
        return "Conv2D";
    }

    @Override
    public int inputCount() {
        return 2;
    }

    @Override
    public List<TensorType> outputs(String name, List<TensorType> inputs) {
        String label = Sharding.label(this, name);
        OpSupport.checkInputCount(label, inputs, 2, "x and the weight");
        TensorType x = inputs.get(0);
        TensorType w = inputs.get(1);
        if (x.rank() != 4) {
            throw new IllegalArgumentException(label + ": input 0 (x) " + x + " has " + x.rank()
                    + " dims; expected 4 (N, C, H, W)");
        }
        long ci = x.dim(1);
        if (ci % group != 0) {
            throw new IllegalArgumentException(label + ": input 0 (x) has " + ci + " channels, not a multiple of group "
                    + group + "; use a group that divides the channels");
        }
        long[] expected = {outChannels, ci / group, kernel[0], kernel[1]};
        if (!Arrays.equals(w.shape(), expected)) {
            throw new IllegalArgumentException(label + ": input 1 (weight) " + w + " does not match; expected shape "
                    + Arrays.toString(expected) + " (out_channel, in_channel / group, kh, kw)");
        }
        long ho = outSize(x.dim(2), 0);
        long wo = outSize(x.dim(3), 1);
        if (ho < 1 || wo < 1) {
            throw new IllegalArgumentException(label + ": input 0 (x) " + x + " is smaller than the dilated kernel "
                    + Arrays.toString(kernel) + " after padding; expected an output of at least 1 x 1, found " + ho
                    + " x " + wo);
        }
        return List.of(x.withShape(x.dim(0), outChannels, ho, wo));
    }

    private long effectiveKernel(int d) {
        return (long) dilation[d] * (kernel[d] - 1) + 1;
    }

    private long outSize(long in, int d) {
        long padded = in + pad[2 * d] + pad[2 * d + 1] - effectiveKernel(d);
        return padded < 0 ? 0 : padded / stride[d] + 1;
    }

    /** Splits x's N over {@link Sharding#fit} of the devices; everything else 1. */
    @Override
    public Strategy dataParallel(List<TensorType> inputs, int devices) {
        return Strategy.of(OpSupport.batchSplit(inputs.get(0), devices), OpSupport.ones(inputs.get(1).rank()));
    }

    @Override
    public OpSharding shard(String name, List<TensorType> inputs, Strategy in, Strategy out, int devices) {
        String label = Sharding.label(this, name);
        outputs(name, inputs);
        OpSupport.rejectOutStrategy(label, out);
        Sharding.checkStrategy(label, inputs, in);
        TensorType x = inputs.get(0);
        TensorType w = inputs.get(1);
        int[] sx = in.tuple(0);
        int[] sw = in.tuple(1);
        Sharding.checkEqual(label, "input 1 (weight) dim 1 (C-in)", sw[1], "input 0 (x) dim 1 (C-in)", sx[1],
                "C-in must be split equally");
        Sharding.checkUnsplit(label, "input 1 (weight)", 2, sw, "kernel height");
        Sharding.checkUnsplit(label, "input 1 (weight)", 3, sw, "kernel width");
        if (group > 1) {
            Sharding.checkUnsplit(label, "input 0 (x)", 1, sx, "group convolution (group " + group
                    + ") splits no channel");
            Sharding.checkUnsplit(label, "input 1 (weight)", 0, sw, "group convolution (group " + group
                    + ") splits no channel");
        }
        checkSpatial(label, x, sx, 0);
        checkSpatial(label, x, sx, 1);
        int[] dev = {sx[0], sx[1], sx[2], sx[3], sw[0]};
        int[][] dimsX = Sharding.dims(0, 1, 2, 3);
        int[][] dimsW = Sharding.dims(4, 1, -1, -1);
        int[][] dimsO = Sharding.dims(0, 4, 2, 3);
        return Sharding.derive(label, dev, List.of(dimsX, dimsW), List.<int[][]>of(dimsO),
                new boolean[] {x.dtype().isFloating(), w.dtype().isFloating()}, devices, ReduceOp.SUM,
                "C-in is split " + sx[1] + " ways: each rank holds a partial sum over its channels", List.of());
    }

    /** Rejects an H or W split that would need a halo exchange between neighbouring ranks. */
    private void checkSpatial(String label, TensorType x, int[] sx, int d) {
        int split = sx[2 + d];
        if (split == 1) {
            return;
        }
        String dim = d == 0 ? "H" : "W";
        String where = label + ": input 0 (x) dim " + (2 + d) + " (" + dim + ") is split " + split + " ways but ";
        String fix = "; set it to 1 (no halo exchange is supported)";
        if (pad[2 * d] != 0 || pad[2 * d + 1] != 0) {
            throw new IllegalArgumentException(where + "the padding in " + dim + " is (" + pad[2 * d] + ", "
                    + pad[2 * d + 1] + "): edge ranks would need their neighbours' rows (a halo)" + fix);
        }
        if (effectiveKernel(d) > stride[d]) {
            throw new IllegalArgumentException(where + "the kernel " + (d == 0 ? "height" : "width") + " "
                    + effectiveKernel(d) + (dilation[d] > 1 ? " (dilated)" : "") + " exceeds the stride " + stride[d]
                    + ": windows would overlap the slice boundaries (a halo); a split " + dim
                    + " needs kernel <= stride" + fix);
        }
        long slice = x.dim(2 + d) / split;
        if (slice % stride[d] != 0) {
            throw new IllegalArgumentException(where + "each slice holds " + slice + " rows, not a multiple of the "
                    + "stride " + stride[d] + ": windows would straddle the slice boundaries; choose a split leaving "
                    + "a multiple of the stride per slice");
        }
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Conv2D c && outChannels == c.outChannels && Arrays.equals(kernel, c.kernel)
                && Arrays.equals(stride, c.stride) && Arrays.equals(pad, c.pad) && Arrays.equals(dilation, c.dilation)
                && group == c.group;
    }

    @Override
    public int hashCode() {
        return ((((outChannels * 31 + Arrays.hashCode(kernel)) * 31 + Arrays.hashCode(stride)) * 31
                + Arrays.hashCode(pad)) * 31 + Arrays.hashCode(dilation)) * 31 + group;
    }

    /** Prints as {@code Conv2D[out=64, kernel=[3, 3], stride=[1, 1], pad=[1, 1, 1, 1], dilation=[1, 1], group=1]}. */
    @Override
    public String toString() {
        return "Conv2D[out=" + outChannels + ", kernel=" + Arrays.toString(kernel) + ", stride="
                + Arrays.toString(stride) + ", pad=" + Arrays.toString(pad) + ", dilation=" + Arrays.toString(dilation)
                + ", group=" + group + "]";
    }

    @Override
    public OperatorKind operatorKind() {
        return OperatorKind.CONV2D;
    }

    /** Every input has a gradient. */
    @Override
    public boolean differentiableInput(int i) {
        return true;
    }

    /** Every output's gradient flows back. */
    @Override
    public boolean differentiableOutput(int o) {
        return true;
    }

    /** dx = conv_transpose(dout, w) reads w; dw = conv_filter_grad(x, dout) reads x. */
    @Override
    public List<TensorRef> gradientReads(int i) {
        return List.of(TensorRef.input(1 - i));
    }

    /** The attributes, every one written. */
    @Override
    public ObjectNode encodeAttrs() {
        ObjectNode o = OpAttrs.object();
        o.put("out_channel", outChannels);
        o.set("kernel_size", OpAttrs.array(kernel));
        o.set("stride", OpAttrs.array(stride));
        o.set("pad", OpAttrs.array(pad));
        o.set("dilation", OpAttrs.array(dilation));
        o.put("group", group);
        return o;
    }

    /** {@code 2 * N * Co * Ho * Wo * (Ci / group) * kh * kw} over the local slices. */
    @Override
    public long forwardFlops(List<long[]> in, List<long[]> out) {
        long[] y = out.get(0);
        long[] w = in.get(1);
        return Flops.product(2, y[0], y[1], y[2], y[3], w[1], w[2], w[3]);
    }

    /** Every input slice read and every output slice written once. */
    @Override
    public long forwardBytes(List<long[]> in, List<DType> inTypes, List<long[]> out, List<DType> outTypes) {
        return Flops.streamedBytes(in, inTypes, out, outTypes);
    }

    @Override
    public <R> R accept(Visitor<R> v) {
        return v.visit(this);
    }
}
