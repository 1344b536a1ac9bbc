package io.tessera.layout.comm;

import java.util.Arrays;
import java.util.Locale;
import java.util.stream.Collectors;

/**
 * The kinds of collective communication, one closed set used by redistribution steps, plans, the cost model, fusion,
 * the timeline, the search and the simulator. Each prints (and is written to JSON) under its MindSpore-style name,
 * e.g. {@code AllReduce}.
 */
public enum CollectiveKind {
    /** Every member ends with the element-wise reduction of all members' tensors. */
    ALL_REDUCE("AllReduce"),
    /** Every member ends with the concatenation of all members' tensors. */
    ALL_GATHER("AllGather"),
    /** The reduction, scattered: each member keeps its part of it. */
    REDUCE_SCATTER("ReduceScatter"),
    /** Every member sends a distinct piece to every other member. */
    ALL_TO_ALL("AllToAll"),
    /** One member's tensor is copied to every other member. */
    BROADCAST("Broadcast"),
    /** Every rank sends to at most one rank and receives from at most one. */
    COLLECTIVE_PERMUTE("CollectivePermute"),
    /** Point-to-point sends and receives that fit no collective pattern (e.g. pipeline boundaries). */
    SEND_RECV("SendRecv");

    private final String jsonName;

    CollectiveKind(String jsonName) {
        this.jsonName = jsonName;
    }

    /** The name as printed and written to JSON, e.g. {@code AllReduce}. */
    public String jsonName() {
        return jsonName;
    }

    /** Whether the collective reduces (AllReduce, ReduceScatter) and so carries a reduction operator. */
    public boolean reduces() {
        return this == ALL_REDUCE || this == REDUCE_SCATTER;
    }

    /**
     * The kind printed as {@code name} ({@link #jsonName()}, case-sensitive).
     *
     * @throws IllegalArgumentException naming the value and listing the valid names
     */
    public static CollectiveKind parse(String name) {
        for (CollectiveKind k : values()) {
            if (k.jsonName.equals(name)) {
                return k;
            }
        }
        String shown = name == null ? "null" : "'" + (name.length() > 40 ? name.substring(0, 40) + "..." : name) + "'";
        throw new IllegalArgumentException("collective kind " + shown + " is unknown; expected one of "
                + Arrays.stream(values()).map(CollectiveKind::jsonName).collect(Collectors.joining(", ")));
    }

    /** The JSON name, e.g. {@code AllReduce} (so messages and summaries print it as before). */
    @Override
    public String toString() {
        return jsonName;
    }

    /** The lower-case JSON name of a phase-qualified key, e.g. {@code allreduce} for fusion settings. */
    public String lowerName() {
        return jsonName.toLowerCase(Locale.ROOT);
    }
}
