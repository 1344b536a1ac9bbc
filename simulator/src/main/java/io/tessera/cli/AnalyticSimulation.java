package io.tessera.cli;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.tessera.planner.cost.ClusterSpec;
import io.tessera.planner.cost.ClusterSpecs;
import io.tessera.planner.cost.ErrorBand;
import io.tessera.planner.cost.RankMapping;
import io.tessera.planner.plan.PipelinePlan;
import io.tessera.planner.plan.Plan;
import io.tessera.planner.api.StrategyPlans;
import io.tessera.planner.strategy.Routing;
import io.tessera.planner.strategy.StrategyFile;
import io.tessera.planner.strategy.StrategyFiles;
import io.tessera.simulator.timeline.ChromeTrace;
import io.tessera.simulator.timeline.PipelineOptions;
import io.tessera.simulator.timeline.PipelineReport;
import io.tessera.simulator.timeline.PipelineSchedule;
import io.tessera.simulator.timeline.PipelineTimeline;
import io.tessera.simulator.timeline.StageCosts;
import io.tessera.simulator.timeline.StrategyStep;
import io.tessera.planner.cost.Recompute;
import io.tessera.simulator.timeline.Timeline;
import io.tessera.simulator.timeline.TimelineOptions;
import io.tessera.simulator.timeline.TimelineReport;

import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Optional;

/**
 * The analytic side of {@code tessera simulate}: plans a strategy file, runs {@link Timeline} on a cluster, prints the
 * figures (text or JSON) and optionally writes a Chrome trace; with pipeline options, {@link PipelineTimeline} over
 * identical stages of the planned strategy instead.
 */
final class AnalyticSimulation {

    /** The cluster used without {@code --cluster}. */
    static final String DEFAULT_CLUSTER = "a100-80gb-dgx"; // ClusterPreset.A100_80GB_DGX, a constant for picocli

    private final Path strategy;
    private final String cluster;
    private final Path trace;
    private final boolean overlap;
    private final boolean json;
    private PipelineOptions pipeline;
    private ProgressOption progressOption;
    private PrintWriter err;
    private Recompute recompute;
    private PipelineSchedule schedule;
    /** The strategy file, once read: its {@code cluster} and {@code parallelism} fill in options not given. */
    private StrategyFile file;
    /** The mixture-of-experts report of a planned pipeline's step, when its network has experts. */
    private Optional<MoeReport> moe = Optional.empty();

    /**
     * @param cluster {@code --cluster}, or null when not given: then the strategy file's {@code cluster} key, else
     *                {@link #DEFAULT_CLUSTER}
     */
    AnalyticSimulation(Path strategy, String cluster, Path trace, boolean overlap, boolean json) {
        this.strategy = strategy;
        this.cluster = cluster;
        this.trace = trace;
        this.overlap = overlap;
        this.json = json;
    }

    /** Reports a strategy search on {@code err} as {@code option} says (default: none). */
    void progress(ProgressOption option, PrintWriter err) {
        this.progressOption = option;
        this.err = err;
    }

    /**
     * Models {@code options.stages()} identical pipeline stages of the planned strategy with {@code mode}.
     *
     * @param options the pipeline options of the command line
     * @param mode    {@code --recompute}, or null when not given (then the file's {@code parallelism.recompute})
     * @param given   {@code --schedule}, or null when not given (then the file's schedule)
     */
    void pipeline(PipelineOptions options, Recompute mode, PipelineSchedule given) {
        this.pipeline = options;
        this.recompute = mode;
        this.schedule = given;
    }

    /** {@code --recompute} when given, else the strategy file's {@code parallelism.recompute} (none without it). */
    private Recompute recompute() {
        return recompute != null ? recompute : StrategyPlans.recompute(file);
    }

    /** Plans, simulates and prints; returns the exit code. */
    int run(PrintWriter out) {
        if (trace != null) {
            Json.checkWritable("--trace", trace);
        }
        Plan plan;
        PipelinePlan pipe;
        try {
            if (SimulateCommand.looksLikePlanJson(strategy)) {
                throw new IllegalArgumentException("this is a PLAN.json, which does not carry the network; simulate "
                        + "the strategy file it was planned from");
            }
            file = StrategyFiles.read(strategy);
            if (progressOption == null) {
                pipe = StrategyPlans.pipelinePlan(file, null);
            } else {
                try (ProgressOption.Handle p = progressOption.open(err, "tessera simulate")) {
                    pipe = StrategyPlans.pipelinePlan(file, p);
                }
            }
            plan = pipe.plan();
        } catch (IllegalArgumentException e) {
            throw InputException.inFile(strategy, e);
        }
        if (pipe.stages() > 1) {
            if (pipeline != null && pipeline.stages() > 1) {
                throw new InputException(strategy + " has parallel.pipeline_stages " + pipe.stages() + "; its stages "
                        + "and micro_batches come from the file, so drop --pipeline-stages and --micro-batches "
                        + "(--schedule and --recompute apply)");
            }
            return runPlannedPipeline(pipe, out);
        }
        if (pipeline == null && file.parallelism().isPresent()
                && (pipe.microBatches() > 1 || recompute() != Recompute.NONE)) {
            // degrees with gradient accumulation or recompute: the file's one stage, micro-batches and recompute
            return runPlannedPipeline(pipe, out);
        }
        if (pipeline != null) {
            return runPipeline(plan, out);
        }
        ClusterSpec spec = cluster(plan.devices());
        // the file's settings as StrategyStep applies them: gradient overlap, the distributed optimizer's sharded
        // update, tp-comm overlap and the ZeRO-3 prefetch limit
        TimelineOptions options = StrategyStep.timelineOptions(file, spec, overlap,
                trace == null ? 0 : ChromeTrace.DEFAULT_RANKS);
        TimelineReport report;
        try {
            report = Timeline.run(plan, options);
        } catch (IllegalArgumentException e) {
            throw new InputException(strategy + ": " + Json.oneLine(e.getMessage()), e);
        }
        if (trace != null) {
            Json.writeAtomically("--trace", trace, ChromeTrace.write(report));
        }
        Optional<MoeReport> moe = MoeReport.of(plan, file.routingOrUniform(), spec, report.stepSeconds(),
                () -> Timeline.run(plan, options.withRouting(Routing.uniform()).withRecordedRanks(0)).stepSeconds());
        if (json) {
            ObjectNode o = toJson(report, spec);
            band(o, spec, report.stepSeconds());
            moe.ifPresent(m -> m.put(o));
            out.print(Json.write(o));
        } else {
            out.println(clusterLine(spec));
            out.print(report.summary());
            moe.ifPresent(m -> m.print(out));
            bandLine(out, spec);
            if (trace != null) {
                out.println("trace: " + trace + " (open in ui.perfetto.dev)");
            }
        }
        out.flush();
        return Tessera.EXIT_OK;
    }

    /** The analytic step of a strategy file with pipeline stages: its own stages and micro-batches. */
    private int runPlannedPipeline(PipelinePlan pipe, PrintWriter out) {
        ClusterSpec spec = cluster(pipe.devices());
        PipelineReport report;
        try {
            report = StrategyStep.run(file, pipe, spec, schedule, recompute, overlap);
        } catch (IllegalArgumentException e) {
            throw new InputException(strategy + ": " + Json.oneLine(e.getMessage()), e);
        }
        String model = pipe.stages() + " planned stages of " + pipe.stageDevices() + " ranks (" + pipe.devices()
                + " devices), " + pipe.microBatches() + " micro-batches of the network's batch";
        moe = MoeReport.of(pipe.plan(), file.routingOrUniform(), spec, report.stepSeconds(),
                () -> StrategyStep.run(file.withRouting(Routing.uniform()), pipe, spec, schedule, recompute, overlap)
                        .stepSeconds());
        return print(out, spec, model, report, o -> { }, o -> {
            ArrayNode stages = o.putArray("stage_costs");
            for (StageCosts c : report.stageCosts()) {
                ObjectNode n = stages.addObject();
                n.put("forward_seconds", c.forwardSeconds());
                n.put("backward_seconds", c.backwardSeconds());
                n.put("send_seconds", c.sendSeconds());
                n.put("activation_bytes", c.activationBytes());
            }
        });
    }

    private int runPipeline(Plan plan, PrintWriter out) {
        ClusterSpec spec = cluster(plan.devices() * pipeline.stages());
        PipelineReport report;
        try {
            report = PipelineTimeline.run(plan, pipeline, recompute(), new TimelineOptions(spec, overlap, 0));
        } catch (IllegalArgumentException e) {
            throw new InputException(strategy + ": " + Json.oneLine(e.getMessage()), e);
        }
        String model = pipeline.stages() + " identical stages, each the planned strategy on " + plan.devices()
                + " ranks (" + plan.devices() * pipeline.stages() + " devices)";
        return print(out, spec, model, report, o -> o.put("virtual_stages", pipeline.virtualStages()), o -> {
            o.put("forward_seconds", report.costs().forwardSeconds());
            o.put("backward_seconds", report.costs().backwardSeconds());
            o.put("send_seconds", report.costs().sendSeconds());
        });
    }

    /**
     * Writes the pipeline trace when asked, then prints the report: JSON (cluster, model, stages, micro-batches,
     * schedule, {@code afterSchedule}'s fields, recompute, step, bubble, {@code costs}' fields, peak activations) or
     * the summary.
     */
    private int print(PrintWriter out, ClusterSpec spec, String model, PipelineReport report,
                      java.util.function.Consumer<ObjectNode> afterSchedule,
                      java.util.function.Consumer<ObjectNode> costs) {
        if (trace != null) {
            Json.writeAtomically("--trace", trace, ChromeTrace.write(report.toTimelineReport(),
                    ChromeTrace.DEFAULT_RANKS, "stage"));
        }
        if (json) {
            ObjectNode o = Json.object();
            o.put("cluster", spec.name());
            o.put("model", model);
            o.put("stages", report.options().stages());
            o.put("micro_batches", report.options().microBatches());
            o.put("schedule", report.options().schedule().cliName());
            afterSchedule.accept(o);
            o.put("recompute", report.recompute().cliName());
            o.put("step_seconds", report.stepSeconds());
            o.put("bubble_fraction", report.bubbleFraction());
            costs.accept(o);
            band(o, spec, report.stepSeconds());
            moe.ifPresent(m -> m.put(o));
            ArrayNode peak = o.putArray("peak_activation_bytes");
            for (long b : report.peakActivationBytes()) {
                peak.add(b);
            }
            out.print(Json.write(o));
        } else {
            out.println(clusterLine(spec));
            out.println("model: " + model);
            out.print(report.summary());
            moe.ifPresent(m -> m.print(out));
            bandLine(out, spec);
            if (trace != null) {
                out.println("trace: " + trace + " (open in ui.perfetto.dev; one process per stage)");
            }
        }
        out.flush();
        return Tessera.EXIT_OK;
    }

    /**
     * {@code error_band}: the step time's band from the built-in validation on the cluster's device
     * ({@link ErrorBand}): {@code max_abs_error}, {@code mean_abs_error}, {@code runs}, {@code step_seconds_low} and
     * {@code step_seconds_high}; absent for a device no published run used.
     */
    static void band(ObjectNode o, ClusterSpec spec, double stepSeconds) {
        ErrorBand.of(spec.device()).ifPresent(b -> {
            ObjectNode n = o.putObject("error_band");
            n.put("max_abs_error", b.maxAbsError());
            n.put("mean_abs_error", b.meanAbsError());
            n.put("runs", b.runs());
            double[] in = b.interval(stepSeconds);
            n.put("step_seconds_low", in[0]);
            n.put("step_seconds_high", in[1]);
        });
    }

    /** {@code error band: +-4.4% (...)} when the cluster's device has one. */
    static void bandLine(PrintWriter out, ClusterSpec spec) {
        ErrorBand.of(spec.device()).ifPresent(b -> out.println("error band: " + b.describe()
                + "; tessera validate"));
    }

    /** {@code cluster: NAME (N devices, M per node)}, naming the rank mapping when it is not the default block. */
    private static String clusterLine(ClusterSpec spec) {
        RankMapping m = spec.rankMapping();
        return "cluster: " + spec.name() + " (" + spec.devices() + " devices, " + spec.devicesPerNode() + " per node"
                + (m.kind() == RankMapping.Kind.BLOCK ? "" : ", " + m.kind().jsonName() + " rank mapping") + ")";
    }

    /**
     * The cluster named by {@code --cluster}: a preset grown to fit {@code devices}, or a cluster file; without
     * {@code --cluster}, the strategy file's {@code cluster} key ({@link StrategyPlans#cluster}), else
     * {@link #DEFAULT_CLUSTER} grown to fit.
     */
    ClusterSpec cluster(int devices) {
        return cluster(cluster, file, strategy, devices);
    }

    /**
     * The cluster for {@code devices} devices as {@code tessera simulate} chooses it (see {@link #cluster(int)}):
     * {@code cluster} ({@code --cluster}, or null), else {@code file}'s {@code cluster} key (when {@code file} is not
     * null), else {@link #DEFAULT_CLUSTER}; {@code strategy} names the file in messages.
     *
     * @throws InputException for an unknown preset, an unreadable cluster file or one with too few devices
     */
    static ClusterSpec cluster(String cluster, StrategyFile file, Path strategy, int devices) {
        if (cluster == null) {
            try {
                Optional<ClusterSpec> own = file == null ? Optional.empty() : StrategyPlans.cluster(file, devices);
                if (own.isPresent()) {
                    return own.get();
                }
            } catch (IllegalArgumentException e) {
                throw InputException.inFile(strategy, e);
            }
        }
        cluster = cluster == null ? DEFAULT_CLUSTER : cluster;
        if (ClusterSpec.presets().contains(cluster)) {
            ClusterSpec preset = ClusterSpec.preset(cluster);
            return preset.withNodesFor(devices);
        }
        Path clusterFile = Path.of(cluster);
        if (!Files.isRegularFile(clusterFile)) {
            throw new InputException("--cluster '" + cluster + "' is neither a preset nor a file; expected one of "
                    + String.join(", ", ClusterSpec.presets()) + " or a cluster JSON file");
        }
        ClusterSpec spec;
        try {
            spec = ClusterSpecs.read(clusterFile);
        } catch (IllegalArgumentException e) {
            throw new InputException("--cluster " + cluster + ": " + Json.oneLine(e.getMessage()), e);
        }
        if (spec.devices() < devices) {
            throw new InputException("--cluster " + cluster + " has " + spec.devices() + " devices but the plan needs "
                    + devices + "; add nodes to the cluster file or use a preset");
        }
        return spec;
    }

    static ObjectNode toJson(TimelineReport r, ClusterSpec spec) {
        ObjectNode o = Json.object();
        o.put("cluster", spec.name());
        o.put("devices", r.devices());
        o.put("step_seconds", r.stepSeconds());
        o.put("mfu", r.mfu());
        o.put("compute_seconds", r.computeSeconds());
        o.put("exposed_comm_seconds", r.exposedCommSeconds());
        ObjectNode memory = o.putObject("peak_memory_bytes");
        memory.put("min", r.minPeakMemoryBytes());
        memory.put("max", r.maxPeakMemoryBytes());
        ObjectNode comm = o.putObject("comm_bytes");
        for (Map.Entry<String, Long> e : r.commBytesByKind().entrySet()) {
            comm.put(e.getKey(), e.getValue());
        }
        return o;
    }
}
