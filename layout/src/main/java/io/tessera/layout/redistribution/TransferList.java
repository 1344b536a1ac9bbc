package io.tessera.layout.redistribution;

import io.tessera.layout.Box;

import java.util.AbstractList;
import java.util.Arrays;
import java.util.List;
import java.util.RandomAccess;

/**
 * An immutable list of transfers kept as arrays (ranks and box corners), each {@link Transfer} made when read: a
 * redistribution over 1,024 ranks moves up to a million pieces, which as objects would take about 100 bytes each and
 * weigh on the garbage collector; here they take {@code 8 + 16 * rank} bytes in a few arrays. Equal, element by
 * element, to any list of the same transfers.
 */
public final class TransferList extends AbstractList<Transfer> implements RandomAccess {

    private final int dims;
    private final int[] src;
    private final int[] dst;
    /** Per transfer {@code 2 * dims} longs: the box's start corner, then its end corner. */
    private final long[] corners;

    private TransferList(int dims, int[] src, int[] dst, long[] corners) {
        this.dims = dims;
        this.src = src;
        this.dst = dst;
        this.corners = corners;
    }

    /** {@code transfers} itself when it is a {@code TransferList} (immutable), else {@link List#copyOf} of it. */
    public static List<Transfer> copyOf(List<Transfer> transfers) {
        return transfers instanceof TransferList l ? l : List.copyOf(transfers);
    }

    @Override
    public Transfer get(int i) {
        int at = check(i) * 2 * dims;
        return new Transfer(src[i], dst[i], Box.of(Arrays.copyOfRange(corners, at, at + dims),
                Arrays.copyOfRange(corners, at + dims, at + 2 * dims)));
    }

    @Override
    public int size() {
        return src.length;
    }

    /** The sending rank of transfer {@code i}. */
    public int src(int i) {
        return src[check(i)];
    }

    /** The receiving rank of transfer {@code i}. */
    public int dst(int i) {
        return dst[check(i)];
    }

    /** Elements transfer {@code i} moves (its box's volume). */
    public long elements(int i) {
        int at = check(i) * 2 * dims;
        long v = 1;
        for (int d = 0; d < dims; d++) {
            v *= corners[at + dims + d] - corners[at + d];
        }
        return v;
    }

    @Override
    public boolean equals(Object o) {
        if (o instanceof TransferList l) {
            return dims == l.dims && Arrays.equals(src, l.src) && Arrays.equals(dst, l.dst)
                    && Arrays.equals(corners, l.corners);
        }
        return super.equals(o);
    }

    @Override
    public int hashCode() {
        return super.hashCode();
    }

    private int check(int i) {
        if (i < 0 || i >= src.length) {
            throw new IndexOutOfBoundsException("transfer " + i + " of " + src.length + "; expected 0.."
                    + (src.length - 1));
        }
        return i;
    }

    /**
     * Collects transfers of boxes of {@code dims} dimensions, then makes lists of some of them in a chosen order.
     * Not thread-safe.
     */
    static final class Builder {
        private final int dims;
        private int size;
        private int[] src;
        private int[] dst;
        private long[] corners;

        /** An empty builder of transfers of {@code dims}-dimensional boxes, room made for {@code capacity}. */
        Builder(int dims, int capacity) {
            this.dims = dims;
            int room = Math.max(1, capacity);
            this.src = new int[room];
            this.dst = new int[room];
            this.corners = new long[room * 2 * dims];
        }

        /** Adds the transfer of box {@code [start, end)} from rank {@code from} to rank {@code to}. */
        void add(int from, int to, long[] start, long[] end) {
            if (from < 0 || to < 0 || from == to) {
                throw new IllegalArgumentException("transfer " + from + " -> " + to
                        + ": expected two distinct non-negative ranks");
            }
            if (size == src.length) {
                int grown = size * 2;
                src = Arrays.copyOf(src, grown);
                dst = Arrays.copyOf(dst, grown);
                corners = Arrays.copyOf(corners, grown * 2 * dims);
            }
            int at = size * 2 * dims;
            for (int d = 0; d < dims; d++) {
                if (end[d] <= start[d]) {
                    throw new IllegalArgumentException("transfer " + from + " -> " + to + ": dim " + d + " is ["
                            + start[d] + ", " + end[d] + "); expected at least one element");
                }
                corners[at + d] = start[d];
                corners[at + dims + d] = end[d];
            }
            src[size] = from;
            dst[size] = to;
            size++;
        }

        /** How many transfers it holds. */
        int size() {
            return size;
        }

        /** The sending rank of transfer {@code i}. */
        int src(int i) {
            return src[i];
        }

        /** The receiving rank of transfer {@code i}. */
        int dst(int i) {
            return dst[i];
        }

        /** Extent of transfer {@code i}'s box in dimension {@code d}. */
        long extent(int i, int d) {
            int at = i * 2 * dims;
            return corners[at + dims + d] - corners[at + d];
        }

        /** Whether transfers {@code i} and {@code j} move the same box. */
        boolean sameBox(int i, int j) {
            return Arrays.equals(corners, i * 2 * dims, (i + 1) * 2 * dims, corners, j * 2 * dims,
                    (j + 1) * 2 * dims);
        }

        /**
         * The transfers at {@code order}'s indices, in that order. When that is every transfer in the order added
         * and the builder is full, the list takes over the builder's arrays: add nothing afterwards.
         */
        TransferList list(int[] order) {
            if (order.length == size && size == src.length) {
                boolean identity = true;
                for (int k = 0; k < order.length && identity; k++) {
                    identity = order[k] == k;
                }
                if (identity) {
                    return new TransferList(dims, src, dst, corners);
                }
            }
            int[] s = new int[order.length];
            int[] d = new int[order.length];
            long[] c = new long[order.length * 2 * dims];
            for (int k = 0; k < order.length; k++) {
                int i = order[k];
                s[k] = src[i];
                d[k] = dst[i];
                System.arraycopy(corners, i * 2 * dims, c, k * 2 * dims, 2 * dims);
            }
            return new TransferList(dims, s, d, c);
        }
    }
}
