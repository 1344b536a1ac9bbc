package io.tessera.planner.op;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.tessera.layout.DType;
import io.tessera.layout.redistribution.ReduceOp;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/**
 * {@code Split} (MindSpore's {@code Split(axis, output_num)}): cuts its one input x into {@code outputNum} equal
 * outputs along {@code axis}; output {@code j} holds x's slice {@code [j * size / outputNum, (j + 1) * size /
 * outputNum)} of that dimension and x's other dimensions whole. GPT-2 splits its fused {@code c_attn} projection
 * {@code [tokens, 3 * hidden]} into q, k and v this way. With {@code sizes} (MindSpore's {@code SplitV}
 * {@code size_splits}) output {@code j} takes {@code sizes[j]} consecutive indices instead, as DeepSeek-V3's latent
 * attention cuts {@code kv_a_proj_with_mqa}'s output into the compressed key/value {@code [tokens, kv_lora_rank]} and
 * the shared rotary key {@code [tokens, qk_rope_head_dim]}.
 *
 * <p>Rule: the split axis must not be split across devices (each rank would hold pieces of several outputs); every
 * other dimension may be split any way. The device matrix is x's strategy and every output has x's layout (the split
 * axis stays whole). Nothing is communicated, forward or backward. The gradient of x is the output gradients
 * concatenated along {@code axis} (a missing output gradient counts as zeros).
 *
 * @param axis      the dimension cut; negative counts from the end of x's shape (MindSpore's default 0)
 * @param outputNum the number of outputs, at least 1 (MindSpore's default 1); without {@code sizes} it must divide
 *                  x's size along {@code axis}
 * @param sizes     the sizes of the outputs along {@code axis} (JSON {@code size_splits}), each positive, one per
 *                  output and summing to x's size there; empty (the default; null means it) for equal outputs
 */
public record Split(int axis, int outputNum, List<Long> sizes) implements Operator {

    /** Validates a positive output count and, when given, one positive size per output. */
    public Split {
        if (outputNum < 1) {
            throw new IllegalArgumentException("Split: output_num is " + outputNum
                    + "; expected a positive number of outputs, e.g. 3 for q, k and v");
        }
        sizes = sizes == null ? List.of() : List.copyOf(sizes);
        if (!sizes.isEmpty() && sizes.size() != outputNum) {
            throw new IllegalArgumentException("Split: size_splits " + sizes + " has " + sizes.size()
                    + " sizes but output_num is " + outputNum + "; give one size per output");
        }
        for (long n : sizes) {
            if (n < 1) {
                throw new IllegalArgumentException("Split: size_splits " + sizes + " has the size " + n
                        + "; expected positive sizes, e.g. [512, 64]");
            }
        }
    }

    /** {@code Split} of {@code axis} into {@code outputNum} equal outputs. */
    public Split(int axis, int outputNum) {
        this(axis, outputNum, List.of());
    }

    /** {@code Split} of {@code axis} into {@code outputNum} equal outputs. */
    public static Split of(int axis, int outputNum) {
        return new Split(axis, outputNum);
    }

    /** {@code Split} of {@code axis} into outputs of the given {@code sizes} along it (MindSpore's SplitV). */
    public static Split sizes(int axis, long... sizes) {
        List<Long> l = new ArrayList<>();
        for (long n : sizes) {
            l.add(n);
        }
        return new Split(axis, sizes.length, l);
    }

    /**
     * The sizes of the outputs along the axis when x has {@code size} there: {@link #sizes} when given, else
     * {@code outputNum} copies of {@code size / outputNum}.
     */
    public long[] pieceSizes(long size) {
        long[] out = new long[outputNum];
        for (int j = 0; j < outputNum; j++) {
            out[j] = sizes.isEmpty() ? size / outputNum : sizes.get(j);
        }
        return out;
    }

    @Override
    public String type() {
        return "Split";
    }

    @Override
    public int inputCount() {
        return 1;
    }

    /** {@code outputNum} outputs of x's type with {@link #pieceSizes} along the split axis. */
    @Override
    public List<TensorType> outputs(String name, List<TensorType> inputs) {
        String label = Sharding.label(this, name);
        Elementwise.checkCount(label, inputs, 1, "x");
        TensorType x = inputs.get(0);
        if (x.rank() == 0) {
            throw new IllegalArgumentException(label + ": input 0 (x) " + x + " is a scalar; expected at least one"
                    + " dimension to split");
        }
        int a = Elementwise.axis(label, "axis", axis, x);
        long size = x.dim(a);
        if (!sizes.isEmpty()) {
            long sum = sizes.stream().mapToLong(Long::longValue).sum();
            if (sum != size) {
                throw new IllegalArgumentException(label + ": size_splits " + sizes + " sum to " + sum + " but input"
                        + " 0 (x) " + x + " has " + size + " along dim " + a + "; give sizes summing to " + size);
            }
        } else if (size % outputNum != 0) {
            throw new IllegalArgumentException(label + ": input 0 (x) " + x + " dim " + a + " of size " + size
                    + " does not divide into output_num " + outputNum + " equal parts; choose an output_num"
                    + " dividing " + size + " or another axis");
        }
        List<TensorType> out = new ArrayList<>(outputNum);
        for (long n : pieceSizes(size)) {
            long[] shape = x.shape();
            shape[a] = n;
            out.add(x.withShape(shape));
        }
        return out;
    }

    /** The normalised split axis of {@code x}. */
    private int axisOf(String label, TensorType x) {
        return Elementwise.axis(label, "axis", axis, x);
    }

    /** x's dimension 0 split over {@link Sharding#fit} of its size, unless it is the split axis (then nothing). */
    @Override
    public Strategy dataParallel(List<TensorType> inputs, int devices) {
        TensorType x = inputs.get(0);
        int[] s = Elementwise.ones(x.rank());
        if (x.rank() > 0 && axisOf(type(), x) != 0) {
            s[0] = Sharding.fit(x.dim(0), devices);
        }
        return Strategy.of(s);
    }

    @Override
    public OpSharding shard(String name, List<TensorType> inputs, Strategy in, Strategy out, int devices) {
        String label = Sharding.label(this, name);
        outputs(name, inputs);
        Elementwise.rejectOutStrategy(label, out);
        Sharding.checkStrategy(label, inputs, in);
        TensorType x = inputs.get(0);
        int a = axisOf(label, x);
        Sharding.checkUnsplit(label, "input 0", a, in.tuple(0), "Split cuts this dim into " + outputNum
                + " outputs, so every rank needs it whole; a layout needing it split is redistributed around the"
                + " operator");
        int[][] dims = Elementwise.identity(x.rank());
        List<int[][]> outs = new ArrayList<>(Collections.nCopies(outputNum, dims));
        return Sharding.derive(label, in.tuple(0), List.<int[][]>of(dims), outs,
                new boolean[] {x.dtype().isFloating()}, devices, ReduceOp.SUM, "a split never holds partial results",
                List.of());
    }

    @Override
    public OperatorKind operatorKind() {
        return OperatorKind.SPLIT;
    }

    /** x has a gradient. */
    @Override
    public boolean differentiableInput(int i) {
        return true;
    }

    /** Every output's gradient flows back (into its slice of x's gradient). */
    @Override
    public boolean differentiableOutput(int o) {
        return true;
    }

    /** No forward tensor: x's gradient is the output gradients concatenated. */
    @Override
    public List<TensorRef> gradientReads(int i) {
        return List.of();
    }

    /** The attributes {@code axis} and {@code output_num}, always written; {@code size_splits} when given. */
    @Override
    public ObjectNode encodeAttrs() {
        ObjectNode o = OpAttrs.object();
        o.put("axis", axis);
        o.put("output_num", outputNum);
        if (!sizes.isEmpty()) {
            o.set("size_splits", OpAttrs.array(sizes.stream().mapToLong(Long::longValue).toArray()));
        }
        return o;
    }

    /** 0: it only moves memory. */
    @Override
    public long forwardFlops(List<long[]> in, List<long[]> out) {
        return 0;
    }

    /** The input slice read and every output slice written once. */
    @Override
    public long forwardBytes(List<long[]> in, List<DType> inTypes, List<long[]> out, List<DType> outTypes) {
        return Flops.streamedBytes(in, inTypes, out, outTypes);
    }

    @Override
    public <R> R accept(Visitor<R> v) {
        return v.visit(this);
    }
}
