package io.tessera.simulator.timeline;

import com.fasterxml.jackson.core.io.JsonStringEncoder;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;

/**
 * Writes a {@link TimelineReport}'s events as Chrome Trace Event JSON, which ui.perfetto.dev and chrome://tracing
 * open: an object {@code {"traceEvents": [...], "displayTimeUnit": "ms"}} holding metadata events ({@code "ph": "M"})
 * that name each process {@code rank N} and its threads {@code compute} (tid 0) and {@code communication} (tid 1),
 * then one complete event ({@code "ph": "X"}) per span with {@code name}, {@code cat}, {@code ts} and {@code dur} in
 * microseconds, {@code pid} = rank and {@code tid} = stream. Events are ordered by rank, stream and start, one per
 * line; the text is deterministic.
 */
public final class ChromeTrace {

    /** Ranks written by {@link #write(TimelineReport)}. */
    public static final int DEFAULT_RANKS = 8;

    private ChromeTrace() {
    }

    /** The trace of the first {@link #DEFAULT_RANKS} ranks recorded in {@code report}. */
    public static String write(TimelineReport report) {
        return write(report, DEFAULT_RANKS);
    }

    /**
     * The trace of the ranks below {@code maxRanks} recorded in {@code report}.
     *
     * @throws IllegalArgumentException when {@code maxRanks < 1}
     */
    public static String write(TimelineReport report, int maxRanks) {
        return write(report, maxRanks, "rank");
    }

    /**
     * As {@link #write(TimelineReport, int)} with processes named {@code label N} (e.g. {@code stage} for a
     * {@link PipelineReport#toTimelineReport()}).
     *
     * @throws IllegalArgumentException when {@code maxRanks < 1}
     */
    public static String write(TimelineReport report, int maxRanks, String label) {
        if (maxRanks < 1) {
            throw new IllegalArgumentException("trace ranks: found " + maxRanks + "; expected at least 1");
        }
        int ranks = Math.min(maxRanks, report.devices());
        List<TimelineReport.Event> events = new ArrayList<>();
        for (TimelineReport.Event e : report.events()) {
            if (e.rank() < ranks) {
                events.add(e);
            }
        }
        events.sort(Comparator.comparingInt(TimelineReport.Event::rank).thenComparingInt(ChromeTrace::tid)
                .thenComparingDouble(TimelineReport.Event::start));
        StringBuilder s = new StringBuilder(128 + 160 * events.size());
        s.append("{\"traceEvents\": [\n");
        boolean first = true;
        for (int r = 0; r < ranks; r++) {
            first = line(s, first);
            s.append("{\"name\": \"process_name\", \"ph\": \"M\", \"pid\": ").append(r)
                    .append(", \"args\": {\"name\": \"").append(escape(label)).append(' ').append(r).append("\"}}");
            first = line(s, first);
            s.append("{\"name\": \"process_sort_index\", \"ph\": \"M\", \"pid\": ").append(r)
                    .append(", \"args\": {\"sort_index\": ").append(r).append("}}");
            String[] threads = {"compute", "communication"};
            for (int t = 0; t < threads.length; t++) {
                first = line(s, first);
                s.append("{\"name\": \"thread_name\", \"ph\": \"M\", \"pid\": ").append(r).append(", \"tid\": ")
                        .append(t).append(", \"args\": {\"name\": \"").append(threads[t]).append("\"}}");
            }
        }
        for (TimelineReport.Event e : events) {
            first = line(s, first);
            s.append("{\"name\": \"").append(escape(e.name())).append("\", \"cat\": \"").append(escape(e.category()))
                    .append("\", \"ph\": \"X\", \"ts\": ").append(micros(e.start())).append(", \"dur\": ")
                    .append(micros(e.duration())).append(", \"pid\": ").append(e.rank()).append(", \"tid\": ")
                    .append(tid(e)).append('}');
        }
        s.append("\n], \"displayTimeUnit\": \"ms\"}\n");
        return s.toString();
    }

    private static boolean line(StringBuilder s, boolean first) {
        if (!first) {
            s.append(",\n");
        }
        return false;
    }

    private static int tid(TimelineReport.Event e) {
        return TimelineReport.Event.COMPUTE.equals(e.stream()) ? 0 : 1;
    }

    /** Seconds as microseconds with nanosecond resolution, in plain decimal notation. */
    static String micros(double seconds) {
        long nanos = Math.round(seconds * 1e9);
        long whole = nanos / 1000;
        int frac = (int) (nanos % 1000);
        if (frac == 0) {
            return Long.toString(whole);
        }
        String f = String.format(java.util.Locale.ROOT, "%03d", frac);
        return whole + "." + f.replaceAll("0+$", "");
    }

    private static String escape(String text) {
        StringBuilder b = new StringBuilder();
        JsonStringEncoder.getInstance().quoteAsString(text, b);
        return b.toString();
    }
}
