package io.tessera.cli;

import io.tessera.planner.json.InputFiles;
import com.fasterxml.jackson.core.JsonLocation;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.JsonStreamContext;
import com.fasterxml.jackson.core.json.JsonWriteFeature;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.tessera.planner.json.CompactJsonPrinter;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.AccessDeniedException;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Set;

/**
 * JSON reading and writing for the CLI, all through Jackson. Reading is strict (duplicate keys and trailing content
 * are errors); writing is deterministic: objects keep insertion order, non-ASCII is escaped, every array is on one
 * line except the top-level array and the arrays of a few named fields (one element per line), and the text ends
 * with a newline. Files are written atomically.
 */
public final class Json {

    private static final ObjectMapper MAPPER = InputFiles.mapperBuilder()
            .enable(JsonWriteFeature.ESCAPE_NON_ASCII)
            .build();

    /** Fields whose array value is written one element per line. */
    private static final Set<String> MULTILINE_FIELDS = Set.of("ranks", "steps", "cases");

    private Json() {
    }

    /** A new empty object node. */
    public static ObjectNode object() {
        return JsonNodeFactory.instance.objectNode();
    }

    /** A new empty array node. */
    public static ArrayNode array() {
        return JsonNodeFactory.instance.arrayNode();
    }

    /** An array node of the given numbers. */
    public static ArrayNode array(long... values) {
        ArrayNode a = array();
        for (long v : values) {
            a.add(v);
        }
        return a;
    }

    /** An array node of the given numbers. */
    public static ArrayNode array(int... values) {
        ArrayNode a = array();
        for (int v : values) {
            a.add(v);
        }
        return a;
    }

    /**
     * Reads a JSON file whose top level must be an array.
     *
     * @param option the option naming the file, for messages (e.g. {@code --input})
     * @param file   the file
     * @throws InputException when the file is missing, unreadable, malformed, or not an array
     */
    public static ArrayNode readArray(String option, Path file) {
        JsonNode root = read(option, file);
        if (!root.isArray()) {
            throw new InputException(option + " " + file + ": the top level is " + describe(root)
                    + "; expected a JSON array of cases, e.g. [{...}, {...}]");
        }
        return (ArrayNode) root;
    }

    /**
     * Reads a JSON file.
     *
     * @throws InputException when the file is missing, unreadable or malformed
     */
    public static JsonNode read(String option, Path file) {
        String text;
        try {
            text = InputFiles.readText(file, "cases file");
        } catch (InputFiles.InputFileException e) {
            String shown = InputFiles.show(file);
            if (e.problem().equals("does not exist")) {
                throw new InputException(option + " " + shown + " does not exist; give the path of a JSON file", e);
            }
            throw new InputException(option + " " + shown + " " + e.problem() + "; " + e.advice(), e);
        }
        try {
            JsonNode root = MAPPER.readTree(text);
            if (root == null || root.isMissingNode()) {
                throw new InputException(option + " " + InputFiles.show(file)
                        + " is empty; expected a JSON array of cases");
            }
            return root;
        } catch (JsonProcessingException e) {
            throw new InputException(option + " " + InputFiles.show(file) + ": malformed JSON" + InputFiles.jsonError(e)
                    + "; fix the file so that it is valid JSON", e);
        }
    }

    /**
     * The deterministic text of {@code node}: pretty-printed as described on this class, ending with a newline.
     *
     * @throws InputException when a number in it is NaN or infinite ({@link FiniteJson#check})
     */
    public static String write(JsonNode node) {
        FiniteJson.check(node);
        try {
            return MAPPER.writer(new CompactJsonPrinter(ctx -> {
                // the top-level array and the values of MULTILINE_FIELDS get one element per line
                JsonStreamContext parent = ctx.getParent();
                return parent == null || parent.inRoot()
                        || parent.inObject() && MULTILINE_FIELDS.contains(parent.getCurrentName());
            }, false)).writeValueAsString(node) + "\n";
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("JSON serialisation of a tree failed", e);
        }
    }

    /**
     * Writes {@code node} to {@code output} atomically (a temporary file in the same directory, then a move), or to
     * {@code out} when {@code output} is null. A failure never leaves a partial or empty output file.
     *
     * @throws InputException when the output directory does not exist or cannot be written
     */
    public static void emit(JsonNode node, Path output, PrintWriter out) {
        String text = write(node);
        if (output == null) {
            out.print(text);
            out.flush();
            return;
        }
        writeAtomically(output, text);
    }

    /**
     * Writes {@code text} as UTF-8 to {@code target} atomically through {@link OutputFiles}: the text goes to a
     * temporary file in the target's directory, which is then moved over the target ({@code ATOMIC_MOVE}, falling back
     * to {@code REPLACE_EXISTING} where the file system cannot move atomically). The temporary file is removed on
     * failure. Several outputs that must be written all or none go through one {@link OutputFiles}.
     *
     * @throws InputException when the directory does not exist, the target is a directory, or writing fails
     */
    public static void writeAtomically(Path target, String text) {
        writeAtomically("--output", target, text);
    }

    /**
     * Writes {@code text} to {@code target} atomically, as {@link #writeAtomically(Path, String)}; messages name the
     * file as {@code option target}.
     *
     * @param option what names the file in messages, e.g. {@code --out}
     * @throws InputException when the directory does not exist, the target is a directory, or writing fails
     */
    public static void writeAtomically(String option, Path target, String text) {
        new OutputFiles().add(option, target, text).commit();
    }

    /**
     * Checks that {@code target} could be written: a non-empty path whose directory exists and which is not itself a
     * directory (see {@link OutputFiles#check}).
     *
     * @param option what names the file in messages, e.g. {@code --out}
     * @throws InputException when it could not
     */
    public static void checkWritable(String option, Path target) {
        OutputFiles.check(option, target);
    }

    /** A short description of a node's JSON type and value, for error messages, e.g. {@code the string "abc"}. */
    public static String describe(JsonNode node) {
        if (node == null || node.isMissingNode()) {
            return "nothing";
        }
        String text = node.toString();
        if (text.length() > 60) {
            text = text.substring(0, 57) + "...";
        }
        String type;
        switch (node.getNodeType()) {
            case ARRAY: type = "the array"; break;
            case OBJECT: type = "the object"; break;
            case STRING: type = "the string"; break;
            case NUMBER: type = "the number"; break;
            case BOOLEAN: type = "the boolean"; break;
            case NULL: return "null";
            default: type = "the value"; break;
        }
        return type + " " + text;
    }

    /** {@code text} with line breaks and the whitespace around them collapsed into single spaces. */
    public static String oneLine(String text) {
        return text == null ? "" : text.replaceAll("\\s*[\\r\\n]+\\s*", " ").trim();
    }
}
