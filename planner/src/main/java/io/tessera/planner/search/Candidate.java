package io.tessera.planner.search;

import io.tessera.planner.plan.PlanConfig;

/**
 * One complete plan the search evaluated with the exact objective of {@link Search#evaluate}. Immutable.
 *
 * @param label          what produced it, e.g. {@code dynamic programming #1} or {@code data parallel}
 * @param config         the semi-auto configuration (a strategy for every operator) that plans it
 * @param seconds        estimated step seconds: {@code computeSeconds + commSeconds}
 * @param computeSeconds sum over operators of one rank's forward plus backward compute seconds
 * @param commSeconds    sum of the seconds of every communication of the plan
 * @param memoryBytes    peak bytes of rank 0: {@code Plan.memory(0).total()} plus the activation bytes it keeps
 * @param fits           whether {@code memoryBytes} fits the device memory
 */
public record Candidate(String label, PlanConfig config, double seconds, double computeSeconds, double commSeconds,
                        long memoryBytes, boolean fits) {

    /** Prints as {@code label: 1.234 ms (compute 1.000 ms, communication 0.234 ms), 2.50 GiB}. */
    @Override
    public String toString() {
        return String.format(java.util.Locale.ROOT, "%s: %.3f ms (compute %.3f ms, communication %.3f ms), %.2f GiB%s",
                label, seconds * 1e3, computeSeconds * 1e3, commSeconds * 1e3, memoryBytes / (double) (1L << 30),
                fits ? "" : " (does not fit)");
    }
}
