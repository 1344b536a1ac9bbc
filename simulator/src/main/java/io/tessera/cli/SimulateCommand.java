package io.tessera.cli;

import io.tessera.planner.json.InputFiles;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.tessera.layout.DType;
import io.tessera.layout.Limits;
import io.tessera.planner.api.StrategyPlans;
import io.tessera.planner.cost.Fp8Casts;
import io.tessera.planner.cost.Recompute;
import io.tessera.planner.plan.PipelinePlan;
import io.tessera.planner.strategy.StrategyFile;
import io.tessera.planner.strategy.StrategyFiles;
import io.tessera.simulator.numeric.Simulation;
import io.tessera.simulator.numeric.SimulationOptions;
import io.tessera.simulator.numeric.SimulationReport;
import io.tessera.simulator.timeline.PipelineOptions;
import io.tessera.simulator.timeline.PipelineSchedule;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;

/**
 * {@code tessera simulate STRATEGY.json}: plans the strategy file and runs the analytic timeline of one training step
 * on a cluster ({@code --cluster}, {@code --trace}, {@code --json}). With {@code --numeric}: runs its training steps on
 * the simulated ranks on real data and compares every step with one device (a file with {@code pipeline_stages} runs
 * every stage's ranks, with the sends between stages, and {@code micro_batches} per step with gradient
 * accumulation); with {@code --pipeline-stages} and
 * its companions the analytic timeline of that many identical pipeline stages ({@code PipelineTimeline}); exit code 0 when the largest relative
 * difference is within tolerance (1e-5 float32, 1e-12 float64), 1 otherwise. Exit code 2 for bad input.
 */
@Command(name = "simulate", mixinStandardHelpOptions = true,
        description = {"Simulates a strategy file. By default the analytic timeline of one training step on a cluster: "
                + "step time, MFU, per-rank peak memory, compute vs exposed communication, communication volume by "
                + "kind, and optionally a Chrome/Perfetto trace.",
                "With --numeric: runs its training steps on N in-process ranks on real data and compares them "
                + "with one device: per step the losses and the largest relative difference over the loss and every "
                + "updated parameter. A file with parallel.pipeline_stages runs every stage's ranks (the tensors "
                + "crossing stages sent between them) and parallel.micro_batches per step with gradient accumulation. "
                + "Exit code 0 when within tolerance (1e-5 float32, 1e-12 float64), 1 when not."})
public final class SimulateCommand implements Callable<Integer> {

    @Spec
    private CommandSpec spec;

    @Parameters(index = "0", paramLabel = "STRATEGY.json", description = "The strategy file to plan and simulate.")
    private Path strategy;

    @Option(names = "--numeric", description = "Numeric simulation on real data instead of the analytic timeline.")
    private boolean numeric;

    /** {@code --cluster}; null when not given (then the strategy file's {@code cluster} key, else the default). */
    @Option(names = "--cluster", paramLabel = "PRESET_OR_FILE",
            description = "Analytic timeline: a cluster preset (its node count grown to fit the plan) or a cluster "
                    + "JSON file (default: the strategy file's cluster key, else " + AnalyticSimulation.DEFAULT_CLUSTER
                    + ").")
    private String cluster;

    @Option(names = "--trace", paramLabel = "TRACE.json",
            description = "Analytic timeline: write a Chrome/Perfetto trace of the first ranks (ui.perfetto.dev).")
    private Path trace;

    @Option(names = "--no-overlap", description = "Analytic timeline: gradient communication does not overlap with "
            + "backward compute.")
    private boolean noOverlap;

    @Option(names = "--steps", paramLabel = "N", defaultValue = "2",
            description = "Training steps (default: ${DEFAULT-VALUE}).")
    private int steps;

    @Option(names = "--dtype", paramLabel = "DTYPE", defaultValue = "float32",
            description = "Arithmetic: float32 or float64 (default: ${DEFAULT-VALUE}).")
    private String dtype;

    @Option(names = "--lr", paramLabel = "RATE", defaultValue = "0.01",
            description = "Learning rate, finite, in (0, 10] (default: ${DEFAULT-VALUE}).")
    private double learningRate;

    @Option(names = "--seed", paramLabel = "S", defaultValue = "1",
            description = "Seed of the input batches (default: ${DEFAULT-VALUE}).")
    private long seed;

    @Option(names = "--json", description = "Print the figures as JSON (analytic: step_seconds, mfu, memory, "
            + "communication; numeric: passed, ranks, steps, max_rel_error, and stages and micro_batches with "
            + "pipeline stages or micro-batches).")
    private boolean json;

    @Option(names = "--pipeline-stages", paramLabel = "P",
            description = "Analytic timeline: model P identical pipeline stages, each the planned strategy on its "
                    + "devices (P times the devices in all).")
    private Integer pipelineStages;

    @Option(names = "--micro-batches", paramLabel = "M",
            description = "Analytic pipeline: micro-batches per step (default: the stages).")
    private Integer microBatches;

    @Option(names = "--schedule", paramLabel = "SCHEDULE",
            description = "Analytic pipeline: gpipe, 1f1b or interleaved (default: 1f1b, interleaved with the strategy "
                    + "file's parallelism.virtual_pipeline > 1).")
    private String schedule;

    @Option(names = "--virtual-stages", paramLabel = "V",
            description = "Analytic pipeline: model chunks per device of the interleaved schedule (default: 2).")
    private Integer virtualStages;

    @Mixin
    private ProgressOption progress = new ProgressOption();

    @Option(names = "--recompute", paramLabel = "MODE",
            description = "Analytic pipeline: activation recompute none, selective (attention scores and softmax) or "
                    + "full (default: the strategy file's parallelism.recompute, else none).")
    private String recompute;

    /** The line printed before a numeric run of a network with FP8 products (precision fp8). */
    static final String FP8_NOTE = "note: FP8 rounding of the linear layers' GEMM inputs (precision fp8) is not "
            + "simulated numerically; both runs compute them in the simulation dtype";

    /** Plans, simulates and prints the comparison. */
    @Override
    public Integer call() {
        String badRate = SimulationOptions.checkLearningRate(learningRate);
        if (badRate != null) {
            throw new InputException("--lr " + learningRate + ": " + badRate);
        }
        boolean pipeline = pipelineStages != null || microBatches != null || schedule != null
                || virtualStages != null || recompute != null;
        if (pipeline && numeric) {
            throw new InputException("--pipeline-stages, --micro-batches, --schedule, --virtual-stages and "
                    + "--recompute apply to the analytic timeline; drop them or --numeric (a numeric pipeline run "
                    + "takes parallel.pipeline_stages and parallel.micro_batches from the strategy file)");
        }
        if (!numeric) {
            AnalyticSimulation a = new AnalyticSimulation(strategy, cluster, trace, !noOverlap, json);
            a.progress(progress, spec.commandLine().getErr());
            if (pipeline) {
                a.pipeline(pipelineOptions(), parseRecompute(), schedule == null ? null : pipelineOptions().schedule());
            }
            return a.run(spec.commandLine().getOut());
        }
        SimulationOptions options;
        PipelinePlan plan;
        boolean fp8;
        try {
            if (looksLikePlanJson(strategy)) {
                throw new IllegalArgumentException("this is a PLAN.json, which does not carry the network; simulate "
                        + "the strategy file it was planned from");
            }
            DType d = DType.parse(dtype);
            options = new SimulationOptions(steps, d, learningRate, seed, Runtime.getRuntime().availableProcessors());
            StrategyFile file = StrategyFiles.read(strategy);
            checkNumericSize(file);
            try (ProgressOption.Handle p = progress.open(spec.commandLine().getErr(), "tessera simulate")) {
                plan = StrategyPlans.pipelinePlan(file, p);
            }
            Limits.Limit.NUMERIC_RANKS.check("devices (a numeric simulation runs every rank in this process)",
                    plan.devices());
            fp8 = StrategyPlans.network(file).nodes().stream().anyMatch(n -> Fp8Casts.gemmDtype(n) != null);
        } catch (IllegalArgumentException e) {
            throw InputException.inFile(strategy, e);
        }
        PrintWriter err = spec.commandLine().getErr();
        if (System.console() != null) {
            err.println("tessera simulate: " + plan.devices() + " ranks" + (plan.stages() > 1 || plan.microBatches() > 1
                    ? " (" + plan.stages() + " pipeline stages, " + plan.microBatches() + " micro-batches)" : "")
                    + ", " + steps + " steps ...");
            err.flush();
        }
        SimulationReport report;
        try (ProgressOption.Handle p = progress.open(err, "tessera simulate")) {
            int steps = options.steps();
            report = Simulation.of(plan, options).run(k -> p.at("numeric step " + (k + 1) + " of " + steps));
        } catch (IllegalArgumentException e) {
            throw new InputException(strategy + ": " + Json.oneLine(e.getMessage()), e);
        }
        PrintWriter out = spec.commandLine().getOut();
        if (fp8 && !json) {
            out.println(FP8_NOTE);
        }
        out.print(json ? Json.write(toJson(report)) : report.summary());
        out.flush();
        return report.passed() ? Tessera.EXIT_OK : 1;
    }

    /**
     * The cheap size checks of a numeric run before planning: the ranks ({@link Limits.Limit#NUMERIC_RANKS}) and every
     * tensor of the network, which the one-device reference run holds whole in a Java array
     * ({@link Limits.Limit#SLICE_ELEMENTS}).
     */
    private static void checkNumericSize(StrategyFile file) {
        Limits.Limit.NUMERIC_RANKS.check("devices (a numeric simulation runs every rank in this process)",
                file.deviceCount());
        for (java.util.Map.Entry<String, io.tessera.planner.op.TensorType> t
                : StrategyPlans.network(file).tensors().entrySet()) {
            Limits.Limit.SLICE_ELEMENTS.check("tensor '" + t.getKey() + "' " + t.getValue()
                    + ": elements (a numeric simulation holds it whole on the reference device)",
                    t.getValue().elements());
        }
    }

    private PipelineOptions pipelineOptions() {
        try {
            PipelineSchedule s = schedule == null ? PipelineSchedule.ONE_F_ONE_B : PipelineSchedule.parse(schedule);
            int p = pipelineStages == null ? 1 : pipelineStages;
            int m = microBatches == null ? p : microBatches;
            int v = virtualStages != null ? virtualStages : s == PipelineSchedule.INTERLEAVED_1F1B ? 2 : 1;
            return new PipelineOptions(p, m, s, v);
        } catch (IllegalArgumentException e) {
            throw new InputException(Json.oneLine(e.getMessage()), e);
        }
    }

    /** {@code --recompute}, or null when not given (the strategy file's {@code parallelism.recompute} applies). */
    private Recompute parseRecompute() {
        try {
            return recompute == null ? null : Recompute.parse(recompute);
        } catch (IllegalArgumentException e) {
            throw new InputException(Json.oneLine(e.getMessage()), e);
        }
    }

    /**
     * Whether {@code file} is a PLAN.json rather than a strategy file. Read through {@link InputFiles}, so a file that
     * is not a bounded regular UTF-8 file is reported as bad input here.
     *
     * @throws InputFiles.InputFileException when the file exists but cannot be used as input (a device, a FIFO, too
     *                                        large, not UTF-8)
     */
    static boolean looksLikePlanJson(Path file) {
        String head;
        try {
            head = InputFiles.readText(file, "strategy file");
        } catch (InputFiles.InputFileException e) {
            if (e.problem().equals("does not exist") || e.problem().equals("is a directory")) {
                return false; // the strategy reader reports these as before
            }
            throw e;
        }
        return head.contains("\"communications\"") && head.contains("\"operators\"")
                && !head.contains("\"network\": {");
    }

    static ObjectNode toJson(SimulationReport r) {
        ObjectNode o = Json.object();
        o.put("passed", r.passed());
        o.put("ranks", r.ranks());
        if (r.pipelined()) {
            o.put("stages", r.stages());
            o.put("micro_batches", r.microBatches());
        }
        o.put("dtype", r.options().dtype().jsonName());
        ArrayNode steps = o.putArray("steps");
        for (SimulationReport.Step s : r.steps()) {
            ObjectNode n = steps.addObject();
            n.put("loss_single", s.lossSingle());
            n.put("loss_parallel", s.lossParallel());
            n.put("max_rel_error", s.maxRelError());
        }
        o.put("max_rel_error", r.maxRelError());
        o.put("tolerance", Double.parseDouble(String.format(Locale.ROOT, "%.0e", r.options().tolerance())));
        return o;
    }
}
