package io.tessera.planner.search;

import io.tessera.planner.strategy.SearchMode;

import java.util.List;

/**
 * One mode of the strategy search (see {@link Search}): from the prepared candidates and redistribution costs, the
 * complete plans it evaluated exactly, including the semi-auto default as a runner-up.
 */
sealed interface StrategySearch permits DynamicProgramming, ShardingPropagation {

    /** The label of the semi-auto default evaluated as a runner-up. */
    String BASELINE_LABEL = "semi-auto default (data parallel where not annotated)";

    /**
     * What a mode found.
     *
     * @param evaluated the plans it evaluated, in the order it evaluated them
     * @param notes     lines for the explanation (e.g. why it searched again with a memory price)
     */
    record Found(List<Candidate> evaluated, List<String> notes) {

        /** Validates and copies both lists. */
        public Found {
            if (evaluated == null || evaluated.isEmpty() || notes == null) {
                throw new IllegalArgumentException("search mode result: found " + (evaluated == null ? "no plans"
                        : evaluated.isEmpty() ? "0 plans" : "no notes") + "; expected at least one evaluated plan "
                        + "and a list of notes (possibly empty)");
            }
            evaluated = List.copyOf(evaluated);
            notes = List.copyOf(notes);
        }
    }

    /** The search of {@code mode} over {@code parts}. */
    static StrategySearch of(SearchMode mode, SearchParts parts) {
        return switch (mode) {
            case DYNAMIC_PROGRAMMING, RECURSIVE_PROGRAMMING -> new DynamicProgramming(parts);
            case SHARDING_PROPAGATION -> new ShardingPropagation(parts);
        };
    }

    /** What the mode does, for the progress line after the candidates are known (e.g. {@code propagating}). */
    String activity();

    /** Searches, evaluating the plans found exactly (the redistributions are already costed). */
    Found search();
}
