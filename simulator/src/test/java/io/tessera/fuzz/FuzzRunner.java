package io.tessera.fuzz;

import io.tessera.cli.Tessera;
import picocli.CommandLine;

import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * Runs {@link FuzzCase}s in this JVM through {@link Tessera#commandLine()}, one at a time on a worker thread with a
 * hang guard, and classifies each outcome.
 */
final class FuzzRunner implements AutoCloseable {

    /** How a case ended. */
    enum Outcome {
        /** Exit 0 on an input that may be valid. */
        OK,
        /** Exit 2 with exactly one short, non-empty stderr line, no stack trace text, no output file left. */
        ERROR_OK,
        /** A stack trace on stderr, a class name of an exception in the message, or a thrown {@link Error}. */
        STACK_TRACE,
        /** Exit 0 on a must-fail input (or NaN/Infinity in a successful output), exit 1, or another code. */
        WRONG_EXIT,
        /** Exit 2 with no stderr line or more than one. */
        MULTI_LINE,
        /** Exit 2 with an error line longer than {@link #MAX_LINE} characters (user text echoed unbounded). */
        LONG_MESSAGE,
        /** Exit 2 leaving a file in the case's directory that was not there before. */
        PARTIAL_OUTPUT,
        /** The command did not end within its time limit. */
        HANG,
        /** The command threw {@link OutOfMemoryError}. */
        OOM;

        /** Whether this outcome is a pass. */
        boolean passed() {
            return this == OK || this == ERROR_OK;
        }
    }

    /**
     * The result of one case.
     *
     * @param fuzzCase the case
     * @param outcome  its classification
     * @param code     the exit code, or -1 when the command threw or hung
     * @param detail   the first stderr line or the reason of the classification (at most 300 characters)
     * @param millis   wall time
     */
    record Result(FuzzCase fuzzCase, Outcome outcome, int code, String detail, long millis) { }

    /** Longest error line accepted (the issue asks for at most ~200 characters of user text). */
    static final int MAX_LINE = 1000;

    private static final Pattern STACK = Pattern.compile(
            "\\tat |\\b(java|javax|com|io|picocli|sun|jdk)\\.[\\w.$]+(Exception|Error)\\b");

    private final Path root;
    private ExecutorService worker = newWorker();

    /** A runner whose cases get fresh directories under {@code root}. */
    FuzzRunner(Path root) {
        this.root = root;
    }

    private static ExecutorService newWorker() {
        return Executors.newSingleThreadExecutor(r -> {
            Thread t = new Thread(r, "fuzz-case");
            t.setDaemon(true);
            return t;
        });
    }

    /** Runs {@code c} with a time limit of {@code timeoutMillis}. */
    Result run(FuzzCase c, int index, long timeoutMillis) {
        Path dir;
        List<String> args;
        Set<String> before;
        try {
            dir = Files.createDirectory(root.resolve("case-" + index));
            args = c.setup().prepare(dir);
            before = listing(dir);
        } catch (IOException e) {
            throw new UncheckedIOException("setting up " + c.id(), e);
        }
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        Thread[] runner = new Thread[1];
        long start = System.nanoTime();
        Future<Integer> f = worker.submit(() -> {
            runner[0] = Thread.currentThread();
            CommandLine cl = Tessera.commandLine();
            cl.setOut(new PrintWriter(out, true));
            cl.setErr(new PrintWriter(err, true));
            return cl.execute(args.toArray(String[]::new));
        });
        int code;
        try {
            code = f.get(timeoutMillis, TimeUnit.MILLISECONDS);
        } catch (TimeoutException e) {
            abandon(f, runner[0], dir);
            return new Result(c, Outcome.HANG, -1, "no end within " + timeoutMillis + " ms", elapsed(start));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        } catch (ExecutionException e) {
            Throwable t = e.getCause();
            Outcome o = t instanceof OutOfMemoryError ? Outcome.OOM : Outcome.STACK_TRACE;
            return new Result(c, o, -1, clip("thrown " + t), elapsed(start));
        }
        long millis = elapsed(start);
        Set<String> after;
        try {
            after = listing(dir);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        after.removeAll(before);
        return classify(c, code, out.toString(), err.toString(), after, millis);
    }

    private static Result classify(FuzzCase c, int code, String out, String err, Set<String> created,
            long millis) {
        List<String> lines = err.lines().filter(l -> !l.isBlank()).toList();
        String first = lines.isEmpty() ? "(no stderr)" : lines.get(0);
        if (STACK.matcher(err).find()) {
            return new Result(c, Outcome.STACK_TRACE, code, clip(first), millis);
        }
        if (code == Tessera.EXIT_OK) {
            if (c.mustFail()) {
                return new Result(c, Outcome.WRONG_EXIT, code, clip("exit 0 on invalid input; stdout: "
                        + out.strip()), millis);
            }
            if (out.contains("NaN") || out.contains("Infinity")) {
                return new Result(c, Outcome.WRONG_EXIT, code, clip("exit 0 with NaN/Infinity in the output"),
                        millis);
            }
            return new Result(c, Outcome.OK, code, "", millis);
        }
        if (code == Tessera.EXIT_BAD_INPUT && c.expect() == FuzzCase.Expect.PASS) {
            return new Result(c, Outcome.WRONG_EXIT, code, clip("exit 2 on valid input: " + first), millis);
        }
        if (code != Tessera.EXIT_BAD_INPUT) {
            return new Result(c, Outcome.WRONG_EXIT, code, clip(first), millis);
        }
        // layout commands answer every case: one "tessera: case N: ..." line per failed case and the answers file
        boolean layout = c.isLayout();
        boolean oneLine = lines.size() == 1
                || layout && !lines.isEmpty() && lines.stream().allMatch(l -> l.startsWith("tessera: case "));
        if (!oneLine) {
            return new Result(c, Outcome.MULTI_LINE, code, clip(lines.size() + " lines: " + String.join(" | ",
                    lines)), millis);
        }
        if (lines.stream().anyMatch(l -> l.length() > MAX_LINE)) {
            return new Result(c, Outcome.LONG_MESSAGE, code, clip(first), millis);
        }
        Set<String> left = new TreeSet<>(created);
        if (layout && lines.get(0).startsWith("tessera: case ")) {
            left.removeIf(p -> p.equals("out.json"));
        }
        if (!left.isEmpty()) {
            return new Result(c, Outcome.PARTIAL_OUTPUT, code, clip("left " + left + " after: " + first), millis);
        }
        return new Result(c, Outcome.ERROR_OK, code, clip(first), millis);
    }

    /** Stops a hung case: unblocks FIFO readers, stops its thread, and starts a new worker. */
    @SuppressWarnings({"deprecation", "removal"})
    private void abandon(Future<Integer> f, Thread t, Path dir) {
        f.cancel(true);
        try (Stream<Path> s = Files.list(dir)) {
            s.filter(p -> !Files.isRegularFile(p) && !Files.isDirectory(p)).forEach(FuzzRunner::unblockFifo);
        } catch (IOException e) {
            // nothing to unblock
        }
        if (t != null) {
            try {
                t.stop(); // Java 17: still stops a thread stuck in Java code (reading /dev/zero, planning 10^6 layers)
            } catch (UnsupportedOperationException e) {
                // later JDKs: the daemon thread is abandoned
            }
        }
        worker.shutdownNow();
        worker = newWorker();
    }

    /** Opens a FIFO for writing and closes it at once, so a reader blocked on it sees the end of the file. */
    private static void unblockFifo(Path fifo) {
        Thread t = new Thread(() -> {
            try (OutputStream o = Files.newOutputStream(fifo)) {
                o.flush();
            } catch (IOException e) {
                // gone
            }
        }, "fuzz-fifo-unblock");
        t.setDaemon(true);
        t.start();
    }

    private static Set<String> listing(Path dir) throws IOException {
        try (Stream<Path> s = Files.walk(dir)) {
            return s.filter(p -> !p.equals(dir)).map(p -> dir.relativize(p).toString())
                    .collect(TreeSet::new, Set::add, Set::addAll);
        }
    }

    private static long elapsed(long start) {
        return (System.nanoTime() - start) / 1_000_000;
    }

    static String clip(String s) {
        String one = s.replace('\n', ' ').replace('\r', ' ');
        return one.length() <= 300 ? one : one.substring(0, 300) + "...";
    }

    /** Deletes the case directories (sparse files and FIFOs included). */
    @Override
    public void close() throws IOException {
        worker.shutdownNow();
        List<Path> all = new ArrayList<>();
        try (Stream<Path> s = Files.walk(root)) {
            s.forEach(all::add);
        }
        all.sort(Comparator.reverseOrder());
        for (Path p : all) {
            Files.deleteIfExists(p);
        }
    }
}
