package io.tessera.planner.op;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * An operator strategy ({@code in_strategy} or {@code out_strategy}): one tuple per tensor, one number of slices per
 * tensor dimension. Immutable; arrays are copied in and out.
 *
 * @param tuples one tuple per tensor
 */
public record Strategy(List<int[]> tuples) {

    /** Copies the tuples. */
    public Strategy {
        if (tuples == null) {
            throw new IllegalArgumentException("strategy: found null; expected one tuple per input");
        }
        List<int[]> copy = new ArrayList<>(tuples.size());
        for (int[] t : tuples) {
            if (t == null) {
                throw new IllegalArgumentException("strategy: found a null tuple; expected one tuple per input");
            }
            copy.add(t.clone());
        }
        tuples = List.copyOf(copy);
    }

    /** A strategy from tuples, e.g. {@code Strategy.of(new int[] {2, 4}, new int[] {4, 1})}. */
    public static Strategy of(int[]... tuples) {
        return new Strategy(Arrays.asList(tuples));
    }

    @Override
    public List<int[]> tuples() {
        List<int[]> out = new ArrayList<>(tuples.size());
        for (int[] t : tuples) {
            out.add(t.clone());
        }
        return out;
    }

    /** Number of tuples. */
    public int size() {
        return tuples.size();
    }

    /** A copy of tuple {@code i}. */
    public int[] tuple(int i) {
        return tuples.get(i).clone();
    }

    /** Number of slices of dimension {@code dim} of tensor {@code i}. */
    public int get(int i, int dim) {
        return tuples.get(i)[dim];
    }

    @Override
    public boolean equals(Object o) {
        if (!(o instanceof Strategy s) || s.tuples.size() != tuples.size()) {
            return false;
        }
        for (int i = 0; i < tuples.size(); i++) {
            if (!Arrays.equals(tuples.get(i), s.tuples.get(i))) {
                return false;
            }
        }
        return true;
    }

    @Override
    public int hashCode() {
        int h = 1;
        for (int[] t : tuples) {
            h = h * 31 + Arrays.hashCode(t);
        }
        return h;
    }

    /** Prints as {@code [[2, 4], [4, 1]]}. */
    @Override
    public String toString() {
        StringBuilder sb = new StringBuilder("[");
        for (int i = 0; i < tuples.size(); i++) {
            sb.append(i > 0 ? ", " : "").append(Arrays.toString(tuples.get(i)));
        }
        return sb.append(']').toString();
    }
}
