package io.tessera.planner.cost;

import java.util.List;
import java.util.Locale;

/**
 * How global ranks are placed on the nodes of a {@link ClusterSpec}. Immutable. The cluster checks that the mapping
 * fills every node with exactly {@code devicesPerNode} ranks.
 *
 * <ul>
 *   <li>{@link Kind#BLOCK} (the default): rank {@code r} on node {@code r / devicesPerNode}, consecutive ranks
 *       share a node;</li>
 *   <li>{@link Kind#ROUND_ROBIN}: rank {@code r} on node {@code r % nodes}, consecutive ranks on different nodes;</li>
 *   <li>{@link Kind#EXPLICIT}: rank {@code r} on node {@code nodes().get(r)}, one entry per device of the cluster.</li>
 * </ul>
 *
 * @param kind  the rule
 * @param nodes for {@link Kind#EXPLICIT} the node index of each rank (index = rank); empty for the other kinds
 */
public record RankMapping(Kind kind, List<Integer> nodes) {

    /** The rule a mapping follows. */
    public enum Kind {
        /** Rank {@code r} on node {@code r / devicesPerNode}. */
        BLOCK,
        /** Rank {@code r} on node {@code r % nodes}. */
        ROUND_ROBIN,
        /** An explicit node per rank. */
        EXPLICIT;

        /** The JSON name, e.g. {@code round_robin}. */
        public String jsonName() {
            return name().toLowerCase(Locale.ROOT);
        }
    }

    private static final RankMapping BLOCK = new RankMapping(Kind.BLOCK, List.of());
    private static final RankMapping ROUND_ROBIN = new RankMapping(Kind.ROUND_ROBIN, List.of());

    /** Validates: a kind, node indices >= 0 for an explicit mapping (at least one), none for the others. */
    public RankMapping {
        if (kind == null) {
            throw new IllegalArgumentException("rank mapping: kind is null; expected block, round_robin or explicit");
        }
        nodes = nodes == null ? List.of() : List.copyOf(nodes);
        if (kind == Kind.EXPLICIT && nodes.isEmpty()) {
            throw new IllegalArgumentException("rank mapping: an explicit mapping lists no ranks; expected one node "
                    + "index per device, e.g. [0, 1, 0, 1]");
        }
        if (kind != Kind.EXPLICIT && !nodes.isEmpty()) {
            throw new IllegalArgumentException("rank mapping: " + kind.jsonName() + " takes no node list but found "
                    + nodes.size() + " entries; expected an explicit mapping for a list");
        }
        for (int r = 0; r < nodes.size(); r++) {
            if (nodes.get(r) < 0) {
                throw new IllegalArgumentException("rank mapping: rank " + r + " is on node " + nodes.get(r)
                        + "; expected a node index >= 0");
            }
        }
    }

    /** The default: rank {@code r} on node {@code r / devicesPerNode}. */
    public static RankMapping block() {
        return BLOCK;
    }

    /** Rank {@code r} on node {@code r % nodes}. */
    public static RankMapping roundRobin() {
        return ROUND_ROBIN;
    }

    /** Rank {@code r} on node {@code nodes[r]}, one entry per device of the cluster. */
    public static RankMapping explicit(int... nodes) {
        return new RankMapping(Kind.EXPLICIT, java.util.Arrays.stream(nodes).boxed().toList());
    }

    /** Rank {@code r} on node {@code nodes.get(r)}, one entry per device of the cluster. */
    public static RankMapping explicit(List<Integer> nodes) {
        return new RankMapping(Kind.EXPLICIT, nodes);
    }

    /**
     * The mapping named {@code block} or {@code round_robin} (case-insensitive; {@code round-robin} also accepted).
     *
     * @throws IllegalArgumentException naming the value and the valid names
     */
    public static RankMapping parse(String name) {
        String n = name == null ? "" : name.trim().toLowerCase(Locale.ROOT).replace('-', '_');
        if (n.equals(Kind.BLOCK.jsonName())) {
            return BLOCK;
        }
        if (n.equals(Kind.ROUND_ROBIN.jsonName())) {
            return ROUND_ROBIN;
        }
        throw new IllegalArgumentException("rank mapping: found '" + name + "'; expected \"block\", \"round_robin\" "
                + "or an array of node indices, one per rank");
    }

    /**
     * The node of {@code rank} on a cluster of {@code nodes} nodes of {@code devicesPerNode} devices; the rank is
     * assumed in range (see {@link ClusterSpec#nodeOf}).
     */
    public int nodeOf(int rank, int devicesPerNode, int nodes) {
        switch (kind) {
            case ROUND_ROBIN:
                return rank % nodes;
            case EXPLICIT:
                return this.nodes.get(rank);
            default:
                return rank / devicesPerNode;
        }
    }

    /** {@code block}, {@code round_robin}, or {@code explicit [0, 1, ...]}. */
    @Override
    public String toString() {
        return kind == Kind.EXPLICIT ? "explicit " + nodes : kind.jsonName();
    }
}
