package io.tessera.planner.search;

import io.tessera.planner.plan.PlanConfig;

import java.util.List;

/**
 * What a strategy search found. Immutable.
 *
 * @param best        the chosen semi-auto configuration: a strategy for every operator, data inputs laid out as their
 *                    first consumers need
 * @param bestSeconds its estimated step seconds ({@link Search#evaluate})
 * @param chosen      the chosen plan's evaluation
 * @param runnersUp   the other evaluated plans, best first (rejected ones, which do not fit memory, last)
 * @param explanation a human-readable account: objective, chosen strategies, runners-up with seconds and memory,
 *                    rejections and why
 */
public record SearchResult(PlanConfig best, double bestSeconds, Candidate chosen, List<Candidate> runnersUp,
                           String explanation) {

    /** Copies the list. */
    public SearchResult {
        runnersUp = List.copyOf(runnersUp);
    }
}
