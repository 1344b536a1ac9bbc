package io.tessera.planner.op;

import io.tessera.layout.redistribution.ReduceOp;

import java.util.Arrays;
import java.util.List;

/**
 * Package-private steps shared by the element-wise and normalisation rules: input-count and out_strategy checks, the
 * identity mapping of tensor dimensions to device dimensions, and the data-parallel tuple of one tensor.
 */
final class Elementwise {

    private Elementwise() {
    }

    /** Checks that {@code inputs} has {@code count} entries, naming them ({@code what}, e.g. "x and bias"). */
    static void checkCount(String label, List<TensorType> inputs, int count, String what) {
        if (inputs == null || inputs.size() != count) {
            throw new IllegalArgumentException(label + ": found " + (inputs == null ? 0 : inputs.size()) + " input"
                    + (inputs != null && inputs.size() == 1 ? "" : "s") + "; expected " + count + " (" + what + ")");
        }
    }

    /** Rejects an out_strategy: the operator's output layouts follow from its in_strategy. */
    static void rejectOutStrategy(String label, Strategy out) {
        if (out != null) {
            throw new IllegalArgumentException(label + ": out_strategy " + out + " is not supported; this operator's"
                    + " output layout follows from its in_strategy, so remove out_strategy");
        }
    }

    /** Tensor dimension {@code i} split by operator device dimension {@code i}, for {@code rank} dimensions. */
    static int[][] identity(int rank) {
        int[][] dims = new int[rank][];
        for (int i = 0; i < rank; i++) {
            dims[i] = new int[] {i};
        }
        return dims;
    }

    /** Tensor dimension {@code j} split by operator device dimension {@code offset + j}, for {@code rank} dims. */
    static int[][] shifted(int rank, int offset) {
        int[][] dims = new int[rank][];
        for (int j = 0; j < rank; j++) {
            dims[j] = new int[] {offset + j};
        }
        return dims;
    }

    /** A tuple of ones with dimension 0 split over {@link Sharding#fit} of its size (all ones for a scalar). */
    static int[] batchTuple(TensorType t, int devices) {
        int[] s = ones(t.rank());
        if (t.rank() > 0) {
            s[0] = Sharding.fit(t.dim(0), devices);
        }
        return s;
    }

    /** A tuple of {@code n} ones. */
    static int[] ones(int n) {
        int[] s = new int[n];
        Arrays.fill(s, 1);
        return s;
    }

    /** Normalises a possibly negative axis against {@code rank}, naming the attribute in the message. */
    static int axis(String label, String attribute, int axis, TensorType t) {
        int r = t.rank();
        if (axis < -r || axis >= r) {
            throw new IllegalArgumentException(label + ": " + attribute + " " + axis + " is out of range for input 0 "
                    + t + "; expected an axis in [" + (-r) + ", " + (r - 1) + "]");
        }
        return axis < 0 ? axis + r : axis;
    }

    /**
     * The sharding of a one-input operator whose output has the input's layout (spec §3: activations, Dropout,
     * Cast, Softmax): the device matrix is the strategy, every dimension maps to its own device dimension.
     */
    static OpSharding sameLayout(String label, TensorType input, Strategy in, Strategy out, int devices,
                                 boolean needsGrad) {
        rejectOutStrategy(label, out);
        Sharding.checkStrategy(label, List.of(input), in);
        int[][] dims = identity(input.rank());
        return Sharding.derive(label, in.tuple(0), List.<int[][]>of(dims), List.<int[][]>of(dims),
                new boolean[] {needsGrad}, devices, ReduceOp.SUM, "", List.of());
    }
}
