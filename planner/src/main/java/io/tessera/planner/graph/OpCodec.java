package io.tessera.planner.graph;

import io.tessera.layout.UserText;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.tessera.planner.op.OpAttrs;
import io.tessera.planner.op.Operator;
import io.tessera.planner.op.OperatorKind;

import java.util.Iterator;
import java.util.List;

/**
 * Operators to and from the {@code type} and {@code attrs} of a network JSON op, with MindSpore's primitive and
 * attribute names: the registry {@link OperatorKind} decodes, each operator encodes itself
 * ({@link Operator#encodeAttrs}, every attribute written, defaults included, in a fixed order).
 */
final class OpCodec {

    private static final JsonNodeFactory F = JsonNodeFactory.instance;

    private OpCodec() {
    }

    /** The supported primitive names, in a stable order. */
    static List<String> types() {
        return OperatorKind.allTypes();
    }

    /** The attribute names of primitive {@code type}, or null for an unknown type. */
    static List<String> attrNames(String type) {
        OperatorKind k = OperatorKind.forType(type);
        return k == null ? null : k.attrNames();
    }

    /**
     * The operator of primitive {@code type} with attributes {@code attrs} (null means none).
     *
     * @param where the location for messages, e.g. {@code ops[3] ('layers.0.dense')}
     */
    static Operator parse(String where, String type, JsonNode attrs) {
        OperatorKind kind = OperatorKind.forType(type);
        if (kind == null) {
            throw new IllegalArgumentException("network JSON: " + where + ": unknown op type " + UserText.quoted(type)
                    + Names.closeHint(type, types()) + "; expected one of " + String.join(", ", types()));
        }
        ObjectNode obj;
        if (attrs == null || attrs.isNull()) {
            obj = F.objectNode();
        } else if (attrs instanceof ObjectNode o) {
            obj = o;
        } else {
            throw new IllegalArgumentException("network JSON: " + where + ": \"attrs\" is " + attrs
                    + "; expected an object such as {\"transpose_b\": true}");
        }
        Iterator<String> it = obj.fieldNames();
        while (it.hasNext()) {
            String k = it.next();
            if (!kind.attrNames().contains(k)) {
                throw new IllegalArgumentException("network JSON: " + where + ": unknown attribute " + UserText.quoted(k) + " of "
                        + type + "; valid attributes: " + (kind.attrNames().isEmpty() ? "none" : String.join(", ",
                        kind.attrNames())));
            }
        }
        OpAttrs a = new OpAttrs(where + " (" + type + ")", obj);
        try {
            return kind.decode(type, a);
        } catch (IllegalArgumentException e) {
            if (e.getMessage() != null && e.getMessage().startsWith("network JSON")) {
                throw e;
            }
            throw new IllegalArgumentException("network JSON: " + where + ": " + e.getMessage(), e);
        }
    }

    /** The attributes of {@code op}, every one written, in its kind's order. */
    static ObjectNode write(Operator op) {
        return op.encodeAttrs();
    }

    /** A JSON array of ints. */
    static ArrayNode array(int... values) {
        return OpAttrs.array(values);
    }

    /** A JSON array of longs. */
    static ArrayNode array(long... values) {
        return OpAttrs.array(values);
    }
}
