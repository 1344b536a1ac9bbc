package io.tessera.planner.strategy;

import java.util.Arrays;
import java.util.Locale;
import java.util.Optional;
import java.util.stream.Collectors;

/**
 * The {@code parallelism} section of a strategy file: Megatron-style parallelism degrees, expanded by the planner into
 * per-operator strategies, pipeline stages, micro-batches and optimizer settings (format and expansion:
 * {@code strategies/README.md}, "Parallelism degrees"). The degrees are checked against the device count by
 * {@link StrategyFile}; against the model by the expansion.
 *
 * @param tensor               {@code tensor}: tensor-parallel degree, {@code >= 1}; default 1
 * @param sequenceParallel     {@code sequence_parallel}: Megatron's sequence parallelism inside the tensor-parallel
 *                             group; default false
 * @param pipeline             {@code pipeline}: pipeline stages, {@code >= 1}; default 1
 * @param virtualPipeline      {@code virtual_pipeline}: model chunks per pipeline stage of the interleaved 1F1B
 *                             schedule, {@code >= 1}, above 1 only with {@code pipeline > 1}; default 1
 * @param data                 {@code data}: data-parallel degree, {@code >= 1}; 0 means omitted: then
 *                             {@code devices / (tensor * context * pipeline)} ({@link #dataFor})
 * @param microBatchSize       {@code micro_batch_size}: sequences per micro-batch per data-parallel replica,
 *                             {@code >= 1}; default 1
 * @param globalBatchSize      {@code global_batch_size}: sequences per training step over all replicas, a multiple
 *                             of {@code micro_batch_size * data}; 0 means omitted: one micro-batch,
 *                             {@code micro_batch_size * data} ({@link #globalBatchSizeFor})
 * @param recompute            {@code recompute}: activation recompute; null means {@link Recompute#NONE}
 * @param distributedOptimizer {@code distributed_optimizer}: shard the optimizer over the data-parallel group;
 *                             default false
 * @param overlapGradReduce    {@code overlap_grad_reduce}: the data-parallel gradient reduction runs while the
 *                             backward computes (PyTorch DDP, Megatron's {@code --overlap-grad-reduce}); false waits
 *                             for the whole backward first (Megatron's 2021 {@code local} DDP); default true
 * @param tpCommOverlap        {@code tp_comm_overlap}: Megatron-Core's {@code --tp-comm-overlap}, the sequence-parallel
 *                             AllGathers and ReduceScatters pipelined with the adjacent matrix products; default false
 * @param precision            {@code precision}: the training precision; null means omitted (the network's dtype
 *                             unchanged)
 * @param zeroStage            {@code zero_stage}: ZeRO's stage, 0 to 3; default 0. 1 and 2 are Megatron's distributed
 *                             optimizer (they set {@code distributedOptimizer}); 3 is PyTorch FSDP's FULL_SHARD /
 *                             DeepSpeed ZeRO-3: every weight sharded over the data-parallel group, AllGathered before
 *                             its forward and again before its backward, its gradient ReduceScattered (expanded to
 *                             MindSpore's optimizer parallel on every parameter), and not together with
 *                             {@code distributed_optimizer}
 * @param prefetchLayers       {@code prefetch_layers}: with zero_stage 3, how many transformer layers ahead a weight
 *                             AllGather may start (FSDP's forward / backward prefetch of the next unit with
 *                             {@code limit_all_gathers}, DeepSpeed's prefetch bucket), {@code >= 0}; -1 means omitted:
 *                             {@link #DEFAULT_PREFETCH_LAYERS} ({@link #prefetch()}); given only with zero_stage 3
 * @param context              {@code context}: context-parallel degree, {@code >= 1}; default 1. The sequence is split
 *                             over {@code context} devices everywhere (a micro-batch's tokens), and attention gathers
 *                             or passes the keys and values ({@code contextImpl}); the degrees' product
 *                             {@code tensor x context x pipeline x data} is the device count (Megatron's order: tensor
 *                             fastest, then context, then data, then pipeline)
 * @param contextImpl          {@code context_impl}: how attention sees the whole sequence under context
 *                             parallelism; null means omitted ({@link ContextImpl#ALL_GATHER}, {@link #contextForm()});
 *                             given only with {@code context > 1}
 * @param expert               {@code expert}: expert-parallel degree of mixture-of-experts layers, {@code >= 1};
 *                             default 1 (experts replicated, data parallel). The experts are split over an
 *                             expert-parallel group carved from the {@code data x context} devices, so it divides
 *                             {@code data x context} (it adds no devices); the expansion requires more (see
 *                             {@code LlamaPlans})
 */
public record Parallelism(int tensor, boolean sequenceParallel, int pipeline, int virtualPipeline, int data,
                          int microBatchSize, int globalBatchSize, Recompute recompute, boolean distributedOptimizer,
                          boolean overlapGradReduce, boolean tpCommOverlap, Precision precision, int zeroStage,
                          int prefetchLayers, int context, ContextImpl contextImpl, int expert) {

    /** ZeRO-3's weight AllGathers may start this many layers ahead when {@code prefetch_layers} is omitted. */
    public static final int DEFAULT_PREFETCH_LAYERS = 1;

    /** Activation recompute, as Megatron's {@code --recompute-granularity}. */
    public enum Recompute {
        /** Every activation is kept until its backward. */
        NONE,
        /** Megatron's selective recompute: the core attention is re-run in backward, its activations not kept. */
        SELECTIVE,
        /** Full recompute: only layer (stage) inputs are kept, the forward re-runs before the backward. */
        FULL;

        /** The name in strategy files: {@code none}, {@code selective} or {@code full}. */
        public String jsonName() {
            return name().toLowerCase(Locale.ROOT);
        }

        /** The mode named {@code name} exactly; empty for any other text. */
        public static Optional<Recompute> of(String name) {
            return Arrays.stream(values()).filter(r -> r.jsonName().equals(name)).findFirst();
        }

        /** The valid names, comma separated. */
        public static String validNames() {
            return Arrays.stream(values()).map(Recompute::jsonName).collect(Collectors.joining(", "));
        }
    }

    /** How attention sees the whole sequence under context parallelism ({@code context_impl}). */
    public enum ContextImpl {
        /**
         * {@code all_gather}: each rank AllGathers the keys and values of the whole sequence before its attention and
         * ReduceScatters their gradients after it (Llama 3's context parallelism).
         */
        ALL_GATHER,
        /**
         * {@code ring}: the key/value blocks pass around the context-parallel ring, each step overlapping the attention
         * of the block in hand (ring attention; Megatron-Core / Transformer Engine's {@code p2p} form).
         */
        RING;

        /** The name in strategy files: {@code all_gather} or {@code ring}. */
        public String jsonName() {
            return name().toLowerCase(Locale.ROOT);
        }

        /** The form named {@code name} exactly; empty for any other text. */
        public static Optional<ContextImpl> of(String name) {
            return Arrays.stream(values()).filter(p -> p.jsonName().equals(name)).findFirst();
        }

        /** The valid names, comma separated. */
        public static String validNames() {
            return Arrays.stream(values()).map(ContextImpl::jsonName).collect(Collectors.joining(", "));
        }
    }

    /** The training precision: the dtype of activations and parameters (mixed precision as Megatron's flags). */
    public enum Precision {
        /** {@code fp16}: float16. */
        FP16,
        /** {@code bf16}: bfloat16. */
        BF16,
        /** {@code fp8}: FP8 GEMM inputs (Transformer Engine), bf16 elsewhere. */
        FP8;

        /** The name in strategy files: {@code fp16}, {@code bf16} or {@code fp8}. */
        public String jsonName() {
            return name().toLowerCase(Locale.ROOT);
        }

        /** The precision named {@code name} exactly; empty for any other text. */
        public static Optional<Precision> of(String name) {
            return Arrays.stream(values()).filter(p -> p.jsonName().equals(name)).findFirst();
        }

        /** The valid names, comma separated. */
        public static String validNames() {
            return Arrays.stream(values()).map(Precision::jsonName).collect(Collectors.joining(", "));
        }
    }

    /** Validates the degrees and replaces a null recompute by {@link Recompute#NONE}. */
    public Parallelism {
        positive("tensor", tensor, "a tensor-parallel degree >= 1 (default 1)");
        positive("pipeline", pipeline, "a number of pipeline stages >= 1 (default 1)");
        positive("virtual_pipeline", virtualPipeline, "a number of model chunks per stage >= 1 (default 1)");
        positive("micro_batch_size", microBatchSize, "a micro-batch size >= 1 (default 1)");
        if (data < 0) {
            throw new IllegalArgumentException("parallelism.data: found " + data
                    + "; expected a data-parallel degree >= 1 (default: devices / (tensor x pipeline))");
        }
        if (globalBatchSize < 0) {
            throw new IllegalArgumentException("parallelism.global_batch_size: found " + globalBatchSize
                    + "; expected a batch size >= 1 (default: micro_batch_size x data)");
        }
        if (virtualPipeline > 1 && pipeline == 1) {
            throw new IllegalArgumentException("parallelism.virtual_pipeline: found " + virtualPipeline
                    + " with pipeline 1; expected 1 without pipeline stages (interleaving splits each stage's layers "
                    + "into chunks), or set pipeline");
        }
        if (data > 0 && globalBatchSize > 0) {
            checkGlobalBatch(microBatchSize, data, globalBatchSize);
        }
        recompute = recompute == null ? Recompute.NONE : recompute;
        if (zeroStage < 0 || zeroStage > 3) {
            throw new IllegalArgumentException("parallelism.zero_stage: found " + zeroStage + "; expected 0 (default), "
                    + "1 or 2 (Megatron's distributed optimizer) or 3 (every weight sharded over the data-parallel "
                    + "group, FSDP FULL_SHARD)");
        }
        if (zeroStage == 3 && distributedOptimizer) {
            throw new IllegalArgumentException("parallelism.distributed_optimizer: found true with zero_stage 3; "
                    + "expected one of them (zero_stage 3 shards the weights and the optimizer step already): remove "
                    + "distributed_optimizer or use zero_stage 1");
        }
        distributedOptimizer |= zeroStage == 1 || zeroStage == 2;
        if (prefetchLayers < -1) {
            throw new IllegalArgumentException("parallelism.prefetch_layers: found " + prefetchLayers
                    + "; expected a number of layers >= 0 (default " + DEFAULT_PREFETCH_LAYERS + ")");
        }
        positive("context", context, "a context-parallel degree >= 1 (default 1)");
        if (contextImpl != null && context == 1) {
            throw new IllegalArgumentException("parallelism.context_impl: found " + contextImpl.jsonName()
                    + " with context 1; expected it only with context > 1 (it chooses how attention sees the sequence "
                    + "split over the context-parallel devices): set context or remove context_impl");
        }
        if (prefetchLayers >= 0 && zeroStage != 3) {
            throw new IllegalArgumentException("parallelism.prefetch_layers: found " + prefetchLayers
                    + " with zero_stage " + zeroStage + "; expected it only with zero_stage 3 (it limits how early ZeRO-3's weight "
                    + "AllGathers start): set zero_stage 3 or remove prefetch_layers");
        }
        positive("expert", expert, "an expert-parallel degree >= 1 (default 1)");
        if (data > 0) {
            checkExpert(expert, data, context);
        }
    }

    /** The section before {@code expert}: expert 1. */
    public Parallelism(int tensor, boolean sequenceParallel, int pipeline, int virtualPipeline, int data,
                       int microBatchSize, int globalBatchSize, Recompute recompute, boolean distributedOptimizer,
                       boolean overlapGradReduce, boolean tpCommOverlap, Precision precision, int zeroStage,
                       int prefetchLayers, int context, ContextImpl contextImpl) {
        this(tensor, sequenceParallel, pipeline, virtualPipeline, data, microBatchSize, globalBatchSize, recompute,
                distributedOptimizer, overlapGradReduce, tpCommOverlap, precision, zeroStage, prefetchLayers, context,
                contextImpl, 1);
    }

    /** The section before {@code zero_stage}: zero_stage 0, prefetch_layers omitted. */
    public Parallelism(int tensor, boolean sequenceParallel, int pipeline, int virtualPipeline, int data,
                       int microBatchSize, int globalBatchSize, Recompute recompute, boolean distributedOptimizer,
                       boolean overlapGradReduce, boolean tpCommOverlap, Precision precision) {
        this(tensor, sequenceParallel, pipeline, virtualPipeline, data, microBatchSize, globalBatchSize, recompute,
                distributedOptimizer, overlapGradReduce, tpCommOverlap, precision, 0, -1);
    }

    /** The section before {@code context}: context 1, context_impl omitted. */
    public Parallelism(int tensor, boolean sequenceParallel, int pipeline, int virtualPipeline, int data,
                       int microBatchSize, int globalBatchSize, Recompute recompute, boolean distributedOptimizer,
                       boolean overlapGradReduce, boolean tpCommOverlap, Precision precision, int zeroStage,
                       int prefetchLayers) {
        this(tensor, sequenceParallel, pipeline, virtualPipeline, data, microBatchSize, globalBatchSize, recompute,
                distributedOptimizer, overlapGradReduce, tpCommOverlap, precision, zeroStage, prefetchLayers, 1, null);
    }

    /** {@code context_impl}, or {@link ContextImpl#ALL_GATHER} when omitted. */
    public ContextImpl contextForm() {
        return contextImpl == null ? ContextImpl.ALL_GATHER : contextImpl;
    }

    /** {@code prefetch_layers}, or {@link #DEFAULT_PREFETCH_LAYERS} when omitted. */
    public int prefetch() {
        return prefetchLayers < 0 ? DEFAULT_PREFETCH_LAYERS : prefetchLayers;
    }

    /** Whether {@code zero_stage} is 3: every weight sharded over the data-parallel group and gathered for use. */
    public boolean fullySharded() {
        return zeroStage == 3;
    }

    /** The defaults: every degree 1, data from the devices, one micro-batch of 1, no recompute, dtype unchanged. */
    public static Parallelism defaults() {
        return builder().build();
    }

    /** A builder starting from {@link #defaults()}. */
    public static Builder builder() {
        return new Builder();
    }

    /** A builder starting from this section. */
    public Builder toBuilder() {
        return new Builder().tensor(tensor).sequenceParallel(sequenceParallel).pipeline(pipeline)
                .virtualPipeline(virtualPipeline).data(data).microBatchSize(microBatchSize)
                .globalBatchSize(globalBatchSize).recompute(recompute).distributedOptimizer(distributedOptimizer)
                .overlapGradReduce(overlapGradReduce).tpCommOverlap(tpCommOverlap).precision(precision)
                .zeroStage(zeroStage).prefetchLayers(prefetchLayers).context(context).contextImpl(contextImpl)
                .expert(expert);
    }

    /** The precision, empty when omitted (the network's dtype is kept). */
    public Optional<Precision> precisionIfGiven() {
        return Optional.ofNullable(precision);
    }

    /**
     * The data-parallel degree on {@code devices} devices: {@code data} when given, else
     * {@code devices / (tensor * context * pipeline)}.
     *
     * @throws IllegalArgumentException when the degrees' product is not {@code devices}, naming the product
     */
    public int dataFor(int devices) {
        long tp = (long) tensor * context * pipeline;
        String degrees = "tensor " + tensor + (context > 1 ? " x context " + context : "") + " x pipeline " + pipeline;
        if (data == 0) {
            if (devices % tp != 0) {
                throw new IllegalArgumentException("parallelism: devices " + devices + " is not a multiple of "
                        + degrees + " = " + tp + "; choose " + (context > 1 ? "degrees" : "tensor and pipeline")
                        + " whose product divides the device count (data = "
                        + "devices / (" + (context > 1 ? "tensor x context" : "tensor") + " x pipeline))");
            }
            checkExpert(expert, (int) (devices / tp), context);
            return (int) (devices / tp);
        }
        long product = tp * data;
        if (product != devices) {
            throw new IllegalArgumentException("parallelism: " + degrees + " x data " + data + " = " + product
                    + " but devices is " + devices + "; choose degrees whose product is the device count, or omit "
                    + "data (then data = devices / (" + (context > 1 ? "tensor x context" : "tensor")
                    + " x pipeline))");
        }
        return data;
    }

    /**
     * The global batch size on {@code devices} devices: {@code global_batch_size} when given, else one micro-batch,
     * {@code micro_batch_size * data}.
     *
     * @throws IllegalArgumentException as {@link #dataFor}, or when it is not a multiple of
     *                                  {@code micro_batch_size * data}
     */
    public int globalBatchSizeFor(int devices) {
        int d = dataFor(devices);
        if (globalBatchSize == 0) {
            long batch = (long) microBatchSize * d;
            if (batch > Integer.MAX_VALUE) {
                throw new IllegalArgumentException("parallelism.micro_batch_size: found " + microBatchSize + " with data "
                        + d + ": the global batch of " + batch + " sequences exceeds " + Integer.MAX_VALUE
                        + "; choose a smaller micro_batch_size");
            }
            return (int) batch;
        }
        checkGlobalBatch(microBatchSize, d, globalBatchSize);
        return globalBatchSize;
    }

    /** The micro-batches per step: {@code global_batch_size / (micro_batch_size * data)}. */
    public int microBatchesFor(int devices) {
        return (int) (globalBatchSizeFor(devices) / ((long) microBatchSize * dataFor(devices)));
    }

    /** The network's batch, one micro-batch over all data-parallel replicas: {@code micro_batch_size * data}. */
    public int networkBatchFor(int devices) {
        return Math.multiplyExact(microBatchSize, dataFor(devices));
    }

    /** {@code expert} must divide {@code data x context}: the expert-parallel group is carved from those devices. */
    private static void checkExpert(int expert, int data, int context) {
        long dc = (long) data * context;
        if (dc % expert != 0) {
            throw new IllegalArgumentException("parallelism.expert: found " + expert + " with data " + data
                    + (context > 1 ? " x context " + context : "") + " = " + dc + "; expected a divisor of data x "
                    + "context (the expert-parallel group is carved from the data- and context-parallel devices)");
        }
    }

    private static void checkGlobalBatch(int microBatchSize, int data, int globalBatchSize) {
        long step = (long) microBatchSize * data;
        if (globalBatchSize % step != 0) {
            throw new IllegalArgumentException("parallelism.global_batch_size: found " + globalBatchSize
                    + "; expected a multiple of micro_batch_size " + microBatchSize + " x data " + data + " = " + step
                    + " (every step runs whole micro-batches on every data-parallel replica)");
        }
    }

    private static void positive(String key, int v, String expected) {
        if (v < 1) {
            throw new IllegalArgumentException("parallelism." + key + ": found " + v + "; expected " + expected);
        }
    }

    /** Builds {@link Parallelism}; unset values keep the defaults. Not thread-safe. */
    public static final class Builder {
        private int tensor = 1;
        private boolean sequenceParallel;
        private int pipeline = 1;
        private int virtualPipeline = 1;
        private int data;
        private int microBatchSize = 1;
        private int globalBatchSize;
        private Recompute recompute;
        private boolean distributedOptimizer;
        private boolean overlapGradReduce = true;
        private boolean tpCommOverlap;
        private Precision precision;
        private int zeroStage;
        private int prefetchLayers = -1;
        private int context = 1;
        private ContextImpl contextImpl;
        private int expert = 1;

        private Builder() {
        }

        /** Sets {@code tensor}. */
        public Builder tensor(int v) {
            tensor = v;
            return this;
        }

        /** Sets {@code sequence_parallel}. */
        public Builder sequenceParallel(boolean v) {
            sequenceParallel = v;
            return this;
        }

        /** Sets {@code pipeline}. */
        public Builder pipeline(int v) {
            pipeline = v;
            return this;
        }

        /** Sets {@code virtual_pipeline}. */
        public Builder virtualPipeline(int v) {
            virtualPipeline = v;
            return this;
        }

        /** Sets {@code data} (0: from the devices). */
        public Builder data(int v) {
            data = v;
            return this;
        }

        /** Sets {@code micro_batch_size}. */
        public Builder microBatchSize(int v) {
            microBatchSize = v;
            return this;
        }

        /** Sets {@code global_batch_size} (0: one micro-batch). */
        public Builder globalBatchSize(int v) {
            globalBatchSize = v;
            return this;
        }

        /** Sets {@code recompute}. */
        public Builder recompute(Recompute v) {
            recompute = v;
            return this;
        }

        /** Sets {@code distributed_optimizer}. */
        public Builder distributedOptimizer(boolean v) {
            distributedOptimizer = v;
            return this;
        }

        /** Sets {@code overlap_grad_reduce}. */
        public Builder overlapGradReduce(boolean v) {
            overlapGradReduce = v;
            return this;
        }

        /** Sets {@code tp_comm_overlap}. */
        public Builder tpCommOverlap(boolean v) {
            tpCommOverlap = v;
            return this;
        }

        /** Sets {@code precision} (null: the network's dtype). */
        public Builder precision(Precision v) {
            precision = v;
            return this;
        }

        /** Sets {@code zero_stage} (0 to 3). */
        public Builder zeroStage(int v) {
            zeroStage = v;
            return this;
        }

        /** Sets {@code prefetch_layers} ({@code >= 0}; -1: omitted). */
        public Builder prefetchLayers(int v) {
            prefetchLayers = v;
            return this;
        }

        /** Sets {@code context} (the context-parallel degree, {@code >= 1}). */
        public Builder context(int v) {
            context = v;
            return this;
        }

        /** Sets {@code context_impl} (null: omitted, all_gather). */
        public Builder contextImpl(ContextImpl v) {
            contextImpl = v;
            return this;
        }

        /** Sets {@code expert} (the expert-parallel degree, {@code >= 1}). */
        public Builder expert(int v) {
            expert = v;
            return this;
        }

        /**
         * The section.
         *
         * @throws IllegalArgumentException when a value is invalid
         */
        public Parallelism build() {
            return new Parallelism(tensor, sequenceParallel, pipeline, virtualPipeline, data, microBatchSize,
                    globalBatchSize, recompute, distributedOptimizer, overlapGradReduce, tpCommOverlap,
                    precision, zeroStage, prefetchLayers, context, contextImpl, expert);
        }
    }
}
