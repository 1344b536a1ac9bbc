package io.tessera.planner.op;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.tessera.layout.DType;
import io.tessera.layout.redistribution.ReduceOp;

import java.util.Arrays;
import java.util.List;

/**
 * {@code ReduceSum}, {@code ReduceMean}, {@code ReduceMax}, {@code ReduceMin}: reduces its one input over
 * {@code axes}, dropping them from the output shape, or keeping them with size 1 when {@code keepDims}.
 *
 * <p>Rule (spec §3): any strategy. The device matrix is the input's strategy; the output map is the input map without
 * the reduced dims (with {@code keepDims} they stay, not split, size 1). A reduced dim split over a device dim leaves
 * each rank with a partial result, combined by a forward AllReduce over those device dims: sum for ReduceSum, max and
 * min for ReduceMax and ReduceMin, and mean for ReduceMean (each rank means its local part; all parts have the same
 * size, so the mean of the local means is the global mean). No backward communication is needed.
 *
 * @param kind     which reduction
 * @param axes     the reduced dims; negative values count from the end ({@code -1} is the last); empty = all dims;
 *                 copied in and out
 * @param keepDims whether reduced dims stay in the output with size 1
 */
public record Reduce(Kind kind, int[] axes, boolean keepDims) implements Operator {

    /** The reduction kinds with their MindSpore primitive names and collective reductions. */
    public enum Kind {
        /** Sum; partial sums AllReduce(sum). */
        SUM("ReduceSum", ReduceOp.SUM),
        /** Arithmetic mean; equal-sized local means AllReduce(mean). */
        MEAN("ReduceMean", ReduceOp.MEAN),
        /** Maximum; partial maxima AllReduce(max). */
        MAX("ReduceMax", ReduceOp.MAX),
        /** Minimum; partial minima AllReduce(min). */
        MIN("ReduceMin", ReduceOp.MIN);

        private final String type;
        private final ReduceOp op;

        Kind(String type, ReduceOp op) {
            this.type = type;
            this.op = op;
        }

        /** MindSpore's primitive name, e.g. {@code ReduceSum}. */
        public String type() {
            return type;
        }

        /** The reduction combining partial results across ranks. */
        public ReduceOp op() {
            return op;
        }
    }

    /** Validates a kind and copies the axes (null = empty = all dims). */
    public Reduce {
        if (kind == null) {
            throw new IllegalArgumentException("Reduce: kind is null; expected one of "
                    + Arrays.toString(Kind.values()));
        }
        axes = axes == null ? new int[0] : axes.clone();
    }

    /** {@code ReduceSum} over {@code axes} (none = all dims). */
    public static Reduce sum(boolean keepDims, int... axes) {
        return new Reduce(Kind.SUM, axes, keepDims);
    }

    /** {@code ReduceMean} over {@code axes} (none = all dims). */
    public static Reduce mean(boolean keepDims, int... axes) {
        return new Reduce(Kind.MEAN, axes, keepDims);
    }

    /** {@code ReduceMax} over {@code axes} (none = all dims). */
    public static Reduce max(boolean keepDims, int... axes) {
        return new Reduce(Kind.MAX, axes, keepDims);
    }

    /** {@code ReduceMin} over {@code axes} (none = all dims). */
    public static Reduce min(boolean keepDims, int... axes) {
        return new Reduce(Kind.MIN, axes, keepDims);
    }

    /** A copy of the reduced axes as given (possibly negative; empty = all dims). */
    @Override
    public int[] axes() {
        return axes.clone();
    }

    @Override
    public String type() {
        return kind.type();
    }

    @Override
    public int inputCount() {
        return 1;
    }

    /**
     * For an input of {@code rank} dims, which dims are reduced.
     *
     * @throws IllegalArgumentException when an axis is out of range or repeated
     */
    private boolean[] reduced(String label, TensorType x) {
        int rank = x.rank();
        boolean[] r = new boolean[rank];
        if (axes.length == 0) {
            Arrays.fill(r, true);
            return r;
        }
        for (int a : axes) {
            if (a < -rank || a >= rank) {
                throw new IllegalArgumentException(label + ": axis " + a + " is out of range for input 0 " + x
                        + "; expected " + (-rank) + ".." + (rank - 1));
            }
            int d = a < 0 ? a + rank : a;
            if (r[d]) {
                throw new IllegalArgumentException(label + ": axes " + Arrays.toString(axes) + " name dim " + d
                        + " twice; give each reduced dim once");
            }
            r[d] = true;
        }
        return r;
    }

    private TensorType checkInputs(String label, List<TensorType> inputs) {
        OpSupport.checkInputCount(label, inputs, 1, "the tensor to reduce");
        return inputs.get(0);
    }

    @Override
    public List<TensorType> outputs(String name, List<TensorType> inputs) {
        String label = Sharding.label(this, name);
        TensorType x = checkInputs(label, inputs);
        boolean[] r = reduced(label, x);
        long[] out = new long[outRank(r)];
        int j = 0;
        for (int i = 0; i < r.length; i++) {
            if (!r[i]) {
                out[j++] = x.dim(i);
            } else if (keepDims) {
                out[j++] = 1;
            }
        }
        return List.of(x.withShape(out));
    }

    private int outRank(boolean[] r) {
        int n = 0;
        for (boolean b : r) {
            if (!b || keepDims) {
                n++;
            }
        }
        return n;
    }

    /** Splits input dim 0 over {@link Sharding#fit} of the devices; other dims 1. */
    @Override
    public Strategy dataParallel(List<TensorType> inputs, int devices) {
        return Strategy.of(OpSupport.batchSplit(inputs.get(0), devices));
    }

    @Override
    public OpSharding shard(String name, List<TensorType> inputs, Strategy in, Strategy out, int devices) {
        String label = Sharding.label(this, name);
        TensorType x = checkInputs(label, inputs);
        OpSupport.rejectOutStrategy(label, out);
        boolean[] r = reduced(label, x);
        Sharding.checkStrategy(label, inputs, in);
        int[] s = in.tuple(0);
        int[][] dimsIn = new int[s.length][];
        int[][] dimsOut = new int[outRank(r)][];
        int j = 0;
        StringBuilder split = new StringBuilder();
        for (int i = 0; i < s.length; i++) {
            dimsIn[i] = new int[] {i};
            if (!r[i]) {
                dimsOut[j++] = new int[] {i};
            } else {
                if (keepDims) {
                    dimsOut[j++] = new int[0];
                }
                if (s[i] > 1) {
                    split.append(split.length() == 0 ? "" : ", ").append("dim ").append(i).append(" (")
                            .append(s[i]).append(" ways)");
                }
            }
        }
        return Sharding.derive(label, s, List.<int[][]>of(dimsIn), List.<int[][]>of(dimsOut),
                new boolean[] {x.dtype().isFloating()}, devices, kind.op(),
                "reduced " + split + " split: each rank holds a partial "
                        + kind.name().toLowerCase(java.util.Locale.ROOT),
                List.of());
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Reduce r && kind == r.kind && Arrays.equals(axes, r.axes) && keepDims == r.keepDims;
    }

    @Override
    public int hashCode() {
        return (kind.hashCode() * 31 + Arrays.hashCode(axes)) * 31 + Boolean.hashCode(keepDims);
    }

    /** Prints as {@code ReduceSum[axes=[-1], keepDims=false]}. */
    @Override
    public String toString() {
        return type() + "[axes=" + Arrays.toString(axes) + ", keepDims=" + keepDims + "]";
    }

    @Override
    public OperatorKind operatorKind() {
        return OperatorKind.REDUCE;
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

    /** Sum and mean broadcast dout back (nothing); max and min route it to the arg-extreme elements (input and output). */
    @Override
    public List<TensorRef> gradientReads(int i) {
        return kind == Kind.SUM || kind == Kind.MEAN ? List.of() : List.of(TensorRef.input(0), TensorRef.output(0));
    }

    /** The attributes, every one written. */
    @Override
    public ObjectNode encodeAttrs() {
        ObjectNode o = OpAttrs.object();
        o.set("axis", OpAttrs.array(axes));
        o.put("keep_dims", keepDims);
        return o;
    }

    /** {@link Flops#REDUCE} per input element. */
    @Override
    public long forwardFlops(List<long[]> in, List<long[]> out) {
        return Flops.REDUCE * Flops.volume(in.get(0));
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
