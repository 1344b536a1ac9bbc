package io.tessera.cli;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.tessera.bench.PlanBenchmark;
import io.tessera.bench.SearchBenchmark;
import io.tessera.planner.plan.Planner;
import io.tessera.planner.search.Candidate;
import io.tessera.planner.search.SearchProgress;
import io.tessera.simulator.timeline.Timeline;
import io.tessera.simulator.timeline.TimelineOptions;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.util.Locale;
import java.util.concurrent.Callable;

/**
 * {@code tessera bench search}: wall time of the strategy search for a {@code gpt} (hidden 4096, 64 heads, seq 2048,
 * fp16, batch 64) of {@code --layers} layers on {@code --devices} devices of {@code a100-80gb-dgx}, with the searched
 * plan's estimated step and memory against the Megatron hand plan ({@link SearchBenchmark}).
 */
@Command(name = "search", mixinStandardHelpOptions = true,
        description = {"Benchmarks the strategy search: seconds to search a gpt (hidden 4096, 64 heads, seq 2048, fp16, "
                + "batch 64) on a100-80gb-dgx, and the searched plan's estimated step and memory against the "
                + "Megatron hand plan (data parallel min(64, devices) ways, tensor parallel over the rest).",
                "Prints 'search: L-layer gpt on N devices in S s', 'chosen ...' and 'hand ...' lines (with --timeline "
                        + "also the analytic timeline's step of both), or JSON with --json. A progress bar goes to "
                        + "stderr when run on a terminal."})
public final class BenchSearchCommand implements Callable<Integer> {

    @Spec
    private CommandSpec spec;

    @Option(names = "--layers", paramLabel = "L", defaultValue = "" + SearchBenchmark.DEFAULT_LAYERS,
            description = "GPT layers (default: ${DEFAULT-VALUE}).")
    private int layers;

    @Option(names = "--devices", paramLabel = "N", defaultValue = "" + SearchBenchmark.DEFAULT_DEVICES,
            description = "Devices, a multiple of min(64, N) (default: ${DEFAULT-VALUE}).")
    private int devices;

    @Option(names = "--timeline", description = "Also run the analytic timeline (gradient overlap on) of both plans.")
    private boolean timeline;

    @Option(names = "--json", description = "Print the figures as JSON.")
    private boolean json;

    /** Runs the benchmark and prints the figures. */
    @Override
    public Integer call() {
        if (layers < 1 || layers > 1000) {
            throw new ParameterException(spec.commandLine(), "--layers is " + layers
                    + "; expected 1..1000, e.g. --layers 96");
        }
        if (devices < 1 || devices > (1 << 16)) {
            throw new ParameterException(spec.commandLine(), "--devices is " + devices
                    + "; expected 1..65536, e.g. --devices 1024");
        }
        PrintWriter err = spec.commandLine().getErr();
        ProgressBar bar = System.console() != null
                ? new ProgressBar(err, ProgressBar.terminalWidth(System.getenv("COLUMNS")), System::nanoTime) : null;
        SearchBenchmark.Result r;
        try {
            r = SearchBenchmark.run(layers, devices, bar == null ? SearchProgress.NONE : bar);
        } catch (IllegalArgumentException e) {
            throw new InputException(Json.oneLine(e.getMessage()), e);
        } finally {
            if (bar != null) {
                bar.finish();
            }
        }
        double[] steps = timeline ? timelines(r) : null;
        PrintWriter out = spec.commandLine().getOut();
        if (json) {
            out.print(Json.write(toJson(r, steps)));
        } else {
            r.lines().forEach(out::println);
            if (steps != null) {
                out.printf(Locale.ROOT, "timeline: searched %.3f ms, hand %.3f ms%n", steps[0] * 1e3, steps[1] * 1e3);
            }
        }
        out.flush();
        return Tessera.EXIT_OK;
    }

    /** The analytic timeline's step seconds of the searched and the hand plan. */
    private static double[] timelines(SearchBenchmark.Result r) {
        var net = io.tessera.planner.zoo.Zoo.gpt(PlanBenchmark.model(r.layers()));
        TimelineOptions options = TimelineOptions.of(SearchBenchmark.cluster(r.devices())).withRecordedRanks(0);
        return new double[] {
            Timeline.run(Planner.plan(net, r.chosen().config()), options).stepSeconds(),
            Timeline.run(Planner.plan(net, r.megatron().config()), options).stepSeconds()};
    }

    static ObjectNode toJson(SearchBenchmark.Result r, double[] steps) {
        ObjectNode o = Json.object();
        o.put("layers", r.layers());
        o.put("devices", r.devices());
        o.put("search_seconds", r.searchSeconds());
        candidate(o.putObject("chosen"), r.chosen(), steps == null ? Double.NaN : steps[0]);
        ObjectNode hand = o.putObject("megatron");
        hand.put("dp", r.megatronDp());
        hand.put("mp", r.megatronMp());
        candidate(hand, r.megatron(), steps == null ? Double.NaN : steps[1]);
        return o;
    }

    private static void candidate(ObjectNode o, Candidate c, double timelineSeconds) {
        o.put("step_seconds", c.seconds());
        o.put("compute_seconds", c.computeSeconds());
        o.put("communication_seconds", c.commSeconds());
        o.put("memory_bytes", c.memoryBytes());
        o.put("fits", c.fits());
        if (!Double.isNaN(timelineSeconds)) {
            o.put("timeline_step_seconds", timelineSeconds);
        }
    }
}
