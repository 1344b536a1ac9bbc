package io.tessera.planner.strategy;

import io.tessera.planner.op.Strategy;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * One {@code parallel_strategy_item} of a strategy checkpoint (spec §7): the in_strategy of an operator that has a
 * parameter input. Arrays are copied in and out.
 *
 * @param stage            the pipeline stage of the operator, >= 0
 * @param parallelStrategy {@code parallel_strategy}: one tuple per input, values >= 1, at least one tuple
 */
public record StrategyItem(int stage, List<int[]> parallelStrategy) {

    /** Validates and copies. */
    public StrategyItem {
        if (stage < 0) {
            throw new IllegalArgumentException("stage: found " + stage + "; expected a pipeline stage >= 0");
        }
        if (parallelStrategy == null || parallelStrategy.isEmpty()) {
            throw new IllegalArgumentException("parallel_strategy: found " + (parallelStrategy == null ? "null" : "[]")
                    + "; expected one tuple per input, e.g. [[2, 1], [4, 1]]");
        }
        List<int[]> copy = new ArrayList<>(parallelStrategy.size());
        for (int[] t : parallelStrategy) {
            if (t == null) {
                throw new IllegalArgumentException("parallel_strategy: found a null tuple; expected one tuple of "
                        + "positive ints per input");
            }
            for (int v : t) {
                if (v < 1) {
                    throw new IllegalArgumentException("parallel_strategy: found " + Arrays.toString(t)
                            + "; expected numbers of slices >= 1");
                }
            }
            copy.add(t.clone());
        }
        parallelStrategy = List.copyOf(copy);
    }

    /** An item from a strategy. */
    public static StrategyItem of(int stage, Strategy strategy) {
        if (strategy == null) {
            throw new IllegalArgumentException("parallel_strategy: found null; expected one tuple per input");
        }
        return new StrategyItem(stage, strategy.tuples());
    }

    /** Copies of the tuples. */
    @Override
    public List<int[]> parallelStrategy() {
        List<int[]> out = new ArrayList<>(parallelStrategy.size());
        for (int[] t : parallelStrategy) {
            out.add(t.clone());
        }
        return out;
    }

    /** The tuples as a {@link Strategy}. */
    public Strategy strategy() {
        return new Strategy(parallelStrategy);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof StrategyItem s && s.stage == stage && strategy().equals(s.strategy());
    }

    @Override
    public int hashCode() {
        return 31 * stage + strategy().hashCode();
    }

    /** Prints as {@code StrategyItem[stage=0, parallelStrategy=[[2, 1], [4, 1]]]}. */
    @Override
    public String toString() {
        return "StrategyItem[stage=" + stage + ", parallelStrategy=" + strategy() + "]";
    }
}
