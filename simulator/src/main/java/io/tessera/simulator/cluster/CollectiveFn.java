package io.tessera.simulator.cluster;

import java.util.List;

/** The data movement of a collective, run once when every member of the group has arrived. */
@FunctionalInterface
public interface CollectiveFn {

    /**
     * Moves data between the members' memories.
     *
     * @param members the members' states in group order
     */
    void apply(List<RankState> members);
}
