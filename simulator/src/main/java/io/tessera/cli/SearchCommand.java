package io.tessera.cli;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.tessera.layout.Limits;
import io.tessera.layout.param.ParallelMode;
import io.tessera.planner.api.StrategyPlans;
import io.tessera.planner.cost.ClusterSpec;
import io.tessera.planner.cost.ErrorBand;
import io.tessera.planner.graph.Network;
import io.tessera.planner.op.Strategy;
import io.tessera.planner.plan.OpPlan;
import io.tessera.planner.plan.PipelinePlan;
import io.tessera.planner.plan.PlanConfig;
import io.tessera.planner.search.ParallelismSearch;
import io.tessera.planner.strategy.DatasetStrategy;
import io.tessera.planner.strategy.NetworkRef;
import io.tessera.planner.strategy.OpStrategy;
import io.tessera.planner.strategy.StrategyFile;
import io.tessera.planner.strategy.StrategyFiles;
import io.tessera.simulator.search.DegreeSearch;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;

/**
 * {@code tessera search STRATEGY.json [--max-stages N] [--cluster C] [--out BEST.json] [--json]}: for a file with a
 * {@code parallelism} section on a Llama-family network, the Megatron degree search ({@link DegreeSearch},
 * {@link DegreeSearchRun}; {@code --top}, {@code --max-plans}); otherwise the parallelism
 * search ({@link ParallelismSearch}) for the zoo model and devices of a strategy file: pipeline stages, micro-batches,
 * recompute, optimizer parallelism and per-operator strategies. Prints the explanation (chosen setting and runners-up
 * with step time, bubble and memory; with {@code --json} a JSON object); {@code --out} writes the chosen setting as a
 * semi-auto strategy file (atomically) whose network is one micro-batch, ready for {@code tessera plan} and
 * {@code tessera simulate}. Progress lines go to stderr.
 */
@Command(name = "search", mixinStandardHelpOptions = true,
        description = {"Searches pipeline stages, micro-batches, recompute, optimizer parallelism and operator "
                + "strategies for a strategy file's zoo model and devices, minimising the estimated step time under "
                + "the device memory.",
                "Prints the chosen setting and the runners-up (or JSON with --json); --out writes the chosen setting "
                        + "as a strategy file.",
                "A file with a parallelism section on a Llama-family network gets the Megatron degree search instead: "
                        + "tensor, context, pipeline, data and recompute, each planned and simulated."})
public final class SearchCommand implements Callable<Integer> {

    @Spec
    private CommandSpec spec;

    @Parameters(index = "0", paramLabel = "STRATEGY.json",
            description = "A strategy file with a zoo network (its batch is the step's global batch), the devices "
                    + "and settings (optimizer, gradients_mean, fusion) to keep; its operator strategies, "
                    + "dataset_strategy, stages and micro-batches are searched anew.")
    private Path strategy;

    @Option(names = "--max-stages", paramLabel = "N", defaultValue = "8",
            description = "The most pipeline stages to consider (default ${DEFAULT-VALUE}).")
    private int maxStages;

    @Option(names = "--cluster", paramLabel = "PRESET|FILE", defaultValue = AnalyticSimulation.DEFAULT_CLUSTER,
            description = "A cluster preset, grown to the devices (default ${DEFAULT-VALUE}), or a cluster JSON file.")
    private String cluster;

    @Option(names = "--out", paramLabel = "BEST.json",
            description = "Write the chosen setting as a strategy file here (atomically).")
    private Path out;

    @Option(names = "--top", paramLabel = "N", defaultValue = "10",
            description = "Degree search (a parallelism section on a Llama-family network): the candidates shown "
                    + "(default ${DEFAULT-VALUE}).")
    private int top;

    @Option(names = "--max-plans", paramLabel = "N", defaultValue = "0",
            description = "Degree search: plan at most N degree settings, the cheapest-looking first (default "
                    + "${DEFAULT-VALUE}: all that may fit).")
    private int maxPlans;

    @Option(names = "--json", description = "Print the result as JSON instead of the explanation.")
    private boolean json;

    @picocli.CommandLine.Mixin
    private ProgressOption progress = new ProgressOption();

    /** Runs the search and prints (and writes) the result. */
    @Override
    public Integer call() {
        if (maxStages < 1) {
            throw new InputException("--max-stages " + maxStages + ": expected at least 1");
        }
        if (top < 1) {
            throw new InputException("--top " + top + ": expected at least 1");
        }
        if (maxPlans < 0) {
            throw new InputException("--max-plans " + maxPlans + ": expected 0 (no limit) or more");
        }
        if (out != null) {
            Json.checkWritable("--out", out);
        }
        StrategyFile file;
        try {
            file = StrategyFiles.read(strategy);
        } catch (IllegalArgumentException e) {
            throw InputException.inFile(strategy, e);
        }
        try {
            Limits.Limit.SEARCH_DEVICES.check("devices", file.deviceCount());
        } catch (IllegalArgumentException e) {
            throw InputException.inFile(strategy, e);
        }
        boolean degrees;
        try {
            degrees = DegreeSearch.applies(file);
        } catch (IllegalArgumentException e) {
            throw InputException.inFile(strategy, e);
        }
        if (degrees) {
            return degreeSearch(file);
        }
        NetworkRef ref = file.network();
        if (ref instanceof NetworkRef.File) {
            throw new InputException(strategy + ": network: the parallelism search rebuilds the network for each "
                    + "micro-batch size, which needs a zoo model or an hf_config; found a network file");
        }
        String label = ref instanceof NetworkRef.Zoo z ? z.name() : ((NetworkRef.HfConfig) ref).path();
        ClusterSpec spec = new AnalyticSimulation(strategy, cluster, null, true, false).cluster(file.deviceCount());
        PrintWriter err = spec().commandLine().getErr();
        ParallelismSearch.Result result;
        StrategyFile best;
        try {
            checkStages(file);
            StrategyFile flat = searchTemplate(file);
            Network full = StrategyPlans.network(flat);
            int batch = (int) full.tensor(full.inputs().get(0)).shape()[0];
            PlanConfig template = StrategyPlans.config(flat, full);
            try (ProgressOption.Handle p = progress.open(err, "tessera search")) {
                result = ParallelismSearch.search(b -> StrategyPlans.network(withBatch(flat, ref, b)), batch,
                        template, spec, ParallelismSearch.Options.defaults().withMaxStages(maxStages), p);
            }
            best = strategyFile(flat, ref, batch, result.best());
        } catch (IllegalArgumentException e) {
            throw InputException.inFile(strategy, e);
        }
        String bestText = StrategyFiles.write(best);
        if (out != null) {
            Json.writeAtomically("--out", out, bestText);
        }
        PrintWriter stdout = spec().commandLine().getOut();
        if (json) {
            ObjectNode root = toJson(result, spec);
            margin(result, spec).ifPresent(m -> {
                ObjectNode n = root.putObject("error_band");
                n.put("max_abs_error", m.band().maxAbsError());
                n.put("runs", m.band().runs());
                n.put("runner_up_margin", m.margin());
                n.put("runner_up_within_band", m.within());
            });
            stdout.print(Json.write(root));
        } else {
            stdout.printf(Locale.ROOT, "parallelism search for '%s' on %d devices of %s%n%n", label,
                    file.deviceCount(), spec.name());
            stdout.print(result.explanation());
            margin(result, spec).ifPresent(m -> stdout.printf(Locale.ROOT, "%nerror band: %s; the runner-up is %.1f%% "
                    + "slower, %s%n", m.band().describe(), 100 * m.margin(), m.within()
                    ? "inside the band: the measured order could be either, so measure both before choosing"
                    : "outside the band"));
        }
        stdout.flush();
        return Tessera.EXIT_OK;
    }

    /**
     * The {@link DegreeSearch} of a file with a {@code parallelism} section on a Llama-family network:
     * {@code --max-stages} (when given) caps the pipeline; {@code --cluster} (when given) replaces the file's cluster.
     */
    private int degreeSearch(StrategyFile file) {
        picocli.CommandLine.ParseResult parsed = spec.commandLine().getParseResult();
        DegreeSearch.Options options = DegreeSearch.Options.defaults().withMaxPlans(maxPlans);
        if (parsed.hasMatchedOption("--max-stages")) {
            options = options.withMaxPipeline(maxStages);
        }
        String given = parsed.hasMatchedOption("--cluster") ? cluster : null;
        return new DegreeSearchRun(strategy, file, options, given, top).run(spec.commandLine().getOut(),
                spec.commandLine().getErr(), progress, json, Tessera.isVerbose(spec.commandLine()), out);
    }

    /** The winner's margin over the runner-up against the device's error band. */
    record Margin(ErrorBand band, double margin, boolean within) {
    }

    /**
     * The margin of the chosen setting over the fastest other setting that fits, relative to the chosen step time,
     * with the device's {@link ErrorBand}; empty without a band or a runner-up.
     */
    static java.util.Optional<Margin> margin(ParallelismSearch.Result r, ClusterSpec spec) {
        java.util.Optional<ErrorBand> band = ErrorBand.of(spec.device());
        double best = r.best().stepSeconds();
        java.util.OptionalDouble next = r.evaluated().stream().filter(c -> c != r.best() && c.fits())
                .mapToDouble(ParallelismSearch.Choice::stepSeconds).filter(t -> t >= best).min();
        if (band.isEmpty() || next.isEmpty() || !(best > 0)) {
            return java.util.Optional.empty();
        }
        return java.util.Optional.of(new Margin(band.get(), next.getAsDouble() / best - 1,
                band.get().indistinguishable(best, next.getAsDouble())));
    }

    /**
     * The file the search starts from: the input's network, devices, parameter settings, optimizer, gradients_mean,
     * optimizer-parallel and fusion settings on one stage in semi-auto mode; its operator strategies, dataset strategy,
     * stages, micro-batches and strategy checkpoint are dropped, as the search chooses them.
     */
    static StrategyFile searchTemplate(StrategyFile file) {
        return file.withStages(null).withOperators(Map.of()).withParallel(file.parallel().toBuilder()
                .parallelMode(ParallelMode.SEMI_AUTO_PARALLEL).pipelineStages(1).microBatches(0)
                .datasetStrategy(null).strategyCkptConfig(null).build());
    }

    /**
     * Refuses a file whose {@code stages} section does not plan (an operator in an earlier stage than its input, an
     * empty stage, ...), as {@code tessera plan} would, although the search replaces the stages: the file is planned
     * with its stages and default operator strategies.
     */
    private static void checkStages(StrategyFile file) {
        if (file.stages().isEmpty() || file.parallel().pipelineStages() == 1) {
            return;
        }
        StrategyPlans.pipelinePlan(file.withOperators(Map.of()).withParallel(file.parallel().toBuilder()
                .parallelMode(ParallelMode.SEMI_AUTO_PARALLEL).strategyCkptConfig(null).build()), null);
    }

    private CommandSpec spec() {
        return spec;
    }

    private static StrategyFile withBatch(StrategyFile f, NetworkRef ref, int batch) {
        return new StrategyFile(ref.withArg("batch", batch), f.devices(), f.parallel(), f.operators(),
                f.parameters(), f.stages(), f.baseDir());
    }

    /** The chosen setting as a semi-auto strategy file whose network is one micro-batch. */
    static StrategyFile strategyFile(StrategyFile flat, NetworkRef ref, int batch,
                                     ParallelismSearch.Choice c) {
        PipelinePlan pipe = c.pipeline();
        PlanConfig config = pipe.plan().config();
        Map<String, OpStrategy> ops = new LinkedHashMap<>();
        for (OpPlan op : pipe.plan().ops()) {
            Strategy out = config.outStrategies().get(op.name());
            ops.put(op.name(), new OpStrategy(op.inStrategy(), out));
        }
        Map<String, Integer> stages = new LinkedHashMap<>();
        if (pipe.stages() > 1) {
            pipe.opStages().forEach(stages::put);
        }
        StrategyFile micro = withBatch(flat, ref, batch / c.microBatches());
        DatasetStrategy dataset = config.dataset();
        return new StrategyFile(micro.network(), io.tessera.planner.strategy.Devices.count(pipe.devices()),
                flat.parallel().toBuilder().parallelMode(ParallelMode.SEMI_AUTO_PARALLEL)
                        .pipelineStages(pipe.stages()).microBatches(c.microBatches())
                        .enableParallelOptimizer(c.optimizerParallel()).datasetStrategy(dataset).build(),
                ops, flat.parameters(), stages, flat.baseDir());
    }

    private static ObjectNode toJson(ParallelismSearch.Result r, ClusterSpec spec) {
        ObjectNode root = JsonNodeFactory.instance.objectNode();
        root.put("cluster", spec.name());
        root.set("chosen", choice(r.best()));
        ArrayNode all = root.putArray("evaluated");
        r.evaluated().forEach(c -> all.add(choice(c)));
        ArrayNode skipped = root.putArray("skipped");
        r.skipped().forEach(skipped::add);
        return root;
    }

    private static ObjectNode choice(ParallelismSearch.Choice c) {
        ObjectNode n = JsonNodeFactory.instance.objectNode();
        n.put("pipeline_stages", c.stages());
        n.put("stage_devices", c.pipeline().stageDevices());
        n.put("micro_batches", c.microBatches());
        n.put("recompute", c.recompute().cliName());
        n.put("optimizer_parallel", c.optimizerParallel());
        n.put("step_seconds", c.stepSeconds());
        n.put("bubble_fraction", c.bubbleFraction());
        n.put("memory_bytes", c.memoryBytes());
        n.put("fits", c.fits());
        return n;
    }
}
