package io.tessera.cli;

import io.tessera.layout.UserText;
import com.fasterxml.jackson.databind.JsonNode;
import io.tessera.layout.TensorMap;

import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/**
 * Typed, strict access to the fields of one JSON case object. Construction checks that the case is an object with no
 * unknown key; the getters check each value's JSON type. Every problem is an {@link IllegalArgumentException} whose
 * message names the key, the value found, and what was expected.
 */
public final class CaseFields {

    private final JsonNode node;
    private final Set<String> validKeys;

    /**
     * Wraps one case.
     *
     * @param node      the case as read
     * @param validKeys every key the case may have, in the order they are listed in messages
     * @throws IllegalArgumentException when the case is not an object or has a key outside {@code validKeys}
     */
    public CaseFields(JsonNode node, List<String> validKeys) {
        this.validKeys = new LinkedHashSet<>(validKeys);
        if (node == null || !node.isObject()) {
            throw new IllegalArgumentException("the case is " + Json.describe(node) + "; expected an object with the "
                    + "keys " + keyList());
        }
        this.node = node;
        for (Iterator<String> it = node.fieldNames(); it.hasNext(); ) {
            String key = it.next();
            if (!this.validKeys.contains(key)) {
                throw new IllegalArgumentException("unknown key " + UserText.quoted(key) + "; valid keys are " + keyList()
                        + " (check the spelling)");
            }
        }
    }

    /** The valid keys as a comma-separated list. */
    public String keyList() {
        return String.join(", ", validKeys);
    }

    /** Whether the case has {@code key} with a non-null value. */
    public boolean has(String key) {
        JsonNode v = node.get(key);
        return v != null && !v.isNull();
    }

    /** The value of a required key. */
    private JsonNode required(String key) {
        if (!has(key)) {
            throw new IllegalArgumentException("missing key '" + key + "'; valid keys are " + keyList());
        }
        return node.get(key);
    }

    /** A required non-empty list of ints (e.g. a device matrix). */
    public int[] ints(String key) {
        JsonNode v = required(key);
        if (!v.isArray() || v.isEmpty()) {
            throw new IllegalArgumentException(key + " is " + Json.describe(v)
                    + "; expected a non-empty list of integers, e.g. [2, 4]");
        }
        int[] out = new int[v.size()];
        for (int i = 0; i < out.length; i++) {
            JsonNode e = v.get(i);
            if (!e.isIntegralNumber() || !e.canConvertToInt()) {
                throw new IllegalArgumentException(key + ": entry " + i + " is " + Json.describe(e)
                        + "; expected an integer");
            }
            out[i] = e.intValue();
        }
        return out;
    }

    /** A required list of longs (e.g. a tensor shape; may be empty for a scalar). */
    public long[] longs(String key) {
        JsonNode v = required(key);
        if (!v.isArray()) {
            throw new IllegalArgumentException(key + " is " + Json.describe(v)
                    + "; expected a list of integers, e.g. [32, 256]");
        }
        long[] out = new long[v.size()];
        for (int i = 0; i < out.length; i++) {
            JsonNode e = v.get(i);
            if (!e.isIntegralNumber() || !e.canConvertToLong()) {
                throw new IllegalArgumentException(key + ": entry " + i + " is " + Json.describe(e)
                        + "; expected an integer");
            }
            out[i] = e.longValue();
        }
        return out;
    }

    /** A required tensor map: each entry {@code -1}, a device dimension, or a list of device dimensions. */
    public TensorMap tensorMap(String key) {
        JsonNode v = required(key);
        if (!v.isArray()) {
            throw new IllegalArgumentException(key + " is " + Json.describe(v)
                    + "; expected a list with one entry per tensor dimension, e.g. [1, -1] or [[1, 0], -1]");
        }
        List<TensorMap.Entry> entries = new ArrayList<>(v.size());
        for (int i = 0; i < v.size(); i++) {
            JsonNode e = v.get(i);
            if (e.isIntegralNumber() && e.canConvertToInt()) {
                entries.add(TensorMap.Entry.of(e.intValue()));
            } else if (e.isArray()) {
                int[] axes = new int[e.size()];
                for (int k = 0; k < axes.length; k++) {
                    JsonNode a = e.get(k);
                    if (!a.isIntegralNumber() || !a.canConvertToInt()) {
                        throw new IllegalArgumentException(key + ": entry " + i + " holds " + Json.describe(a)
                                + "; a list entry holds device dimensions (integers >= 0), e.g. [1, 0]");
                    }
                    axes[k] = a.intValue();
                }
                entries.add(TensorMap.Entry.of(axes));
            } else {
                throw new IllegalArgumentException(key + ": entry " + i + " is " + Json.describe(e)
                        + "; expected -1, a device dimension counted from the right (0, 1, ...), or a list of them "
                        + "such as [1, 0]");
            }
        }
        return TensorMap.of(entries);
    }

    /** An optional string, {@code fallback} when absent. */
    public String string(String key, String fallback) {
        if (!has(key)) {
            return fallback;
        }
        JsonNode v = node.get(key);
        if (!v.isTextual()) {
            throw new IllegalArgumentException(key + " is " + Json.describe(v) + "; expected a string, e.g. \""
                    + fallback + "\"");
        }
        return v.textValue();
    }
}
