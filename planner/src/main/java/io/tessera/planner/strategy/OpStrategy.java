package io.tessera.planner.strategy;

import io.tessera.planner.op.Strategy;

import java.util.Arrays;

/**
 * The strategy a file gives one operator ({@code operators.<name>}), as MindSpore's
 * {@code op.shard(in_strategy, out_strategy)}. Only the shape of the values is checked here (at least one tuple,
 * every value >= 1); the operator's rule checks the rest when the plan is made.
 *
 * @param in  {@code in_strategy}: one tuple per input, required
 * @param out {@code out_strategy}: one tuple per output, or null when not given (only some operators accept one)
 */
public record OpStrategy(Strategy in, Strategy out) {

    /** Validates both strategies. */
    public OpStrategy {
        checkPositive(in, "in_strategy");
        if (out != null) {
            checkPositive(out, "out_strategy");
        }
    }

    /** An in_strategy only. */
    public static OpStrategy of(Strategy in) {
        return new OpStrategy(in, null);
    }

    /** An in_strategy and an out_strategy (nullable). */
    public static OpStrategy of(Strategy in, Strategy out) {
        return new OpStrategy(in, out);
    }

    /** Whether an out_strategy is given. */
    public boolean hasOut() {
        return out != null;
    }

    static void checkPositive(Strategy s, String what) {
        if (s == null || s.size() == 0) {
            throw new IllegalArgumentException(what + ": found " + (s == null ? "null" : "[]")
                    + "; expected at least one tuple of positive integers, e.g. [[2, 4], [4, 1]]");
        }
        for (int i = 0; i < s.size(); i++) {
            for (int v : s.tuple(i)) {
                if (v < 1) {
                    throw new IllegalArgumentException(what + ": found " + s + " with "
                            + v + " in tuple " + i + " " + Arrays.toString(s.tuple(i))
                            + "; expected numbers of slices >= 1");
                }
            }
        }
    }
}
