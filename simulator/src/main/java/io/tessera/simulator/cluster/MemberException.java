package io.tessera.simulator.cluster;

/**
 * Thrown by a {@link CollectiveFn} to blame one member (for example the rank holding an array of the wrong shape):
 * the {@link Cluster} then reports a {@link RankFailedException} naming that rank instead of the group's first.
 */
public final class MemberException extends RuntimeException {

    private static final long serialVersionUID = 1L;

    private final int rank;

    /** Member {@code rank} is at fault, as {@code message} explains. */
    public MemberException(int rank, String message) {
        super(message);
        this.rank = rank;
    }

    /** The rank at fault. */
    public int rank() {
        return rank;
    }
}
