package io.tessera.cli;

/**
 * Bad input to a command (a missing or malformed file, an unusable option value): the CLI prints its one-line
 * message and exits with {@link Tessera#EXIT_BAD_INPUT}.
 */
public final class InputException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    /** An input error with a one-line message naming the input, the value found, and how to fix it. */
    public InputException(String message) {
        super(message);
    }

    /** An input error caused by {@code cause} (kept for the {@code --verbose} stack trace). */
    public InputException(String message, Throwable cause) {
        super(message, cause);
    }

    /**
     * The input error of a bad file: {@code cause}'s message on one line, prefixed with the file unless it already
     * names it.
     */
    public static InputException inFile(java.nio.file.Path file, IllegalArgumentException cause) {
        String message = Json.oneLine(cause.getMessage());
        String prefix = io.tessera.planner.json.InputFiles.show(file) + ": ";
        return new InputException(message.startsWith(prefix) ? message : prefix + message, cause);
    }
}
