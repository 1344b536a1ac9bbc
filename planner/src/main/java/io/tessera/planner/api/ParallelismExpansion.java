package io.tessera.planner.api;

import io.tessera.layout.DType;
import io.tessera.planner.graph.Network;
import io.tessera.planner.handplan.HandPlans;
import io.tessera.planner.op.Strategy;
import io.tessera.planner.strategy.DatasetStrategy;
import io.tessera.planner.strategy.NetworkRef;
import io.tessera.planner.strategy.OpStrategy;
import io.tessera.planner.strategy.OptimizerKind;
import io.tessera.planner.strategy.ParallelOptimizerConfig;
import io.tessera.planner.strategy.ParallelSettings;
import io.tessera.planner.strategy.ParamSettings;
import io.tessera.planner.strategy.Parallelism;
import io.tessera.planner.strategy.StrategyFile;
import io.tessera.planner.zoo.GptConfig;
import io.tessera.planner.zoo.Zoo;

import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;

/**
 * Expands a strategy file's {@code parallelism} section (Megatron-style degrees) into what the planner reads: the
 * zoo {@code gpt}'s network arguments (batch, dtype), per-operator in/out strategies, pipeline stages, micro-batches,
 * the dataset strategy and the optimizer settings (format: {@code strategies/README.md}, "Parallelism degrees").
 * <ul>
 *   <li>Network: the batch becomes {@code micro_batch_size * data} (one micro-batch over all data-parallel
 *       replicas); {@code precision} fp16 / bf16 sets the dtype to float16 / bfloat16; fp8 sets bfloat16 and the
 *       gpt's {@code fp8} switch (the blocks' linear layers take FP8 inputs, Transformer Engine's recipe; see
 *       {@link GptConfig#fp8()}); with fp8, a {@code cluster} whose device lists no FP8 peak is an error.</li>
 *   <li>Operators: {@link HandPlans#megatronGpt(GptConfig, int, int, boolean)} and
 *       {@link HandPlans#megatronGptOutStrategies} with {@code dp = data}, {@code mp = tensor} and
 *       {@code sequence_parallel}, on one stage's {@code tensor * data} devices; an {@code operators} entry of the file
 *       replaces the expanded entry of its operator (in and out strategy).</li>
 *   <li>Stages (pipeline {@code > 1}, virtual_pipeline 1): Megatron's split, {@code layers / pipeline} consecutive
 *       layers per stage ({@code "layers.i.*"}); the embedding joins stage 0, the final LayerNorm, head and loss the
 *       last stage (the stage of their inputs). With virtual_pipeline {@code > 1} the planner splits the stages. A
 *       {@code stages} entry of the file overrides the expanded one with the same key.</li>
 *   <li>Parallel settings: {@code pipeline_stages = pipeline}, {@code micro_batches = global_batch_size /
 *       (micro_batch_size * data)}; the dataset strategy {@code [[data, 1], [data, 1]]} (tokens and labels, as
 *       {@link HandPlans#megatronGptBuilder}) unless the file gives one; optimizer adam (Megatron trains with Adam)
 *       unless the file names another; {@code distributed_optimizer} (and {@code zero_stage} 1 or 2) changes no
 *       planner setting (the timeline shards the optimizer step).</li>
 *   <li>{@code zero_stage 3}: the parallel optimizer enabled with {@code optimizer_weight_shard_size = data} and
 *       threshold 0 (every parameter sharded over the data-parallel group) unless the file gives its own
 *       {@code parallel_optimizer_config}, and {@code parallel_optimizer_comm_recompute} on every parameter
 *       ({@link #fullyShard}); {@code prefetch_layers} is read by the timeline.</li>
 * </ul>
 * The {@code cluster} key is kept; the expanded file has no {@code parallelism} section.
 */
public final class ParallelismExpansion {

    /** The zoo model the degrees expand for. */
    public static final String MODEL = "gpt";

    private ParallelismExpansion() {
    }

    /**
     * The file with its {@code parallelism} section expanded; {@code file} itself when it has none.
     *
     * @throws IllegalArgumentException (one line, starting with the key at fault) when the network is not the zoo
     *                                  gpt, its arguments contradict the degrees, a degree does not divide the model's
     *                                  dimension it splits, or the precision is not supported
     */
    public static StrategyFile expand(StrategyFile file) {
        if (file.parallelism().isEmpty()) {
            return file;
        }
        Parallelism p = file.parallelism().get();
        int devices = file.deviceCount();
        int data = p.dataFor(devices);
        int micro = p.microBatchesFor(devices);
        NetworkRef.Zoo zoo = zooGpt(file.network());
        Map<String, Object> args = new LinkedHashMap<>(zoo.args());
        int batch = p.networkBatchFor(devices);
        Object givenBatch = args.get("batch");
        if (givenBatch != null && !String.valueOf(batch).equals(integralText(givenBatch))) {
            throw new IllegalArgumentException("parallelism: network.args.batch is " + givenBatch
                    + " but micro_batch_size " + p.microBatchSize() + " x data " + data + " = " + batch
                    + " (the network is one micro-batch over all data-parallel replicas); remove network.args.batch "
                    + "or make it " + batch);
        }
        args.put("batch", batch);
        Optional<DType> dtype = p.precisionIfGiven().map(ParallelismExpansion::dtypeOf);
        if (dtype.isPresent()) {
            Object givenDtype = args.get("dtype");
            if (givenDtype != null && parsedDtype(givenDtype).filter(d -> d == dtype.get()).isEmpty()) {
                throw new IllegalArgumentException("parallelism: network.args.dtype is " + givenDtype
                        + " but precision " + p.precision().jsonName() + " gives " + dtype.get().jsonName()
                        + "; remove network.args.dtype or the precision");
            }
            args.put("dtype", dtype.get().jsonName());
        }
        if (p.precisionIfGiven().orElse(null) == Parallelism.Precision.FP8) {
            Object givenFp8 = args.get("fp8");
            if (givenFp8 != null && !"true".equalsIgnoreCase(String.valueOf(givenFp8).trim())) {
                throw new IllegalArgumentException("parallelism: network.args.fp8 is " + givenFp8 + " but precision "
                        + "fp8 casts the linear layers' inputs to FP8; remove network.args.fp8 or the precision");
            }
            args.put("fp8", true);
            checkFp8Device(file, devices);
        }
        NetworkRef network = NetworkRef.zoo(zoo.name(), args);
        GptConfig c = gptConfig(args);
        checkDegrees(p, c, data);

        Map<String, Strategy> in = HandPlans.megatronGpt(c, data, p.tensor(), p.sequenceParallel());
        Map<String, Strategy> out = HandPlans.megatronGptOutStrategies(c, data, p.tensor(), p.sequenceParallel());
        Map<String, OpStrategy> ops = new LinkedHashMap<>();
        in.forEach((op, s) -> ops.put(op, OpStrategy.of(s, out.get(op))));
        ops.putAll(file.operators());

        if (p.virtualPipeline() > 1 && !file.stages().isEmpty()) {
            throw new IllegalArgumentException("stages: found " + file.stages().size() + " entries with "
                    + "parallelism.virtual_pipeline " + p.virtualPipeline() + "; expected none (the planner cuts the "
                    + "pipeline x virtual_pipeline chunks itself, Megatron's split); remove stages or set "
                    + "virtual_pipeline 1");
        }
        Map<String, Integer> stages = new LinkedHashMap<>(megatronStages(c, p));
        stages.putAll(file.stages());

        ParallelSettings given = file.parallel();
        ParallelSettings defaults = ParallelSettings.defaults();
        ParallelSettings.Builder b = given.toBuilder().pipelineStages(p.pipeline()).microBatches(micro);
        if (given.datasetStrategy().equals(defaults.datasetStrategy())) {
            b.datasetStrategy(new DatasetStrategy.Explicit(Strategy.of(new int[] {data, 1}, new int[] {data, 1})));
        }
        if (given.optimizer() == defaults.optimizer()) {
            b.optimizer(OptimizerKind.ADAM);
        }
        Map<String, ParamSettings> params = p.fullySharded() ? fullyShard(b, file, data, network)
                : file.parameters();
        return new StrategyFile(network, file.devices(), b.build(), ops, params, stages, file.baseDir(),
                Optional.empty(), file.cluster());
    }

    /**
     * ZeRO-3 ({@code zero_stage 3}) as MindSpore's optimizer parallel: enabled, every parameter sharded over the
     * data-parallel group ({@code parallel_optimizer_threshold 0}, {@code optimizer_weight_shard_size = data},
     * {@code gradient_accumulation_shard}: gradients ReduceScattered after every micro-batch, unless the file gives its
     * own {@code parallel_optimizer_config}); every parameter gets
     * {@code parallel_optimizer_comm_recompute} (each weight is AllGathered before its forward, freed, and AllGathered
     * again before its backward; its gradient ReduceScattered) and one {@code comm_fusion} id per unit, as FSDP wraps
     * each transformer layer: a {@code "layers.<i>.*"} entry per layer and a {@code "<scope>.*"} entry per other
     * top-level scope (embedding, final LayerNorm, head), ids 1, 2, .. in the network's parameter order, so a unit's
     * weights are gathered in one fused collective. What the file's own {@code parameters} entries set wins (they are
     * kept, and merged into these entries by the usual precedence). The planner inserts the collectives and the
     * numeric simulator verifies them.
     */
    private static Map<String, ParamSettings> fullyShard(ParallelSettings.Builder b, StrategyFile file, int data,
                                                         NetworkRef network) {
        b.enableParallelOptimizer(true);
        if (file.parallel().parallelOptimizerConfig().equals(ParallelOptimizerConfig.defaults())) {
            b.parallelOptimizerConfig(ParallelOptimizerConfig.of(0, data).withGradientAccumulationShard(true));
        }
        NetworkRef.Zoo zoo = (NetworkRef.Zoo) network;
        Map<String, ParamSettings> out = new LinkedHashMap<>();
        for (io.tessera.layout.param.Parameter param : Zoo.build(zoo.name(), zoo.args()).parameters()) {
            String prefix = unitPrefix(param.name());
            String key = prefix + "*";
            if (!out.containsKey(key)) {
                ParamSettings unit = ParamSettings.none().withParallelOptimizerCommRecompute(true)
                        .withCommFusion(out.size() + 1);
                // the file's patterns that cover the whole unit (and its entry for this very key) win
                out.put(key, unit.overriddenBy(file.settingsFor(prefix)));
            }
        }
        file.parameters().forEach(out::putIfAbsent);
        return out;
    }

    /** The unit of a parameter, as a pattern prefix: {@code "layers.<i>."} inside a layer, else its top scope. */
    private static String unitPrefix(String param) {
        int dot = param.indexOf('.');
        if (dot < 0) {
            return param + ".";
        }
        if (param.startsWith("layers.") && Network.layerIndex(param) >= 0) {
            return param.substring(0, param.indexOf('.', dot + 1) + 1);
        }
        return param.substring(0, dot + 1);
    }

    /**
     * The network dtype of a precision: fp16 float16, bf16 and fp8 bfloat16 (FP8 is the linear layers' GEMM input
     * format, bf16 everything else). The one place a precision becomes a dtype.
     */
    static DType dtypeOf(Parallelism.Precision precision) {
        return switch (precision) {
            case FP16 -> DType.FLOAT16;
            case BF16, FP8 -> DType.BFLOAT16;
        };
    }

    /**
     * With precision fp8, the file's cluster (when it names one) must list an FP8 peak: otherwise a one-line error
     * naming the device and suggesting bf16. A cluster given elsewhere (the command line) is checked by the cost model.
     */
    private static void checkFp8Device(StrategyFile file, int devices) {
        StrategyPlans.cluster(file, devices).ifPresent(spec -> {
            if (!spec.device().hasPeak(DType.FLOAT8_E4M3FN)) {
                throw new IllegalArgumentException("parallelism.precision: fp8 needs FP8 tensor cores but the "
                        + "cluster's device " + spec.device().name() + " lists no float8_e4m3fn peak; use precision "
                        + "bf16 on it, or an FP8 device such as the h100-dgx preset");
            }
        });
    }

    /**
     * Megatron's pipeline split: {@code "layers.i.*"} on stage {@code i / (layers / pipeline)}; empty with one stage
     * or with virtual_pipeline {@code > 1}, where the planner cuts Megatron's chunks itself
     * ({@code PipelinePlan.plan} with virtual stages: {@code layers / (pipeline x virtual_pipeline)} layers per chunk, chunk
     * {@code c * pipeline + d} on stage {@code d}).
     */
    static Map<String, Integer> megatronStages(GptConfig c, Parallelism p) {
        Map<String, Integer> out = new LinkedHashMap<>();
        if (p.pipeline() == 1 || p.virtualPipeline() > 1) {
            return out;
        }
        int perStage = c.layers() / p.pipeline();
        for (int i = 0; i < c.layers(); i++) {
            out.put("layers." + i + ".*", i / perStage);
        }
        return out;
    }

    private static NetworkRef.Zoo zooGpt(NetworkRef ref) {
        String what;
        if (ref instanceof NetworkRef.Zoo z) {
            if (z.name().trim().toLowerCase(Locale.ROOT).equals(MODEL)) {
                return z;
            }
            what = "the zoo model '" + z.name() + "'";
        } else {
            what = "the network file '" + ((NetworkRef.File) ref).path() + "'";
        }
        throw new IllegalArgumentException("parallelism: the network is " + what + "; the degrees expand for the zoo "
                + "model gpt only: give per-operator strategies in operators (and parallel.pipeline_stages, "
                + "micro_batches) instead of the parallelism section");
    }

    /** The degrees against the model's dimensions, in the section's own terms. */
    private static void checkDegrees(Parallelism p, GptConfig c, int data) {
        int t = p.tensor();
        if (c.heads() % t != 0 || c.ffn() % t != 0 || c.vocab() % t != 0) {
            throw new IllegalArgumentException("parallelism.tensor: found " + t + "; expected a divisor of the "
                    + "model's heads " + c.heads() + ", ffn " + c.ffn() + " and vocab " + c.vocab()
                    + " (tensor parallelism splits them)");
        }
        long rows = (long) c.batch() / data * c.seq();
        if (p.sequenceParallel() && rows % t != 0) {
            throw new IllegalArgumentException("parallelism.sequence_parallel: tensor " + t + " does not divide the "
                    + rows + " token rows of a micro-batch (micro_batch_size x seq); choose a tensor degree that "
                    + "divides them or turn sequence_parallel off");
        }
        long chunks = (long) p.pipeline() * p.virtualPipeline();
        if (c.layers() % chunks != 0) {
            throw new IllegalArgumentException("parallelism.pipeline: pipeline " + p.pipeline() + " x virtual_pipeline "
                    + p.virtualPipeline() + " = " + chunks + " does not divide the model's " + c.layers()
                    + " layers; choose degrees whose product divides the layers (every chunk gets the same layers)");
        }
    }

    /** The gpt configuration of zoo arguments, as {@link Zoo#build} reads them (its errors on a bad value). */
    static GptConfig gptConfig(Map<String, Object> args) {
        return Zoo.gptConfig(args);
    }

    private static int intArg(Map<String, Object> args, String key, int def) {
        Object v = args.get(key);
        return v == null ? def : Integer.parseInt(integralText(v));
    }

    /** An integral argument value as decimal text ("8" for 8, 8L, 8.0 and "8"); other values as they print. */
    private static String integralText(Object v) {
        if (v instanceof Number n && n.doubleValue() == Math.rint(n.doubleValue())
                && Math.abs(n.doubleValue()) < 1e15) {
            return Long.toString(n.longValue());
        }
        return String.valueOf(v).trim();
    }

    private static Optional<DType> parsedDtype(Object v) {
        if (v instanceof DType d) {
            return Optional.of(d);
        }
        try {
            return Optional.of(DType.parse(String.valueOf(v)));
        } catch (IllegalArgumentException e) {
            return Optional.empty();
        }
    }
}
