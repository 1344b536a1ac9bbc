package io.tessera.planner.strategy;

import io.tessera.layout.UserText;
import io.tessera.planner.json.InputFiles;
import com.fasterxml.jackson.core.JsonLocation;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.regex.Pattern;

/**
 * Strict JSON tree reading with JSON-path error messages, and the deterministic text writer shared by strategy files
 * and strategy checkpoints. Every error is an {@link IllegalArgumentException} with a one-line message.
 */
final class Json {

    private static final ObjectMapper MAPPER = InputFiles.mapperBuilder().build();

    private static final Pattern PLAIN_KEY = Pattern.compile("[A-Za-z_][A-Za-z0-9_]*");

    private Json() {
    }

    /** A new empty object node. */
    static ObjectNode object() {
        return JsonNodeFactory.instance.objectNode();
    }

    /** A new empty array node. */
    static ArrayNode array() {
        return JsonNodeFactory.instance.arrayNode();
    }

    /**
     * Parses {@code text} into a tree; duplicate keys and trailing content are errors.
     *
     * @param what what the text is, for messages (e.g. "strategy file")
     * @param expected the expected top-level value, e.g. "a JSON object"
     */
    static JsonNode parse(String text, String what, String expected) {
        if (text == null) {
            throw new IllegalArgumentException(what + ": found null text; expected " + expected);
        }
        try {
            JsonNode root = MAPPER.readTree(text);
            if (root == null || root.isMissingNode()) {
                throw new IllegalArgumentException(what + ": found empty text; expected " + expected);
            }
            return root;
        } catch (JsonProcessingException e) {
            throw new IllegalArgumentException(what + ": malformed JSON" + InputFiles.jsonError(e)
                    + "; fix the text so that it is valid JSON", e);
        }
    }

    /**
     * Reads a UTF-8 text file.
     *
     * @throws IllegalArgumentException when the file is missing, a directory or unreadable
     */
    static String readFile(Path file, String what) {
        if (file == null) {
            throw new IllegalArgumentException(what + ": found a null path; expected the path of a JSON file");
        }
        return InputFiles.readText(file, what);
    }

    /**
     * Writes {@code text} to {@code file} as UTF-8, creating parent directories: atomically, through a temporary file
     * next to it that is then moved into place, so a failure never leaves a partial file.
     */
    static void writeFile(Path file, String text) {
        Path tmp = null;
        try {
            Path abs = file.toAbsolutePath();
            Path parent = abs.getParent();
            if (parent != null) {
                Files.createDirectories(parent);
            }
            tmp = abs.resolveSibling("." + abs.getFileName() + "." + Long.toHexString(System.nanoTime()) + ".tmp");
            Files.writeString(tmp, text, StandardCharsets.UTF_8, java.nio.file.StandardOpenOption.CREATE_NEW,
                    java.nio.file.StandardOpenOption.WRITE);
            try {
                Files.move(tmp, abs, java.nio.file.StandardCopyOption.ATOMIC_MOVE);
            } catch (java.nio.file.AtomicMoveNotSupportedException e) {
                Files.move(tmp, abs, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
            }
            tmp = null;
        } catch (IOException e) {
            throw new IllegalArgumentException(InputFiles.show(file) + ": cannot be written ("
                    + oneLine(String.valueOf(e.getMessage())) + "); expected a writable path", e);
        } finally {
            if (tmp != null) {
                try {
                    Files.deleteIfExists(tmp);
                } catch (IOException ignored) {
                    // best effort: the original failure is what gets reported
                }
            }
        }
    }

    /** {@code s} with line breaks and surrounding blanks collapsed to one space; "" for null. */
    static String oneLine(String s) {
        return s == null ? "" : s.replaceAll("\\s*\\R\\s*", " ").trim();
    }

    /** The path of member {@code key} of the object at {@code path}: {@code a.b}, or {@code a["x.y"]}. */
    static String child(String path, String key) {
        if (PLAIN_KEY.matcher(key).matches()) {
            return path.isEmpty() ? key : path + "." + key;
        }
        String quoted = "[" + text(key) + "]";
        return path.isEmpty() ? quoted : path + quoted;
    }

    /** The path of element {@code i} of the array at {@code path}. */
    static String index(String path, int i) {
        return path + "[" + i + "]";
    }

    /** {@code path} for messages: "top level" when empty. */
    static String where(String path) {
        return path.isEmpty() ? "top level" : path;
    }

    /** A description of a JSON value for messages: {@code the string "x"}, {@code the number 2.5}, ... */
    static String describe(JsonNode n) {
        if (n == null || n.isMissingNode()) {
            return "nothing";
        }
        if (n.isNull()) {
            return "null";
        }
        if (n.isTextual()) {
            return "the string " + text(n.asText());
        }
        if (n.isNumber()) {
            return "the number " + n;
        }
        if (n.isBoolean()) {
            return "the boolean " + n.asBoolean();
        }
        if (n.isArray()) {
            String s = n.toString();
            return "the array " + (s.length() > 40 ? s.substring(0, 37) + "..." : s);
        }
        return "an object";
    }

    /** A JSON string literal. */
    static String text(String s) {
        try {
            return MAPPER.writeValueAsString(s);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("JSON serialisation of a string failed", e);
        }
    }

    /** An error "{@code <path>: <message>}". */
    static IllegalArgumentException error(String path, String message) {
        return new IllegalArgumentException(where(path) + ": " + message);
    }

    /** An error "{@code <path>: found <value>; expected <expected>}". */
    static IllegalArgumentException found(String path, JsonNode n, String expected) {
        return error(path, "found " + describe(n) + "; expected " + expected);
    }

    /** Checks that {@code n} is an object whose keys are all in {@code valid}, and that the required ones exist. */
    static ObjectNode object(JsonNode n, String path, List<String> valid, List<String> required) {
        if (n == null || !n.isObject()) {
            throw found(path, n, "an object with keys " + String.join(", ", valid));
        }
        Iterator<String> names = n.fieldNames();
        while (names.hasNext()) {
            String k = names.next();
            if (!valid.contains(k)) {
                throw error(path, "unknown key " + quote(k) + "; valid keys are " + String.join(", ", valid));
            }
        }
        for (String r : required) {
            if (!n.has(r)) {
                throw error(path, "missing key " + quote(r) + "; add it (valid keys are "
                        + String.join(", ", valid) + ")");
            }
        }
        return (ObjectNode) n;
    }

    /** {@code s} in single quotes, for key names in messages. */
    static String quote(String s) {
        return UserText.quoted(s);
    }

    /** An integer value in {@code [min, max]}. */
    static long integer(JsonNode n, String path, long min, long max, String expected) {
        if (n == null || !n.isIntegralNumber() || !n.canConvertToLong()) {
            throw found(path, n, expected);
        }
        long v = n.longValue();
        if (v < min || v > max) {
            throw found(path, n, expected);
        }
        return v;
    }

    /** An int value in {@code [min, Integer.MAX_VALUE]}. */
    static int integer(JsonNode n, String path, int min, String expected) {
        return (int) integer(n, path, min, Integer.MAX_VALUE, expected);
    }

    /** A boolean value (JSON true or false only). */
    static boolean bool(JsonNode n, String path) {
        if (n == null || !n.isBoolean()) {
            throw found(path, n, "true or false");
        }
        return n.booleanValue();
    }

    /** A non-blank string value. */
    static String string(JsonNode n, String path, String expected) {
        if (n == null || !n.isTextual() || n.asText().isBlank()) {
            throw found(path, n, expected);
        }
        return n.asText();
    }

    /** An array value. */
    static ArrayNode arrayNode(JsonNode n, String path, String expected) {
        if (n == null || !n.isArray()) {
            throw found(path, n, expected);
        }
        return (ArrayNode) n;
    }

    /** An array of ints, each in {@code [min, Integer.MAX_VALUE]}. */
    static int[] ints(JsonNode n, String path, int min, boolean nonEmpty, String expected) {
        ArrayNode a = arrayNode(n, path, expected);
        if (nonEmpty && a.isEmpty()) {
            throw found(path, n, expected);
        }
        int[] out = new int[a.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = integer(a.get(i), index(path, i), min, "an integer >= " + min);
        }
        return out;
    }

    /** An array of longs, each in {@code [min, Long.MAX_VALUE]}. */
    static long[] longs(JsonNode n, String path, long min, String expected) {
        ArrayNode a = arrayNode(n, path, expected);
        long[] out = new long[a.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = integer(a.get(i), index(path, i), min, Long.MAX_VALUE, "an integer >= " + min);
        }
        return out;
    }

    /** A non-empty array of tuples of positive ints: {@code [[2, 4], [4, 1]]}. */
    static List<int[]> tuples(JsonNode n, String path) {
        String expected = "a non-empty array of tuples of positive integers, e.g. [[2, 4], [4, 1]]";
        ArrayNode a = arrayNode(n, path, expected);
        if (a.isEmpty()) {
            throw found(path, n, expected);
        }
        List<int[]> out = new ArrayList<>(a.size());
        for (int i = 0; i < a.size(); i++) {
            out.add(ints(a.get(i), index(path, i), 1, false,
                    "a tuple of positive integers (one number of slices per tensor dimension), e.g. [2, 4]"));
        }
        return out;
    }

    /** A JSON array of ints. */
    static ArrayNode toArray(int[] values) {
        ArrayNode a = array();
        for (int v : values) {
            a.add(v);
        }
        return a;
    }

    /** A JSON array of longs. */
    static ArrayNode toArray(long[] values) {
        ArrayNode a = array();
        for (long v : values) {
            a.add(v);
        }
        return a;
    }

    /** A JSON array of int tuples. */
    static ArrayNode toArray(List<int[]> tuples) {
        ArrayNode a = array();
        for (int[] t : tuples) {
            a.add(toArray(t));
        }
        return a;
    }

    /**
     * The deterministic text of a tree: two-space indentation, one member per line, an array that holds no object
     * on one line ({@code [[2, 4], [4, 1]]}), {@code ": "} after keys, a final newline.
     */
    static String write(JsonNode node) {
        StringBuilder sb = new StringBuilder();
        write(node, sb, 0);
        return sb.append('\n').toString();
    }

    private static void write(JsonNode n, StringBuilder sb, int indent) {
        if (n.isObject()) {
            if (n.isEmpty()) {
                sb.append("{}");
                return;
            }
            sb.append("{\n");
            Iterator<String> names = n.fieldNames();
            while (names.hasNext()) {
                String k = names.next();
                sb.append("  ".repeat(indent + 1)).append(text(k)).append(": ");
                write(n.get(k), sb, indent + 1);
                sb.append(names.hasNext() ? ",\n" : "\n");
            }
            sb.append("  ".repeat(indent)).append('}');
        } else if (n.isArray()) {
            if (!containsObject(n)) {
                writeInline(n, sb);
                return;
            }
            sb.append("[\n");
            for (int i = 0; i < n.size(); i++) {
                sb.append("  ".repeat(indent + 1));
                write(n.get(i), sb, indent + 1);
                sb.append(i + 1 < n.size() ? ",\n" : "\n");
            }
            sb.append("  ".repeat(indent)).append(']');
        } else if (n.isTextual()) {
            sb.append(text(n.asText()));
        } else {
            sb.append(n.toString());
        }
    }

    private static boolean containsObject(JsonNode n) {
        if (n.isObject()) {
            return true;
        }
        for (JsonNode e : n) {
            if (containsObject(e)) {
                return true;
            }
        }
        return false;
    }

    private static void writeInline(JsonNode n, StringBuilder sb) {
        if (n.isArray()) {
            sb.append('[');
            for (int i = 0; i < n.size(); i++) {
                if (i > 0) {
                    sb.append(", ");
                }
                writeInline(n.get(i), sb);
            }
            sb.append(']');
        } else if (n.isTextual()) {
            sb.append(text(n.asText()));
        } else {
            sb.append(n.toString());
        }
    }
}
