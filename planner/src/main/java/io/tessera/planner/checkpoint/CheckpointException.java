package io.tessera.planner.checkpoint;

/**
 * A checkpoint error on bad input (corrupt or mismatching files) or on a file that cannot be read or written: its
 * message is one line naming the file and what is wrong; the CLI prints it and exits with status 2.
 */
public final class CheckpointException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    /** An error with a one-line {@code message} naming the file and the problem. */
    public CheckpointException(String message) {
        super(message);
    }

    /** An error with a one-line {@code message} naming the file and the problem, caused by {@code cause}. */
    public CheckpointException(String message, Throwable cause) {
        super(message, cause);
    }
}
