package io.tessera.planner.op;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.tessera.layout.DType;

/**
 * The {@code attrs} of one network-JSON op, read with defaults and messages naming the location ({@code network
 * JSON: <where>: attribute '<key>' is <value>; expected ...}); operators decode from it
 * ({@link OperatorKind#decode}) and encode into JSON arrays with {@link #array}.
 */
public final class OpAttrs {
    private static final JsonNodeFactory F = JsonNodeFactory.instance;

    private final String where;
    private final ObjectNode node;

    /**
     * Attributes {@code node} of the op at {@code where}.
     *
     * @param where the location for messages, e.g. {@code ops[3] ('fc') (MatMul)}
     */
    public OpAttrs(String where, ObjectNode node) {
        this.where = where;
        this.node = node;
    }

    private IllegalArgumentException bad(String key, JsonNode v, String expected) {
        return new IllegalArgumentException("network JSON: " + where + ": attribute '" + key + "' is " + v
                + "; expected " + expected);
    }

    /** A boolean, or {@code def} when absent. */
    public boolean bool(String key, boolean def) {
        JsonNode v = node.get(key);
        if (v == null) {
            return def;
        }
        if (!v.isBoolean()) {
            throw bad(key, v, "true or false");
        }
        return v.booleanValue();
    }

    /** An int, or {@code def} when absent. */
    public int integer(String key, int def) {
        JsonNode v = node.get(key);
        if (v == null) {
            return def;
        }
        if (!v.isIntegralNumber() || !v.canConvertToInt()) {
            throw bad(key, v, "an integer");
        }
        return v.intValue();
    }

    /** An int, or a list holding exactly one int (MindSpore writes Softmax's axis as a tuple). */
    public int axis(String key, int def) {
        JsonNode v = node.get(key);
        if (v != null && v.isArray()) {
            if (v.size() != 1 || !v.get(0).isIntegralNumber() || !v.get(0).canConvertToInt()) {
                throw bad(key, v, "an integer or a list of one integer");
            }
            return v.get(0).intValue();
        }
        return integer(key, def);
    }

    /** A number, or {@code def} when absent. */
    public double number(String key, double def) {
        JsonNode v = node.get(key);
        if (v == null) {
            return def;
        }
        if (!v.isNumber()) {
            throw bad(key, v, "a number");
        }
        return v.doubleValue();
    }

    /** A required dtype name such as {@code "float16"}. */
    public DType dtype(String key) {
        JsonNode v = require(key, "a dtype name such as \"float16\"");
        if (!v.isTextual()) {
            throw bad(key, v, "a dtype name such as \"float16\"");
        }
        return DType.parse(v.textValue());
    }

    /** An optional dtype name such as {@code "float8_e4m3fn"}; null when absent. */
    public DType optionalDtype(String key) {
        JsonNode v = node.get(key);
        if (v == null) {
            return null;
        }
        if (!v.isTextual()) {
            throw bad(key, v, "a dtype name such as \"float8_e4m3fn\"");
        }
        return DType.parse(v.textValue());
    }

    /** The attribute {@code key}, which must be present ({@code expected} describes it for the message). */
    public JsonNode require(String key, String expected) {
        JsonNode v = node.get(key);
        if (v == null) {
            throw new IllegalArgumentException("network JSON: " + where + ": attribute '" + key
                    + "' is missing; expected " + expected);
        }
        return v;
    }

    /** A string, or {@code def} when absent. */
    public String text(String key, String def) {
        JsonNode v = node.get(key);
        if (v == null) {
            return def;
        }
        if (!v.isTextual()) {
            throw bad(key, v, "a string");
        }
        return v.textValue();
    }

    /**
     * A nested object holding only {@code keys}, read as attributes of its own (messages name it); null when absent
     * or JSON null.
     */
    public OpAttrs optionalObject(String key, java.util.List<String> keys) {
        JsonNode v = node.get(key);
        if (v == null || v.isNull()) {
            return null;
        }
        if (!(v instanceof ObjectNode o)) {
            throw bad(key, v, "null or an object with keys " + keys);
        }
        java.util.Iterator<String> it = o.fieldNames();
        while (it.hasNext()) {
            String k = it.next();
            if (!keys.contains(k)) {
                throw new IllegalArgumentException("network JSON: " + where + ": attribute '" + key
                        + "' has unknown key '" + k + "'; valid keys: " + String.join(", ", keys));
            }
        }
        return new OpAttrs(where + ": attribute '" + key + "'", o);
    }

    /** A required list of integers. */
    public long[] longs(String key, String expected) {
        JsonNode v = require(key, expected);
        return longsOf(key, v, expected);
    }

    /** Whether {@code key} is given (possibly as null). */
    public boolean has(String key) {
        return node.has(key);
    }

    /** An optional list of integers: null when {@code key} is absent or null. */
    public long[] optionalLongs(String key, String expected) {
        JsonNode v = node.get(key);
        return v == null || v.isNull() ? null : longsOf(key, v, expected);
    }

    /** The list of integers {@code v} of attribute {@code key}. */
    public long[] longsOf(String key, JsonNode v, String expected) {
        if (!v.isArray()) {
            throw bad(key, v, expected);
        }
        long[] out = new long[v.size()];
        for (int i = 0; i < out.length; i++) {
            JsonNode e = v.get(i);
            if (!e.isIntegralNumber() || !e.canConvertToLong()) {
                throw bad(key, v, expected);
            }
            out[i] = e.longValue();
        }
        return out;
    }

    /** A list of ints, an int given alone meaning a list of {@code n} copies, or {@code def} when absent. */
    public int[] ints(String key, int n, int[] def, String expected) {
        JsonNode v = node.get(key);
        if (v == null) {
            return def == null ? null : def.clone();
        }
        if (v.isIntegralNumber() && v.canConvertToInt() && n > 0) {
            int[] out = new int[n];
            java.util.Arrays.fill(out, v.intValue());
            return out;
        }
        long[] l = longsOf(key, v, expected);
        int[] out = new int[l.length];
        for (int i = 0; i < l.length; i++) {
            if (l[i] != (int) l[i]) {
                throw bad(key, v, expected);
            }
            out[i] = (int) l[i];
        }
        return out;
    }

    /** A JSON array of ints. */
    public static ArrayNode array(int... values) {
        ArrayNode a = F.arrayNode();
        for (int v : values) {
            a.add(v);
        }
        return a;
    }

    /** A JSON array of longs. */
    public static ArrayNode array(long... values) {
        ArrayNode a = F.arrayNode();
        for (long v : values) {
            a.add(v);
        }
        return a;
    }

    /** A new empty JSON object, for {@link Operator#encodeAttrs}. */
    public static ObjectNode object() {
        return F.objectNode();
    }
}
