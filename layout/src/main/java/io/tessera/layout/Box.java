package io.tessera.layout;

import java.util.Arrays;

/**
 * A hyper-rectangle of tensor elements: {@code [start[i], end[i])} in each dimension, in global coordinates.
 * Immutable; arrays are copied in and out. A box whose extent is zero in some dimension is empty.
 */
public record Box(long[] start, long[] end) {

    /** Validates that both corners have one entry per dimension and {@code start <= end}. */
    public Box {
        if (start == null || end == null) {
            throw new IllegalArgumentException("Box: start and end must not be null");
        }
        if (start.length != end.length) {
            throw new IllegalArgumentException("Box: start has " + start.length + " dims but end has "
                    + end.length + "; give one bound per dimension");
        }
        start = start.clone();
        end = end.clone();
        for (int i = 0; i < start.length; i++) {
            if (start[i] < 0 || end[i] < start[i]) {
                throw new IllegalArgumentException("Box: dim " + i + " is [" + start[i] + ", " + end[i]
                        + "); expected 0 <= start <= end");
            }
        }
    }

    /** A box from its corners. */
    public static Box of(long[] start, long[] end) {
        return new Box(start, end);
    }

    /** The whole tensor of the given shape. */
    public static Box full(long[] shape) {
        return new Box(new long[shape.length], shape);
    }

    @Override
    public long[] start() {
        return start.clone();
    }

    @Override
    public long[] end() {
        return end.clone();
    }

    /** Number of dimensions. */
    public int rank() {
        return start.length;
    }

    /** Start of dimension {@code i}. */
    public long start(int i) {
        return start[i];
    }

    /** End (exclusive) of dimension {@code i}. */
    public long end(int i) {
        return end[i];
    }

    /** Extent of dimension {@code i}. */
    public long extent(int i) {
        return end[i] - start[i];
    }

    /** The extents of all dimensions. */
    public long[] shape() {
        long[] s = new long[start.length];
        for (int i = 0; i < s.length; i++) {
            s[i] = end[i] - start[i];
        }
        return s;
    }

    /** Number of elements (1 for a 0-d box). */
    public long volume() {
        long v = 1;
        for (int i = 0; i < start.length; i++) {
            v *= end[i] - start[i];
        }
        return v;
    }

    /** True when the box holds no element. */
    public boolean isEmpty() {
        for (int i = 0; i < start.length; i++) {
            if (end[i] <= start[i]) {
                return true;
            }
        }
        return false;
    }

    /** The intersection with {@code other}; empty (never null) when they do not overlap. */
    public Box intersect(Box other) {
        checkRank(other);
        long[] s = new long[start.length];
        long[] e = new long[start.length];
        for (int i = 0; i < s.length; i++) {
            s[i] = Math.max(start[i], other.start[i]);
            e[i] = Math.max(s[i], Math.min(end[i], other.end[i]));
        }
        return new Box(s, e);
    }

    /** True when every element of {@code other} lies in this box (an empty box is contained in any box). */
    public boolean contains(Box other) {
        checkRank(other);
        if (other.isEmpty()) {
            return true;
        }
        for (int i = 0; i < start.length; i++) {
            if (other.start[i] < start[i] || other.end[i] > end[i]) {
                return false;
            }
        }
        return true;
    }

    private void checkRank(Box other) {
        if (other.rank() != rank()) {
            throw new IllegalArgumentException("Box: cannot combine a " + rank() + "-d box with a "
                    + other.rank() + "-d box");
        }
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Box b && Arrays.equals(start, b.start) && Arrays.equals(end, b.end);
    }

    @Override
    public int hashCode() {
        return 31 * Arrays.hashCode(start) + Arrays.hashCode(end);
    }

    /** Prints as {@code [[0, 4), [0, 8)]}. */
    @Override
    public String toString() {
        StringBuilder sb = new StringBuilder("[");
        for (int i = 0; i < start.length; i++) {
            if (i > 0) {
                sb.append(", ");
            }
            sb.append('[').append(start[i]).append(", ").append(end[i]).append(')');
        }
        return sb.append(']').toString();
    }
}
