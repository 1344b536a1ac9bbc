package io.tessera.planner.cost;

import java.util.Locale;

/** Which forward activations are dropped after the forward and recomputed in the backward. */
public enum Recompute {
    /** Every activation is kept until its backward. */
    NONE,
    /**
     * The attention scores and softmax (each {@code Softmax} operator and its producers back to the score
     * {@code MatMul}) are recomputed before the backward; their activations are not kept.
     */
    SELECTIVE,
    /**
     * Only each micro-batch's stage input is kept; the backward first re-runs the stage's whole forward of that
     * micro-batch.
     */
    FULL;

    /** The name on the command line: {@code none}, {@code selective} or {@code full}. */
    public String cliName() {
        return name().toLowerCase(Locale.ROOT);
    }

    /**
     * The mode named {@code text} ({@code none}, {@code selective}, {@code full}, case-insensitive).
     *
     * @throws IllegalArgumentException for any other text
     */
    public static Recompute parse(String text) {
        for (Recompute r : values()) {
            if (r.cliName().equals(String.valueOf(text).toLowerCase(Locale.ROOT))) {
                return r;
            }
        }
        throw new IllegalArgumentException("recompute '" + text + "' is unknown; expected none, selective or full");
    }
}
