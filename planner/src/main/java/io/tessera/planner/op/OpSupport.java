package io.tessera.planner.op;

import java.util.Arrays;

/** Small helpers shared by the operator records of this package. */
final class OpSupport {

    private OpSupport() {
    }

    /** A tuple for {@code t}: dim 0 split over {@link Sharding#fit}{@code (dim0, devices)}, other dims 1. */
    static int[] batchSplit(TensorType t, int devices) {
        int[] s = ones(t.rank());
        if (s.length > 0) {
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

    /** Rejects a non-null out_strategy for an operator that does not take one. */
    static void rejectOutStrategy(String label, Strategy out) {
        if (out != null) {
            throw new IllegalArgumentException(label + ": out_strategy " + out + " is given but this operator "
                    + "does not accept one; remove it (the output layout follows from in_strategy)");
        }
    }

    /** Checks the input count. */
    static void checkInputCount(String label, java.util.List<TensorType> inputs, int expected, String what) {
        if (inputs.size() != expected) {
            throw new IllegalArgumentException(label + ": found " + inputs.size() + " inputs; expected " + expected
                    + " (" + what + ")");
        }
    }
}
