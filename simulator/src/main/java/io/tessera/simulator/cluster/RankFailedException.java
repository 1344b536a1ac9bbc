package io.tessera.simulator.cluster;

/** A step of a rank's program threw: names the rank, the step index and the step's label; the cause is attached. */
public final class RankFailedException extends RuntimeException {

    private static final long serialVersionUID = 1L;

    private final int rank;
    private final int step;
    private final String label;

    /** Rank {@code rank} failed at step {@code step} ({@code label}) with {@code cause}. */
    public RankFailedException(int rank, int step, String label, Throwable cause) {
        super("rank " + rank + " failed at step " + step + " (" + label + "): " + cause, cause);
        this.rank = rank;
        this.step = step;
        this.label = label;
    }

    /** The failing rank. */
    public int rank() {
        return rank;
    }

    /** The index of the failing step in the rank's program. */
    public int step() {
        return step;
    }

    /** The failing step's label (a compute label or a collective's op). */
    public String label() {
        return label;
    }
}
