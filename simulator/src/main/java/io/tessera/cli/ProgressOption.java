package io.tessera.cli;

import io.tessera.planner.search.SearchProgress;
import picocli.CommandLine.Option;

import java.io.PrintWriter;
import java.util.Locale;

/**
 * {@code --progress=auto|bar|lines|none}: how {@code plan} and {@code simulate} report a strategy search
 * ({@code parallel_mode: auto_parallel}) on stderr. {@code bar}: one updating line ({@link ProgressBar});
 * {@code lines}: one line per search phase, prefixed with the command; {@code none}: nothing; {@code auto} (the
 * default): {@code bar} when the process has a console ({@code System.console() != null}), else {@code lines}.
 * Progress never goes to stdout, which carries the command's output.
 */
public final class ProgressOption {

    /** The progress modes. */
    public enum Mode {
        /** {@code bar} on a console, else {@code lines}. */
        AUTO,
        /** One updating line. */
        BAR,
        /** One line per phase. */
        LINES,
        /** Nothing. */
        NONE;

        /** The mode named {@code text} (case-insensitive). */
        static Mode parse(String text) {
            try {
                return valueOf(text.trim().toUpperCase(Locale.ROOT));
            } catch (IllegalArgumentException e) {
                throw new InputException("--progress is '" + text + "'; expected one of auto, bar, lines, none, "
                        + "e.g. --progress=lines");
            }
        }
    }

    @Option(names = "--progress", paramLabel = "MODE", defaultValue = "auto",
            description = "Progress of a strategy search (auto_parallel) on stderr: bar (one updating line), lines "
                    + "(one per phase), none, or auto: bar on a terminal, else lines (default: ${DEFAULT-VALUE}).")
    private String mode = "auto";

    @Option(names = "--time-limit", paramLabel = "SECONDS",
            description = "Stop after SECONDS seconds with exit code 2: the search of search, the strategy search "
                    + "of an auto_parallel file, a numeric simulation between steps (default: no limit).")
    private Double timeLimit;

    /**
     * A progress receiver started by {@link #open}; {@link #close} ends a bar's line. With {@code --time-limit} every
     * report and {@link #checkpoint} checks the deadline and throws an {@link InputException} once it has passed.
     */
    public static final class Handle implements SearchProgress, AutoCloseable {
        private final SearchProgress sink;
        private final ProgressBar bar;
        private final String command;
        private final double limitSeconds;
        private final long start;
        private volatile String lastPhase = "the start";
        private volatile String lastAdvance = "";

        private Handle(SearchProgress sink, ProgressBar bar, String command, Double limitSeconds, long start) {
            this.sink = sink;
            this.bar = bar;
            this.command = command;
            this.limitSeconds = limitSeconds == null ? 0 : limitSeconds;
            this.start = start;
        }

        /** Names where the work is for a time-limit message, without reporting it, then checks the deadline. */
        public void at(String where) {
            lastPhase = where;
            lastAdvance = "";
            checkpoint();
        }

        @Override
        public void phase(String message) {
            lastPhase = message;
            lastAdvance = "";
            checkpoint();
            sink.phase(message);
        }

        @Override
        public void advance(long done, long total) {
            lastAdvance = ", " + done + " of " + total + " done";
            checkpoint();
            sink.advance(done, total);
        }

        /** Throws an {@link InputException} naming the limit and the last phase reached once the time is up. */
        @Override
        public void checkpoint() {
            if (limitSeconds > 0 && System.nanoTime() - start > (long) (limitSeconds * 1e9)) {
                throw new InputException(String.format(Locale.ROOT, "%s: --time-limit of %s s reached during "
                        + "'%s'%s; raise --time-limit or %s", command.replaceFirst("^tessera ", ""),
                        formatSeconds(limitSeconds), Json.oneLine(lastPhase), lastAdvance,
                        lastPhase.startsWith("numeric ") ? "run fewer --steps" : "narrow the search"));
            }
        }

        /** Ends the bar's line (a newline when anything was drawn); nothing for the other modes. */
        @Override
        public void close() {
            if (bar != null) {
                bar.finish();
            }
        }
    }

    /** When the first handle was opened ({@link System#nanoTime}): every handle of a command shares the deadline. */
    private Long started;

    private long started() {
        if (started == null) {
            started = System.nanoTime();
        }
        return started;
    }

    /** {@code --time-limit} in seconds, or null when not given; checked to be positive and finite. */
    Double limit() {
        if (timeLimit != null && !(timeLimit > 0 && timeLimit < 1e9)) {
            throw new InputException("--time-limit is " + timeLimit + "; expected a number of seconds above 0, "
                    + "e.g. --time-limit 600");
        }
        return timeLimit;
    }

    private static String formatSeconds(double s) {
        return java.math.BigDecimal.valueOf(s).stripTrailingZeros().toPlainString();
    }

    /** The mode in effect: {@code auto} resolved with {@code console} (whether the process has a console). */
    Mode resolve(boolean console) {
        Mode m = Mode.parse(mode);
        if (m == Mode.AUTO) {
            return console ? Mode.BAR : Mode.LINES;
        }
        return m;
    }

    /**
     * A progress receiver writing to {@code err} as the option says; {@code command} prefixes lines, e.g.
     * {@code tessera plan}.
     *
     * @throws InputException for an unknown mode
     */
    Handle open(PrintWriter err, String command) {
        switch (resolve(System.console() != null)) {
            case BAR: {
                ProgressBar bar = new ProgressBar(err, ProgressBar.terminalWidth(System.getenv("COLUMNS")),
                        System::nanoTime);
                return new Handle(bar, bar, command, limit(), started());
            }
            case LINES:
                return new Handle(message -> {
                    synchronized (err) {
                        err.println(command + ": " + message);
                        err.flush();
                    }
                }, null, command, limit(), started());
            default:
                return new Handle(SearchProgress.NONE, null, command, limit(), started());
        }
    }
}
