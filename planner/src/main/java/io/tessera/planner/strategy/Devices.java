package io.tessera.planner.strategy;

import io.tessera.layout.Limits;

import java.util.Arrays;

/**
 * The devices a strategy file plans for: a count ({@code "devices": 8}) or a device matrix
 * ({@code "devices": {"dev_matrix": [2, 4]}}, ranks row-major over it, the last dimension fastest).
 */
public sealed interface Devices permits Devices.Count, Devices.Matrix {

    /** The number of devices, >= 1. */
    int count();

    /** {@code n} devices. */
    static Count count(int n) {
        return new Count(n);
    }

    /** A device matrix, e.g. {@code matrix(2, 4)}. */
    static Matrix matrix(int... dims) {
        return new Matrix(dims);
    }

    /**
     * A number of devices.
     *
     * @param n the number of devices, >= 1
     */
    record Count(int n) implements Devices {

        /** Validates the count. */
        public Count {
            if (n < 1) {
                throw new IllegalArgumentException("devices: found " + n + "; expected a number of devices >= 1");
            }
            Limits.Limit.DEVICES.check("devices", n);
        }

        @Override
        public int count() {
            return n;
        }
    }

    /**
     * A device matrix.
     *
     * @param dims the dimensions, each >= 1, at least one; their product is the number of devices
     */
    record Matrix(int[] dims) implements Devices {

        /** Validates and copies the dimensions. */
        public Matrix {
            if (dims == null || dims.length == 0) {
                throw new IllegalArgumentException("devices.dev_matrix: found " + (dims == null ? "null" : "[]")
                        + "; expected a non-empty list of positive ints, e.g. [2, 4]");
            }
            long product = 1;
            for (int d : dims) {
                if (d < 1) {
                    throw new IllegalArgumentException("devices.dev_matrix: found " + Arrays.toString(dims)
                            + "; expected positive dimensions, e.g. [2, 4]");
                }
                product *= d;
                if (product > Integer.MAX_VALUE) {
                    throw new IllegalArgumentException("devices.dev_matrix: found " + Arrays.toString(dims)
                            + "; expected at most " + Integer.MAX_VALUE + " devices in all");
                }
            }
            Limits.Limit.DEVICES.check("devices.dev_matrix " + Arrays.toString(dims) + ": devices", product);
            dims = dims.clone();
        }

        /** A copy of the dimensions. */
        @Override
        public int[] dims() {
            return dims.clone();
        }

        /** The product of the dimensions. */
        @Override
        public int count() {
            int p = 1;
            for (int d : dims) {
                p *= d;
            }
            return p;
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof Matrix m && Arrays.equals(dims, m.dims);
        }

        @Override
        public int hashCode() {
            return Arrays.hashCode(dims);
        }

        /** Prints as {@code Matrix[dims=[2, 4]]}. */
        @Override
        public String toString() {
            return "Matrix[dims=" + Arrays.toString(dims) + "]";
        }
    }
}
