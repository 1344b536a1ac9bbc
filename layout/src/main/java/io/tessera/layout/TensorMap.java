package io.tessera.layout;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.BitSet;
import java.util.List;

/**
 * A tensor map ({@code tensor_map}): one entry per tensor dimension saying over which device dimensions it is split.
 * Device dimensions are counted <b>from the right</b>: map value {@code m} names device dimension
 * {@code dev[len(dev) - 1 - m]}. Immutable.
 *
 * @param entries one entry per tensor dimension
 */
public record TensorMap(List<Entry> entries) {

    /** One tensor dimension's entry: not split, split over one device dimension, or over several. */
    public sealed interface Entry permits NotSplit, Split, SplitMulti {
        /** The map values used by this entry, outermost first (empty when not split). */
        int[] axes();

        /** The entry for a plain value: {@code -1} is {@link NotSplit}, others {@link Split}. */
        static Entry of(int value) {
            return value == -1 ? NOT_SPLIT : new Split(value);
        }

        /** The entry for a list of values (a one-element list stays a list entry, to print back the same). */
        static Entry of(int[] values) {
            return new SplitMulti(values);
        }
    }

    /** {@code -1}: the dimension is not split. */
    public record NotSplit() implements Entry {
        @Override
        public int[] axes() {
            return new int[0];
        }

        @Override
        public String toString() {
            return "-1";
        }
    }

    /** {@code m >= 0}: split over device dimension {@code dev[len-1-m]}. */
    public record Split(int axis) implements Entry {
        /** Validates {@code axis >= 0}. */
        public Split {
            if (axis < 0) {
                throw new IllegalArgumentException("tensor_map: value " + axis + " is negative; expected -1 (not split)"
                        + " or a device dimension counted from the right (0, 1, ...)");
            }
        }

        @Override
        public int[] axes() {
            return new int[] {axis};
        }

        @Override
        public String toString() {
            return Integer.toString(axis);
        }
    }

    /**
     * A list of map values: the tensor dimension is split over the product of their device dimensions, the first
     * listed being the outermost.
     */
    public record SplitMulti(int[] axes) implements Entry {
        /** Validates a non-empty list of distinct non-negative values. */
        public SplitMulti {
            if (axes == null || axes.length == 0) {
                throw new IllegalArgumentException("tensor_map: found an empty list entry; expected at least one "
                        + "device dimension, or -1 for a dimension that is not split");
            }
            axes = axes.clone();
            for (int a : axes) {
                if (a < 0) {
                    throw new IllegalArgumentException("tensor_map: list entry " + Arrays.toString(axes)
                            + " holds " + a + "; list entries hold device dimensions >= 0 (use -1 alone for "
                            + "a dimension that is not split)");
                }
            }
        }

        @Override
        public int[] axes() {
            return axes.clone();
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof SplitMulti m && Arrays.equals(axes, m.axes);
        }

        @Override
        public int hashCode() {
            return Arrays.hashCode(axes);
        }

        @Override
        public String toString() {
            return Arrays.toString(axes);
        }
    }

    private static final NotSplit NOT_SPLIT = new NotSplit();

    /** Validates that no device dimension is used twice; copies the list. */
    public TensorMap {
        if (entries == null) {
            throw new IllegalArgumentException("tensor_map: found null; expected one entry per tensor dimension");
        }
        entries = List.copyOf(entries);
        BitSet seen = new BitSet();
        for (int i = 0; i < entries.size(); i++) {
            for (int a : entries.get(i).axes()) {
                if (seen.get(a)) {
                    throw new IllegalArgumentException("tensor_map " + render(entries) + ": device dimension " + a
                            + " is used twice (again by tensor dim " + i + "); a device dimension can split at most "
                            + "one tensor dimension once");
                }
                seen.set(a);
            }
        }
    }

    /** A map of plain values: {@code -1} or a device dimension counted from the right. */
    public static TensorMap of(int... values) {
        List<Entry> list = new ArrayList<>(values.length);
        for (int i = 0; i < values.length; i++) {
            if (values[i] < -1) {
                throw new IllegalArgumentException("tensor_map " + Arrays.toString(values) + ": dim " + i + " is "
                        + values[i] + "; expected -1 (not split) or a device dimension counted from the right "
                        + "(0, 1, ...)");
            }
            list.add(Entry.of(values[i]));
        }
        return new TensorMap(list);
    }

    /** A map from entries. */
    public static TensorMap of(List<Entry> entries) {
        return new TensorMap(entries);
    }

    /** The not-split entry. */
    public static Entry notSplit() {
        return NOT_SPLIT;
    }

    /** Number of tensor dimensions. */
    public int size() {
        return entries.size();
    }

    /** The entry of tensor dimension {@code i}. */
    public Entry entry(int i) {
        return entries.get(i);
    }

    /** The largest map value used, or -1 when nothing is split. */
    public int maxAxis() {
        int max = -1;
        for (Entry e : entries) {
            for (int a : e.axes()) {
                max = Math.max(max, a);
            }
        }
        return max;
    }

    /** True when every entry is a plain value (no list entries). */
    public boolean isPlain() {
        return entries.stream().noneMatch(e -> e instanceof SplitMulti);
    }

    /** The plain values ({@code -1} or a device dimension); list entries are rejected. */
    public int[] values() {
        int[] out = new int[entries.size()];
        for (int i = 0; i < out.length; i++) {
            Entry e = entries.get(i);
            if (e instanceof SplitMulti m) {
                throw new IllegalStateException("tensor_map " + this + ": dim " + i + " is the list " + m
                        + "; use entries() for maps with list entries");
            }
            out[i] = e instanceof Split s ? s.axis() : -1;
        }
        return out;
    }

    /** Prints as {@code [1, -1, [2, 0]]}. */
    @Override
    public String toString() {
        return render(entries);
    }

    private static String render(List<Entry> entries) {
        StringBuilder sb = new StringBuilder("[");
        for (int i = 0; i < entries.size(); i++) {
            if (i > 0) {
                sb.append(", ");
            }
            sb.append(entries.get(i));
        }
        return sb.append(']').toString();
    }
}
