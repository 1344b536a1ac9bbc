package io.tessera.planner.graph;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.tessera.layout.DType;
import io.tessera.planner.op.Activation;
import io.tessera.planner.op.BatchNorm;
import io.tessera.planner.op.BiasAdd;
import io.tessera.planner.op.Binary;
import io.tessera.planner.op.Cast;
import io.tessera.planner.op.Conv2D;
import io.tessera.planner.op.Dropout;
import io.tessera.planner.op.Gather;
import io.tessera.planner.op.LayerNorm;
import io.tessera.planner.op.MatMul;
import io.tessera.planner.op.Operator;
import io.tessera.planner.op.Reduce;
import io.tessera.planner.op.Reshape;
import io.tessera.planner.op.Softmax;
import io.tessera.planner.op.SoftmaxCrossEntropyWithLogits;
import io.tessera.planner.op.Transpose;

import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.BiFunction;

/**
 * Operators to and from the {@code type} and {@code attrs} of a network JSON op, with MindSpore's primitive and
 * attribute names. Writing emits every attribute (defaults included) in a fixed order.
 */
final class OpCodec {

    private static final JsonNodeFactory F = JsonNodeFactory.instance;

    /** One operator type: its attribute names (in write order) and how to build it from attributes. */
    private record Spec(List<String> attrs, BiFunction<String, Attrs, Operator> parse) {
    }

    private static final Map<String, Spec> SPECS = new LinkedHashMap<>();

    static {
        SPECS.put("MatMul", new Spec(List.of("transpose_a", "transpose_b"),
                (t, a) -> MatMul.of(a.bool("transpose_a", false), a.bool("transpose_b", false))));
        SPECS.put("BatchMatMul", new Spec(List.of("transpose_a", "transpose_b"),
                (t, a) -> MatMul.batched(a.bool("transpose_a", false), a.bool("transpose_b", false))));
        for (Binary.Kind k : Binary.Kind.values()) {
            SPECS.put(k.type(), new Spec(List.of(), (t, a) -> new Binary(k)));
        }
        SPECS.put("BiasAdd", new Spec(List.of(), (t, a) -> new BiasAdd()));
        for (Activation.Kind k : Activation.Kind.values()) {
            SPECS.put(k.type(), new Spec(List.of(), (t, a) -> new Activation(k)));
        }
        SPECS.put("Dropout", new Spec(List.of("keep_prob"), (t, a) -> new Dropout(a.number("keep_prob", 0.5))));
        SPECS.put("Cast", new Spec(List.of("dst_type"), (t, a) -> new Cast(a.dtype("dst_type"))));
        SPECS.put("Softmax", new Spec(List.of("axis"), (t, a) -> Softmax.of(a.axis("axis", -1))));
        SPECS.put("LogSoftmax", new Spec(List.of("axis"), (t, a) -> Softmax.log(a.axis("axis", -1))));
        SPECS.put("LayerNorm", new Spec(List.of("begin_norm_axis", "begin_params_axis", "epsilon"),
                (t, a) -> new LayerNorm(a.integer("begin_norm_axis", 1), a.integer("begin_params_axis", 1),
                        a.number("epsilon", 1e-7))));
        SPECS.put("BatchNorm", new Spec(List.of("epsilon", "momentum"),
                (t, a) -> new BatchNorm(a.number("epsilon", 1e-5), a.number("momentum", 0.1))));
        SPECS.put("SoftmaxCrossEntropyWithLogits", new Spec(List.of(),
                (t, a) -> new SoftmaxCrossEntropyWithLogits()));
        SPECS.put("Reshape", new Spec(List.of("shape"),
                (t, a) -> new Reshape(a.longs("shape", "the target shape, a list of integers (one may be -1)"))));
        SPECS.put("Transpose", new Spec(List.of("perm"),
                (t, a) -> new Transpose(a.ints("perm", 0, null, "a permutation such as [0, 2, 1, 3]"))));
        for (Reduce.Kind k : Reduce.Kind.values()) {
            SPECS.put(k.type(), new Spec(List.of("axis", "keep_dims"), (t, a) -> new Reduce(k,
                    a.ints("axis", 1, new int[0], "an axis or a list of axes ([] reduces all)"),
                    a.bool("keep_dims", false))));
        }
        SPECS.put("Gather", new Spec(List.of("axis"), (t, a) -> Gather.of(a.integer("axis", 0))));
        SPECS.put("Conv2D", new Spec(List.of("out_channel", "kernel_size", "stride", "pad", "dilation", "group"),
                (t, a) -> {
                    a.require("out_channel", "the number of output channels");
                    a.require("kernel_size", "an int or [height, width]");
                    return new Conv2D(a.integer("out_channel", 0),
                            a.ints("kernel_size", 2, null, "an int or [height, width]"),
                            a.ints("stride", 2, new int[] {1, 1}, "an int or [height, width]"),
                            a.ints("pad", 4, new int[] {0, 0, 0, 0},
                                    "an int, [ph, pw] or [top, bottom, left, right]"),
                            a.ints("dilation", 2, new int[] {1, 1}, "an int or [height, width]"),
                            a.integer("group", 1));
                }));
    }

    private OpCodec() {
    }

    /** The supported primitive names, in a stable order. */
    static List<String> types() {
        return List.copyOf(SPECS.keySet());
    }

    /** The attribute names of primitive {@code type}, or null for an unknown type. */
    static List<String> attrNames(String type) {
        Spec s = SPECS.get(type);
        return s == null ? null : s.attrs();
    }

    /**
     * The operator of primitive {@code type} with attributes {@code attrs} (null means none).
     *
     * @param where the location for messages, e.g. {@code ops[3] ('layers.0.dense')}
     */
    static Operator parse(String where, String type, JsonNode attrs) {
        Spec spec = SPECS.get(type);
        if (spec == null) {
            throw new IllegalArgumentException("network JSON: " + where + ": unknown op type '" + type
                    + "'" + Names.closeHint(type, SPECS.keySet()) + "; expected one of " + String.join(", ", types()));
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
            if (!spec.attrs().contains(k)) {
                throw new IllegalArgumentException("network JSON: " + where + ": unknown attribute '" + k + "' of "
                        + type + "; valid attributes: " + (spec.attrs().isEmpty() ? "none" : String.join(", ",
                        spec.attrs())));
            }
        }
        Attrs a = new Attrs(where + " (" + type + ")", obj);
        try {
            return spec.parse().apply(type, a);
        } catch (IllegalArgumentException e) {
            if (e.getMessage() != null && e.getMessage().startsWith("network JSON")) {
                throw e;
            }
            throw new IllegalArgumentException("network JSON: " + where + ": " + e.getMessage(), e);
        }
    }

    /** The attributes of {@code op}, every one written, in its spec's order. */
    static ObjectNode write(Operator op) {
        ObjectNode o = F.objectNode();
        if (op instanceof MatMul m) {
            o.put("transpose_a", m.transposeA());
            o.put("transpose_b", m.transposeB());
        } else if (op instanceof Dropout d) {
            o.put("keep_prob", d.keepProb());
        } else if (op instanceof Cast c) {
            o.put("dst_type", c.to().jsonName());
        } else if (op instanceof Softmax s) {
            o.put("axis", s.axis());
        } else if (op instanceof LayerNorm l) {
            o.put("begin_norm_axis", l.beginNormAxis());
            o.put("begin_params_axis", l.beginParamsAxis());
            o.put("epsilon", l.epsilon());
        } else if (op instanceof BatchNorm b) {
            o.put("epsilon", b.epsilon());
            o.put("momentum", b.momentum());
        } else if (op instanceof Reshape r) {
            o.set("shape", array(r.shape()));
        } else if (op instanceof Transpose t) {
            o.set("perm", array(t.perm()));
        } else if (op instanceof Reduce r) {
            o.set("axis", array(r.axes()));
            o.put("keep_dims", r.keepDims());
        } else if (op instanceof Gather g) {
            o.put("axis", g.axis());
        } else if (op instanceof Conv2D c) {
            o.put("out_channel", c.outChannels());
            o.set("kernel_size", array(c.kernel()));
            o.set("stride", array(c.stride()));
            o.set("pad", array(c.pad()));
            o.set("dilation", array(c.dilation()));
            o.put("group", c.group());
        }
        return o;
    }

    /** Typed access to an op's attributes with defaults and messages naming the location. */
    static final class Attrs {
        private final String where;
        private final ObjectNode node;

        Attrs(String where, ObjectNode node) {
            this.where = where;
            this.node = node;
        }

        private IllegalArgumentException bad(String key, JsonNode v, String expected) {
            return new IllegalArgumentException("network JSON: " + where + ": attribute '" + key + "' is " + v
                    + "; expected " + expected);
        }

        boolean bool(String key, boolean def) {
            JsonNode v = node.get(key);
            if (v == null) {
                return def;
            }
            if (!v.isBoolean()) {
                throw bad(key, v, "true or false");
            }
            return v.booleanValue();
        }

        int integer(String key, int def) {
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
        int axis(String key, int def) {
            JsonNode v = node.get(key);
            if (v != null && v.isArray()) {
                if (v.size() != 1 || !v.get(0).isIntegralNumber() || !v.get(0).canConvertToInt()) {
                    throw bad(key, v, "an integer or a list of one integer");
                }
                return v.get(0).intValue();
            }
            return integer(key, def);
        }

        double number(String key, double def) {
            JsonNode v = node.get(key);
            if (v == null) {
                return def;
            }
            if (!v.isNumber()) {
                throw bad(key, v, "a number");
            }
            return v.doubleValue();
        }

        DType dtype(String key) {
            JsonNode v = require(key, "a dtype name such as \"float16\"");
            if (!v.isTextual()) {
                throw bad(key, v, "a dtype name such as \"float16\"");
            }
            return DType.parse(v.textValue());
        }

        JsonNode require(String key, String expected) {
            JsonNode v = node.get(key);
            if (v == null) {
                throw new IllegalArgumentException("network JSON: " + where + ": attribute '" + key
                        + "' is missing; expected " + expected);
            }
            return v;
        }

        /** A required list of integers. */
        long[] longs(String key, String expected) {
            JsonNode v = require(key, expected);
            return longsOf(key, v, expected);
        }

        long[] longsOf(String key, JsonNode v, String expected) {
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
        int[] ints(String key, int n, int[] def, String expected) {
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
    }

    /** A JSON array of ints. */
    static ArrayNode array(int... values) {
        ArrayNode a = F.arrayNode();
        for (int v : values) {
            a.add(v);
        }
        return a;
    }

    /** A JSON array of longs. */
    static ArrayNode array(long... values) {
        ArrayNode a = F.arrayNode();
        for (long v : values) {
            a.add(v);
        }
        return a;
    }
}
