package io.tessera.planner.checkpoint;

import java.util.concurrent.atomic.AtomicLong;

/**
 * Fault injection for crash tests: with {@code -Dtessera.checkpoint.haltAt=N}, the process halts (exit code 137, no
 * shutdown hooks, no flushing: what {@code kill -9} leaves) at the N-th point where a checkpoint write makes progress
 * (a chunk written, a file committed, a rename, the index written). Off by default.
 */
final class Faults {

    /** The system property naming the point to halt at (1-based). */
    static final String PROPERTY = "tessera.checkpoint.haltAt";

    private static final long HALT_AT = Long.getLong(PROPERTY, -1);
    private static final AtomicLong POINTS = new AtomicLong();

    private Faults() {
    }

    /**
     * Whether fault injection is on: writers then commit each file before copying the next, so the points come in
     * one fixed order (chunks of a file, its commit, its rename, the next file's chunks, ..., the index).
     */
    static boolean active() {
        return HALT_AT > 0;
    }

    /** Counts a point and halts the JVM when it is the configured one. */
    static void point() {
        if (HALT_AT > 0 && POINTS.incrementAndGet() == HALT_AT) {
            Runtime.getRuntime().halt(137);
        }
    }
}
