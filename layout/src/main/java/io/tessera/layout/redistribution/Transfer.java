package io.tessera.layout.redistribution;

import io.tessera.layout.Box;

/**
 * One point-to-point movement of a box of elements inside a communication step.
 *
 * @param src the sending rank
 * @param dst the receiving rank, different from {@code src}
 * @param box the elements moved, in global tensor coordinates; never empty
 */
public record Transfer(int src, int dst, Box box) {

    /** Validates distinct non-negative ranks and a non-empty box. */
    public Transfer {
        if (src < 0 || dst < 0 || src == dst) {
            throw new IllegalArgumentException("transfer " + src + " -> " + dst
                    + ": expected two distinct non-negative ranks");
        }
        if (box == null || box.isEmpty()) {
            throw new IllegalArgumentException("transfer " + src + " -> " + dst + ": box " + box
                    + " is empty; expected at least one element");
        }
    }

    /** Elements moved. */
    public long elements() {
        return box.volume();
    }
}
