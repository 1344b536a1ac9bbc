package io.tessera.planner.cost;

/**
 * Where the ranks of a collective's group sit on a cluster ({@link ClusterSpec#placement}): all that the alpha-beta
 * costs of {@link CostModel} depend on besides the kind and the bytes. Immutable.
 *
 * @param ranks      ranks in the group, at least 1
 * @param nodes      distinct nodes they live on, 1 .. ranks
 * @param maxPerNode the most group ranks on one node, {@code ceil(ranks / nodes) .. ranks - nodes + 1}
 */
public record Placement(int ranks, int nodes, int maxPerNode) {

    /** Validates that the counts are consistent. */
    public Placement {
        if (ranks < 1 || nodes < 1 || nodes > ranks || maxPerNode < 1 || maxPerNode > ranks - nodes + 1
                || (long) maxPerNode * nodes < ranks) {
            throw new IllegalArgumentException("placement: " + ranks + " ranks on " + nodes + " nodes with at most "
                    + maxPerNode + " on one node is impossible; expected 1 <= nodes <= ranks and ceil(ranks / nodes) "
                    + "<= maxPerNode <= ranks - nodes + 1");
        }
    }

    /** Whether the group crosses nodes ({@code nodes > 1}). */
    public boolean spansNodes() {
        return nodes > 1;
    }
}
