package io.tessera.planner.strategy;

import java.util.Arrays;

/**
 * How one kind of communication is fused into buckets ({@code parallel.comm_fusion.<kind>}): {@code auto} (64 MB
 * buckets), {@code size} (buckets of a given number of MB) or {@code index} (AllReduce only: bucket boundaries at
 * the given parameter indices).
 */
public sealed interface CommFusionMode permits CommFusionMode.Auto, CommFusionMode.Size, CommFusionMode.Index {

    /** Bytes in one MB as MindSpore counts it: 1024 * 1024. */
    long BYTES_PER_MB = 1024L * 1024L;

    /** The mode's name in strategy files: {@code auto}, {@code size} or {@code index}. */
    String modeName();

    /** {@code auto}: 64 MB buckets. */
    static Auto auto() {
        return new Auto();
    }

    /** {@code size}: buckets of {@code mb} MB. */
    static Size size(double mb) {
        return new Size(mb);
    }

    /** {@code index}: boundaries at the given ascending parameter indices. */
    static Index index(int... indices) {
        return new Index(indices);
    }

    /** {@code {"mode": "auto"}}: buckets of {@link #AUTO_BUCKET_MB} MB; takes no config. */
    record Auto() implements CommFusionMode {

        /** The bucket size of auto mode, 64 MB. */
        public static final int AUTO_BUCKET_MB = 64;

        @Override
        public String modeName() {
            return "auto";
        }

        /** The bucket size in bytes, 64 MB. */
        public long bucketBytes() {
            return AUTO_BUCKET_MB * BYTES_PER_MB;
        }
    }

    /**
     * {@code {"mode": "size", "config": 32}}: a new bucket starts when the running one would pass {@code mb} MB.
     *
     * @param mb the bucket size in MB, finite and > 0
     */
    record Size(double mb) implements CommFusionMode {

        /** Validates the size. */
        public Size {
            if (!(mb > 0) || !Double.isFinite(mb)) {
                throw new IllegalArgumentException("comm_fusion size mode: found config " + mb
                        + "; expected a bucket size in MB > 0, e.g. 32");
            }
        }

        @Override
        public String modeName() {
            return "size";
        }

        /** The bucket size in bytes, rounded down. */
        public long bucketBytes() {
            return (long) (mb * BYTES_PER_MB);
        }
    }

    /**
     * {@code {"mode": "index", "config": [20, 35]}}: AllReduce buckets end at these parameter indices.
     *
     * @param indices strictly ascending indices >= 0, at least one
     */
    record Index(int[] indices) implements CommFusionMode {

        /** Validates and copies the indices. */
        public Index {
            if (indices == null || indices.length == 0) {
                throw new IllegalArgumentException("comm_fusion index mode: found config "
                        + (indices == null ? "null" : "[]")
                        + "; expected a non-empty ascending list of parameter indices >= 0, e.g. [20, 35]");
            }
            for (int i = 0; i < indices.length; i++) {
                if (indices[i] < 0 || (i > 0 && indices[i] <= indices[i - 1])) {
                    throw new IllegalArgumentException("comm_fusion index mode: found config "
                            + Arrays.toString(indices)
                            + "; expected strictly ascending parameter indices >= 0, e.g. [20, 35]");
                }
            }
            indices = indices.clone();
        }

        @Override
        public String modeName() {
            return "index";
        }

        /** A copy of the indices. */
        @Override
        public int[] indices() {
            return indices.clone();
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof Index x && Arrays.equals(indices, x.indices);
        }

        @Override
        public int hashCode() {
            return Arrays.hashCode(indices);
        }

        /** Prints as {@code Index[indices=[20, 35]]}. */
        @Override
        public String toString() {
            return "Index[indices=" + Arrays.toString(indices) + "]";
        }
    }
}
