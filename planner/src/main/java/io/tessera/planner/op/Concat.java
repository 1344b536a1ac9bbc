package io.tessera.planner.op;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.tessera.layout.DType;
import io.tessera.layout.redistribution.ReduceOp;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/**
 * {@code Concat} (MindSpore's {@code Concat(axis)}): joins its {@code inputNum} inputs along {@code axis}; the
 * output's slice of that dimension is input 0's indices, then input 1's, and so on. The inputs share a rank, a dtype
 * and every other dimension. DeepSeek-V3's latent attention joins the per-head key without position
 * {@code [b, heads, s, qk_nope_head_dim]} and the rotated shared key {@code [b, heads, s, qk_rope_head_dim]} this
 * way (and the query likewise).
 *
 * <p>Rule: every input has the same strategy (one device matrix, each dimension over its own device dimension) and
 * the concatenated axis is not split across devices (a rank would hold pieces of several inputs); the output has the
 * inputs' layout. Nothing is communicated, forward or backward. The gradient of input {@code i} is its slice of the
 * output gradient. Costs: no FLOPs, the inputs read and the output written once.
 *
 * @param axis     the joined dimension; negative counts from the end (MindSpore's default 0)
 * @param inputNum the number of inputs, at least 1 (JSON {@code input_num}; default 2)
 */
public record Concat(int axis, int inputNum) implements Operator {

    /** Validates a positive input count. */
    public Concat {
        if (inputNum < 1) {
            throw new IllegalArgumentException("Concat: input_num is " + inputNum
                    + "; expected a positive number of inputs, e.g. 2");
        }
    }

    /** {@code Concat} of two inputs along {@code axis}. */
    public static Concat of(int axis) {
        return new Concat(axis, 2);
    }

    @Override
    public String type() {
        return "Concat";
    }

    @Override
    public int inputCount() {
        return inputNum;
    }

    /** The inputs' type with the sum of their sizes along the axis. */
    @Override
    public List<TensorType> outputs(String name, List<TensorType> inputs) {
        String label = Sharding.label(this, name);
        Elementwise.checkCount(label, inputs, inputNum, inputNum + " tensors to join");
        TensorType x = inputs.get(0);
        if (x.rank() == 0) {
            throw new IllegalArgumentException(label + ": input 0 " + x + " is a scalar; expected at least one"
                    + " dimension to join along");
        }
        int a = Elementwise.axis(label, "axis", axis, x);
        long total = 0;
        for (int i = 0; i < inputs.size(); i++) {
            TensorType t = inputs.get(i);
            boolean fits = t.rank() == x.rank() && t.dtype() == x.dtype();
            for (int d = 0; fits && d < x.rank(); d++) {
                fits = d == a || t.dim(d) == x.dim(d);
            }
            if (!fits) {
                throw new IllegalArgumentException(label + ": input " + i + " " + t + " does not fit input 0 " + x
                        + "; expected the same dtype, rank and sizes except along axis " + a);
            }
            total += t.dim(a);
        }
        long[] shape = x.shape();
        shape[a] = total;
        return List.of(x.withShape(shape));
    }

    /** Dimension 0 of every input split over {@link Sharding#fit} of its size, unless it is the joined axis. */
    @Override
    public Strategy dataParallel(List<TensorType> inputs, int devices) {
        TensorType x = inputs.get(0);
        int[] s = Elementwise.ones(x.rank());
        if (x.rank() > 0 && Elementwise.axis(type(), "axis", axis, x) != 0) {
            s[0] = Sharding.fit(x.dim(0), devices);
        }
        int[][] all = new int[inputs.size()][];
        for (int i = 0; i < all.length; i++) {
            all[i] = s.clone();
        }
        return Strategy.of(all);
    }

    /** Every input split alike (the axis whole); the output in their layout. */
    @Override
    public OpSharding shard(String name, List<TensorType> inputs, Strategy in, Strategy out, int devices) {
        String label = Sharding.label(this, name);
        outputs(name, inputs);
        Elementwise.rejectOutStrategy(label, out);
        Sharding.checkStrategy(label, inputs, in);
        TensorType x = inputs.get(0);
        int a = Elementwise.axis(label, "axis", axis, x);
        int[] t0 = in.tuple(0);
        for (int i = 0; i < inputs.size(); i++) {
            Sharding.checkUnsplit(label, "input " + i, a, in.tuple(i), "Concat joins the inputs along this dim,"
                    + " so every rank needs it whole; a layout needing it split is redistributed around the operator");
            for (int d = 0; d < x.rank(); d++) {
                Sharding.checkEqual(label, "input " + i + " dim " + d, in.tuple(i)[d], "input 0 dim " + d, t0[d],
                        "the joined inputs share one layout; give every input input 0's strategy");
            }
        }
        int[][] dims = Elementwise.identity(x.rank());
        boolean[] grads = new boolean[inputs.size()];
        for (int i = 0; i < grads.length; i++) {
            grads[i] = inputs.get(i).dtype().isFloating();
        }
        return Sharding.derive(label, t0, new ArrayList<>(Collections.nCopies(inputs.size(), dims)),
                List.<int[][]>of(dims), grads, devices, ReduceOp.SUM, "a concatenation never holds partial results",
                List.of());
    }

    /** Strategies giving every input the same tuple (input 0's candidates), the only ones the rule accepts. */
    @Override
    public List<Strategy> searchCandidates(List<List<int[]>> perInput) {
        List<Strategy> out = new ArrayList<>();
        for (int[] t : perInput.get(0)) {
            int[][] all = new int[inputNum][];
            for (int i = 0; i < inputNum; i++) {
                all[i] = t.clone();
            }
            out.add(Strategy.of(all));
        }
        return out;
    }

    @Override
    public OperatorKind operatorKind() {
        return OperatorKind.CONCAT;
    }

    /** Every input has a gradient (its slice of the output's). */
    @Override
    public boolean differentiableInput(int i) {
        return true;
    }

    /** The output's gradient flows back. */
    @Override
    public boolean differentiableOutput(int o) {
        return true;
    }

    /** No forward tensor: the slices follow from the shapes. */
    @Override
    public List<TensorRef> gradientReads(int i) {
        return List.of();
    }

    /** The attributes {@code axis} and {@code input_num}, always written. */
    @Override
    public ObjectNode encodeAttrs() {
        ObjectNode o = OpAttrs.object();
        o.put("axis", axis);
        o.put("input_num", inputNum);
        return o;
    }

    /** 0: it only moves memory. */
    @Override
    public long forwardFlops(List<long[]> in, List<long[]> out) {
        return 0;
    }

    /** Every input slice read and the output slice written once. */
    @Override
    public long forwardBytes(List<long[]> in, List<DType> inTypes, List<long[]> out, List<DType> outTypes) {
        return Flops.streamedBytes(in, inTypes, out, outTypes);
    }

    @Override
    public <R> R accept(Visitor<R> v) {
        return v.visit(this);
    }
}
