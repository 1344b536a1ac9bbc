package io.tessera.layout;

/**
 * User text as error messages quote it: bounded, so a 100 KB name or path never makes a 100 KB message. Every module
 * echoes user-given values (names, keys, arguments, paths, dtype names) through {@link #abbreviate} or
 * {@link #quoted}.
 */
public final class UserText {

    /** How many characters of a user-given value a message quotes. */
    public static final int LIMIT = 200;

    private UserText() {
    }

    /**
     * {@code value} as a message may show it: itself when at most {@link #LIMIT} characters long, else its first
     * {@link #LIMIT} characters followed by {@code "... (N characters)"}; line breaks become spaces. {@code "null"}
     * for null.
     */
    public static String abbreviate(String value) {
        if (value == null) {
            return "null";
        }
        String head = value.length() > LIMIT ? value.substring(0, LIMIT) : value;
        head = head.replaceAll("[\\r\\n]+", " ");
        return value.length() > LIMIT ? head + "... (" + value.length() + " characters)" : head;
    }

    /** {@code value} abbreviated (see {@link #abbreviate}) in single quotes, e.g. {@code 'gtp'}. */
    public static String quoted(String value) {
        return value == null ? "null" : "'" + abbreviate(value) + "'";
    }
}
