package io.tessera.simulator.cluster;

import java.util.List;

/**
 * The ranks of a group disagree on a collective (one is missing it, waits on another one, ended, or has another
 * group or signature), or no rank can progress. The message is one line naming the ranks, their step indices and
 * the operations.
 */
public final class CollectiveMismatchException extends RuntimeException {

    private static final long serialVersionUID = 1L;

    private final long collectiveId;
    private final String op;
    private final List<Integer> ranks;

    /** A mismatch on collective {@code collectiveId} ({@code op}) involving {@code ranks}. */
    public CollectiveMismatchException(String message, long collectiveId, String op, List<Integer> ranks) {
        super(message);
        this.collectiveId = collectiveId;
        this.op = op;
        this.ranks = List.copyOf(ranks);
    }

    /** The id of the collective that could not run. */
    public long collectiveId() {
        return collectiveId;
    }

    /** The operation of the collective that could not run. */
    public String op() {
        return op;
    }

    /** The ranks at fault (those that disagree with the collective), ascending. */
    public List<Integer> ranks() {
        return ranks;
    }
}
