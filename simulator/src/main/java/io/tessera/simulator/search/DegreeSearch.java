package io.tessera.simulator.search;

import io.tessera.planner.api.StrategyPlans;
import io.tessera.planner.cost.ClusterSpec;
import io.tessera.planner.plan.PipelinePlan;
import io.tessera.planner.plan.RankMemory;
import io.tessera.planner.search.SearchProgress;
import io.tessera.planner.strategy.NetworkRef;
import io.tessera.planner.strategy.ParallelSettings;
import io.tessera.planner.strategy.Parallelism;
import io.tessera.planner.strategy.StrategyFile;
import io.tessera.planner.zoo.Zoo;
import io.tessera.simulator.timeline.PipelineReport;
import io.tessera.simulator.timeline.StrategyStep;
import io.tessera.simulator.timeline.Timeline;
import io.tessera.simulator.timeline.TimelineOptions;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.Objects;
import java.util.Optional;

/**
 * The Megatron degree search behind {@code tessera search FILE} for a strategy file with a {@code parallelism} section
 * on a Llama-family network (the zoo {@code llama}, or an {@code hf_config} of model type llama, mistral or qwen2):
 * it enumerates tensor, context, pipeline and data degrees and the recompute mode, and evaluates each setting with the
 * real expansion, planner and analytic timeline, exactly as {@code tessera simulate} runs the file with that section.
 * <ul>
 *   <li>tensor: powers of 2 up to {@code min(devices per node, }{@link #MAX_TENSOR}{@code )} that divide the heads,
 *       the FFN width and the vocabulary and divide or are a multiple of the KV heads; {@code sequence_parallel} on
 *       when tensor {@code > 1};</li>
 *   <li>context: 1, and with {@code seq >= }{@link #CONTEXT_MIN_SEQ} powers of 2 with
 *       {@code seq / context >= }{@link #CONTEXT_MIN_TOKENS} and {@code 2 x context} dividing seq (the file's
 *       {@code context_impl}, default all_gather);</li>
 *   <li>pipeline: 1 and powers of 2 up to {@code min(layers / 2, }{@link Options#maxPipeline}{@code )} (the first
 *       and last stages get fewer layers when the pipeline does not divide them); the file's
 *       {@code virtual_pipeline} is kept where the pipeline times it divides the layers, else 1;</li>
 *   <li>data: {@code devices / (tensor x context x pipeline)} when integral; the file's {@code global_batch_size}
 *       (required) and {@code micro_batch_size} are kept, so the global batch must be a multiple of
 *       {@code micro_batch_size x data};</li>
 *   <li>recompute: none, selective, full: one plan per degree setting, one timeline per mode;</li>
 *   <li>everything else the section says (precision, distributed_optimizer, zero_stage, overlaps) is kept.</li>
 * </ul>
 * A candidate fits when the fullest rank's bytes (weights, gradients, optimizer state, master copies, buffers and its
 * peak activations) are at most the device memory. A degree setting whose model state alone cannot fit (the lower
 * bound {@link #modelStateLowerBound}) is not planned; one the expansion or the planner refuses is skipped with its
 * one-line reason. Settings are planned in order of a rough cost guess ({@link #guess}), cheapest first; the result
 * is sorted fitting first, then by step time, ties by tensor, context, pipeline and recompute.
 */
public final class DegreeSearch {

    /** The largest tensor-parallel degree tried (one NVLink domain of 8 GPUs). */
    public static final int MAX_TENSOR = 8;
    /** Context parallelism is tried only for sequences at least this long. */
    public static final int CONTEXT_MIN_SEQ = 16384;
    /** Each context-parallel rank keeps at least this many tokens of a sequence. */
    public static final int CONTEXT_MIN_TOKENS = 4096;

    private static final Parallelism.Recompute[] MODES = Parallelism.Recompute.values();

    private DegreeSearch() {
    }

    /**
     * The search's limits.
     *
     * @param maxPipeline the most pipeline stages tried, {@code >= 1}; default 32
     * @param maxPlans    the most degree settings planned (cheapest-looking first), the rest reported as not
     *                    evaluated; 0 (default) plans every setting that may fit
     */
    public record Options(int maxPipeline, int maxPlans) {

        /** Validates. */
        public Options {
            if (maxPipeline < 1) {
                throw new IllegalArgumentException("degree search: max pipeline " + maxPipeline
                        + "; expected at least 1");
            }
            if (maxPlans < 0) {
                throw new IllegalArgumentException("degree search: max plans " + maxPlans
                        + "; expected 0 (no limit) or more");
            }
        }

        /** Pipeline up to 32 stages, no limit on plans. */
        public static Options defaults() {
            return new Options(32, 0);
        }

        /** These options with another pipeline limit. */
        public Options withMaxPipeline(int n) {
            return new Options(n, maxPlans);
        }

        /** These options with another plan limit (0: none). */
        public Options withMaxPlans(int n) {
            return new Options(maxPipeline, n);
        }
    }

    /**
     * One point of the search: degrees and a recompute mode.
     *
     * @param tensor    tensor-parallel degree
     * @param context   context-parallel degree
     * @param pipeline  pipeline stages
     * @param data      data-parallel degree
     * @param expert    expert-parallel degree, dividing {@code data x context} (1 for a dense model)
     * @param recompute the recompute mode; null for a whole degree setting (every mode)
     */
    public record Setting(int tensor, int context, int pipeline, int data, int expert,
                          Parallelism.Recompute recompute) {

        /** E.g. {@code tensor 8, context 1, pipeline 4, data 16, expert 8, recompute selective} (expert when > 1). */
        public String describe() {
            return "tensor " + tensor + ", context " + context + ", pipeline " + pipeline + ", data " + data
                    + (expert > 1 ? ", expert " + expert : "")
                    + (recompute == null ? "" : ", recompute " + recompute.jsonName());
        }

        private Setting with(Parallelism.Recompute r) {
            return new Setting(tensor, context, pipeline, data, expert, r);
        }
    }

    /**
     * An evaluated candidate.
     *
     * @param setting         its degrees and recompute mode
     * @param parallelism     the {@code parallelism} section that gives it (the file's other keys kept)
     * @param stepSeconds     the simulated step time, seconds (as {@code tessera simulate} reports it)
     * @param tokensPerSecond {@code global_batch_size x seq / stepSeconds}
     * @param memoryBytes     the fullest rank's bytes: its {@link RankMemory#total()} with the distributed optimizer's
     *                        shards, plus its stage's peak activations
     * @param fits            whether {@code memoryBytes} is at most the device memory
     */
    public record Candidate(Setting setting, Parallelism parallelism, double stepSeconds, double tokensPerSecond,
                            long memoryBytes, boolean fits) {

        /** Validates. */
        public Candidate {
            Objects.requireNonNull(setting, "setting");
            Objects.requireNonNull(parallelism, "parallelism");
        }
    }

    /** Why a setting was not evaluated. */
    public enum Why {
        /** Its model state alone exceeds the device memory ({@link #modelStateLowerBound}); not planned. */
        MEMORY,
        /** The expansion, the planner or the timeline refused it (its one-line error), or its data degree does not divide
         * the global batch into whole micro-batches (not planned). */
        REFUSED,
        /** {@link Options#maxPlans} was reached first. */
        LIMIT
    }

    /**
     * A setting not evaluated.
     *
     * @param setting the degrees (recompute null: every mode)
     * @param why     the kind of reason
     * @param reason  one line: why (the expansion's or planner's error, or the memory bound)
     * @param bytes   with {@link Why#MEMORY}, the lower bound of the fullest rank's bytes; else 0
     */
    public record Skipped(Setting setting, Why why, String reason, long bytes) {

        /** Validates. */
        public Skipped {
            Objects.requireNonNull(setting, "setting");
            Objects.requireNonNull(why, "why");
            Objects.requireNonNull(reason, "reason");
        }
    }

    /**
     * The search's outcome.
     *
     * @param cluster           the cluster the candidates ran on
     * @param parameters        the network's trainable parameter elements
     * @param evaluated         the candidates, fitting first, then by step time (ties: tensor, context, pipeline,
     *                          recompute)
     * @param skipped           the settings not evaluated, by tensor, context, pipeline, data and recompute
     * @param plans             how many degree settings were planned
     * @param seconds           the search's wall time, seconds
     */
    public record Result(ClusterSpec cluster, long parameters, List<Candidate> evaluated, List<Skipped> skipped,
                         int plans, double seconds) {

        /** Copies the lists. */
        public Result {
            evaluated = List.copyOf(evaluated);
            skipped = List.copyOf(skipped);
        }

        /** The device memory a candidate must fit in, bytes. */
        public long deviceMemoryBytes() {
            return cluster.device().memoryBytes();
        }

        /** The proposal: the fastest fitting candidate; empty when none fits. */
        public Optional<Candidate> best() {
            return evaluated.isEmpty() || !evaluated.get(0).fits() ? Optional.empty()
                    : Optional.of(evaluated.get(0));
        }
    }

    /**
     * Whether {@code file} is for this search: it has a {@code parallelism} section and its network is the zoo
     * {@code llama} or a Hugging Face config of the Llama family (any model type but gpt2).
     *
     * @throws IllegalArgumentException when the Hugging Face config cannot be read
     */
    public static boolean applies(StrategyFile file) {
        if (file.parallelism().isEmpty()) {
            return false;
        }
        if (file.network() instanceof NetworkRef.Zoo z) {
            return z.name().trim().toLowerCase(Locale.ROOT).equals("llama");
        }
        if (file.network() instanceof NetworkRef.HfConfig h) {
            return !Zoo.hfModelType(file.resolve(h.path())).equals("gpt2");
        }
        return false;
    }

    /**
     * Searches the degrees of {@code file} on {@code cluster}.
     *
     * @param progress receives a phase line per planned setting and the count of settings done; null for none
     * @throws IllegalArgumentException (one line) when the file is not for this search ({@link #applies}), has no
     *                                  {@code global_batch_size}, or its network cannot be built
     */
    public static Result search(StrategyFile file, ClusterSpec cluster, Options options, SearchProgress progress) {
        long t0 = System.nanoTime();
        SearchProgress p = SearchProgress.of(progress);
        if (!applies(file)) {
            throw new IllegalArgumentException("parallelism: the degree search needs a parallelism section and a "
                    + "Llama-family network (zoo llama or an hf_config of model type llama, mistral or qwen2)");
        }
        Parallelism given = file.parallelism().get();
        if (given.globalBatchSize() == 0) {
            throw new IllegalArgumentException("parallelism.global_batch_size: missing; the degree search keeps the "
                    + "global batch fixed while it varies data, so give it, e.g. \"global_batch_size\": 1024");
        }
        LlamaModel model = LlamaModel.of(file);
        int devices = file.deviceCount();
        long memory = cluster.device().memoryBytes();

        List<Setting> settings = settings(model, devices, Math.min(cluster.devicesPerNode(), MAX_TENSOR), options);
        List<Skipped> skipped = new ArrayList<>();
        List<Setting> toPlan = new ArrayList<>();
        for (Setting s : settings) {
            long bound = modelStateLowerBound(model, given, file.parallel(), s);
            long perStep = (long) given.microBatchSize() * s.data();
            if (given.globalBatchSize() % perStep != 0) {
                skipped.add(new Skipped(s, Why.REFUSED, String.format(Locale.ROOT, "global_batch_size %d is not a "
                        + "multiple of micro_batch_size %d x data %d", given.globalBatchSize(),
                        given.microBatchSize(), s.data()), 0));
            } else if (bound > memory) {
                skipped.add(new Skipped(s, Why.MEMORY, String.format(Locale.ROOT, "the model state alone needs at "
                        + "least %s per rank (parameters / (tensor x pipeline) with gradients and optimizer state); the "
                        + "device has %s", gib(bound), gib(memory)), bound));
            } else {
                toPlan.add(s);
            }
        }
        toPlan.sort(Comparator.comparingDouble((Setting s) -> guess(s, given))
                .thenComparing(DegreeSearch::key));
        p.phase(String.format(Locale.ROOT, "degree search: %d settings, %d ruled out, planning %d",
                settings.size(), settings.size() - toPlan.size(), options.maxPlans() == 0 ? toPlan.size()
                        : Math.min(options.maxPlans(), toPlan.size())));

        List<Candidate> evaluated = new ArrayList<>();
        int plans = 0;
        for (int i = 0; i < toPlan.size(); i++) {
            Setting s = toPlan.get(i);
            if (options.maxPlans() > 0 && plans >= options.maxPlans()) {
                skipped.add(new Skipped(s, Why.LIMIT, "not evaluated: the limit of " + options.maxPlans()
                        + " planned settings was reached", 0));
                continue;
            }
            p.checkpoint();
            p.phase("degree search: planning " + s.describe() + " (" + (i + 1) + " of " + toPlan.size() + ")");
            plans++;
            evaluate(file, given, model, s, cluster, evaluated, skipped);
            p.advance(i + 1, toPlan.size());
        }
        evaluated.sort(order());
        skipped.sort(Comparator.comparing(Skipped::setting, DegreeSearch::compareSettings));
        return new Result(cluster, model.parameters(), evaluated, skipped, plans, (System.nanoTime() - t0) / 1e9);
    }

    /** Fitting first, then step time, then tensor, context, pipeline, data and recompute. */
    static Comparator<Candidate> order() {
        return Comparator.comparing((Candidate c) -> !c.fits()).thenComparingDouble(Candidate::stepSeconds)
                .thenComparing(c -> c.setting(), DegreeSearch::compareSettings);
    }

    private static int compareSettings(Setting a, Setting b) {
        return Comparator.comparing(DegreeSearch::key).thenComparing(s -> s.recompute() == null ? -1
                : s.recompute().ordinal()).compare(a, b);
    }

    private static String key(Setting s) {
        return String.format(Locale.ROOT, "%04d.%06d.%04d.%08d.%06d", s.tensor(), s.context(), s.pipeline(),
                s.data(), s.expert());
    }

    /**
     * The degree settings of the search (recompute null), in enumeration order: tensor, context, pipeline, expert
     * ({@link LlamaModel#expertDegrees}).
     */
    static List<Setting> settings(LlamaModel m, int devices, int maxTensor, Options options) {
        List<Setting> out = new ArrayList<>();
        int maxPipeline = Math.max(1, Math.min(m.layers() / 2, options.maxPipeline()));
        for (int t = 1; t <= maxTensor; t *= 2) {
            if (!m.acceptsTensor(t)) {
                continue;
            }
            for (int cp : m.contextDegrees()) {
                for (int pp = 1; pp <= maxPipeline; pp *= 2) {
                    long product = (long) t * cp * pp;
                    if (devices % product != 0) {
                        continue;
                    }
                    int data = (int) (devices / product);
                    for (int e : m.expertDegrees(data, cp)) {
                        out.add(new Setting(t, cp, pp, data, e, null));
                    }
                }
            }
        }
        return out;
    }

    /**
     * A lower bound of the fullest rank's model-state bytes for the degree setting {@code s}: the parameters over
     * {@code tensor x pipeline} (the routed experts' weights also over {@code expert}; the fullest stage and rank hold
     * at least the average), each with its weight and gradient in the training dtype and the optimizer's float32
     * states and master copy, these over {@code data} with the distributed optimizer (the experts' over at most their
     * {@code data x context / expert} replicas), and everything so with ZeRO-3. Activations are not counted.
     */
    static long modelStateLowerBound(LlamaModel m, Parallelism given, ParallelSettings parallel, Setting s) {
        long experts = m.expertParameters();
        double dense = (double) (m.parameters() - experts) / ((long) s.tensor() * s.pipeline());
        double expert = (double) experts / ((long) s.tensor() * s.pipeline() * s.expert());
        int bytes = given.precisionIfGiven().isPresent() ? 2 : m.dtypeBytes();
        int states = parallel.optimizer() == ParallelSettings.defaults().optimizer()
                ? io.tessera.planner.strategy.OptimizerKind.ADAM.statesPerElement()
                : parallel.optimizer().statesPerElement();
        double perElement = 4.0 * states + (bytes == 2 ? 4 : 0);
        // an expert's replicas: the token-split ranks over the expert degree
        int expertReplicas = Math.max(1, s.data() * s.context() / s.expert());
        if (given.fullySharded()) {
            return (long) ((dense * (2 * bytes + perElement)) / s.data()
                    + (expert * (2 * bytes + perElement)) / Math.min(s.data(), expertReplicas));
        }
        boolean sharded = given.distributedOptimizer();
        return (long) (dense * 2 * bytes + expert * 2 * bytes + dense * perElement / (sharded ? s.data() : 1)
                + expert * perElement / (sharded ? Math.min(s.data(), expertReplicas) : 1));
    }

    /**
     * The order settings are planned in, a rough relative step time (lower first): the 1F1B bubble
     * {@code 1 + (pipeline - 1) / micro-batches}, times 1.1 per doubling of tensor parallelism (its exposed
     * communication) and 1.05 per doubling of context parallelism. Only the order of planning depends on it.
     */
    static double guess(Setting s, Parallelism given) {
        long perStep = (long) given.microBatchSize() * s.data();
        double micro = Math.max(1, given.globalBatchSize() / (double) perStep);
        double bubble = 1 + (s.pipeline() - 1) / micro;
        return bubble * Math.pow(1.1, log2(s.tensor())) * Math.pow(1.05, log2(s.context()));
    }

    private static int log2(int v) {
        return 31 - Integer.numberOfLeadingZeros(v);
    }

    /** The file's section with the degrees of {@code s} (and its recompute, or none). */
    static Parallelism parallelism(Parallelism given, LlamaModel m, Setting s) {
        int v = given.virtualPipeline();
        boolean keepVirtual = s.pipeline() > 1 && v > 1 && m.layers() % ((long) s.pipeline() * v) == 0;
        return given.toBuilder().tensor(s.tensor()).sequenceParallel(s.tensor() > 1).context(s.context())
                .contextImpl(s.context() > 1 ? given.contextForm() : null).pipeline(s.pipeline())
                .virtualPipeline(keepVirtual ? v : 1).data(s.data()).expert(s.expert())
                .recompute(s.recompute() == null ? Parallelism.Recompute.NONE : s.recompute()).build();
    }

    /** Plans the degree setting {@code s} once and runs the timeline for each recompute mode. */
    private static void evaluate(StrategyFile file, Parallelism given, LlamaModel m, Setting s, ClusterSpec cluster,
                                 List<Candidate> evaluated, List<Skipped> skipped) {
        StrategyFile base;
        PipelinePlan pipe;
        try {
            base = file.withParallelism(parallelism(given, m, s));
            pipe = StrategyPlans.pipelinePlan(base, null);
        } catch (IllegalArgumentException e) {
            skipped.add(new Skipped(s, Why.REFUSED, oneLine(e.getMessage()), 0));
            return;
        }
        long device = cluster.device().memoryBytes();
        double tokens = (double) given.globalBatchSize() * m.seq();
        for (Parallelism.Recompute r : MODES) {
            Setting sr = s.with(r);
            Parallelism section = parallelism(given, m, sr);
            StrategyFile f = file.withParallelism(section);
            try {
                PipelineReport report = StrategyStep.run(f, pipe, cluster, null, null, true);
                double step = stepSeconds(f, pipe, cluster, report);
                long bytes = fullestRank(f, pipe, report);
                evaluated.add(new Candidate(sr, section, step, tokens / step, bytes, bytes <= device));
            } catch (IllegalArgumentException e) {
                skipped.add(new Skipped(sr, Why.REFUSED, oneLine(e.getMessage()), 0));
            }
        }
    }

    /**
     * The step time {@code tessera simulate} reports for {@code f}: the pipeline timeline's, except for one stage, one
     * micro-batch and no recompute, which {@code simulate} runs on the single-step {@link Timeline} (as
     * {@code AnalyticSimulation} does).
     */
    private static double stepSeconds(StrategyFile f, PipelinePlan pipe, ClusterSpec cluster, PipelineReport report) {
        if (pipe.stages() == 1 && pipe.microBatches() == 1
                && f.parallelism().map(Parallelism::recompute).orElse(null) == Parallelism.Recompute.NONE) {
            return Timeline.run(pipe.plan(), StrategyStep.timelineOptions(f, cluster, true, 0)).stepSeconds();
        }
        return report.stepSeconds();
    }

    /** The fullest rank's bytes: weights, gradients, optimizer state (sharded as the file says), buffers, activations. */
    static long fullestRank(StrategyFile f, PipelinePlan pipe, PipelineReport report) {
        return StrategyStep.fullestRank(f, pipe, report).totalBytes();
    }

    /** {@code 12.3 GiB}, or {@code 45.6 MiB} below 1 GiB. */
    public static String gib(long bytes) {
        return bytes < (1L << 30) ? String.format(Locale.ROOT, "%.1f MiB", bytes / (double) (1L << 20))
                : String.format(Locale.ROOT, "%.1f GiB", bytes / (double) (1L << 30));
    }

    private static String oneLine(String message) {
        return String.valueOf(message).replaceAll("\\s*\\R\\s*", " ").trim();
    }
}
