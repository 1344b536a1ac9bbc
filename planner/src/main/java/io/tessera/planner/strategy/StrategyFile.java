package io.tessera.planner.strategy;

import io.tessera.planner.op.Strategy;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Collections;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * A strategy file (format: {@code strategies/README.md}): the network to plan, the devices, MindSpore's parallel
 * settings, per-operator strategies and per-parameter settings. Read and written by {@link StrategyFiles}.
 * Immutable; maps keep the file's order.
 *
 * @param network    the network: a zoo model or a network file
 * @param devices    the device count or device matrix
 * @param parallel   the parallel settings; null means {@link ParallelSettings#defaults()}
 * @param operators  strategies by operator name; null means none
 * @param parameters settings by parameter name or by a prefix pattern {@code "layers.0.*"} (every parameter whose
 *                   name starts with {@code "layers.0."}); null means none
 * @param stages     pipeline stages by operator name or prefix pattern {@code "layers.0.*"} (MindSpore's
 *                   {@code cell.pipeline_stage}); each value in {@code [0, pipeline_stages)}; null means none (the
 *                   planner then splits the network into balanced stages)
 * @param baseDir    the directory relative paths resolve against: the strategy file's directory; null means the
 *                   working directory
 * @param parallelism the {@code parallelism} section (Megatron-style degrees the planner expands into operator
 *                    strategies, stages and parallel settings); null means none. With it, {@code stages} values are
 *                    in {@code [0, parallelism.pipeline)}, {@code parallel.parallel_mode} must be semi_auto_parallel,
 *                    and {@code parallel.pipeline_stages} / {@code micro_batches}, when given, must equal what the
 *                    degrees give
 * @param cluster    the {@code cluster} key (a preset name or a cluster-spec object); null means none
 * @param routing    the {@code routing} section: how a mixture of experts routes its tokens, for the analytic cost
 *                   model ({@link Routing}); null means none (uniform)
 */
public record StrategyFile(NetworkRef network, Devices devices, ParallelSettings parallel,
                           Map<String, OpStrategy> operators, Map<String, ParamSettings> parameters,
                           Map<String, Integer> stages, Path baseDir, Optional<Parallelism> parallelism,
                           Optional<ClusterRef> cluster, Optional<Routing> routing) {

    /** Validates, copies the maps and applies defaults. */
    public StrategyFile {
        if (network == null) {
            throw new IllegalArgumentException("network: found null; expected a zoo model or a network file, "
                    + "e.g. {\"zoo\": \"gpt\"}");
        }
        if (devices == null) {
            throw new IllegalArgumentException("devices: found null; expected a device count or "
                    + "{\"dev_matrix\": [..]}");
        }
        parallel = parallel == null ? ParallelSettings.defaults() : parallel;
        if (devices.count() % parallel.pipelineStages() != 0) {
            throw new IllegalArgumentException("parallel.pipeline_stages: found " + parallel.pipelineStages()
                    + "; expected a divisor of the device count " + devices.count()
                    + " (every stage gets the same number of devices)");
        }
        operators = copy(operators, "operators");
        parameters = copy(parameters, "parameters");
        for (String key : parameters.keySet()) {
            checkKey("parameters", key, "a parameter name");
        }
        parallelism = parallelism == null ? Optional.empty() : parallelism;
        cluster = cluster == null ? Optional.empty() : cluster;
        routing = routing == null ? Optional.empty() : routing;
        if (parallelism.isPresent()) {
            checkParallelism(parallelism.get(), devices.count(), parallel);
        }
        int stageCount = parallelism.map(Parallelism::pipeline).orElse(parallel.pipelineStages());
        String stageKey = parallelism.isPresent() ? "parallelism.pipeline" : "parallel.pipeline_stages";
        stages = copy(stages, "stages");
        for (Map.Entry<String, Integer> e : stages.entrySet()) {
            checkKey("stages", e.getKey(), "an operator name");
            if (e.getValue() < 0 || e.getValue() >= stageCount) {
                throw new IllegalArgumentException("stages." + e.getKey() + ": found " + e.getValue()
                        + "; expected a stage in [0, " + stageCount + ") (" + stageKey + " is " + stageCount + ")");
            }
        }
        baseDir = baseDir == null ? Path.of("") : baseDir;
    }

    /** A strategy file without a {@code routing} section. */
    public StrategyFile(NetworkRef network, Devices devices, ParallelSettings parallel,
                        Map<String, OpStrategy> operators, Map<String, ParamSettings> parameters,
                        Map<String, Integer> stages, Path baseDir, Optional<Parallelism> parallelism,
                        Optional<ClusterRef> cluster) {
        this(network, devices, parallel, operators, parameters, stages, baseDir, parallelism, cluster,
                Optional.empty());
    }

    /** A copy with another {@code routing} section; null for none. */
    public StrategyFile withRouting(Routing r) {
        return new StrategyFile(network, devices, parallel, operators, parameters, stages, baseDir, parallelism,
                cluster, Optional.ofNullable(r));
    }

    /** The {@code routing} section, uniform when absent. */
    public Routing routingOrUniform() {
        return routing.orElse(Routing.uniform());
    }

    /** A strategy file without a {@code parallelism} section or {@code cluster} key. */
    public StrategyFile(NetworkRef network, Devices devices, ParallelSettings parallel,
                        Map<String, OpStrategy> operators, Map<String, ParamSettings> parameters,
                        Map<String, Integer> stages, Path baseDir) {
        this(network, devices, parallel, operators, parameters, stages, baseDir, Optional.empty(), Optional.empty());
    }

    /** A strategy file without stage assignments ({@code stages} null). */
    public StrategyFile(NetworkRef network, Devices devices, ParallelSettings parallel,
                        Map<String, OpStrategy> operators, Map<String, ParamSettings> parameters, Path baseDir) {
        this(network, devices, parallel, operators, parameters, null, baseDir);
    }

    /** A strategy file with default parallel settings, no operator or parameter entries, relative to the cwd. */
    public static StrategyFile of(NetworkRef network, Devices devices) {
        return new StrategyFile(network, devices, null, null, null, null);
    }

    /** A copy with other parallel settings. */
    public StrategyFile withParallel(ParallelSettings p) {
        return new StrategyFile(network, devices, p, operators, parameters, stages, baseDir, parallelism, cluster,
                routing);
    }

    /** A copy with other operator strategies. */
    public StrategyFile withOperators(Map<String, OpStrategy> ops) {
        return new StrategyFile(network, devices, parallel, ops, parameters, stages, baseDir, parallelism, cluster,
                routing);
    }

    /** A copy with other parameter settings. */
    public StrategyFile withParameters(Map<String, ParamSettings> params) {
        return new StrategyFile(network, devices, parallel, operators, params, stages, baseDir, parallelism, cluster,
                routing);
    }

    /** A copy with another base directory. */
    public StrategyFile withBaseDir(Path dir) {
        return new StrategyFile(network, devices, parallel, operators, parameters, stages, dir, parallelism, cluster,
                routing);
    }

    /** A copy with other stage assignments. */
    public StrategyFile withStages(Map<String, Integer> s) {
        return new StrategyFile(network, devices, parallel, operators, parameters, s, baseDir, parallelism, cluster,
                routing);
    }

    /** A copy with another network. */
    public StrategyFile withNetwork(NetworkRef n) {
        return new StrategyFile(n, devices, parallel, operators, parameters, stages, baseDir, parallelism, cluster,
                routing);
    }

    /** A copy with another {@code parallelism} section; null for none. */
    public StrategyFile withParallelism(Parallelism p) {
        return new StrategyFile(network, devices, parallel, operators, parameters, stages, baseDir,
                Optional.ofNullable(p), cluster, routing);
    }

    /** A copy with another {@code cluster} key; null for none. */
    public StrategyFile withCluster(ClusterRef c) {
        return new StrategyFile(network, devices, parallel, operators, parameters, stages, baseDir, parallelism,
                Optional.ofNullable(c), routing);
    }

    /** The number of devices in all stages. */
    public int deviceCount() {
        return devices.count();
    }

    /**
     * The number of pipeline stages: {@code parallelism.pipeline} with a {@code parallelism} section, else
     * {@code parallel.pipeline_stages}.
     */
    public int pipelineStages() {
        return parallelism.map(Parallelism::pipeline).orElse(parallel.pipelineStages());
    }

    /** The number of devices in one pipeline stage: {@code deviceCount() / }{@link #pipelineStages()}. */
    public int stageDeviceCount() {
        return devices.count() / pipelineStages();
    }

    /**
     * Resolves a path written in the file: absolute paths unchanged, relative ones against {@link #baseDir()};
     * normalised.
     *
     * @throws IllegalArgumentException when {@code path} is null, blank or not a valid path
     */
    public Path resolve(String path) {
        if (path == null || path.isBlank()) {
            throw new IllegalArgumentException("path: found " + (path == null ? "null" : "a blank path")
                    + "; expected a file path relative to " + baseDir + " or absolute");
        }
        Path p;
        try {
            p = Path.of(path);
        } catch (java.nio.file.InvalidPathException e) {
            throw new IllegalArgumentException("path: found '" + path + "'; expected a valid file path ("
                    + Json.oneLine(e.getReason()) + ")", e);
        }
        return p.isAbsolute() ? p.normalize() : baseDir.resolve(p).normalize();
    }

    /** The network file, resolved; empty for a zoo network or a Hugging Face config. */
    public Optional<Path> networkFile() {
        return network instanceof NetworkRef.File f ? Optional.of(resolve(f.path())) : Optional.empty();
    }

    /** {@code strategy_ckpt_config.load_file}, resolved; empty when not set. */
    public Optional<Path> loadFile() {
        String f = parallel.strategyCkptConfig().loadFile();
        return f == null ? Optional.empty() : Optional.of(resolve(f));
    }

    /** {@code strategy_ckpt_config.save_file}, resolved; empty when not set. */
    public Optional<Path> saveFile() {
        String f = parallel.strategyCkptConfig().saveFile();
        return f == null ? Optional.empty() : Optional.of(resolve(f));
    }

    /** The strategy the file gives operator {@code opName}; empty when none. */
    public Optional<OpStrategy> strategyFor(String opName) {
        return Optional.ofNullable(operators.get(opName));
    }

    /**
     * Whether a {@code parameters} key applies to a parameter: an exact name matches itself; a pattern
     * {@code "prefix.*"} matches every name that starts with {@code "prefix."}.
     */
    public static boolean matches(String key, String paramName) {
        if (isPattern(key)) {
            // the prefix with its dot, without a substring per call (stage lookups match every operator)
            return paramName.regionMatches(0, key, 0, key.length() - 1);
        }
        return key.equals(paramName);
    }

    /** Whether a {@code parameters} key is a prefix pattern ({@code "prefix.*"}). */
    public static boolean isPattern(String key) {
        return key.endsWith(".*");
    }

    /**
     * The settings for parameter {@code paramName}: every matching {@code parameters} entry merged, field by field.
     * Longer patterns override shorter ones and an exact name overrides every pattern. {@link ParamSettings#none()}
     * when nothing matches.
     */
    public ParamSettings settingsFor(String paramName) {
        List<String> patterns = new ArrayList<>();
        for (String key : parameters.keySet()) {
            if (isPattern(key) && matches(key, paramName)) {
                patterns.add(key);
            }
        }
        patterns.sort(Comparator.comparingInt(String::length));
        ParamSettings s = ParamSettings.none();
        for (String p : patterns) {
            s = s.overriddenBy(parameters.get(p));
        }
        ParamSettings exact = parameters.get(paramName);
        return exact == null ? s : s.overriddenBy(exact);
    }

    /**
     * The {@code parameters} keys that match none of {@code paramNames}, in file order: names the planner should
     * report as typos.
     */
    public List<String> unmatchedParameterKeys(Collection<String> paramNames) {
        List<String> out = new ArrayList<>();
        for (String key : parameters.keySet()) {
            boolean any = false;
            for (String n : paramNames) {
                if (matches(key, n)) {
                    any = true;
                    break;
                }
            }
            if (!any) {
                out.add(key);
            }
        }
        return out;
    }

    /**
     * The in_strategies that pin operators: those loaded from a strategy checkpoint, by operator name, overridden
     * by the ones this file gives explicitly. Checkpoint items whose key is not in {@code checkpointKeyToOpName}
     * are ignored (MindSpore also ignores stale entries); operators without an item keep their file strategy or
     * none.
     *
     * @param loaded                the checkpoint named by {@code strategy_ckpt_config.load_file}, or null
     * @param checkpointKeyToOpName the planner's mapping from checkpoint keys
     *                              ({@link StrategyCheckpoints#strategyKey(String, String)}) to operator names
     * @return in_strategies by operator name: loaded ones first (in key order), then the file's, unmodifiable
     * @throws IllegalArgumentException when two checkpoint keys map to one operator name
     */
    public Map<String, Strategy> pinnedStrategies(StrategyCheckpoint loaded,
                                                  Map<String, String> checkpointKeyToOpName) {
        Map<String, Strategy> out = new LinkedHashMap<>();
        if (loaded != null) {
            if (checkpointKeyToOpName == null) {
                throw new IllegalArgumentException("checkpointKeyToOpName: found null; expected the mapping from "
                        + "checkpoint keys (<Prim>_<first param name>) to operator names");
            }
            Map<String, String> keyOf = new LinkedHashMap<>();
            for (Map.Entry<String, StrategyItem> e : loaded.strategies().entrySet()) {
                String op = checkpointKeyToOpName.get(e.getKey());
                if (op == null) {
                    continue;
                }
                String other = keyOf.putIfAbsent(op, e.getKey());
                if (other != null) {
                    throw new IllegalArgumentException("checkpointKeyToOpName: keys '" + other + "' and '"
                            + e.getKey() + "' both map to operator '" + op
                            + "'; expected one checkpoint key per operator");
                }
                out.put(op, e.getValue().strategy());
            }
        }
        for (Map.Entry<String, OpStrategy> e : operators.entrySet()) {
            out.put(e.getKey(), e.getValue().in());
        }
        return Collections.unmodifiableMap(out);
    }

    private static <V> Map<String, V> copy(Map<String, V> m, String what) {
        if (m == null) {
            return Map.of();
        }
        Map<String, V> out = new LinkedHashMap<>();
        for (Map.Entry<String, V> e : m.entrySet()) {
            if (e.getKey() == null || e.getKey().isBlank()) {
                throw new IllegalArgumentException(what + ": found the key " + (e.getKey() == null ? "null" : "''")
                        + "; expected a non-blank name");
            }
            if (e.getValue() == null) {
                throw new IllegalArgumentException(what + "." + e.getKey() + ": found null; expected an object");
            }
            out.put(e.getKey(), e.getValue());
        }
        return Collections.unmodifiableMap(out);
    }

    /** The checks of a {@code parallelism} section that need the devices and the {@code parallel} settings. */
    private static void checkParallelism(Parallelism p, int devices, ParallelSettings parallel) {
        p.globalBatchSizeFor(devices); // the product of the degrees and the global batch
        if (parallel.parallelMode() != ParallelSettings.DEFAULT_PARALLEL_MODE) {
            throw new IllegalArgumentException("parallel.parallel_mode: found " + parallel.parallelMode().mindsporeName()
                    + " with a parallelism section; expected semi_auto_parallel (the degrees give every operator's "
                    + "strategy): remove parallel.parallel_mode or the parallelism section");
        }
        int stages = parallel.pipelineStages();
        if (stages != 1 && stages != p.pipeline()) {
            throw new IllegalArgumentException("parallel.pipeline_stages: found " + stages + " but parallelism.pipeline "
                    + "is " + p.pipeline() + "; remove parallel.pipeline_stages (parallelism.pipeline sets it)");
        }
        int micro = p.microBatchesFor(devices);
        if (parallel.microBatches() != stages && parallel.microBatches() != micro) {
            throw new IllegalArgumentException("parallel.micro_batches: found " + parallel.microBatches()
                    + " but the parallelism section gives " + micro + " (global_batch_size / (micro_batch_size x "
                    + "data)); remove parallel.micro_batches (the degrees set it)");
        }
    }

    private static void checkKey(String section, String key, String name) {
        int star = key.indexOf('*');
        if (star < 0) {
            return;
        }
        if (star != key.length() - 1 || !key.endsWith(".*") || key.length() < 3 || key.startsWith(".")) {
            throw new IllegalArgumentException(section + ": found the key '" + key + "'; expected " + name
                    + " or a prefix pattern ending in '.*' with '*' nowhere else, e.g. 'layers.0.*'");
        }
    }

    /**
     * The stage {@code stages} gives operator {@code opName}: an exact name wins, else the longest matching prefix
     * pattern; empty when no entry matches.
     */
    public Optional<Integer> stageFor(String opName) {
        Integer exact = stages.get(opName);
        if (exact != null) {
            return Optional.of(exact);
        }
        String best = null;
        for (String key : stages.keySet()) {
            if (isPattern(key) && matches(key, opName) && (best == null || key.length() > best.length())) {
                best = key;
            }
        }
        return best == null ? Optional.empty() : Optional.of(stages.get(best));
    }

}
