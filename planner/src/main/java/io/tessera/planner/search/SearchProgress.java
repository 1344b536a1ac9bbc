package io.tessera.planner.search;

import java.util.function.Consumer;

/**
 * Progress of a strategy search: a one-line message when a phase begins ({@link #phase}) and how far the current
 * phase is ({@link #advance}). It is a {@code Consumer<String>} of the phase messages, so every search entry point
 * that takes a {@code Consumer<String>} accepts one and then also reports fractional progress. The search may call
 * it from several threads; calls are serialised by the search, and {@code done} never decreases within a phase.
 */
public interface SearchProgress extends Consumer<String> {

    /** Reports nothing. */
    SearchProgress NONE = message -> { };

    /**
     * A phase begins.
     *
     * @param message one line without a line break, e.g. {@code search: dynamic programming}
     */
    void phase(String message);

    /**
     * Progress within the current phase: {@code done} of {@code total} units (operators, redistributions, plans).
     * Default: ignored.
     *
     * @param done  units finished, 0 to {@code total}
     * @param total units of the phase, at least 1
     */
    default void advance(long done, long total) {
    }

    /**
     * A point where the search may be stopped: a receiver with a time limit throws here (an unchecked exception that
     * is not an {@code IllegalArgumentException}, so it is never taken for a rejected setting). The search calls it
     * in its loops, and {@link #phase} and {@link #advance} may check too. Default: nothing.
     */
    default void checkpoint() {
    }

    /**
     * A receiver that reports nothing but forwards {@link #checkpoint} (and the checks of phase and advance) to
     * {@code outer}: for an inner search whose messages are not shown but whose time counts.
     */
    static SearchProgress checkpointsOf(SearchProgress outer) {
        return new SearchProgress() {
            @Override
            public void phase(String message) {
                outer.checkpoint();
            }

            @Override
            public void advance(long done, long total) {
                outer.checkpoint();
            }

            @Override
            public void checkpoint() {
                outer.checkpoint();
            }
        };
    }

    /** The same as {@link #phase}: a plain {@code Consumer<String>} caller sees the phase messages. */
    @Override
    default void accept(String message) {
        phase(message);
    }

    /**
     * Adapts a consumer of one-line messages: a {@code SearchProgress} is returned as it is, null as {@link #NONE},
     * any other consumer receives the phase messages and no fractional progress.
     */
    static SearchProgress of(Consumer<String> lines) {
        if (lines == null) {
            return NONE;
        }
        if (lines instanceof SearchProgress p) {
            return p;
        }
        return lines::accept;
    }
}
