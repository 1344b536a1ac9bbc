package io.tessera.planner.cost;

import java.util.Arrays;
import java.util.Locale;

/** How collectives (AllReduce, AllGather, ReduceScatter) are run; see {@link CostModel#collectiveSeconds}. */
public enum CollectiveAlgorithm {
    /** A ring over the group: bandwidth-optimal, latency linear in the group size. */
    RING,
    /** A binary tree (recursive halving and doubling): latency logarithmic in the group size. */
    TREE,
    /** Intra-node reduce-scatter, inter-node ring over the nodes, intra-node all-gather. */
    HIERARCHICAL,
    /** The cheapest of {@link #RING}, {@link #TREE} and {@link #HIERARCHICAL} for each collective. */
    AUTO;

    /** The JSON name, e.g. {@code ring}. */
    public String jsonName() {
        return name().toLowerCase(Locale.ROOT);
    }

    /**
     * Parses a JSON name case-insensitively.
     *
     * @throws IllegalArgumentException naming the value and the valid names
     */
    public static CollectiveAlgorithm parse(String name) {
        for (CollectiveAlgorithm a : values()) {
            if (a.jsonName().equalsIgnoreCase(name == null ? "" : name.trim())) {
                return a;
            }
        }
        throw new IllegalArgumentException("collective algorithm: found '" + name + "'; expected one of "
                + Arrays.stream(values()).map(CollectiveAlgorithm::jsonName).toList());
    }
}
