package io.tessera.planner.strategy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.tessera.layout.param.ParallelMode;
import io.tessera.planner.op.Strategy;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;

/**
 * Reads and writes strategy files (format: {@code strategies/README.md}, schema:
 * {@code strategies/schema/strategy.schema.json}). Parsing is strict: unknown keys at every level, wrong types and
 * out-of-range values are {@link IllegalArgumentException}s with one line naming the JSON path, the value found and
 * what is expected; when read from a file the message starts with the file's path.
 */
public final class StrategyFiles {

    /** The keys the parser accepts at each level, by JSON path ({@code *} = any operator or parameter name). */
    static final Map<String, List<String>> KEYS;

    static {
        Map<String, List<String>> k = new LinkedHashMap<>();
        k.put("", List.of("network", "devices", "cluster", "parallel", "parallelism", "operators", "parameters",
                "stages", "routing"));
        k.put("network", List.of("zoo", "args", "file", "hf_config"));
        k.put("devices", List.of("dev_matrix"));
        k.put("parallel", List.of("parallel_mode", "search_mode", "enable_parallel_optimizer",
                "parallel_optimizer_config", "comm_fusion", "dataset_strategy", "gradients_mean", "pipeline_stages",
                "micro_batches", "optimizer", "strategy_ckpt_config"));
        k.put("parallel.parallel_optimizer_config", List.of("parallel_optimizer_threshold",
                "optimizer_weight_shard_size", "gradient_accumulation_shard"));
        k.put("parallel.comm_fusion", List.of("allreduce", "allgather", "reducescatter"));
        k.put("parallel.comm_fusion.allreduce", List.of("mode", "config"));
        k.put("parallel.comm_fusion.allgather", List.of("mode", "config"));
        k.put("parallel.comm_fusion.reducescatter", List.of("mode", "config"));
        k.put("parallel.strategy_ckpt_config", List.of("load_file", "save_file"));
        k.put("parallelism", List.of("tensor", "sequence_parallel", "pipeline", "virtual_pipeline", "data",
                "micro_batch_size", "global_batch_size", "recompute", "distributed_optimizer", "zero_stage",
                "prefetch_layers", "overlap_grad_reduce", "tp_comm_overlap", "precision", "context", "context_impl",
                "expert"));
        k.put("routing", Routing.KEYS);
        k.put("operators.*", List.of("in_strategy", "out_strategy"));
        k.put("parameters.*", List.of("comm_fusion", "parallel_optimizer", "parallel_optimizer_comm_recompute",
                "layerwise_parallel", "requires_grad"));
        KEYS = Map.copyOf(k);
    }

    private static final List<String> NONE = List.of();

    private StrategyFiles() {
    }

    /**
     * Reads a strategy file; relative paths in it resolve against its directory.
     *
     * @throws IllegalArgumentException "{@code <file>: <json path>: ...}" when the file is missing, malformed or
     *                                  invalid
     */
    public static StrategyFile read(Path file) {
        String text = Json.readFile(file, "strategy file");
        Path dir = file.toAbsolutePath().normalize().getParent();
        try {
            return parse(text, dir);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(file + ": " + e.getMessage(), e);
        }
    }

    /**
     * Parses the text of a strategy file.
     *
     * @param json    the JSON text
     * @param baseDir the directory relative paths resolve against; null for the working directory
     * @throws IllegalArgumentException "{@code <json path>: ...}" when the text is malformed or invalid
     */
    public static StrategyFile parse(String json, Path baseDir) {
        JsonNode root = Json.parse(json, "strategy file", "a JSON object with keys "
                + String.join(", ", KEYS.get("")));
        ObjectNode top = Json.object(root, "", KEYS.get(""), List.of("network", "devices"));
        NetworkRef network = network(top.get("network"), "network");
        Devices devices = devices(top.get("devices"), "devices");
        ParallelSettings parallel = top.has("parallel") ? parallel(top.get("parallel"), "parallel")
                : ParallelSettings.defaults();
        Map<String, OpStrategy> operators = new LinkedHashMap<>();
        if (top.has("operators")) {
            ObjectNode ops = anyKeys(top.get("operators"), "operators", "an object of operator strategies by "
                    + "operator name, e.g. {\"mm\": {\"in_strategy\": [[2, 1], [1, 4]]}}");
            for (Iterator<Map.Entry<String, JsonNode>> it = ops.fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> e = it.next();
                String path = Json.child("operators", e.getKey());
                operators.put(nonBlankKey(e.getKey(), "operators"), opStrategy(e.getValue(), path));
            }
        }
        Map<String, ParamSettings> parameters = new LinkedHashMap<>();
        if (top.has("parameters")) {
            ObjectNode ps = anyKeys(top.get("parameters"), "parameters", "an object of parameter settings by "
                    + "parameter name or 'prefix.*', e.g. {\"layers.0.*\": {\"comm_fusion\": 2}}");
            for (Iterator<Map.Entry<String, JsonNode>> it = ps.fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> e = it.next();
                String path = Json.child("parameters", e.getKey());
                parameters.put(nonBlankKey(e.getKey(), "parameters"), paramSettings(e.getValue(), path));
            }
        }
        Map<String, Integer> stages = new LinkedHashMap<>();
        if (top.has("stages")) {
            ObjectNode st = anyKeys(top.get("stages"), "stages", "an object of pipeline stages by operator name or "
                    + "'prefix.*', e.g. {\"layers.0.*\": 0, \"layers.1.*\": 1}");
            for (Iterator<Map.Entry<String, JsonNode>> it = st.fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> e = it.next();
                String path = Json.child("stages", e.getKey());
                stages.put(nonBlankKey(e.getKey(), "stages"), Json.integer(e.getValue(), path, 0,
                        "a pipeline stage >= 0"));
            }
        }
        Optional<Parallelism> parallelism = top.has("parallelism")
                ? Optional.of(parallelism(top.get("parallelism"), "parallelism")) : Optional.empty();
        Optional<ClusterRef> cluster = top.has("cluster") ? Optional.of(cluster(top.get("cluster"), "cluster"))
                : Optional.empty();
        return new StrategyFile(network, devices, parallel, operators, parameters, stages, baseDir, parallelism,
                cluster, top.has("routing") ? Optional.of(Routing.parse(top.get("routing"), "routing")) : null);
    }

    /**
     * The text of a strategy file: deterministic (equal files give the same text), sections in the key order of the
     * format, operator and parameter entries sorted by name, values equal to their defaults omitted, number arrays
     * on one line, ending with a newline. Parsing the text with the same base directory gives an equal
     * {@link StrategyFile}.
     */
    public static String write(StrategyFile file) {
        return Json.write(toTree(file));
    }

    /**
     * Writes {@link #write(StrategyFile)}'s text to {@code path} (UTF-8), creating parent directories.
     *
     * @throws IllegalArgumentException when the file cannot be written
     */
    public static void write(StrategyFile file, Path path) {
        Json.writeFile(path, write(file));
    }

    // ---------------------------------------------------------------- parsing

    private static ObjectNode anyKeys(JsonNode n, String path, String expected) {
        if (n == null || !n.isObject()) {
            throw Json.found(path, n, expected);
        }
        return (ObjectNode) n;
    }

    private static String nonBlankKey(String key, String path) {
        if (key.isBlank()) {
            throw Json.error(path, "found the key " + Json.text(key) + "; expected a non-blank name");
        }
        return key;
    }

    private static NetworkRef network(JsonNode n, String path) {
        ObjectNode o = Json.object(n, path, KEYS.get("network"), NONE);
        List<String> kinds = new ArrayList<>();
        for (String k : List.of("zoo", "file", "hf_config")) {
            if (o.has(k)) {
                kinds.add("'" + k + "'");
            }
        }
        if (kinds.size() != 1) {
            throw Json.error(path, (kinds.isEmpty() ? "found none of 'zoo', 'file' and 'hf_config'"
                    : "found " + (kinds.size() == 2 ? "both " : "") + String.join(" and ", kinds)) + "; expected exactly one: {\"zoo\": \"gpt\", \"args\": {..}}, "
                    + "{\"file\": \"net.json\"} or {\"hf_config\": \"models/llama-3-8b.json\", \"args\": {..}}");
        }
        if (o.has("file")) {
            if (o.has("args")) {
                throw Json.error(Json.child(path, "args"), "found args with a network file; expected args only with "
                        + "'zoo' or 'hf_config' (put the values in the network file instead)");
            }
            return NetworkRef.file(Json.string(o.get("file"), Json.child(path, "file"),
                    "the path of a network JSON file, e.g. \"nets/mlp.json\""));
        }
        Map<String, Object> args = new LinkedHashMap<>();
        if (o.has("args")) {
            String argsPath = Json.child(path, "args");
            ObjectNode a = anyKeys(o.get("args"), argsPath, "an object of model arguments, e.g. {\"layers\": 2}");
            for (Iterator<Map.Entry<String, JsonNode>> it = a.fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> e = it.next();
                args.put(e.getKey(), argValue(e.getValue(), Json.child(argsPath, e.getKey())));
            }
        }
        if (o.has("hf_config")) {
            return NetworkRef.hfConfig(Json.string(o.get("hf_config"), Json.child(path, "hf_config"),
                    "the path of a Hugging Face config.json, e.g. \"models/llama-3-8b.json\""), args);
        }
        String name = Json.string(o.get("zoo"), Json.child(path, "zoo"), "the name of a zoo model, e.g. \"gpt\"");
        return NetworkRef.zoo(name, args);
    }

    private static Object argValue(JsonNode n, String path) {
        if (n.isIntegralNumber()) {
            if (n.canConvertToInt()) {
                return n.intValue();
            }
            if (n.canConvertToLong()) {
                return n.longValue();
            }
            throw Json.found(path, n, "an integer within the 64-bit range");
        }
        if (n.isNumber()) {
            return n.doubleValue();
        }
        if (n.isTextual()) {
            return n.asText();
        }
        if (n.isBoolean()) {
            return n.booleanValue();
        }
        if (n.isArray()) {
            List<Object> out = new ArrayList<>(n.size());
            for (int i = 0; i < n.size(); i++) {
                out.add(argValue(n.get(i), Json.index(path, i)));
            }
            return out;
        }
        if (n.isObject()) {
            Map<String, Object> out = new LinkedHashMap<>();
            for (Iterator<Map.Entry<String, JsonNode>> it = n.fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> e = it.next();
                out.put(e.getKey(), argValue(e.getValue(), Json.child(path, e.getKey())));
            }
            return out;
        }
        throw Json.found(path, n, "a number, string, boolean, array or object (omit the key for the model's "
                + "default)");
    }

    private static Devices devices(JsonNode n, String path) {
        if (n != null && n.isObject()) {
            ObjectNode o = Json.object(n, path, KEYS.get("devices"), List.of("dev_matrix"));
            return Devices.matrix(Json.ints(o.get("dev_matrix"), Json.child(path, "dev_matrix"), 1, true,
                    "a non-empty list of positive ints, e.g. [2, 4]"));
        }
        if (n == null || !n.isIntegralNumber()) {
            throw Json.found(path, n, "a device count >= 1 or {\"dev_matrix\": [..]}");
        }
        return Devices.count(Json.integer(n, path, 1, "a device count >= 1 or {\"dev_matrix\": [..]}"));
    }

    private static ParallelSettings parallel(JsonNode n, String path) {
        ObjectNode o = Json.object(n, path, KEYS.get("parallel"), NONE);
        ParallelSettings.Builder b = ParallelSettings.builder();
        if (o.has("parallel_mode")) {
            b.parallelMode(parallelMode(o.get("parallel_mode"), Json.child(path, "parallel_mode")));
        }
        if (o.has("search_mode")) {
            String p = Json.child(path, "search_mode");
            String s = Json.string(o.get("search_mode"), p, "one of " + SearchMode.validNames());
            SearchMode mode = null;
            for (SearchMode m : SearchMode.values()) {
                if (m.jsonName().equals(s)) {
                    mode = m;
                }
            }
            if (mode == null) {
                throw Json.found(p, o.get("search_mode"), "one of " + SearchMode.validNames());
            }
            b.searchMode(mode);
        }
        if (o.has("enable_parallel_optimizer")) {
            b.enableParallelOptimizer(Json.bool(o.get("enable_parallel_optimizer"),
                    Json.child(path, "enable_parallel_optimizer")));
        }
        if (o.has("parallel_optimizer_config")) {
            b.parallelOptimizerConfig(optimizerConfig(o.get("parallel_optimizer_config"),
                    Json.child(path, "parallel_optimizer_config")));
        }
        if (o.has("comm_fusion")) {
            b.commFusion(commFusion(o.get("comm_fusion"), Json.child(path, "comm_fusion")));
        }
        if (o.has("dataset_strategy")) {
            b.datasetStrategy(datasetStrategy(o.get("dataset_strategy"), Json.child(path, "dataset_strategy")));
        }
        if (o.has("gradients_mean")) {
            b.gradientsMean(Json.bool(o.get("gradients_mean"), Json.child(path, "gradients_mean")));
        }
        if (o.has("pipeline_stages")) {
            b.pipelineStages(Json.integer(o.get("pipeline_stages"), Json.child(path, "pipeline_stages"), 1,
                    "a number of pipeline stages >= 1 (default 1)"));
        }
        if (o.has("micro_batches")) {
            b.microBatches(Json.integer(o.get("micro_batches"), Json.child(path, "micro_batches"), 1,
                    "a number of micro-batches >= 1 (default: pipeline_stages)"));
        }
        if (o.has("optimizer")) {
            String p = Json.child(path, "optimizer");
            String s = Json.string(o.get("optimizer"), p, "one of " + OptimizerKind.validNames());
            OptimizerKind kind = null;
            for (OptimizerKind k : OptimizerKind.values()) {
                if (k.jsonName().equals(s)) {
                    kind = k;
                }
            }
            if (kind == null) {
                throw Json.found(p, o.get("optimizer"), "one of " + OptimizerKind.validNames());
            }
            b.optimizer(kind);
        }
        if (o.has("strategy_ckpt_config")) {
            String p = Json.child(path, "strategy_ckpt_config");
            ObjectNode c = Json.object(o.get("strategy_ckpt_config"), p, KEYS.get("parallel.strategy_ckpt_config"),
                    NONE);
            String load = c.has("load_file") ? Json.string(c.get("load_file"), Json.child(p, "load_file"),
                    "the path of a strategy checkpoint JSON file") : null;
            String save = c.has("save_file") ? Json.string(c.get("save_file"), Json.child(p, "save_file"),
                    "the path to write a strategy checkpoint JSON file to") : null;
            b.strategyCkptConfig(StrategyCkptConfig.of(load, save));
        }
        return b.build();
    }

    private static Parallelism parallelism(JsonNode n, String path) {
        ObjectNode o = Json.object(n, path, KEYS.get("parallelism"), NONE);
        Parallelism.Builder b = Parallelism.builder();
        positive(o, path, "tensor", "a tensor-parallel degree >= 1 (default 1)", b::tensor);
        bool(o, path, "sequence_parallel", b::sequenceParallel);
        positive(o, path, "pipeline", "a number of pipeline stages >= 1 (default 1)", b::pipeline);
        positive(o, path, "virtual_pipeline", "a number of model chunks per stage >= 1 (default 1)",
                b::virtualPipeline);
        positive(o, path, "data", "a data-parallel degree >= 1 (default: devices / (tensor x pipeline))", b::data);
        positive(o, path, "micro_batch_size", "a micro-batch size >= 1 (default 1)", b::microBatchSize);
        positive(o, path, "global_batch_size", "a batch size >= 1 (default: micro_batch_size x data)",
                b::globalBatchSize);
        if (o.has("recompute")) {
            String p = Json.child(path, "recompute");
            String expected = "one of " + Parallelism.Recompute.validNames();
            b.recompute(Parallelism.Recompute.of(Json.string(o.get("recompute"), p, expected))
                    .orElseThrow(() -> Json.found(p, o.get("recompute"), expected)));
        }
        bool(o, path, "distributed_optimizer", b::distributedOptimizer);
        if (o.has("zero_stage")) {
            b.zeroStage((int) Json.integer(o.get("zero_stage"), Json.child(path, "zero_stage"), 0, 3,
                    "0, 1, 2 or 3 (default 0; 3 shards every weight over the data-parallel group)"));
        }
        if (o.has("prefetch_layers")) {
            b.prefetchLayers(Json.integer(o.get("prefetch_layers"), Json.child(path, "prefetch_layers"), 0,
                    "a number of layers >= 0 (default " + Parallelism.DEFAULT_PREFETCH_LAYERS + ")"));
        }
        bool(o, path, "overlap_grad_reduce", b::overlapGradReduce);
        bool(o, path, "tp_comm_overlap", b::tpCommOverlap);
        positive(o, path, "context", "a context-parallel degree >= 1 (default 1)", b::context);
        positive(o, path, "expert", "an expert-parallel degree >= 1 (default 1)", b::expert);
        if (o.has("context_impl")) {
            String p = Json.child(path, "context_impl");
            String expected = "one of " + Parallelism.ContextImpl.validNames() + " (default all_gather)";
            b.contextImpl(Parallelism.ContextImpl.of(Json.string(o.get("context_impl"), p, expected))
                    .orElseThrow(() -> Json.found(p, o.get("context_impl"), expected)));
        }
        if (o.has("precision")) {
            String p = Json.child(path, "precision");
            String expected = "one of " + Parallelism.Precision.validNames() + " (omit it to keep the network's dtype)";
            b.precision(Parallelism.Precision.of(Json.string(o.get("precision"), p, expected))
                    .orElseThrow(() -> Json.found(p, o.get("precision"), expected)));
        }
        return b.build();
    }

    /** When {@code o} has {@code key}: its integer value {@code >= 1} ({@code expected} otherwise) to {@code set}. */
    private static void positive(ObjectNode o, String path, String key, String expected,
                                 java.util.function.IntConsumer set) {
        if (o.has(key)) {
            set.accept(Json.integer(o.get(key), Json.child(path, key), 1, expected));
        }
    }

    /** When {@code o} has {@code key}: its boolean value to {@code set}. */
    private static void bool(ObjectNode o, String path, String key, java.util.function.Consumer<Boolean> set) {
        if (o.has(key)) {
            set.accept(Json.bool(o.get(key), Json.child(path, key)));
        }
    }

    private static ClusterRef cluster(JsonNode n, String path) {
        String expected = "a cluster preset name such as \"a100-80gb-dgx\" or a cluster-spec object such as "
                + "{\"preset\": \"a100-80gb-dgx\", \"rank_mapping\": \"round_robin\"}";
        if (n != null && n.isObject()) {
            return ClusterRef.spec(n.toString());
        }
        return ClusterRef.preset(Json.string(n, path, expected));
    }

    private static ParallelMode parallelMode(JsonNode n, String path) {
        String expected = "one of " + ParallelSettings.VALID_PARALLEL_MODES;
        String s = Json.string(n, path, expected);
        for (ParallelMode m : ParallelMode.values()) {
            if (m != ParallelMode.HYBRID_PARALLEL && m.mindsporeName().equals(s)) {
                return m;
            }
        }
        throw Json.found(path, n, expected);
    }

    private static ParallelOptimizerConfig optimizerConfig(JsonNode n, String path) {
        ObjectNode o = Json.object(n, path, KEYS.get("parallel.parallel_optimizer_config"), NONE);
        long threshold = ParallelOptimizerConfig.DEFAULT_THRESHOLD_KB;
        int shard = ParallelOptimizerConfig.DEFAULT_SHARD_SIZE;
        if (o.has("parallel_optimizer_threshold")) {
            threshold = Json.integer(o.get("parallel_optimizer_threshold"),
                    Json.child(path, "parallel_optimizer_threshold"), 0, Long.MAX_VALUE / 1024,
                    "a size in KB >= 0 (default 64)");
        }
        if (o.has("optimizer_weight_shard_size")) {
            String p = Json.child(path, "optimizer_weight_shard_size");
            String expected = "-1 (the whole repeated group, the default) or a group size >= 1";
            shard = Json.integer(o.get("optimizer_weight_shard_size"), p, -1, expected);
            if (shard == 0) {
                throw Json.found(p, o.get("optimizer_weight_shard_size"), expected);
            }
        }
        boolean accumulationShard = o.has("gradient_accumulation_shard")
                && Json.bool(o.get("gradient_accumulation_shard"), Json.child(path, "gradient_accumulation_shard"));
        return new ParallelOptimizerConfig(threshold, shard, accumulationShard);
    }

    private static CommFusionConfig commFusion(JsonNode n, String path) {
        ObjectNode o = Json.object(n, path, KEYS.get("parallel.comm_fusion"), NONE);
        return CommFusionConfig.of(
                o.has("allreduce") ? fusionMode(o.get("allreduce"), Json.child(path, "allreduce"), true) : null,
                o.has("allgather") ? fusionMode(o.get("allgather"), Json.child(path, "allgather"), false) : null,
                o.has("reducescatter")
                        ? fusionMode(o.get("reducescatter"), Json.child(path, "reducescatter"), false) : null);
    }

    private static CommFusionMode fusionMode(JsonNode n, String path, boolean allowIndex) {
        ObjectNode o = Json.object(n, path, KEYS.get(path), List.of("mode"));
        String modes = allowIndex ? "auto, size, index" : "auto, size";
        String modePath = Json.child(path, "mode");
        String mode = Json.string(o.get("mode"), modePath, "one of " + modes);
        String configPath = Json.child(path, "config");
        JsonNode config = o.get("config");
        switch (mode) {
            case "auto":
                if (config != null) {
                    throw Json.found(configPath, config, "no config in auto mode (64 MB buckets); remove the key, "
                            + "or use mode size to set the bucket size");
                }
                return CommFusionMode.auto();
            case "size":
                if (config == null) {
                    throw Json.error(path, "missing key 'config'; size mode needs the bucket size in MB, e.g. "
                            + "{\"mode\": \"size\", \"config\": 32}");
                }
                if (!config.isNumber() || !(config.doubleValue() > 0) || !Double.isFinite(config.doubleValue())) {
                    throw Json.found(configPath, config, "a bucket size in MB > 0, e.g. 32");
                }
                return CommFusionMode.size(config.doubleValue());
            case "index":
                if (!allowIndex) {
                    break;
                }
                if (config == null) {
                    throw Json.error(path, "missing key 'config'; index mode needs the ascending parameter indices "
                            + "where buckets end, e.g. {\"mode\": \"index\", \"config\": [20, 35]}");
                }
                String expected = "a non-empty, strictly ascending list of parameter indices >= 0, e.g. [20, 35]";
                int[] idx = Json.ints(config, configPath, 0, true, expected);
                for (int i = 1; i < idx.length; i++) {
                    if (idx[i] <= idx[i - 1]) {
                        throw Json.found(configPath, config, expected);
                    }
                }
                return CommFusionMode.index(idx);
            default:
                break;
        }
        throw Json.found(modePath, o.get("mode"), "one of " + modes);
    }

    private static DatasetStrategy datasetStrategy(JsonNode n, String path) {
        if (n != null && n.isTextual()) {
            if (n.asText().equals("data_parallel")) {
                return DatasetStrategy.dataParallel();
            }
            if (n.asText().equals("full_batch")) {
                return DatasetStrategy.fullBatch();
            }
        }
        if (n != null && n.isArray()) {
            return DatasetStrategy.of(new Strategy(Json.tuples(n, path)));
        }
        throw Json.found(path, n, "\"data_parallel\", \"full_batch\" or one tuple per dataset column, "
                + "e.g. [[8, 1], [8]]");
    }

    private static OpStrategy opStrategy(JsonNode n, String path) {
        ObjectNode o = Json.object(n, path, KEYS.get("operators.*"), List.of("in_strategy"));
        Strategy in = new Strategy(Json.tuples(o.get("in_strategy"), Json.child(path, "in_strategy")));
        Strategy out = o.has("out_strategy")
                ? new Strategy(Json.tuples(o.get("out_strategy"), Json.child(path, "out_strategy"))) : null;
        return OpStrategy.of(in, out);
    }

    private static ParamSettings paramSettings(JsonNode n, String path) {
        ObjectNode o = Json.object(n, path, KEYS.get("parameters.*"), NONE);
        Integer fusion = o.has("comm_fusion") ? Json.integer(o.get("comm_fusion"), Json.child(path, "comm_fusion"),
                0, "a fusion id >= 0 (0 = never fused)") : null;
        return new ParamSettings(fusion,
                optBool(o, "parallel_optimizer", path),
                optBool(o, "parallel_optimizer_comm_recompute", path),
                optBool(o, "layerwise_parallel", path),
                optBool(o, "requires_grad", path));
    }

    private static Boolean optBool(ObjectNode o, String key, String path) {
        return o.has(key) ? Json.bool(o.get(key), Json.child(path, key)) : null;
    }

    // ---------------------------------------------------------------- writing

    private static ObjectNode toTree(StrategyFile f) {
        ObjectNode root = Json.object();
        ObjectNode net = root.putObject("network");
        NetworkRef ref = f.network();
        if (ref instanceof NetworkRef.Zoo zoo) {
            net.put("zoo", zoo.name());
            if (!zoo.args().isEmpty()) {
                net.set("args", argTree(zoo.args()));
            }
        } else if (ref instanceof NetworkRef.File file) {
            net.put("file", file.path());
        } else if (ref instanceof NetworkRef.HfConfig hf) {
            net.put("hf_config", hf.path());
            if (!hf.args().isEmpty()) {
                net.set("args", argTree(hf.args()));
            }
        }
        Devices d = f.devices();
        if (d instanceof Devices.Matrix m) {
            root.putObject("devices").set("dev_matrix", Json.toArray(m.dims()));
        } else {
            root.put("devices", d.count());
        }
        if (f.cluster().isPresent()) {
            ClusterRef c = f.cluster().get();
            if (c instanceof ClusterRef.Preset preset) {
                root.put("cluster", preset.name());
            } else if (c instanceof ClusterRef.Spec spec) {
                root.set("cluster", Json.parse(spec.json(), "cluster", "a cluster-spec JSON object"));
            }
        }
        ObjectNode parallel = parallelTree(f.parallel());
        if (!parallel.isEmpty()) {
            root.set("parallel", parallel);
        }
        f.parallelism().ifPresent(p -> root.set("parallelism", parallelismTree(p)));
        f.routing().ifPresent(r -> root.set("routing", r.toJson()));
        if (!f.operators().isEmpty()) {
            ObjectNode ops = root.putObject("operators");
            for (Map.Entry<String, OpStrategy> e : new TreeMap<>(f.operators()).entrySet()) {
                ObjectNode op = ops.putObject(e.getKey());
                op.set("in_strategy", Json.toArray(e.getValue().in().tuples()));
                if (e.getValue().hasOut()) {
                    op.set("out_strategy", Json.toArray(e.getValue().out().tuples()));
                }
            }
        }
        if (!f.parameters().isEmpty()) {
            ObjectNode ps = root.putObject("parameters");
            for (Map.Entry<String, ParamSettings> e : new TreeMap<>(f.parameters()).entrySet()) {
                ObjectNode p = ps.putObject(e.getKey());
                ParamSettings s = e.getValue();
                if (s.commFusion() != null) {
                    p.put("comm_fusion", s.commFusion());
                }
                putIfSet(p, "parallel_optimizer", s.parallelOptimizer());
                putIfSet(p, "parallel_optimizer_comm_recompute", s.parallelOptimizerCommRecompute());
                putIfSet(p, "layerwise_parallel", s.layerwiseParallel());
                putIfSet(p, "requires_grad", s.requiresGrad());
            }
        }
        if (!f.stages().isEmpty()) {
            ObjectNode st = root.putObject("stages");
            for (Map.Entry<String, Integer> e : new TreeMap<>(f.stages()).entrySet()) {
                st.put(e.getKey(), e.getValue());
            }
        }
        return root;
    }

    private static ObjectNode parallelismTree(Parallelism p) {
        Parallelism def = Parallelism.defaults();
        ObjectNode o = Json.object();
        if (p.tensor() != def.tensor()) {
            o.put("tensor", p.tensor());
        }
        if (p.sequenceParallel()) {
            o.put("sequence_parallel", true);
        }
        if (p.pipeline() != def.pipeline()) {
            o.put("pipeline", p.pipeline());
        }
        if (p.virtualPipeline() != def.virtualPipeline()) {
            o.put("virtual_pipeline", p.virtualPipeline());
        }
        if (p.data() != def.data()) {
            o.put("data", p.data());
        }
        if (p.microBatchSize() != def.microBatchSize()) {
            o.put("micro_batch_size", p.microBatchSize());
        }
        if (p.globalBatchSize() != def.globalBatchSize()) {
            o.put("global_batch_size", p.globalBatchSize());
        }
        if (p.recompute() != def.recompute()) {
            o.put("recompute", p.recompute().jsonName());
        }
        if (p.distributedOptimizer() && p.zeroStage() == 0) {
            o.put("distributed_optimizer", true);
        }
        if (p.zeroStage() != def.zeroStage()) {
            o.put("zero_stage", p.zeroStage());
        }
        if (p.prefetchLayers() >= 0) {
            o.put("prefetch_layers", p.prefetchLayers());
        }
        if (!p.overlapGradReduce()) {
            o.put("overlap_grad_reduce", false);
        }
        if (p.context() != def.context()) {
            o.put("context", p.context());
        }
        if (p.contextImpl() != null) {
            o.put("context_impl", p.contextImpl().jsonName());
        }
        if (p.expert() != def.expert()) {
            o.put("expert", p.expert());
        }
        if (p.tpCommOverlap()) {
            o.put("tp_comm_overlap", true);
        }
        p.precisionIfGiven().ifPresent(x -> o.put("precision", x.jsonName()));
        return o;
    }

    private static void putIfSet(ObjectNode o, String key, Boolean v) {
        if (v != null) {
            o.put(key, v);
        }
    }

    private static JsonNode argTree(Object v) {
        if (v instanceof Map<?, ?> m) {
            ObjectNode o = Json.object();
            for (Map.Entry<?, ?> e : m.entrySet()) {
                o.set((String) e.getKey(), argTree(e.getValue()));
            }
            return o;
        }
        if (v instanceof List<?> l) {
            ArrayNode a = Json.array();
            for (Object x : l) {
                a.add(argTree(x));
            }
            return a;
        }
        if (v instanceof Integer i) {
            return Json.object().numberNode(i);
        }
        if (v instanceof Long l) {
            return Json.object().numberNode(l);
        }
        if (v instanceof Double x) {
            return Json.object().numberNode(x);
        }
        if (v instanceof Boolean b) {
            return Json.object().booleanNode(b);
        }
        return Json.object().textNode(String.valueOf(v));
    }

    private static ObjectNode parallelTree(ParallelSettings p) {
        ParallelSettings def = ParallelSettings.defaults();
        ObjectNode o = Json.object();
        if (p.parallelMode() != def.parallelMode()) {
            o.put("parallel_mode", p.parallelMode().mindsporeName());
        }
        if (p.searchMode() != def.searchMode()) {
            o.put("search_mode", p.searchMode().jsonName());
        }
        if (p.enableParallelOptimizer()) {
            o.put("enable_parallel_optimizer", true);
        }
        ParallelOptimizerConfig poc = p.parallelOptimizerConfig();
        if (!poc.equals(def.parallelOptimizerConfig())) {
            ObjectNode c = o.putObject("parallel_optimizer_config");
            if (poc.thresholdKb() != ParallelOptimizerConfig.DEFAULT_THRESHOLD_KB) {
                c.put("parallel_optimizer_threshold", poc.thresholdKb());
            }
            if (poc.optimizerWeightShardSize() != ParallelOptimizerConfig.DEFAULT_SHARD_SIZE) {
                c.put("optimizer_weight_shard_size", poc.optimizerWeightShardSize());
            }
            if (poc.gradientAccumulationShard()) {
                c.put("gradient_accumulation_shard", true);
            }
        }
        CommFusionConfig cf = p.commFusion();
        if (!cf.equals(def.commFusion())) {
            ObjectNode c = o.putObject("comm_fusion");
            fusionTree(c, "allreduce", cf.allreduce());
            fusionTree(c, "allgather", cf.allgather());
            fusionTree(c, "reducescatter", cf.reducescatter());
        }
        DatasetStrategy ds = p.datasetStrategy();
        if (ds instanceof DatasetStrategy.FullBatch) {
            o.put("dataset_strategy", "full_batch");
        } else if (ds instanceof DatasetStrategy.Explicit x) {
            o.set("dataset_strategy", Json.toArray(x.strategy().tuples()));
        }
        if (p.gradientsMean()) {
            o.put("gradients_mean", true);
        }
        if (p.pipelineStages() != 1) {
            o.put("pipeline_stages", p.pipelineStages());
        }
        if (p.microBatches() != p.pipelineStages()) {
            o.put("micro_batches", p.microBatches());
        }
        if (p.optimizer() != def.optimizer()) {
            o.put("optimizer", p.optimizer().jsonName());
        }
        StrategyCkptConfig ck = p.strategyCkptConfig();
        if (!ck.isEmpty()) {
            ObjectNode c = o.putObject("strategy_ckpt_config");
            if (ck.loadFile() != null) {
                c.put("load_file", ck.loadFile());
            }
            if (ck.saveFile() != null) {
                c.put("save_file", ck.saveFile());
            }
        }
        return o;
    }

    private static void fusionTree(ObjectNode parent, String kind, CommFusionMode mode) {
        if (mode instanceof CommFusionMode.Auto) {
            return;
        }
        ObjectNode o = parent.putObject(kind);
        o.put("mode", mode.modeName());
        if (mode instanceof CommFusionMode.Size s) {
            double mb = s.mb();
            if (mb == Math.rint(mb) && mb < 1e15) {
                o.put("config", (long) mb);
            } else {
                o.put("config", mb);
            }
        } else if (mode instanceof CommFusionMode.Index x) {
            o.set("config", Json.toArray(x.indices()));
        }
    }
}
