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

    /** A progress receiver started by {@link #open}; {@link #close} ends a bar's line. */
    public static final class Handle implements SearchProgress, AutoCloseable {
        private final SearchProgress sink;
        private final ProgressBar bar;

        private Handle(SearchProgress sink, ProgressBar bar) {
            this.sink = sink;
            this.bar = bar;
        }

        @Override
        public void phase(String message) {
            sink.phase(message);
        }

        @Override
        public void advance(long done, long total) {
            sink.advance(done, total);
        }

        /** Ends the bar's line (a newline when anything was drawn); nothing for the other modes. */
        @Override
        public void close() {
            if (bar != null) {
                bar.finish();
            }
        }
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
                return new Handle(bar, bar);
            }
            case LINES:
                return new Handle(message -> {
                    synchronized (err) {
                        err.println(command + ": " + message);
                        err.flush();
                    }
                }, null);
            default:
                return new Handle(SearchProgress.NONE, null);
        }
    }
}
