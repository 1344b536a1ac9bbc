package io.tessera.planner.search;

/** Serialises progress reports from worker threads and keeps {@code done} monotone within a phase. */
final class SerialProgress {

    private final SearchProgress sink;
    private long done = -1;
    private long total = -1;

    /** Reports to {@code sink} ({@link SearchProgress#NONE} for nothing). */
    SerialProgress(SearchProgress sink) {
        if (sink == null) {
            throw new IllegalArgumentException("search progress: found no sink; pass SearchProgress.NONE to report "
                    + "nothing");
        }
        this.sink = sink;
    }

    /** A phase begins: resets the progress within the phase. */
    synchronized void phase(String message) {
        done = -1;
        total = -1;
        sink.phase(message);
    }

    /** {@code d} of {@code t} units done, reported when the total changes or {@code d} grows. */
    synchronized void advance(long d, long t) {
        if (t != total || d > done) {
            done = d;
            total = t;
            sink.advance(d, t);
        }
    }
}
