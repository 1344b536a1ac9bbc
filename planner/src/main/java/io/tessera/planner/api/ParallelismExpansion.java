package io.tessera.planner.api;

import io.tessera.layout.DType;
import io.tessera.planner.graph.Network;
import io.tessera.planner.handplan.HandPlans;
import io.tessera.planner.handplan.LlamaPlans;
import io.tessera.planner.handplan.MoePlans;
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
import io.tessera.planner.zoo.LlamaConfig;
import io.tessera.planner.zoo.Zoo;

import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;

/**
 * Expands a strategy file's {@code parallelism} section (Megatron-style degrees) into what the planner reads: the
 * network arguments (batch, dtype) of the zoo {@code gpt}, the zoo {@code llama} or a Hugging Face config of the
 * Llama family ({@code hf_config}), per-operator in/out strategies, pipeline stages, micro-batches, the dataset
 * strategy and the optimizer settings (format: {@code strategies/README.md}, "Parallelism degrees").
 * <ul>
 *   <li>Network: the batch becomes {@code micro_batch_size * data} (one micro-batch over all data-parallel
 *       replicas); {@code precision} fp16 / bf16 sets the dtype to float16 / bfloat16; fp8 sets bfloat16 and the
 *       gpt's {@code fp8} switch (the blocks' linear layers take FP8 inputs, Transformer Engine's recipe; see
 *       {@link GptConfig#fp8()}); with fp8, a {@code cluster} whose device lists no FP8 peak is an error.</li>
 *   <li>Operators: {@link HandPlans#megatronGpt(GptConfig, int, int, boolean)} and
 *       {@link HandPlans#megatronGptOutStrategies} with {@code dp = data}, {@code mp = tensor} and
 *       {@code sequence_parallel}, on one stage's {@code tensor * data} devices; an {@code operators} entry of the file
 *       replaces the expanded entry of its operator (in and out strategy). Llama-family networks: {@link LlamaPlans}
 *       with {@code context} and its {@code context_impl}; with {@code context > 1} the network argument
 *       {@code load_balance} becomes {@code context} unless given (Megatron's 2 x context chunks).</li>
 *   <li>Mixture of experts (a Llama-family network with {@code block_sparse_moe} or sparse {@code mlp} layers,
 *       {@link MoePlans#blocks}): {@code expert} is 1 (the
 *       experts data parallel) or {@code data x context} (this version), the network argument {@code moe_groups}
 *       becomes {@code data x context} unless given, and the blocks' strategies come from
 *       {@link MoePlans}; {@code expert > 1} on a dense model is an error.</li>
 *   <li>Stages (pipeline {@code > 1}, virtual_pipeline 1): Megatron's split, {@code layers / pipeline} consecutive
 *       layers per stage ({@code "layers.i.*"}, {@code "model.layers.i.*"}; a Llama-family model whose layers the
 *       pipeline does not divide gives the first and last stages fewer, {@link #stageLayers}); the embedding joins stage 0, the final LayerNorm, head and loss the
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

    /** The zoo model the degrees expand for first (the zoo {@code llama} and Hugging Face configs also expand). */
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
        Model model = model(file);
        Map<String, Object> args = new LinkedHashMap<>(model.args());
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
            if (!(model instanceof GptModel)) {
                throw new IllegalArgumentException("parallelism.precision: fp8 expands for the zoo gpt only (its "
                        + "linear layers carry the FP8 GEMM inputs); use bf16 for " + model.describe());
            }
            Object givenFp8 = args.get("fp8");
            if (givenFp8 != null && !"true".equalsIgnoreCase(String.valueOf(givenFp8).trim())) {
                throw new IllegalArgumentException("parallelism: network.args.fp8 is " + givenFp8 + " but precision "
                        + "fp8 casts the linear layers' inputs to FP8; remove network.args.fp8 or the precision");
            }
            args.put("fp8", true);
            checkFp8Device(file, devices);
        }
        if (model instanceof LlamaModel llama && llama.mixtureOfExperts(file)) {
            // one dispatch group per token split, so every rank routes whole groups of its own tokens
            args.putIfAbsent("moe_groups", data * p.context());
        }
        if (p.context() > 1 && model instanceof LlamaModel) {
            args.putIfAbsent("load_balance", p.context());
        }
        NetworkRef network = model.withArgs(args);
        Model.Expanded e = model.expand(network, file, p, data);

        Map<String, OpStrategy> ops = new LinkedHashMap<>();
        e.in().forEach((op, s) -> ops.put(op, OpStrategy.of(s, e.out().get(op))));
        ops.putAll(file.operators());

        if (p.virtualPipeline() > 1 && !file.stages().isEmpty()) {
            throw new IllegalArgumentException("stages: found " + file.stages().size() + " entries with "
                    + "parallelism.virtual_pipeline " + p.virtualPipeline() + "; expected none (the planner cuts the "
                    + "pipeline x virtual_pipeline chunks itself, Megatron's split); remove stages or set "
                    + "virtual_pipeline 1");
        }
        Map<String, Integer> stages = new LinkedHashMap<>(megatronStages(e.layerPrefix(), e.layers(), p));
        stages.putAll(file.stages());

        ParallelSettings given = file.parallel();
        ParallelSettings defaults = ParallelSettings.defaults();
        ParallelSettings.Builder b = given.toBuilder().pipelineStages(p.pipeline()).microBatches(micro);
        if (given.datasetStrategy().equals(defaults.datasetStrategy())) {
            b.datasetStrategy(new DatasetStrategy.Explicit(e.dataset()));
        }
        if (given.optimizer() == defaults.optimizer()) {
            b.optimizer(OptimizerKind.ADAM);
        }
        Map<String, ParamSettings> params = p.fullySharded() ? fullyShard(b, file, data, e.network())
                : file.parameters();
        return new StrategyFile(network, file.devices(), b.build(), ops, params, stages, file.baseDir(),
                Optional.empty(), file.cluster());
    }

    /** A model the degrees expand for: its network arguments and, given the degrees, its strategies. */
    private sealed interface Model permits GptModel, LlamaModel, Gpt2Model {

        /** The network's arguments as the file gives them. */
        Map<String, Object> args();

        /** The same network reference with arguments {@code args}. */
        NetworkRef withArgs(Map<String, Object> args);

        /** The model, for messages. */
        String describe();

        /** The strategies, layer naming and dataset strategy of the degrees on the network {@code network}. */
        Expanded expand(NetworkRef network, StrategyFile file, Parallelism p, int data);

        /** What a model expands to. */
        record Expanded(Map<String, Strategy> in, Map<String, Strategy> out, String layerPrefix, int layers,
                        Strategy dataset, Network network) {
        }
    }

    /** The zoo {@code gpt}. */
    private record GptModel(NetworkRef.Zoo zoo) implements Model {
        @Override
        public Map<String, Object> args() {
            return zoo.args();
        }

        @Override
        public NetworkRef withArgs(Map<String, Object> args) {
            return NetworkRef.zoo(zoo.name(), args);
        }

        @Override
        public String describe() {
            return "the zoo model gpt";
        }

        @Override
        public Model.Expanded expand(NetworkRef network, StrategyFile file, Parallelism p, int data) {
            if (p.context() > 1) {
                throw new IllegalArgumentException("parallelism.context: found " + p.context() + " for the zoo model "
                        + "gpt; context parallelism expands for Llama-family networks (zoo llama or hf_config): use "
                        + "context 1");
            }
            GptConfig c = gptConfig(((NetworkRef.Zoo) network).args());
            checkDegrees(p, c, data);
            denseExpert(p, describe());
            return new Model.Expanded(HandPlans.megatronGpt(c, data, p.tensor(), p.sequenceParallel()),
                    HandPlans.megatronGptOutStrategies(c, data, p.tensor(), p.sequenceParallel()), "layers.",
                    c.layers(), Strategy.of(new int[] {data, 1}, new int[] {data, 1}),
                    Zoo.gpt(c));
        }
    }

    /** A Llama-family network: the zoo {@code llama} or a Hugging Face {@code config.json} of that family. */
    private record LlamaModel(NetworkRef ref) implements Model {
        @Override
        public Map<String, Object> args() {
            return ref instanceof NetworkRef.HfConfig h ? h.args() : ((NetworkRef.Zoo) ref).args();
        }

        @Override
        public NetworkRef withArgs(Map<String, Object> args) {
            return ref instanceof NetworkRef.HfConfig h ? NetworkRef.hfConfig(h.path(), args)
                    : NetworkRef.zoo(((NetworkRef.Zoo) ref).name(), args);
        }

        @Override
        public String describe() {
            return ref instanceof NetworkRef.HfConfig h ? "the Hugging Face config '" + h.path() + "'"
                    : "the zoo model llama";
        }

        /** Whether the network, as the file's arguments build it, has mixture-of-experts layers. */
        boolean mixtureOfExperts(StrategyFile file) {
            return !MoePlans.blocks(Zoo.llama(config(ref, file))).isEmpty();
        }

        @Override
        public Model.Expanded expand(NetworkRef network, StrategyFile file, Parallelism p, int data) {
            // the degrees are checked on the model without the load balance they add, so their errors come first
            checkLlamaDegrees(p, config(withArgs(withoutLoadBalance(network)), file), data);
            LlamaConfig c = config(network, file);
            int t = p.tensor();
            int cp = p.context();
            boolean ring = p.contextForm() == Parallelism.ContextImpl.RING;
            Network net = Zoo.llama(c);
            return new Model.Expanded(LlamaPlans.strategies(c, data, t, cp, p.sequenceParallel(), ring, p.expert(),
                    net), LlamaPlans.outStrategies(c, data, t, cp, p.sequenceParallel(), net), "model.layers.",
                    c.layers(), LlamaPlans.datasetStrategy(data, cp), net);
        }
    }

    /**
     * GPT-2 from a Hugging Face config ({@code model_type gpt2}): data and pipeline degrees only (every operator data
     * parallel over the stage's devices, the default of semi-auto plans; its fused {@code c_attn} has no Megatron
     * split), stages {@code "transformer.h.i.*"}.
     */
    private record Gpt2Model(NetworkRef.HfConfig ref) implements Model {
        @Override
        public Map<String, Object> args() {
            return ref.args();
        }

        @Override
        public NetworkRef withArgs(Map<String, Object> args) {
            return NetworkRef.hfConfig(ref.path(), args);
        }

        @Override
        public String describe() {
            return "the Hugging Face GPT-2 config '" + ref.path() + "'";
        }

        @Override
        public Model.Expanded expand(NetworkRef network, StrategyFile file, Parallelism p, int data) {
            denseExpert(p, describe());
            if (p.tensor() > 1 || p.context() > 1 || p.sequenceParallel()) {
                throw new IllegalArgumentException("parallelism.tensor: found tensor " + p.tensor() + ", context "
                        + p.context() + (p.sequenceParallel() ? ", sequence_parallel" : "") + " for "
                        + describe() + "; GPT-2's degrees are data and pipeline only (its fused c_attn has no "
                        + "Megatron split): use tensor 1 and context 1, or give per-operator strategies in operators");
            }
            NetworkRef.HfConfig h = (NetworkRef.HfConfig) network;
            Network net = Zoo.fromHfConfig(file.resolve(h.path()), h.args());
            int layers = 0;
            for (io.tessera.planner.graph.Node n : net.nodes()) {
                layers = Math.max(layers, Network.layerIndex(n.name()) + 1);
            }
            if (p.virtualPipeline() > 1 && layers % (p.pipeline() * p.virtualPipeline()) != 0
                    || layers < 2 * p.pipeline() && layers % p.pipeline() != 0) {
                throw new IllegalArgumentException("parallelism.pipeline: found " + p.pipeline() + " for the model's "
                        + layers + " layers; expected a divisor of the layers, or at most half of them");
            }
            int[] split = {data, 1};
            return new Model.Expanded(Map.of(), Map.of(), "transformer.h.", layers,
                    Strategy.of(split, split, split), net);
        }
    }

    /** The Llama configuration of a zoo llama or Hugging Face reference. */
    private static LlamaConfig config(NetworkRef network, StrategyFile file) {
        return network instanceof NetworkRef.HfConfig h ? Zoo.hfConfig(file.resolve(h.path()), h.args())
                : Zoo.llamaConfig(((NetworkRef.Zoo) network).args());
    }

    /** The arguments of a zoo llama or Hugging Face reference without {@code load_balance}. */
    private static Map<String, Object> withoutLoadBalance(NetworkRef network) {
        Map<String, Object> args = new LinkedHashMap<>(network instanceof NetworkRef.HfConfig h ? h.args()
                : ((NetworkRef.Zoo) network).args());
        args.remove("load_balance");
        return args;
    }

    /** The model of the file's network; a one-line error for a network the degrees do not expand for. */
    private static Model model(StrategyFile file) {
        NetworkRef ref = file.network();
        String what;
        if (ref instanceof NetworkRef.Zoo z) {
            String name = z.name().trim().toLowerCase(Locale.ROOT);
            if (name.equals(MODEL)) {
                return new GptModel(z);
            }
            if (name.equals("llama")) {
                return new LlamaModel(z);
            }
            what = "the zoo model '" + z.name() + "'";
        } else if (ref instanceof NetworkRef.HfConfig h) {
            return Zoo.hfModelType(file.resolve(h.path())).equals("gpt2") ? new Gpt2Model(h) : new LlamaModel(h);
        } else {
            what = "the network file '" + ((NetworkRef.File) ref).path() + "'";
        }
        throw new IllegalArgumentException("parallelism: the network is " + what + "; the degrees expand for the zoo "
                + "models gpt and llama and Hugging Face configs (hf_config) only: give per-operator strategies in "
                + "operators (and parallel.pipeline_stages, micro_batches) instead of the parallelism section");
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
                                                         Network network) {
        b.enableParallelOptimizer(true);
        if (file.parallel().parallelOptimizerConfig().equals(ParallelOptimizerConfig.defaults())) {
            b.parallelOptimizerConfig(ParallelOptimizerConfig.of(0, data).withGradientAccumulationShard(true));
        }
        Map<String, ParamSettings> out = new LinkedHashMap<>();
        for (io.tessera.layout.param.Parameter param : network.parameters()) {
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

    /**
     * The unit of a parameter, as a pattern prefix: its layer's prefix ({@code "layers.<i>."},
     * {@code "model.layers.<i>."}; {@link Network#layerPrefix}) inside a layer, else its top scope ({@code "model."}
     * for Hugging Face's embedding and final norm, {@code "lm_head."}).
     */
    private static String unitPrefix(String param) {
        String layer = Network.layerPrefix(param);
        if (layer != null) {
            return layer;
        }
        int dot = param.indexOf('.');
        return dot < 0 ? param + "." : param.substring(0, dot + 1);
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
     * Megatron's pipeline split: {@code "<layerPrefix>i.*"} ({@code "layers.i.*"}, {@code "model.layers.i.*"}) on
     * consecutive stages, {@link #stageLayers} layers each ({@code layers / pipeline} when it divides); empty with one stage
     * or with virtual_pipeline {@code > 1}, where the planner cuts Megatron's chunks itself
     * ({@code PipelinePlan.plan} with virtual stages: {@code layers / (pipeline x virtual_pipeline)} layers per chunk, chunk
     * {@code c * pipeline + d} on stage {@code d}).
     */
    static Map<String, Integer> megatronStages(String layerPrefix, int layers, Parallelism p) {
        Map<String, Integer> out = new LinkedHashMap<>();
        if (p.pipeline() == 1 || p.virtualPipeline() > 1) {
            return out;
        }
        int[] count = stageLayers(layers, p.pipeline());
        int layer = 0;
        for (int stage = 0; stage < count.length; stage++) {
            for (int k = 0; k < count[stage]; k++) {
                out.put(layerPrefix + layer++ + ".*", stage);
            }
        }
        return out;
    }

    /**
     * Layers per stage: {@code layers / stages} each when that divides; otherwise {@code ceil(layers / stages)} each,
     * less one on the first and last stages, then the second and second-to-last, ... until they add up, as Llama 3
     * trained 126 layers on 16 stages (one layer fewer on the first and last, which also hold the embedding and the
     * head; Megatron's {@code --decoder-first/last-pipeline-num-layers}).
     */
    static int[] stageLayers(int layers, int stages) {
        int per = (layers + stages - 1) / stages;
        int[] count = new int[stages];
        java.util.Arrays.fill(count, per);
        int deficit = per * stages - layers;
        for (int k = 0; k < deficit; k++) {
            int stage = k % 2 == 0 ? k / 2 : stages - 1 - k / 2;
            count[stage]--;
        }
        return count;
    }

    /** {@code expert} on a model without experts: a one-line error unless it is 1. */
    private static void denseExpert(Parallelism p, String model) {
        if (p.expert() > 1) {
            throw new IllegalArgumentException("parallelism.expert: found " + p.expert() + " for " + model + ", a "
                    + "dense model (no mixture-of-experts layers); expected 1, or a model with experts");
        }
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

    /** The degrees against a Llama-family model's dimensions, in the section's own terms. */
    private static void checkLlamaDegrees(Parallelism p, LlamaConfig c, int data) {
        int t = p.tensor();
        if (c.heads() % t != 0 || c.ffn() % t != 0 || c.vocab() % t != 0) {
            throw new IllegalArgumentException("parallelism.tensor: found " + t + "; expected a divisor of the "
                    + "model's num_attention_heads " + c.heads() + ", intermediate_size " + c.ffn() + " and vocab_size "
                    + c.vocab() + " (tensor parallelism splits them)");
        }
        if (t <= c.kvHeads() ? c.kvHeads() % t != 0 : t % c.kvHeads() != 0) {
            throw new IllegalArgumentException("parallelism.tensor: found " + t + " with num_key_value_heads "
                    + c.kvHeads() + "; expected a divisor of the KV heads (they are split) or a multiple of them (each "
                    + "KV head is replicated on tensor / kv_heads ranks, as Megatron does)");
        }
        int cp = p.context();
        if (cp > 1) {
            if (c.seq() % (2L * cp) != 0) {
                throw new IllegalArgumentException("parallelism.context: found " + cp + " for seq " + c.seq()
                        + "; expected 2 x context to divide the sequence (the causal load balance cuts it into "
                        + "2 x context chunks)");
            }
            if (p.microBatchSize() != 1) {
                throw new IllegalArgumentException("parallelism.micro_batch_size: found " + p.microBatchSize()
                        + " with context " + cp + "; expected 1 (context parallelism splits each sequence over the "
                        + "context group): use micro_batch_size 1 and more micro-batches (global_batch_size)");
            }
        }
        long rows = (long) c.batch() / data * c.seq() / cp;
        if (p.sequenceParallel() && rows % t != 0) {
            throw new IllegalArgumentException("parallelism.sequence_parallel: tensor " + t + " does not divide the "
                    + rows + " token rows of a micro-batch's context shard; choose a tensor degree that divides them "
                    + "or turn sequence_parallel off");
        }
        long chunks = (long) p.pipeline() * p.virtualPipeline();
        if (p.virtualPipeline() > 1 && c.layers() % chunks != 0) {
            throw new IllegalArgumentException("parallelism.pipeline: pipeline " + p.pipeline() + " x virtual_pipeline "
                    + p.virtualPipeline() + " = " + chunks + " does not divide the model's " + c.layers()
                    + " layers; choose degrees whose product divides the layers (every chunk gets the same layers)");
        }
        if (c.layers() < 2L * p.pipeline() && c.layers() % p.pipeline() != 0) {
            throw new IllegalArgumentException("parallelism.pipeline: found " + p.pipeline() + " for the model's "
                    + c.layers() + " layers; expected a divisor of the layers, or at most half of them (the first and "
                    + "last stages then get fewer layers, as Llama 3 trained)");
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
