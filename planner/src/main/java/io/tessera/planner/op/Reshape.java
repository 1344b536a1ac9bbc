package io.tessera.planner.op;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.tessera.layout.DType;
import io.tessera.layout.DeviceMatrix;
import io.tessera.layout.Layout;
import io.tessera.layout.TensorMap;
import io.tessera.layout.comm.CollectiveKind;
import io.tessera.layout.comm.Phase;
import io.tessera.layout.redistribution.ReduceOp;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;

/**
 * {@code Reshape}: the same elements, in the same row-major order, under a new shape.
 *
 * <p>Reshape has no strategy of its own (spec §3): its in_strategy only states the layout of its input (dim {@code i}
 * over device dim {@code i}, the repeated-calculation dim appended as usual), and the output layout is that layout
 * carried through the reshape, as far as it can be.
 *
 * <p><b>The carry rule.</b> Think of a tensor's flat row-major index as digits: a dim of size {@code n} whose outer
 * dims multiply to {@code O} occupies the "levels" {@code O .. O*n} (the level of a position is the number of chunks
 * the flat index space is cut into by everything outside it). A dim split over device dims {@code a1, a2, ...}
 * (outermost first, sizes {@code f1, f2, ...}) fixes, per rank, one digit of size {@code f1} at level {@code O}, one of
 * size {@code f2} at level {@code O*f1}, and so on. Each device dim of size above 1 is carried to the output dim
 * {@code j} whose levels hold its level {@code L}, provided it lands as the next outermost factor of {@code j}:
 * {@code L == outer(j) * (product of the device dims already carried to j)}, where {@code outer(j)} is the product
 * of the output dims before {@code j}, and its size divides what is left of {@code out[j]}. Device dims of size 1
 * fix nothing; they are carried when they land at such a position and dropped otherwise. Examples:
 * {@code [B*S, H]} split {@code (dp, 1)} gives {@code [B, S, H]} split {@code (dp, 1, 1)} when {@code dp} divides
 * {@code B}; {@code [B, S, heads, hd]} split {@code (dp, 1, mp, 1)} gives {@code [B*S, heads*hd]} split
 * {@code (dp, mp)}. When every device dim of size above 1 is carried, each rank's input slice is exactly its output
 * slice as a set of flat indices ({@link #carry} returns that layout) and the reshape is local.
 *
 * <p>Device dims that cannot be carried are dropped: the output dims they would have split are left unsplit by them,
 * and the op gathers its input over those device dims first (a forward AllGather, reported as the operator's own
 * communication). The union of the slices over such a group is exactly the carried output slice. In backward each
 * rank keeps its own part of the replicated output gradient, with no communication. A planner that wants no such
 * gather redistributes the producer's output into a layout that carries instead.
 *
 * @param shape the target shape; each entry positive, except at most one {@code -1} (inferred from the element
 *              count); copied in and out
 */
public record Reshape(long[] shape) implements Operator {

    /** Validates positive entries with at most one {@code -1}. */
    public Reshape {
        if (shape == null) {
            throw new IllegalArgumentException("Reshape: shape is null; give the target shape, e.g. [8, -1]");
        }
        shape = shape.clone();
        int inferred = -1;
        for (int i = 0; i < shape.length; i++) {
            if (shape[i] == -1) {
                if (inferred >= 0) {
                    throw new IllegalArgumentException("Reshape: shape " + Arrays.toString(shape) + " has -1 at dims "
                            + inferred + " and " + i + "; at most one dim may be inferred");
                }
                inferred = i;
            } else if (shape[i] <= 0) {
                throw new IllegalArgumentException("Reshape: shape " + Arrays.toString(shape) + " has " + shape[i]
                        + " at dim " + i + "; expected a positive size or -1 (inferred)");
            }
        }
    }

    /** A reshape to {@code shape} (one entry may be {@code -1}). */
    public static Reshape of(long... shape) {
        return new Reshape(shape);
    }

    /** A copy of the target shape as given (possibly with one {@code -1}). */
    @Override
    public long[] shape() {
        return shape.clone();
    }

    @Override
    public String type() {
        return "Reshape";
    }

    @Override
    public int inputCount() {
        return 1;
    }

    @Override
    public List<TensorType> outputs(String name, List<TensorType> inputs) {
        String label = Sharding.label(this, name);
        OpSupport.checkInputCount(label, inputs, 1, "the tensor to reshape");
        TensorType x = inputs.get(0);
        long known = 1;
        int inferred = -1;
        for (int i = 0; i < shape.length; i++) {
            if (shape[i] == -1) {
                inferred = i;
            } else {
                known *= shape[i];
            }
        }
        long[] out = shape.clone();
        if (inferred >= 0) {
            if (x.elements() % known != 0) {
                throw new IllegalArgumentException(label + ": input 0 " + x + " has " + x.elements()
                        + " elements, not a multiple of " + known + " (the product of shape " + Arrays.toString(shape)
                        + " without -1); the -1 dim cannot be inferred");
            }
            out[inferred] = x.elements() / known;
        } else if (known != x.elements()) {
            throw new IllegalArgumentException(label + ": input 0 " + x + " has " + x.elements()
                    + " elements but shape " + Arrays.toString(shape) + " has " + known
                    + "; the element counts must be equal");
        }
        return List.of(x.withShape(out));
    }

    /** Splits input dim 0 over {@link Sharding#fit} of the devices; other dims 1. */
    @Override
    public Strategy dataParallel(List<TensorType> inputs, int devices) {
        return Strategy.of(OpSupport.batchSplit(inputs.get(0), devices));
    }

    @Override
    public OpSharding shard(String name, List<TensorType> inputs, Strategy in, Strategy out, int devices) {
        String label = Sharding.label(this, name);
        TensorType y = outputs(name, inputs).get(0);
        OpSupport.rejectOutStrategy(label, out);
        Sharding.checkStrategy(label, inputs, in);
        TensorType x = inputs.get(0);
        int[] s = in.tuple(0);
        int n = s.length;
        int[][] dimsIn = new int[n][];
        for (int i = 0; i < n; i++) {
            dimsIn[i] = new int[] {i};
        }
        int[][] dimsOut = new int[y.rank()][];
        List<OpComm> extra = new ArrayList<>();
        if (n == 0) {
            Arrays.fill(dimsOut, new int[0]);
        } else {
            // device dim i of the strategy is map value n-1-i of the input layout over the strategy's own matrix
            List<int[]> inAxes = new ArrayList<>();
            for (int i = 0; i < n; i++) {
                inAxes.add(new int[] {n - 1 - i});
            }
            Carried c = carryAxes(DeviceMatrix.of(s), inAxes, x.shape(), y.shape());
            for (int j = 0; j < dimsOut.length; j++) {
                dimsOut[j] = Arrays.stream(c.out.get(j)).map(a -> n - 1 - a).toArray();
            }
            int[] dropped = c.dropped.stream().mapToInt(a -> n - 1 - a).sorted().toArray();
            if (dropped.length > 0) {
                extra.add(new OpComm(CollectiveKind.ALL_GATHER, null, Phase.FORWARD, true, 0, dropped,
                        "the input's splits of sizes " + Arrays.toString(c.dropped.stream().mapToInt(a -> s[n - 1 - a])
                        .toArray()) + " do not land on an outermost factor of an output dim of " + y
                        + "; the slices are gathered over them before the local reshape"));
            }
        }
        return Sharding.derive(label, s, List.<int[][]>of(dimsIn), List.<int[][]>of(dimsOut),
                new boolean[] {x.dtype().isFloating()}, devices, ReduceOp.SUM,
                "a reshape never holds partial results", extra);
    }

    /**
     * The layout of the reshaped tensor when {@code in} carries exactly through the reshape to {@code outShape}: over
     * the same device matrix, each rank's output slice is, as a set of flat row-major indices, exactly its input
     * slice. Empty when some device dim of size above 1 cannot be carried (see the class comment for the rule);
     * then no layout over the same device matrix has that property.
     *
     * @param in       the input layout
     * @param outShape the target shape, with the same number of elements (no {@code -1})
     * @throws IllegalArgumentException when the element counts differ
     */
    public static Optional<Layout> carry(Layout in, long[] outShape) {
        long[] inShape = in.shape();
        if (product(inShape) != product(outShape)) {
            throw new IllegalArgumentException("Reshape.carry: input shape " + Arrays.toString(inShape) + " has "
                    + product(inShape) + " elements but the output shape " + Arrays.toString(outShape) + " has "
                    + product(outShape) + "; the element counts must be equal");
        }
        List<int[]> axes = in.tensorMap().entries().stream().map(TensorMap.Entry::axes).toList();
        Carried c = carryAxes(in.devMatrix(), axes, inShape, outShape);
        if (!c.dropped.isEmpty()) {
            return Optional.empty();
        }
        List<TensorMap.Entry> entries = new ArrayList<>();
        for (int[] a : c.out) {
            entries.add(a.length == 0 ? TensorMap.notSplit() : a.length == 1 ? TensorMap.Entry.of(a[0])
                    : TensorMap.Entry.of(a));
        }
        return Optional.of(Layout.of(in.devMatrix(), TensorMap.of(entries), outShape));
    }

    private static long product(long[] s) {
        long p = 1;
        for (long d : s) {
            p *= d;
        }
        return p;
    }

    /** Per output dim, the carried map values (outermost first); and the map values of size above 1 not carried. */
    private record Carried(List<int[]> out, List<Integer> dropped) {
    }

    private static Carried carryAxes(DeviceMatrix dev, List<int[]> inAxes, long[] inShape, long[] outShape) {
        int r = outShape.length;
        long[] outer = new long[r];
        long o = 1;
        for (int j = 0; j < r; j++) {
            outer[j] = o;
            o *= outShape[j];
        }
        long[] placed = new long[r];
        Arrays.fill(placed, 1);
        List<List<Integer>> out = new ArrayList<>();
        for (int j = 0; j < r; j++) {
            out.add(new ArrayList<>());
        }
        List<Integer> dropped = new ArrayList<>();
        long level = 1;
        for (int i = 0; i < inShape.length; i++) {
            long dimStart = level;
            long at = level;
            for (int a : inAxes.get(i)) {
                long f = dev.dim(dev.rank() - 1 - a);
                int j = holder(outer, outShape, at);
                boolean ok = j >= 0 && at == outer[j] * placed[j] && (outShape[j] / placed[j]) % f == 0;
                if (ok) {
                    out.get(j).add(a);
                    placed[j] *= f;
                } else if (f > 1) {
                    dropped.add(a);
                }
                at *= f;
            }
            level = dimStart * inShape[i];
        }
        List<int[]> outArrays = new ArrayList<>();
        for (List<Integer> l : out) {
            outArrays.add(l.stream().mapToInt(Integer::intValue).toArray());
        }
        return new Carried(outArrays, dropped);
    }

    /** The output dim of size above 1 whose levels {@code [outer, outer * size)} contain {@code level}, or -1. */
    private static int holder(long[] outer, long[] outShape, long level) {
        for (int j = 0; j < outer.length; j++) {
            if (outShape[j] > 1 && outer[j] <= level && level < outer[j] * outShape[j]) {
                return j;
            }
        }
        return -1;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Reshape r && Arrays.equals(shape, r.shape);
    }

    @Override
    public int hashCode() {
        return Arrays.hashCode(shape);
    }

    /** Prints as {@code Reshape[shape=[8, -1]]}. */
    @Override
    public String toString() {
        return "Reshape[shape=" + Arrays.toString(shape) + "]";
    }

    @Override
    public OperatorKind operatorKind() {
        return OperatorKind.RESHAPE;
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

    /** No forward tensor: shapes are static. */
    @Override
    public List<TensorRef> gradientReads(int i) {
        return List.of();
    }

    /** The attributes, every one written. */
    @Override
    public ObjectNode encodeAttrs() {
        ObjectNode o = OpAttrs.object();
        o.set("shape", OpAttrs.array(shape));
        return o;
    }

    /** 0: it only moves memory. */
    @Override
    public long forwardFlops(List<long[]> in, List<long[]> out) {
        return 0;
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
