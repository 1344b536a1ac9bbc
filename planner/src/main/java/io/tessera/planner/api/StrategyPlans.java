package io.tessera.planner.api;

import io.tessera.planner.plan.ParamPlan;

import io.tessera.planner.plan.PipelinePlan;

import io.tessera.planner.plan.Plan;

import io.tessera.planner.plan.PlanConfig;
import io.tessera.planner.plan.RedistributionCache;

import io.tessera.layout.Layout;
import io.tessera.layout.TensorMap;
import io.tessera.layout.param.ParallelMode;
import io.tessera.layout.param.Parameter;
import io.tessera.planner.cost.ClusterPreset;
import io.tessera.planner.cost.ClusterSpec;
import io.tessera.planner.cost.ClusterSpecs;
import io.tessera.planner.cost.Recompute;
import io.tessera.planner.strategy.ClusterRef;
import io.tessera.planner.strategy.Parallelism;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.tessera.planner.graph.Network;
import io.tessera.planner.graph.NetworkJson;
import io.tessera.planner.graph.Node;
import io.tessera.planner.op.Strategy;
import io.tessera.planner.search.Search;
import io.tessera.planner.search.SearchResult;
import io.tessera.planner.search.StrategyCandidates;
import io.tessera.planner.strategy.LayoutItem;
import io.tessera.planner.strategy.NetworkRef;
import io.tessera.planner.strategy.OpStrategy;
import io.tessera.planner.strategy.ParamSettings;
import io.tessera.planner.strategy.StrategyCheckpoint;
import io.tessera.planner.strategy.StrategyCheckpoints;
import io.tessera.planner.strategy.StrategyFile;
import io.tessera.planner.strategy.StrategyItem;
import io.tessera.planner.zoo.Zoo;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.function.Consumer;

/**
 * Planning from a strategy file: builds the network (zoo or network file), applies the per-parameter settings, pins
 * strategies loaded from a strategy checkpoint ({@code strategy_ckpt_config.load_file}; the file's own strategies
 * win), and plans. Also turns a plan into MindSpore's strategy checkpoint.
 */
public final class StrategyPlans {

    private StrategyPlans() {
    }

    /**
     * Builds the network a strategy file names and applies its parameter settings to the network's parameters. A
     * {@code parallelism} section is expanded first ({@link ParallelismExpansion#expand}).
     */
    public static Network network(StrategyFile file) {
        file = ParallelismExpansion.expand(file);
        Network net;
        if (file.network() instanceof NetworkRef.Zoo z) {
            net = Zoo.build(z.name(), z.args());
        } else if (file.network() instanceof NetworkRef.HfConfig hf) {
            net = Zoo.fromHfConfig(file.resolve(hf.path()), hf.args());
        } else {
            Path p = file.resolve(((NetworkRef.File) file.network()).path());
            net = NetworkJson.read(p);
        }
        List<String> names = new ArrayList<>();
        net.parameters().forEach(p -> names.add(p.name()));
        List<String> unmatched = file.unmatchedParameterKeys(names);
        if (!unmatched.isEmpty()) {
            throw new IllegalArgumentException("parameters: '" + unmatched.get(0) + "' matches no parameter of network '"
                    + net.name() + "'; use a parameter name or a 'prefix.*' pattern, e.g. '" + names.get(0) + "'");
        }
        for (Parameter p : net.parameters()) {
            ParamSettings s = file.settingsFor(p.name());
            if (s.requiresGrad() != null) {
                p.setRequiresGrad(s.requiresGrad());
            }
            if (s.layerwiseParallel() != null) {
                p.setLayerwiseParallel(s.layerwiseParallel());
            }
            if (s.parallelOptimizer() != null) {
                p.setParallelOptimizer(s.parallelOptimizer());
            }
            if (s.commFusion() != null) {
                p.setCommFusion(s.commFusion());
            }
            if (s.parallelOptimizerCommRecompute() != null) {
                p.setParallelOptimizerCommRecompute(s.parallelOptimizerCommRecompute());
            }
        }
        return net;
    }

    /**
     * The planner configuration of a strategy file for {@code network}: for one stage's devices
     * ({@link StrategyFile#stageDeviceCount()}), which is every device without pipeline stages. A {@code parallelism}
     * section is expanded first ({@link ParallelismExpansion#expand}).
     */
    public static PlanConfig config(StrategyFile file, Network network) {
        file = ParallelismExpansion.expand(file);
        StrategyCheckpoint loaded = file.loadFile().map(StrategyCheckpoints::read).orElse(null);
        Map<String, String> keys = checkpointKeys(network);
        if (loaded != null) {
            LoadedCheckpoints.check(file.loadFile().get(), loaded, network, keys, file);
        }
        Map<String, Strategy> in = file.pinnedStrategies(loaded, keys);
        PlanConfig.Builder b = PlanConfig.builder(file.stageDeviceCount())
                .mode(file.parallel().parallelMode())
                .dataset(file.parallel().datasetStrategy())
                .gradientsMean(file.parallel().gradientsMean())
                .commFusion(file.parallel().commFusion())
                .optimizer(file.parallel().optimizer());
        if (file.parallel().enableParallelOptimizer()) {
            checkShardSize(file.parallel().parallelOptimizerConfig().optimizerWeightShardSize(),
                    file.stageDeviceCount());
            b.parallelOptimizer(file.parallel().parallelOptimizerConfig());
        }
        in.forEach(b::strategy);
        for (Map.Entry<String, OpStrategy> e : file.operators().entrySet()) {
            if (e.getValue().out() != null) {
                b.outStrategy(e.getKey(), e.getValue().out());
            }
        }
        return b.build();
    }

    /**
     * Refuses an {@code optimizer_weight_shard_size} that divides no parameter's repeated group: one that does not
     * divide the {@code devices} of a stage (every repeated group's size divides them), so it could never take effect.
     *
     * @throws IllegalArgumentException naming the size, the devices and the valid sizes
     */
    static void checkShardSize(int shardSize, int devices) {
        if (shardSize == -1 || devices % shardSize == 0) {
            return;
        }
        List<String> valid = new ArrayList<>();
        for (int d = 1; d <= devices && valid.size() < 12; d++) {
            if (devices % d == 0) {
                valid.add(String.valueOf(d));
            }
        }
        throw new IllegalArgumentException("parallel.parallel_optimizer_config.optimizer_weight_shard_size: found "
                + shardSize + "; expected -1 (the whole repeated group) or a divisor of the " + devices
                + " devices of a stage (" + String.join(", ", valid) + "), "
                + "since it must divide a parameter's repeated group");
    }

    /**
     * Plans a strategy file. With {@code parallel_mode: auto_parallel} the strategies come from the search
     * ({@link #search}); the plan is then the semi-auto plan of the searched strategies.
     */
    public static Plan plan(StrategyFile file) {
        return pipelinePlan(file, null).plan();
    }

    /**
     * Plans a strategy file with its pipeline stages ({@code parallel.pipeline_stages}, {@code micro_batches} and the
     * {@code stages} section; see {@link PipelinePlan#plan}); a one-stage view without pipeline stages. With
     * {@code auto_parallel} the strategies come from the search on one stage's devices. A {@code parallelism} section
     * is expanded first ({@link ParallelismExpansion#expand}).
     *
     * @param progress receives one-line progress messages of a search, or null
     */
    public static PipelinePlan pipelinePlan(StrategyFile file, Consumer<String> progress) {
        return pipelinePlan(file, progress, null, null);
    }

    /**
     * As {@link #pipelinePlan(StrategyFile, Consumer)}, planning {@code network} instead of building it, and taking
     * redistribution plans from {@code cache}: for many plannings of files that differ only in operator strategies
     * (e.g. {@code tessera explain}'s re-plans).
     *
     * @param network the file's network as {@link #network(StrategyFile)} builds it (a file with the same network and
     *                {@code parameters} section), or null to build it
     * @param cache   redistribution plans shared by the plannings, or null for this planning's own
     */
    public static PipelinePlan pipelinePlan(StrategyFile file, Consumer<String> progress, Network network,
                                            RedistributionCache cache) {
        int virtualPipeline = virtualPipeline(file);
        file = ParallelismExpansion.expand(file);
        Network net = network != null ? network : network(file);
        List<String> unknown = new ArrayList<>();
        java.util.Set<String> names = new java.util.HashSet<>();
        net.nodes().forEach(n -> names.add(n.name()));
        for (String key : file.stages().keySet()) {
            boolean any = StrategyFile.isPattern(key) ? names.stream().anyMatch(n -> StrategyFile.matches(key, n))
                    : names.contains(key);
            if (!any) {
                unknown.add(key);
            }
        }
        if (!unknown.isEmpty()) {
            throw new IllegalArgumentException("stages: '" + unknown.get(0) + "' matches no operator of network '"
                    + net.name() + "'; use an operator name or a 'prefix.*' pattern, e.g. '"
                    + net.nodes().get(0).name() + "'");
        }
        PlanConfig config = file.parallel().parallelMode() == ParallelMode.AUTO_PARALLEL
                ? search(file, net, progress).best() : config(file, net);
        return planStages(net, config, file, virtualPipeline, cache);
    }

    /**
     * The one call site where a file's stages become a {@link PipelinePlan}: {@code file.parallel().pipeline_stages}
     * stages, its micro-batches and {@code stages} section. {@code virtualPipeline} (model chunks per stage, from
     * {@code parallelism.virtual_pipeline}) is carried here for the interleaved split of planned stages into
     * {@code pipeline x virtual_pipeline} chunks; {@link PipelinePlan#plan} takes no chunk count, so it plans
     * {@code pipeline} stages.
     */
    private static PipelinePlan planStages(Network net, PlanConfig config, StrategyFile file, int virtualPipeline,
                                           RedistributionCache cache) {
        return PipelinePlan.plan(net, config, file.parallel().pipelineStages(), virtualPipeline,
                file.parallel().microBatches(), file::stageFor, cache);
    }

    /** {@code parallelism.virtual_pipeline} of a strategy file: model chunks per pipeline stage, 1 without it. */
    public static int virtualPipeline(StrategyFile file) {
        return file.parallelism().map(Parallelism::virtualPipeline).orElse(1);
    }

    /**
     * The activation recompute a strategy file asks for ({@code parallelism.recompute}); {@link Recompute#NONE}
     * without a {@code parallelism} section.
     */
    public static Recompute recompute(StrategyFile file) {
        return switch (file.parallelism().map(Parallelism::recompute).orElse(Parallelism.Recompute.NONE)) {
            case NONE -> Recompute.NONE;
            case SELECTIVE -> Recompute.SELECTIVE;
            case FULL -> Recompute.FULL;
        };
    }

    /**
     * The cluster a strategy file names ({@code cluster}) for {@code devices} devices; empty when it names none. A
     * preset name, or a cluster-spec object without {@code "nodes"}, grows its node count to fit the devices; an
     * object with {@code "nodes"} is used as given.
     *
     * @throws IllegalArgumentException "{@code cluster: ...}" for an unknown preset, an invalid cluster spec, or a
     *                                  spec with explicit nodes and fewer devices than {@code devices}
     */
    public static Optional<ClusterSpec> cluster(StrategyFile file, int devices) {
        if (file.cluster().isEmpty()) {
            return Optional.empty();
        }
        ClusterRef ref = file.cluster().get();
        ClusterSpec spec;
        boolean grow;
        if (ref instanceof ClusterRef.Preset p) {
            if (!ClusterSpec.presets().contains(p.name())) {
                throw new IllegalArgumentException("cluster: found the preset \"" + p.name() + "\"; expected one of "
                        + String.join(", ", ClusterSpec.presets()) + " or a cluster-spec object");
            }
            spec = ClusterSpec.preset(p.name());
            grow = true;
        } else {
            String json = ((ClusterRef.Spec) ref).json();
            try {
                spec = ClusterSpecs.parse(json);
                grow = !new ObjectMapper().readTree(json).has("nodes");
            } catch (IllegalArgumentException | JsonProcessingException e) {
                throw new IllegalArgumentException("cluster: " + e.getMessage().replaceAll("\\s*\\R\\s*", " ")
                        .replaceFirst("^cluster spec: ", ""), e);
            }
        }
        if (grow) {
            return Optional.of(spec.withNodesFor(devices));
        }
        if (spec.devices() < devices) {
            throw new IllegalArgumentException("cluster: found " + spec.nodes() + " nodes of " + spec.devicesPerNode()
                    + " devices (" + spec.devices() + ") but the plan needs " + devices + "; remove \"nodes\" (the "
                    + "cluster then grows to fit) or add nodes");
        }
        return Optional.of(spec);
    }

    /** The cluster preset {@link #search} estimates on. */
    public static final ClusterPreset SEARCH_CLUSTER = ClusterPreset.A100_80GB_DGX;

    /**
     * Runs the strategy search of an {@code auto_parallel} strategy file ({@code parallel.search_mode}) on the
     * {@code a100-80gb-dgx} preset ({@link #SEARCH_CLUSTER}) with enough nodes for the file's devices. The file's
     * operator strategies are kept as given; its dataset strategy is replaced by the searched one (data inputs laid out as their first
     * consumers need); its gradient reduction, optimizer, optimizer parallelism and fusion settings carry over.
     *
     * @param progress receives one-line progress messages, or null
     * @throws IllegalArgumentException as {@link #config}, or when no plan fits the device memory
     */
    public static SearchResult search(StrategyFile file, Network network, Consumer<String> progress) {
        StrategyFile semi = file.withParallel(file.parallel().toBuilder()
                .parallelMode(ParallelMode.SEMI_AUTO_PARALLEL).build());
        PlanConfig template = config(semi, network);
        ClusterSpec preset = ClusterSpec.preset(SEARCH_CLUSTER);
        return Search.search(network, template, preset.withNodesFor(template.devices()), file.parallel().searchMode(),
                progress, StrategyCandidates.DEFAULT_CAP);
    }

    /** Strategy-checkpoint keys ({@code <Prim>_<first parameter name>}) of the operators with a parameter input. */
    public static Map<String, String> checkpointKeys(Network network) {
        Map<String, String> out = new LinkedHashMap<>();
        for (Node n : network.nodes()) {
            for (String t : n.inputs()) {
                if (network.isParameter(t)) {
                    out.put(StrategyCheckpoints.strategyKey(n.op().type(), t), n.name());
                    break;
                }
            }
        }
        return out;
    }

    /**
     * MindSpore's strategy checkpoint of a plan (spec §7): a strategy item per operator with a parameter input, and a
     * layout item per parameter with the normalised device matrix and tensor map, and for optimizer-sharded parameters
     * {@code opt_weight_shard_step} (the rank stride of the shard group) and {@code opt_weight_shard_size} (the
     * configured {@code optimizer_weight_shard_size}, -1 when not configured or not sharded).
     */
    public static StrategyCheckpoint checkpoint(Plan plan) {
        return checkpoint(PipelinePlan.single(plan));
    }

    /**
     * {@link #checkpoint(Plan)} of a pipeline plan: each strategy item carries its operator's stage (MindSpore's
     * {@code stage} field); {@code current_stage} is 0.
     */
    public static StrategyCheckpoint checkpoint(PipelinePlan pipe) {
        Plan plan = pipe.plan();
        Map<String, StrategyItem> strategies = new TreeMap<>();
        Map<String, String> keys = checkpointKeys(plan.network());
        for (Map.Entry<String, String> e : keys.entrySet()) {
            strategies.put(e.getKey(), StrategyItem.of(pipe.stageOf(e.getValue()),
                    plan.op(e.getValue()).inStrategy()));
        }
        Map<String, LayoutItem> layouts = new TreeMap<>();
        for (ParamPlan p : plan.params()) {
            Layout l = p.layout().normalized();
            int[] map = new int[l.rank()];
            for (int i = 0; i < map.length; i++) {
                TensorMap.Entry entry = l.tensorMap().entry(i);
                if (entry instanceof TensorMap.SplitMulti) {
                    throw new IllegalArgumentException("parameter '" + p.name() + "': tensor_map " + l.tensorMap()
                            + " splits a dimension over several device dims, which a strategy checkpoint cannot hold");
                }
                map[i] = entry instanceof TensorMap.Split s ? s.axis() : -1;
            }
            layouts.put(p.name(), LayoutItem.of(l.devMatrix().dims(), map, l.shape(), 0, p.shard().step(),
                    p.shard().checkpointSize()));
        }
        return new StrategyCheckpoint(0, strategies, layouts);
    }
}
