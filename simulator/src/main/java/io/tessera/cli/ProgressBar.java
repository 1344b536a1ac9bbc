package io.tessera.cli;

import io.tessera.planner.search.SearchProgress;

import java.io.PrintWriter;
import java.util.Locale;
import java.util.function.LongSupplier;

/**
 * A single updating line on a terminal for a strategy search's progress: each redraw starts with a carriage return,
 * e.g. {@code search [#########-----------]  45% dynamic programming over 2215 operators 997/2215  3.2 s}, padded
 * with spaces over the rest of the previous line; {@link #finish} ends it with a newline. The line holds at most
 * {@code width - 1} characters (the last column would wrap on some terminals): the phase text is cut with
 * {@code ...} to fit, and the counts are left out when even they do not fit. Redrawn only when its text changes (percent, counts, tenth of a second). Thread-safe.
 */
public final class ProgressBar implements SearchProgress {

    /** Characters of the bar between the brackets. */
    public static final int BAR = 20;

    /** The terminal width used when {@code COLUMNS} is not set: 80 characters. */
    public static final int DEFAULT_WIDTH = 80;

    /** The narrowest width drawn: 50 characters (the bar, percent and elapsed seconds take 42 or more). */
    public static final int MIN_WIDTH = 50;

    private static final String PREFIX = "search: ";

    private final PrintWriter out;
    private final int width;
    private final LongSupplier nanos;
    private long start = -1;
    private String label = "";
    private long done = -1;
    private long total = -1;
    private String drawn = "";
    private boolean finished;

    /**
     * A bar drawing on {@code out}.
     *
     * @param out   the terminal's stream (stderr)
     * @param width the terminal's columns, at least {@link #MIN_WIDTH}
     * @param nanos the clock of the elapsed seconds, in nanoseconds ({@code System::nanoTime})
     * @throws IllegalArgumentException for a null stream or clock, or a width below {@link #MIN_WIDTH}
     */
    public ProgressBar(PrintWriter out, int width, LongSupplier nanos) {
        if (out == null || nanos == null) {
            throw new IllegalArgumentException("progress bar: a stream and a clock are required; found "
                    + (out == null ? "no stream" : "no clock"));
        }
        if (width < MIN_WIDTH) {
            throw new IllegalArgumentException("progress bar: width is " + width + " columns; expected at least "
                    + MIN_WIDTH);
        }
        this.out = out;
        this.width = width;
        this.nanos = nanos;
    }

    /**
     * The terminal width from the {@code COLUMNS} environment variable when it holds a number of at least
     * {@link #MIN_WIDTH}, else {@link #DEFAULT_WIDTH}.
     */
    public static int terminalWidth(String columns) {
        try {
            int w = columns == null ? DEFAULT_WIDTH : Integer.parseInt(columns.trim());
            return w >= MIN_WIDTH ? w : DEFAULT_WIDTH;
        } catch (NumberFormatException e) {
            return DEFAULT_WIDTH;
        }
    }

    @Override
    public synchronized void phase(String message) {
        if (finished) {
            return;
        }
        String m = message == null ? "" : message.replace('\n', ' ').replace('\r', ' ');
        label = m.startsWith(PREFIX) ? m.substring(PREFIX.length()) : m;
        done = -1;
        total = -1;
        draw();
    }

    @Override
    public synchronized void advance(long d, long t) {
        if (finished || t < 1) {
            return;
        }
        done = Math.max(0, Math.min(d, t));
        total = t;
        draw();
    }

    /** Ends the line with a newline when anything was drawn; later events are ignored. */
    public synchronized void finish() {
        if (finished) {
            return;
        }
        finished = true;
        if (!drawn.isEmpty()) {
            out.print('\n');
            out.flush();
        }
    }

    /** The line for the current state (without the carriage return), at most {@code width - 1} characters. */
    synchronized String line() {
        long now = nanos.getAsLong();
        if (start < 0) {
            start = now;
        }
        boolean complete = label.startsWith("done");
        int percent = complete ? 100 : total > 0 ? (int) (100 * done / total) : 0;
        int filled = complete ? BAR : total > 0 ? (int) (BAR * done / total) : 0;
        String bar = "#".repeat(filled) + "-".repeat(BAR - filled);
        String counts = total > 0 && !complete ? " " + done + "/" + total : "";
        String time = String.format(Locale.ROOT, "  %.1f s", (now - start) / 1e9);
        String head = String.format(Locale.ROOT, "search [%s] %3d%% ", bar, percent);
        if (head.length() + counts.length() + time.length() > width - 1) {
            counts = "";
        }
        int room = width - 1 - head.length() - counts.length() - time.length();
        String text = label;
        if (text.length() > room) {
            text = room > 3 ? text.substring(0, room - 3) + "..." : "";
        }
        return head + text + counts + time;
    }

    private void draw() {
        String line = line();
        if (line.equals(drawn)) {
            return;
        }
        StringBuilder sb = new StringBuilder("\r").append(line);
        for (int k = line.length(); k < drawn.length(); k++) {
            sb.append(' ');
        }
        drawn = line;
        out.print(sb);
        out.flush();
    }
}
