package io.tessera.planner.json;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonLocation;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.StreamReadConstraints;
import com.fasterxml.jackson.core.exc.StreamConstraintsException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.json.JsonMapper;
import io.tessera.layout.UserText;

import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CoderResult;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.AccessDeniedException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.Locale;

/**
 * The one way input files are read: every JSON input of the planner, the simulator and the CLI (strategy files,
 * strategy checkpoints, network and cluster files, Hugging Face configs, {@code layout} case files, published runs)
 * goes through {@link #readText}, and every JSON mapper that parses user text is built by {@link #mapperBuilder()}.
 * A file must be a regular file (not a directory, FIFO or device), at most {@link #maxBytes()} bytes (default
 * {@link #DEFAULT_MAX_BYTES}, 64 MiB; raise it with the system property {@value #MAX_BYTES_PROPERTY}), and strict
 * UTF-8; it is never read past the limit. Parsing limits nesting to {@link #MAX_NESTING} levels, numbers to
 * {@link #MAX_NUMBER_LENGTH} characters, strings to {@link #MAX_STRING_LENGTH} characters and a document to the size
 * limit; duplicate keys and trailing content are errors. {@link #jsonError} turns Jackson's messages into one line
 * that never advises enabling a Jackson feature.
 */
public final class InputFiles {

    /** The default input size limit: 64 MiB. */
    public static final long DEFAULT_MAX_BYTES = 64L << 20;
    /** The system property that overrides the input size limit, in bytes (e.g. {@code -Dtessera.maxInputBytes=1e9}). */
    public static final String MAX_BYTES_PROPERTY = "tessera.maxInputBytes";
    /** The deepest nesting of arrays and objects accepted in a JSON input. */
    public static final int MAX_NESTING = 200;
    /** The longest number accepted in a JSON input, in characters. */
    public static final int MAX_NUMBER_LENGTH = 1000;
    /** The longest string accepted in a JSON input, in characters. */
    public static final int MAX_STRING_LENGTH = 10_000_000;

    private static final JsonFactory FACTORY = JsonFactory.builder()
            .streamReadConstraints(StreamReadConstraints.builder()
                    .maxNestingDepth(MAX_NESTING)
                    .maxNumberLength(MAX_NUMBER_LENGTH)
                    .maxStringLength(MAX_STRING_LENGTH)
                    .maxDocumentLength(documentLimit())
                    .build())
            .build();

    private InputFiles() {
    }

    /** The document length limit of the parser: the size limit when valid, never below the default. */
    private static long documentLimit() {
        try {
            return Math.max(maxBytes(), DEFAULT_MAX_BYTES);
        } catch (IllegalArgumentException e) {
            return DEFAULT_MAX_BYTES;
        }
    }

    /**
     * The input size limit in bytes: the system property {@value #MAX_BYTES_PROPERTY} when set (a positive whole
     * number, {@code _} separators allowed), else {@link #DEFAULT_MAX_BYTES}.
     *
     * @throws IllegalArgumentException when the property is set to something else
     */
    public static long maxBytes() {
        String s = System.getProperty(MAX_BYTES_PROPERTY);
        if (s == null || s.isBlank()) {
            return DEFAULT_MAX_BYTES;
        }
        try {
            long v = Long.parseLong(s.trim().replace("_", ""));
            if (v > 0) {
                return v;
            }
        } catch (NumberFormatException e) {
            // reported below
        }
        throw new IllegalArgumentException("system property " + MAX_BYTES_PROPERTY + ": found " + UserText.quoted(s)
                + "; expected a positive whole number of bytes, e.g. " + DEFAULT_MAX_BYTES);
    }

    /**
     * A JSON mapper builder for user input: the limits on this class, duplicate keys and trailing tokens rejected.
     * Callers add their own write features.
     */
    public static JsonMapper.Builder mapperBuilder() {
        return JsonMapper.builder(FACTORY)
                .enable(JsonParser.Feature.STRICT_DUPLICATE_DETECTION)
                .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS);
    }

    /**
     * Reads {@code file} as strict UTF-8 text (a leading byte-order mark is dropped), checking first that it is a
     * regular file within the size limit.
     *
     * @param file the file
     * @param what what the file is, for messages, e.g. {@code strategy file}
     * @return the text
     * @throws InputFileException naming the path and the problem, e.g. "is a character device"
     */
    public static String readText(Path file, String what) {
        if (file == null) {
            throw new InputFileException(null, "found no path", "expected the path of a " + what);
        }
        if (file.toString().isEmpty()) {
            throw new InputFileException(file, "empty path", "give the path of a " + what);
        }
        BasicFileAttributes attrs;
        try {
            attrs = Files.readAttributes(file, BasicFileAttributes.class);
        } catch (NoSuchFileException e) {
            throw new InputFileException(file, "does not exist", "expected the path of a " + what + " (JSON)");
        } catch (IOException | SecurityException e) {
            throw new InputFileException(file, "cannot be read (" + oneLine(String.valueOf(e.getMessage())) + ")",
                    "expected a readable " + what + " (JSON)");
        }
        if (attrs.isDirectory()) {
            throw new InputFileException(file, "is a directory", "expected the path of a " + what + " (JSON)");
        }
        if (!attrs.isRegularFile()) {
            throw new InputFileException(file, "is " + kind(file, attrs) + ", not a regular file",
                    "expected the path of a " + what + " (JSON)");
        }
        long limit = maxBytes();
        if (attrs.size() > limit) {
            throw new InputFileException(file, "is " + attrs.size() + " bytes, above the input size limit of " + limit
                    + " bytes", "raise the limit with -D" + MAX_BYTES_PROPERTY + "=BYTES if the " + what
                    + " is meant to be this large");
        }
        byte[] bytes;
        try (InputStream in = Files.newInputStream(file)) {
            bytes = in.readNBytes((int) Math.min(Integer.MAX_VALUE - 16, limit + 1));
        } catch (AccessDeniedException e) {
            throw new InputFileException(file, "cannot be read (access denied)", "check its permissions");
        } catch (IOException e) {
            throw new InputFileException(file, "cannot be read (" + oneLine(String.valueOf(e.getMessage())) + ")",
                    "expected a readable " + what + " (JSON)");
        }
        if (bytes.length > limit) {
            throw new InputFileException(file, "grew above the input size limit of " + limit + " bytes while read",
                    "raise the limit with -D" + MAX_BYTES_PROPERTY + "=BYTES");
        }
        return decode(file, bytes, what);
    }

    /** Strict UTF-8 decoding of {@code bytes}, naming the first bad byte. */
    private static String decode(Path file, byte[] bytes, String what) {
        CharsetDecoder dec = StandardCharsets.UTF_8.newDecoder()
                .onMalformedInput(CodingErrorAction.REPORT)
                .onUnmappableCharacter(CodingErrorAction.REPORT);
        ByteBuffer in = ByteBuffer.wrap(bytes);
        CharBuffer out = CharBuffer.allocate(bytes.length);
        CoderResult r = dec.decode(in, out, true);
        if (!r.isError()) {
            r = dec.flush(out);
        }
        if (r.isError()) {
            int at = in.position();
            String hint = bytes.length >= 2 && ((bytes[0] & 0xFF) == 0xFF && (bytes[1] & 0xFF) == 0xFE
                    || (bytes[0] & 0xFF) == 0xFE && (bytes[1] & 0xFF) == 0xFF)
                    ? "it starts with a UTF-16 byte-order mark" : "byte 0x"
                    + String.format(Locale.ROOT, "%02X", bytes[Math.min(at, bytes.length - 1)] & 0xFF)
                    + " at offset " + at;
            throw new InputFileException(file, "is not UTF-8 JSON text (" + hint + ")",
                    "save the " + what + " as UTF-8");
        }
        out.flip();
        if (out.length() > 0 && out.charAt(0) == '\uFEFF') {
            out.position(1);
        }
        return out.toString();
    }

    private static String kind(Path file, BasicFileAttributes attrs) {
        if (attrs.isSymbolicLink()) {
            return "a symbolic link";
        }
        try {
            Object type = Files.getAttribute(file, "unix:mode", LinkOption.NOFOLLOW_LINKS);
            if (type instanceof Integer mode) {
                switch (mode & 0xF000) {
                    case 0x1000: return "a FIFO (named pipe)";
                    case 0x2000: return "a character device";
                    case 0x6000: return "a block device";
                    case 0xC000: return "a socket";
                    default: break;
                }
            }
        } catch (IOException | UnsupportedOperationException | IllegalArgumentException | SecurityException e) {
            // not a Unix file system: the generic description below
        }
        return "a special file";
    }

    /**
     * Jackson's error as one line of ours, to append to e.g. {@code "malformed JSON"}: {@code " at line L, column C: "}
     * (or {@code ": "} when Jackson knows no place), then what was found and what is expected, never advice to enable
     * a Jackson feature. Limits are stated with their value.
     */
    public static String jsonError(JsonProcessingException e) {
        JsonLocation loc = e.getLocation();
        String where = loc == null || loc.getLineNr() < 0 ? "" : " at line " + loc.getLineNr() + ", column "
                + loc.getColumnNr();
        String msg = oneLine(e.getOriginalMessage());
        if (e instanceof StreamConstraintsException) {
            if (msg.contains("nesting depth")) {
                msg = "arrays and objects nested more than " + MAX_NESTING + " levels deep; expected at most "
                        + MAX_NESTING;
            } else if (msg.contains("Number value length") || msg.contains("Number length")) {
                msg = "a number longer than " + MAX_NUMBER_LENGTH + " characters; expected a number of at most "
                        + MAX_NUMBER_LENGTH;
            } else if (msg.contains("String value length") || msg.contains("String length")) {
                msg = "a string longer than " + MAX_STRING_LENGTH + " characters; expected a shorter string";
            } else if (msg.contains("Document length") || msg.contains("document length")) {
                msg = "a document above the input size limit; raise it with -D" + MAX_BYTES_PROPERTY + "=BYTES";
            } else {
                msg = msg.replaceAll("\\s*\\(from `StreamReadConstraints[^)]*\\)", "");
            }
            return where + ": " + msg;
        }
        if (msg.contains("Non-standard token")) {
            msg = msg.replaceAll("Non-standard token ('[^']*')[^;]*", "found $1, which JSON does not allow;"
                    + " expected a finite number");
        } else if (msg.startsWith("Trailing token")) {
            msg = "found more content after the end of the JSON value; expected one JSON value per file";
        } else if (msg.contains("(non-standard) comment")) {
            msg = "found a comment; JSON has no comments, remove it";
        }
        msg = msg.replaceAll("\\s*\\(start marker at \\[Source:.*", "")
                .replaceAll("\\s*\\[Source:[^\\]]*\\]", "")
                .replaceAll("\\s*\\((?:[^()]|\\([^()]*\\))*(?:Feature|enable)(?:[^()]|\\([^()]*\\))*\\)", "")
                .replaceAll(";?\\s*(?:to allow|enable)\\b.*?(?:Feature|ALLOW_)[^;]*", "")
                .replaceAll(":?\\s*[^:;]*`JsonReadFeature[^;]*", "")
                .replaceAll("\\s*\\(bound as `[^`]*`\\)", "")
                .replaceAll(":?\\s*[^:;]*`(?:Deserialization|Json|Stream)\\w*Feature[^;]*", "");
        return where + ": " + UserText.abbreviate(msg.trim());
    }

    /** Jackson's error as {@link #jsonError} words it, without the leading {@code " at "} or {@code ": "}. */
    public static String jsonMessage(JsonProcessingException e) {
        String s = jsonError(e);
        return s.startsWith(" at ") ? s.substring(4) : s.substring(2);
    }

    /** {@code path} as a message shows it, abbreviated (see {@link UserText#abbreviate}). */
    public static String show(Path path) {
        return path == null ? "(no path)" : UserText.abbreviate(path.toString());
    }

    private static String oneLine(String s) {
        return s == null ? "" : s.replaceAll("\\s*\\R\\s*", " ").trim();
    }

    /**
     * An input file that cannot be used: its message is {@code path: problem; advice}, one line. {@link #problem()}
     * and {@link #advice()} let callers phrase it their way.
     */
    public static final class InputFileException extends IllegalArgumentException {
        private static final long serialVersionUID = 1L;
        private final transient Path path;
        private final String problem;
        private final String advice;

        /** An unusable input file: {@code path}, what is wrong, how to fix it. */
        public InputFileException(Path path, String problem, String advice) {
            super((path == null ? "" : show(path) + ": ") + problem + "; " + advice);
            this.path = path;
            this.problem = problem;
            this.advice = advice;
        }

        /** The file, or null when none was given. */
        public Path path() {
            return path;
        }

        /** What is wrong, e.g. {@code is a directory}. */
        public String problem() {
            return problem;
        }

        /** How to fix it, e.g. {@code expected the path of a strategy file (JSON)}. */
        public String advice() {
            return advice;
        }
    }
}
