package io.tessera.planner.op;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.tessera.layout.DType;
import io.tessera.layout.redistribution.ReduceOp;

import java.util.Arrays;
import java.util.List;

/**
 * The element-wise binary operators {@code Add}, {@code Sub}, {@code Mul} and {@code Div} with numpy broadcasting:
 * shapes are right-aligned, a missing or size-1 dimension is broadcast, and the output has the broadcast shape.
 *
 * <p>Rule (spec §3): strategies are right-aligned like the shapes; where both inputs have a dimension of size above
 * 1 their splits must be equal, and a size-1 (broadcast) dimension must not be split. The device matrix takes the
 * larger split per output dimension and the output map is full. There is no forward communication; an input that is
 * broadcast along a split dimension (a bias {@code [C]} added to {@code [N, C]}) receives a partial gradient on each
 * rank along it, summed by a backward AllReduce.
 *
 * <p>Types: inputs of the same dtype give that dtype; an integer or boolean input combined with a floating one gives
 * the floating dtype; other mixes are rejected (insert a {@code Cast}).
 *
 * @param kind which of the four operators
 */
public record Binary(Kind kind) implements Operator {

    /** The four operators, with MindSpore's primitive names. */
    public enum Kind {
        /** {@code Add}: x + y. */
        ADD("Add"),
        /** {@code Sub}: x - y. */
        SUB("Sub"),
        /** {@code Mul}: x * y. */
        MUL("Mul"),
        /** {@code Div}: x / y. */
        DIV("Div");

        private final String type;

        Kind(String type) {
            this.type = type;
        }

        /** MindSpore's primitive name, e.g. {@code Add}. */
        public String type() {
            return type;
        }
    }

    /** Validates the kind. */
    public Binary {
        if (kind == null) {
            throw new IllegalArgumentException("Binary: kind is null; expected one of "
                    + Arrays.toString(Kind.values()));
        }
    }

    /** {@code Add}. */
    public static Binary add() {
        return new Binary(Kind.ADD);
    }

    /** {@code Sub}. */
    public static Binary sub() {
        return new Binary(Kind.SUB);
    }

    /** {@code Mul}. */
    public static Binary mul() {
        return new Binary(Kind.MUL);
    }

    /** {@code Div}. */
    public static Binary div() {
        return new Binary(Kind.DIV);
    }

    @Override
    public String type() {
        return kind.type();
    }

    @Override
    public int inputCount() {
        return 2;
    }

    @Override
    public List<TensorType> outputs(String name, List<TensorType> inputs) {
        String label = Sharding.label(this, name);
        Elementwise.checkCount(label, inputs, 2, "x and y");
        TensorType a = inputs.get(0);
        TensorType b = inputs.get(1);
        int r = Math.max(a.rank(), b.rank());
        long[] out = new long[r];
        for (int i = 0; i < r; i++) {
            long da = dimAt(a, i, r);
            long db = dimAt(b, i, r);
            if (da != db && da != 1 && db != 1) {
                throw new IllegalArgumentException(label + ": input 0 " + a + " and input 1 " + b
                        + " do not broadcast: output dim " + i + " is " + da + " in input 0 but " + db
                        + " in input 1; right-aligned dimensions must be equal or 1");
            }
            out[i] = Math.max(da, db);
        }
        return List.of(new TensorType(out, resultType(label, a.dtype(), b.dtype())));
    }

    private static DType resultType(String label, DType a, DType b) {
        if (a == b) {
            return a;
        }
        if (a.isFloating() != b.isFloating()) {
            return a.isFloating() ? a : b;
        }
        throw new IllegalArgumentException(label + ": input 0 is " + a + " but input 1 is " + b
                + "; expected the same dtype (or one integer and one floating input): insert a Cast");
    }

    /** Size of right-aligned output position {@code i} (of {@code r}) in {@code t}; 1 when {@code t} lacks it. */
    private static long dimAt(TensorType t, int i, int r) {
        int own = i - (r - t.rank());
        return own < 0 ? 1 : t.dim(own);
    }

    /**
     * Dimension 0 of the output split over {@link Sharding#fit} of its size, in each input that has it with a size
     * above 1; everything else 1.
     */
    @Override
    public Strategy dataParallel(List<TensorType> inputs, int devices) {
        TensorType a = inputs.get(0);
        TensorType b = inputs.get(1);
        int r = Math.max(a.rank(), b.rank());
        int[] sa = Elementwise.ones(a.rank());
        int[] sb = Elementwise.ones(b.rank());
        if (r > 0) {
            int split = Sharding.fit(Math.max(dimAt(a, 0, r), dimAt(b, 0, r)), devices);
            if (a.rank() == r && a.dim(0) > 1) {
                sa[0] = split;
            }
            if (b.rank() == r && b.dim(0) > 1) {
                sb[0] = split;
            }
        }
        return Strategy.of(sa, sb);
    }

    @Override
    public OpSharding shard(String name, List<TensorType> inputs, Strategy in, Strategy out, int devices) {
        String label = Sharding.label(this, name);
        outputs(name, inputs);
        Elementwise.rejectOutStrategy(label, out);
        checkBroadcastDims(label, inputs, in);
        Sharding.checkStrategy(label, inputs, in);
        TensorType a = inputs.get(0);
        TensorType b = inputs.get(1);
        int[] sa = in.tuple(0);
        int[] sb = in.tuple(1);
        int r = Math.max(a.rank(), b.rank());
        int[] dev = new int[r];
        int[][] dimsA = new int[a.rank()][];
        int[][] dimsB = new int[b.rank()][];
        for (int i = 0; i < r; i++) {
            int offA = i - (r - a.rank());
            int offB = i - (r - b.rank());
            int splitA = offA < 0 ? 1 : sa[offA];
            int splitB = offB < 0 ? 1 : sb[offB];
            if (offA >= 0 && offB >= 0 && a.dim(offA) > 1 && b.dim(offB) > 1) {
                Sharding.checkEqual(label, "input 1 dim " + offB, splitB, "input 0 dim " + offA, splitA,
                        "dimensions that are not broadcast must be split equally");
            }
            dev[i] = Math.max(splitA, splitB);
            // every dimension keeps its device dimension, even split once; a broadcast size-1 dimension under a
            // split device dimension is not split
            if (offA >= 0) {
                dimsA[offA] = splitA == dev[i] ? new int[] {i} : new int[0];
            }
            if (offB >= 0) {
                dimsB[offB] = splitB == dev[i] ? new int[] {i} : new int[0];
            }
        }
        return Sharding.derive(label, dev, List.of(dimsA, dimsB), List.<int[][]>of(Elementwise.identity(r)),
                new boolean[] {a.dtype().isFloating(), b.dtype().isFloating()}, devices, ReduceOp.SUM,
                "element-wise operators do not reduce", List.of());
    }

    /**
     * Rejects a split of a size-1 (broadcast) dimension with a message naming the broadcast rule, before the generic
     * divisibility check would report it less clearly. Malformed strategies are left to the generic check.
     */
    private static void checkBroadcastDims(String label, List<TensorType> inputs, Strategy in) {
        if (in == null || in.size() != inputs.size()) {
            return;
        }
        for (int i = 0; i < inputs.size(); i++) {
            TensorType t = inputs.get(i);
            int[] s = in.tuple(i);
            if (s.length != t.rank()) {
                return;
            }
            for (int d = 0; d < s.length; d++) {
                if (t.dim(d) == 1 && s[d] > 1) {
                    throw new IllegalArgumentException(label + ": input " + i + " dim " + d + " has size 1 (it is "
                            + "broadcast) but is split " + s[d] + " ways; a broadcast dimension must not be split: "
                            + "set it to 1");
                }
            }
        }
    }

    @Override
    public OperatorKind operatorKind() {
        return OperatorKind.BINARY;
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

    /** Add and Sub need nothing; Mul reads the other input; Div: dx = dout / y, dy = -dout * out / y. */
    @Override
    public List<TensorRef> gradientReads(int i) {
        switch (kind) {
            case ADD:
            case SUB:
                return List.of();
            case MUL:
                return List.of(TensorRef.input(1 - i));
            case DIV:
                return i == 0 ? List.of(TensorRef.input(1)) : List.of(TensorRef.input(1), TensorRef.output(0));
            default:
                throw new IllegalStateException("unreachable: " + kind);
        }
    }

    /** No attributes: an empty object. */
    @Override
    public ObjectNode encodeAttrs() {
        return OpAttrs.object();
    }

    /** {@link Flops#BINARY} per output element. */
    @Override
    public long forwardFlops(List<long[]> in, List<long[]> out) {
        return Flops.BINARY * Flops.volume(out.get(0));
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
