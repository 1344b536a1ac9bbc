package io.tessera.planner.strategy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Reads and writes MindSpore's strategy checkpoint JSON (spec §7):
 * <pre>
 * { "current_stage": 0,
 *   "parallel_strategy_item": { "MatMul_w": { "stage": 0, "parallel_strategy": [[2, 1], [4, 1]] } },
 *   "parallel_layout_item": { "w": { "dev_matrix": [2, 4], "tensor_map": [0, -1], "tensor_shape": [64, 32],
 *       "field": 0, "opt_weight_shard_step": 0, "opt_weight_shard_size": -1 } } }
 * </pre>
 * {@code param_split_shape} and {@code indices_offset} follow {@code opt_weight_shard_size} when present. Parsing is
 * strict (unknown or missing keys, wrong types and invalid values are errors naming the JSON path).
 */
public final class StrategyCheckpoints {

    static final List<String> TOP_KEYS = List.of("current_stage", "parallel_strategy_item", "parallel_layout_item");
    static final List<String> STRATEGY_KEYS = List.of("stage", "parallel_strategy");
    static final List<String> LAYOUT_KEYS = List.of("dev_matrix", "tensor_map", "tensor_shape", "field",
            "opt_weight_shard_step", "opt_weight_shard_size", "param_split_shape", "indices_offset");
    private static final List<String> LAYOUT_REQUIRED = LAYOUT_KEYS.subList(0, 6);

    private StrategyCheckpoints() {
    }

    /**
     * The key of an operator's strategy item: {@code primitive + "_" + firstParamName}, e.g. {@code MatMul_w}.
     *
     * @param primitive      MindSpore's primitive name, e.g. {@code MatMul}
     * @param firstParamName the name of the operator's first parameter input
     * @throws IllegalArgumentException when either is null or blank
     */
    public static String strategyKey(String primitive, String firstParamName) {
        if (primitive == null || primitive.isBlank()) {
            throw new IllegalArgumentException("primitive: found " + (primitive == null ? "null" : "a blank name")
                    + "; expected MindSpore's primitive name, e.g. \"MatMul\"");
        }
        if (firstParamName == null || firstParamName.isBlank()) {
            throw new IllegalArgumentException("firstParamName: found "
                    + (firstParamName == null ? "null" : "a blank name")
                    + "; expected the name of the operator's first parameter input, e.g. \"w\"");
        }
        return primitive + "_" + firstParamName;
    }

    /**
     * The JSON text of a checkpoint: keys of both item maps sorted, item keys in the order of the format, number
     * arrays on one line, two-space indentation, a final newline. Deterministic.
     */
    public static String write(StrategyCheckpoint ckpt) {
        if (ckpt == null) {
            throw new IllegalArgumentException("checkpoint: found null; expected a StrategyCheckpoint");
        }
        ObjectNode root = Json.object();
        root.put("current_stage", ckpt.currentStage());
        ObjectNode strategies = root.putObject("parallel_strategy_item");
        for (Map.Entry<String, StrategyItem> e : ckpt.strategies().entrySet()) {
            ObjectNode s = strategies.putObject(e.getKey());
            s.put("stage", e.getValue().stage());
            s.set("parallel_strategy", Json.toArray(e.getValue().parallelStrategy()));
        }
        ObjectNode layouts = root.putObject("parallel_layout_item");
        for (Map.Entry<String, LayoutItem> e : ckpt.layouts().entrySet()) {
            LayoutItem l = e.getValue();
            ObjectNode o = layouts.putObject(e.getKey());
            o.set("dev_matrix", Json.toArray(l.devMatrix()));
            o.set("tensor_map", Json.toArray(l.tensorMap()));
            o.set("tensor_shape", Json.toArray(l.tensorShape()));
            o.put("field", l.field());
            o.put("opt_weight_shard_step", l.optWeightShardStep());
            o.put("opt_weight_shard_size", l.optWeightShardSize());
            if (l.hasSplitInfo()) {
                o.set("param_split_shape", Json.toArray(l.paramSplitShape()));
                o.set("indices_offset", Json.toArray(l.indicesOffset()));
            }
        }
        return Json.write(root);
    }

    /**
     * Writes {@link #write(StrategyCheckpoint)}'s text to {@code path} (UTF-8), creating parent directories.
     *
     * @throws IllegalArgumentException when the file cannot be written
     */
    public static void write(StrategyCheckpoint ckpt, Path path) {
        Json.writeFile(path, write(ckpt));
    }

    /**
     * Reads a checkpoint file.
     *
     * @throws IllegalArgumentException "{@code <file>: <json path>: ...}" when missing, malformed or invalid
     */
    public static StrategyCheckpoint read(Path file) {
        String text = Json.readFile(file, "strategy checkpoint");
        try {
            return parse(text);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(file + ": " + e.getMessage(), e);
        }
    }

    /**
     * Parses checkpoint JSON text. Every key is required, as MindSpore writes them: {@code current_stage},
     * {@code parallel_strategy_item} and {@code parallel_layout_item} (an empty object means no items).
     *
     * @throws IllegalArgumentException "{@code <json path>: ...}" when malformed or invalid
     */
    public static StrategyCheckpoint parse(String json) {
        JsonNode root = Json.parse(json, "strategy checkpoint", "a JSON object with keys "
                + String.join(", ", TOP_KEYS));
        ObjectNode top = Json.object(root, "", TOP_KEYS, TOP_KEYS);
        int stage = Json.integer(top.get("current_stage"), "current_stage", 0, "a pipeline stage >= 0");
        Map<String, StrategyItem> strategies = new LinkedHashMap<>();
        if (top.has("parallel_strategy_item")) {
            for (Map.Entry<String, JsonNode> e : entries(top.get("parallel_strategy_item"),
                    "parallel_strategy_item", "an object of strategy items by \"<Prim>_<first param name>\"")) {
                String path = Json.child("parallel_strategy_item", e.getKey());
                ObjectNode o = Json.object(e.getValue(), path, STRATEGY_KEYS, STRATEGY_KEYS);
                int s = Json.integer(o.get("stage"), Json.child(path, "stage"), 0, "a pipeline stage >= 0");
                List<int[]> tuples = Json.tuples(o.get("parallel_strategy"), Json.child(path, "parallel_strategy"));
                strategies.put(e.getKey(), new StrategyItem(s, tuples));
            }
        }
        Map<String, LayoutItem> layouts = new LinkedHashMap<>();
        if (top.has("parallel_layout_item")) {
            for (Map.Entry<String, JsonNode> e : entries(top.get("parallel_layout_item"), "parallel_layout_item",
                    "an object of layout items by parameter name")) {
                String path = Json.child("parallel_layout_item", e.getKey());
                layouts.put(e.getKey(), layoutItem(e.getValue(), path));
            }
        }
        return new StrategyCheckpoint(stage, strategies, layouts);
    }

    private static List<Map.Entry<String, JsonNode>> entries(JsonNode n, String path, String expected) {
        if (n == null || !n.isObject()) {
            throw Json.found(path, n, expected);
        }
        List<Map.Entry<String, JsonNode>> out = new ArrayList<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = n.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            if (e.getKey().isEmpty()) {
                throw Json.error(path, "found the key \"\"; expected a non-empty name");
            }
            out.add(e);
        }
        return out;
    }

    private static LayoutItem layoutItem(JsonNode n, String path) {
        ObjectNode o = Json.object(n, path, LAYOUT_KEYS, LAYOUT_REQUIRED);
        int[] dev = Json.ints(o.get("dev_matrix"), Json.child(path, "dev_matrix"), 1, true,
                "a non-empty list of positive ints, e.g. [2, 4]");
        int[] map = Json.ints(o.get("tensor_map"), Json.child(path, "tensor_map"), -1, false,
                "a list of ints >= -1, e.g. [1, -1]");
        long[] shape = Json.longs(o.get("tensor_shape"), Json.child(path, "tensor_shape"), 0,
                "a list of sizes >= 0, e.g. [64, 32]");
        int field = Json.integer(o.get("field"), Json.child(path, "field"), 0, "a field size >= 0");
        int step = Json.integer(o.get("opt_weight_shard_step"), Json.child(path, "opt_weight_shard_step"), 0,
                "a rank stride >= 0 (0 when not sharded)");
        String sizes = "-1 (not configured) or a group size >= 1";
        int size = Json.integer(o.get("opt_weight_shard_size"), Json.child(path, "opt_weight_shard_size"), -1,
                sizes);
        if (size == 0) {
            throw Json.found(Json.child(path, "opt_weight_shard_size"), o.get("opt_weight_shard_size"), sizes);
        }
        long[] split = o.has("param_split_shape") ? Json.longs(o.get("param_split_shape"),
                Json.child(path, "param_split_shape"), 0, "a list of sizes >= 0") : null;
        long[] offset = o.has("indices_offset") ? Json.longs(o.get("indices_offset"),
                Json.child(path, "indices_offset"), 0, "a list of offsets >= 0") : null;
        try {
            return new LayoutItem(dev, map, shape, field, step, size, split, offset);
        } catch (IllegalArgumentException e) {
            throw Json.error(path, e.getMessage());
        }
    }
}
