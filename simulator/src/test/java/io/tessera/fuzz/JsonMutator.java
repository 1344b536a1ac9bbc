package io.tessera.fuzz;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;

/**
 * Seeded mutations of a JSON document for the fuzz suite: each returns the mutated bytes, a stable name
 * ({@code kind@path}) and whether the result is definitely invalid.
 */
final class JsonMutator {

    /**
     * A mutated document.
     *
     * @param name     {@code kind@path} (no random values in it, so it is stable across seeds)
     * @param bytes    the file content
     * @param mustFail whether the document is definitely invalid
     */
    record Mutant(String name, byte[] bytes, boolean mustFail) { }

    static final ObjectMapper MAPPER = new ObjectMapper();

    /** Keys whose numbers are sizes, counts or degrees: negative or absurdly large values are invalid. */
    static final Set<String> SIZE_KEYS = Set.of("devices", "layers", "hidden", "heads", "seq", "vocab", "batch",
            "widths", "shape", "dev_matrix", "from_dev_matrix", "to_dev_matrix", "tensor_shape", "devices_per_node",
            "nodes", "tensor", "data", "pipeline", "expert", "context", "micro_batch",
            "global_batch", "micro_batches", "pipeline_stages", "blocks", "channels", "parallel_strategy",
            "num_hidden_layers", "hidden_size", "intermediate_size", "num_attention_heads", "vocab_size",
            "classes", "image", "nics_per_node");

    /** Keys of rates and capacities: negative values are invalid, huge ones are not. */
    static final Set<String> POSITIVE_KEYS = Set.of("peak_flops", "memory_bandwidth", "memory_bytes", "bandwidth",
            "float32", "bfloat16", "float16", "latency", "efficiency", "min_efficiency", "max_efficiency");

    /** Size keys where 0 is also invalid. */
    static final Set<String> NONZERO_KEYS = Set.of("devices", "hidden", "heads", "seq", "vocab", "batch", "widths",
            "shape", "dev_matrix", "from_dev_matrix", "to_dev_matrix", "tensor_shape", "devices_per_node", "nodes",
            "memory_bytes", "bandwidth", "tensor", "data", "pipeline", "parallel_strategy", "peak_flops",
            "float32", "micro_batches", "pipeline_stages");

    /** Objects whose keys are names chosen by the user (an extra key there may be ignored or valid). */
    static final Set<String> NAME_KEYED = Set.of("operators", "parameters", "parallel_strategy_item",
            "parallel_layout_item", "peak_flops", "attrs", "routing", "kernels");

    private static final String[] KINDS = {"string", "object", "array", "null", "negative", "zero", "huge",
        "absurd", "big", "fraction", "raw", "remove", "unknown-key", "empty-string", "long-string", "dtype",
        "truncate", "deep", "dup-key", "non-utf8", "utf16", "bom", "trailing", "empty-doc"};

    private final Random rnd;

    JsonMutator(Random rnd) {
        this.rnd = rnd;
    }

    /** A leaf or object of the tree: its parent, the key or index in it, and the nearest object key above it. */
    private record Slot(JsonNode parent, String key, int index, JsonNode node, String owner, String path) { }

    /** One random mutation of {@code doc} (not modified). */
    Mutant mutate(JsonNode doc) {
        String kind = KINDS[rnd.nextInt(KINDS.length)];
        return mutate(doc, kind);
    }

    /** The mutation {@code kind} of {@code doc} at a random place (not modified). */
    Mutant mutate(JsonNode doc, String kind) {
        JsonNode d = doc.deepCopy();
        List<Slot> slots = new ArrayList<>();
        walk(d, null, null, -1, "", "$", slots);
        List<Slot> numbers = slots.stream().filter(s -> s.node().isNumber()).toList();
        List<Slot> strings = slots.stream().filter(s -> s.node().isTextual()).toList();
        List<Slot> leaves = slots.stream().filter(s -> s.node().isValueNode() && s.parent() != null).toList();
        List<Slot> objects = slots.stream().filter(s -> s.node().isObject()).toList();
        List<Slot> fields = slots.stream().filter(s -> s.key() != null).toList();
        switch (kind) {
            case "string", "object", "array", "null", "empty-string", "long-string" -> {
                Slot s = pick(kind.endsWith("string") ? strings : leaves);
                if (s == null) {
                    return mutate(doc, "truncate");
                }
                JsonNode repl = switch (kind) {
                    case "string" -> JsonNodeFactory.instance.textNode("not-a-number");
                    case "object" -> JsonNodeFactory.instance.objectNode();
                    case "array" -> JsonNodeFactory.instance.arrayNode();
                    case "null" -> JsonNodeFactory.instance.nullNode();
                    case "empty-string" -> JsonNodeFactory.instance.textNode("");
                    default -> JsonNodeFactory.instance.textNode("z".repeat(100_000));
                };
                boolean fail = switch (kind) {
                    case "string", "array" -> s.node().isNumber() || s.node().isBoolean();
                    case "object" -> !s.node().isNull();
                    default -> false;
                };
                set(s, repl);
                return new Mutant(kind + "@" + s.path(), bytes(d), fail);
            }
            case "negative", "zero", "huge", "absurd", "big", "fraction" -> {
                Slot s = pick(numbers);
                if (s == null) {
                    return mutate(doc, "truncate");
                }
                JsonNode repl = switch (kind) {
                    case "negative" -> JsonNodeFactory.instance.numberNode(-7);
                    case "zero" -> JsonNodeFactory.instance.numberNode(0);
                    case "huge" -> JsonNodeFactory.instance.numberNode(1_000_000_000_000L);
                    case "absurd" -> JsonNodeFactory.instance.numberNode(1_000_000_000);
                    case "big" -> JsonNodeFactory.instance.numberNode(1_000_000);
                    default -> JsonNodeFactory.instance.numberNode(1.5);
                };
                boolean fail = switch (kind) {
                    case "negative" -> SIZE_KEYS.contains(s.owner()) || POSITIVE_KEYS.contains(s.owner());
                    case "huge" -> SIZE_KEYS.contains(s.owner());
                    // 1e9 as one dimension of a shape or a width stays under the documented 2^40 elements per tensor
                    // (Limits.tensor_elements): a valid, if absurd, network
                    case "absurd" -> SIZE_KEYS.contains(s.owner())
                            && !Set.of("widths", "shape", "tensor_shape").contains(s.owner());
                    case "zero" -> NONZERO_KEYS.contains(s.owner());
                    default -> false;
                };
                set(s, repl);
                return new Mutant(kind + "@" + s.path(), bytes(d), fail);
            }
            case "raw" -> {
                Slot s = pick(numbers);
                if (s == null) {
                    return mutate(doc, "truncate");
                }
                String[] raws = {"NaN", "Infinity", "-Infinity", "1e400", "0x10", "01", "+1"};
                String raw = raws[rnd.nextInt(raws.length)];
                set(s, JsonNodeFactory.instance.textNode("__RAW__"));
                String text = new String(bytes(d), StandardCharsets.UTF_8).replace("\"__RAW__\"", raw);
                return new Mutant("raw-" + raw + "@" + s.path(), text.getBytes(StandardCharsets.UTF_8), true);
            }
            case "remove" -> {
                Slot s = pick(fields);
                if (s == null) {
                    return mutate(doc, "truncate");
                }
                ((ObjectNode) s.parent()).remove(s.key());
                return new Mutant(kind + "@" + s.path(), bytes(d), false);
            }
            case "unknown-key" -> {
                Slot s = pick(objects);
                if (s == null) {
                    return mutate(doc, "truncate");
                }
                ((ObjectNode) s.node()).put("bogus_key", 1);
                boolean fail = !NAME_KEYED.contains(s.owner()) && !s.owner().equals("args")
                        && !s.path().contains("parallel_strategy_item") && !s.path().contains("parallel_layout_item");
                return new Mutant(kind + "@" + s.path(), bytes(d), fail);
            }
            case "dtype" -> {
                List<Slot> dtypes = strings.stream().filter(s -> s.owner().equals("dtype")).toList();
                Slot s = pick(dtypes);
                if (s == null) {
                    return mutate(doc, "raw");
                }
                set(s, JsonNodeFactory.instance.textNode(rnd.nextBoolean() ? " float32" : "float33"));
                return new Mutant(kind + "@" + s.path(), bytes(d), true);
            }
            case "deep" -> {
                Slot s = pick(leaves);
                if (s == null) {
                    return mutate(doc, "truncate");
                }
                set(s, JsonNodeFactory.instance.textNode("__RAW__"));
                int depth = 50_000;
                String text = new String(bytes(d), StandardCharsets.UTF_8)
                        .replace("\"__RAW__\"", "[".repeat(depth) + "1" + "]".repeat(depth));
                return new Mutant(kind + "@" + s.path(), text.getBytes(StandardCharsets.UTF_8), true);
            }
            case "dup-key" -> {
                Slot s = pick(fields);
                if (s == null) {
                    return mutate(doc, "truncate");
                }
                String k = s.key();
                JsonNode v = s.node();
                ((ObjectNode) s.parent()).remove(k);
                ((ObjectNode) s.parent()).put("__DUP__", "__DUP__");
                String kv = quote(k) + ":" + text(v);
                String text = new String(bytes(d), StandardCharsets.UTF_8)
                        .replace("\"__DUP__\":\"__DUP__\"", kv + "," + kv);
                return new Mutant(kind + "@" + s.path(), text.getBytes(StandardCharsets.UTF_8), true);
            }
            case "non-utf8" -> {
                Slot s = pick(strings);
                if (s == null) {
                    return mutate(doc, "truncate");
                }
                set(s, JsonNodeFactory.instance.textNode("__BAD__"));
                byte[] b = bytes(d);
                String text = new String(b, StandardCharsets.ISO_8859_1).replace("__BAD__", "\u00ff\u00fe\u00c3");
                return new Mutant(kind + "@" + s.path(), text.getBytes(StandardCharsets.ISO_8859_1), true);
            }
            case "utf16" -> {
                return new Mutant(kind, new String(bytes(d), StandardCharsets.UTF_8)
                        .getBytes(StandardCharsets.UTF_16LE), false);
            }
            case "bom" -> {
                byte[] b = bytes(d);
                byte[] withBom = new byte[b.length + 3];
                withBom[0] = (byte) 0xEF;
                withBom[1] = (byte) 0xBB;
                withBom[2] = (byte) 0xBF;
                System.arraycopy(b, 0, withBom, 3, b.length);
                return new Mutant(kind, withBom, false);
            }
            case "trailing" -> {
                return new Mutant(kind, (new String(bytes(d), StandardCharsets.UTF_8) + "\n} garbage")
                        .getBytes(StandardCharsets.UTF_8), false);
            }
            case "empty-doc" -> {
                String[] docs = {"", "   \n", "null", "[]", "42", "\"text\"", "{", "{}"};
                int i = rnd.nextInt(docs.length);
                return new Mutant(kind + "-" + i, docs[i].getBytes(StandardCharsets.UTF_8), true);
            }
            default -> {
                byte[] b = bytes(d);
                String t = new String(b, StandardCharsets.UTF_8).strip();
                int cut = 1 + rnd.nextInt(Math.max(1, t.length() - 2));
                // the cut is a position, not a path: bucket it so the name stays stable-ish across seeds
                return new Mutant("truncate@" + (cut * 10 / t.length()) + "0%",
                        t.substring(0, cut).getBytes(StandardCharsets.UTF_8), true);
            }
        }
    }

    private Slot pick(List<Slot> list) {
        return list.isEmpty() ? null : list.get(rnd.nextInt(list.size()));
    }

    private static void walk(JsonNode n, JsonNode parent, String key, int index, String owner, String path,
            List<Slot> out) {
        out.add(new Slot(parent, key, index, n, owner, path));
        if (n.isObject()) {
            for (Iterator<Map.Entry<String, JsonNode>> it = n.fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> e = it.next();
                walk(e.getValue(), n, e.getKey(), -1, e.getKey(), path + "." + e.getKey(), out);
            }
        } else if (n.isArray()) {
            for (int i = 0; i < n.size(); i++) {
                walk(n.get(i), n, null, i, owner, path + "[" + i + "]", out);
            }
        }
    }

    private static void set(Slot s, JsonNode repl) {
        if (s.parent() instanceof ObjectNode o) {
            o.set(s.key(), repl);
        } else if (s.parent() instanceof ArrayNode a) {
            a.set(s.index(), repl);
        }
    }

    static byte[] bytes(JsonNode d) {
        try {
            return MAPPER.writeValueAsBytes(d);
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    private static String text(JsonNode d) {
        return new String(bytes(d), StandardCharsets.UTF_8);
    }

    private static String quote(String k) {
        return text(JsonNodeFactory.instance.textNode(k));
    }
}
