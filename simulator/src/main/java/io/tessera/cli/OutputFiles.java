package io.tessera.cli;

import io.tessera.planner.json.InputFiles;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.AccessDeniedException;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;

/**
 * A command's output files, written all or none: {@link #add} collects each output, {@link #commit()} checks every
 * target, writes every text to a temporary file next to its target, and only when all were written moves them into
 * place ({@code ATOMIC_MOVE}, falling back to {@code REPLACE_EXISTING} where the file system cannot move atomically).
 * On any failure the temporary files are removed and no new output is left behind. Files are created with the
 * default permissions (the umask applies), not owner-only. A target that exists and is not a regular file (e.g.
 * {@code /dev/stdout}) is written in place, as it cannot be replaced.
 */
public final class OutputFiles {

    /** One output: the option naming it in messages, where it goes, and its text. */
    private record Output(String option, Path target, String text) {
    }

    private final List<Output> outputs = new ArrayList<>();

    /** An empty set of outputs. */
    public OutputFiles() {
    }

    /**
     * Adds an output.
     *
     * @param option what names the file in messages, e.g. {@code --out}
     * @param target the file to write
     * @param text   its content, written as UTF-8
     * @return this
     */
    public OutputFiles add(String option, Path target, String text) {
        outputs.add(new Output(option, target, text));
        return this;
    }

    /**
     * Checks that {@code target} could be written: a non-empty path whose directory exists and which is not itself a
     * directory.
     *
     * @param option what names the file in messages, e.g. {@code --out}
     * @throws InputException when it could not
     */
    public static void check(String option, Path target) {
        if (target == null || target.toString().isEmpty()) {
            throw new InputException(option + ": empty path; give a file name");
        }
        Path abs = target.toAbsolutePath();
        Path dir = abs.getParent();
        String shown = InputFiles.show(target);
        if (dir == null || !Files.isDirectory(dir)) {
            throw new InputException(option + " " + shown + ": directory " + InputFiles.show(dir)
                    + " does not exist; create it first or choose another path");
        }
        if (Files.isDirectory(abs)) {
            throw new InputException(option + " " + shown + " is a directory; expected a file path");
        }
    }

    /**
     * Writes every output, all or none (see the class comment).
     *
     * @throws InputException naming the output that failed; then no output was created or changed, except that a
     *                        failed move after others succeeded removes the new files it can (rare: the temporary
     *                        files are already complete next to their targets)
     */
    public void commit() {
        for (Output o : outputs) {
            check(o.option(), o.target());
        }
        List<Path> temps = new ArrayList<>();
        List<Path> created = new ArrayList<>();
        boolean done = false;
        try {
            for (Output o : outputs) {
                temps.add(isSpecial(o.target()) ? null : stage(o));
            }
            for (int i = 0; i < outputs.size(); i++) {
                Output o = outputs.get(i);
                Path abs = o.target().toAbsolutePath();
                try {
                    if (temps.get(i) == null) {
                        Files.write(abs, o.text().getBytes(StandardCharsets.UTF_8));
                        continue;
                    }
                    boolean existed = Files.exists(abs, LinkOption.NOFOLLOW_LINKS);
                    try {
                        Files.move(temps.get(i), abs, StandardCopyOption.ATOMIC_MOVE);
                    } catch (AtomicMoveNotSupportedException e) {
                        Files.move(temps.get(i), abs, StandardCopyOption.REPLACE_EXISTING);
                    }
                    temps.set(i, null);
                    if (!existed) {
                        created.add(abs);
                    }
                } catch (IOException e) {
                    throw failure(o, e);
                }
            }
            done = true;
        } finally {
            for (Path t : temps) {
                deleteQuietly(t);
            }
            if (!done) {
                for (Path c : created) {
                    deleteQuietly(c);
                }
            }
        }
    }

    /** Writes {@code o}'s text to a new temporary file in its target's directory, with default permissions. */
    private static Path stage(Output o) {
        Path abs = o.target().toAbsolutePath();
        String base = abs.getFileName().toString();
        if (base.length() > 100) {
            base = base.substring(0, 100);
        }
        for (int attempt = 0; ; attempt++) {
            Path tmp = abs.resolveSibling("." + base + "." + Long.toHexString(ThreadLocalRandom.current().nextLong())
                    + ".tmp");
            try (OutputStream out = Files.newOutputStream(tmp, StandardOpenOption.CREATE_NEW,
                    StandardOpenOption.WRITE)) {
                try {
                    out.write(o.text().getBytes(StandardCharsets.UTF_8));
                } catch (IOException e) {
                    deleteQuietly(tmp);
                    throw e;
                }
                return tmp;
            } catch (FileAlreadyExistsException e) {
                if (attempt > 100) {
                    throw failure(o, e);
                }
            } catch (IOException e) {
                deleteQuietly(tmp);
                throw failure(o, e);
            }
        }
    }

    private static InputException failure(Output o, IOException e) {
        Path dir = o.target().toAbsolutePath().getParent();
        String why = e instanceof AccessDeniedException
                ? "directory " + InputFiles.show(dir) + " is not writable (access denied)"
                : Json.oneLine(String.valueOf(e.getMessage()));
        return new InputException(o.option() + " " + InputFiles.show(o.target()) + " cannot be written: " + why
                + "; check the directory's permissions and free space (no output was written)", e);
    }

    private static boolean isSpecial(Path target) {
        Path abs = target.toAbsolutePath();
        return Files.exists(abs) && !Files.isRegularFile(abs) && !Files.isDirectory(abs);
    }

    private static void deleteQuietly(Path p) {
        if (p == null) {
            return;
        }
        try {
            Files.deleteIfExists(p);
        } catch (IOException ignored) {
            // best effort: the original failure is what gets reported
        }
    }
}
