package io.tessera.cli;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.tessera.planner.cost.RankMapping;
import io.tessera.bench.TimelineBenchmark;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;

/**
 * {@code tessera bench timeline}: wall time to build, plan and simulate (analytic timeline, no trace) one training
 * step of a Megatron-style {@code gpt}, by default the ~1-trillion-parameter model on 3,072 A100s (see
 * {@link TimelineBenchmark}); one line per phase with its seconds, then the simulated step time and MFU.
 */
@Command(name = "timeline", mixinStandardHelpOptions = true,
        description = {"Benchmarks the analytic timeline end to end: seconds to build a Megatron-style gpt, plan it "
                + "(data x tensor parallel) and simulate one training step, one line per phase, then the simulated "
                + "step time and MFU.",
                "Default: the ~1-trillion-parameter gpt (128 layers, hidden 25600, 160 heads, ffn 4 x hidden, "
                        + "seq 2048, vocab 51200, float16, batch = dp) on 3072 devices (dp 384 x mp 8) of "
                        + "a100-80gb-dgx; the goal is under 2 s in all on 2 cores. The first run of the JVM is "
                        + "reported; with --repeats the best of the runs too. Prints text, or JSON with --json."})
public final class BenchTimelineCommand implements Callable<Integer> {

    @Spec
    private CommandSpec spec;

    @Option(names = "--layers", paramLabel = "N", defaultValue = "128",
            description = "Transformer layers (default: ${DEFAULT-VALUE}).")
    private int layers;

    @Option(names = "--hidden", paramLabel = "N", defaultValue = "25600",
            description = "Model width; ffn is 4 x hidden (default: ${DEFAULT-VALUE}).")
    private int hidden;

    @Option(names = "--heads", paramLabel = "N", defaultValue = "160",
            description = "Attention heads: divides --hidden, a multiple of --mp (default: ${DEFAULT-VALUE}).")
    private int heads;

    @Option(names = "--seq", paramLabel = "N", defaultValue = "2048",
            description = "Sequence length (default: ${DEFAULT-VALUE}).")
    private int seq;

    @Option(names = "--vocab", paramLabel = "N", defaultValue = "51200",
            description = "Vocabulary, rounded up to a multiple of --mp (default: ${DEFAULT-VALUE}).")
    private int vocab;

    @Option(names = "--devices", paramLabel = "N", defaultValue = "3072",
            description = "Devices, a multiple of --mp; dp = devices / mp and the batch is dp "
                    + "(default: ${DEFAULT-VALUE}).")
    private int devices;

    @Option(names = "--mp", paramLabel = "N", defaultValue = "8",
            description = "Tensor-parallel degree (default: ${DEFAULT-VALUE}).")
    private int mp;

    @Option(names = "--cluster", paramLabel = "PRESET", defaultValue = "a100-80gb-dgx",
            description = "Cluster preset, grown to fit the devices (default: ${DEFAULT-VALUE}).")
    private String cluster;

    @Option(names = "--rank-mapping", paramLabel = "MAPPING", defaultValue = "block",
            description = "Ranks on nodes: block (rank r on node r / devices-per-node) or round_robin (rank r on node "
                    + "r %% nodes) (default: ${DEFAULT-VALUE}).")
    private String rankMapping;

    @Option(names = "--per-rank", description = "Simulate every rank separately (the slow reference) instead of "
            + "classes of identical ranks.")
    private boolean perRank;

    @Option(names = "--repeats", paramLabel = "N", defaultValue = "1",
            description = "Runs in this JVM; the first and the best are reported (default: ${DEFAULT-VALUE}).")
    private int repeats;

    @Option(names = "--json", description = "Print the figures as JSON.")
    private boolean json;

    /** Runs the benchmark and prints the figures. */
    @Override
    public Integer call() {
        if (repeats < 1 || repeats > 100) {
            throw new ParameterException(spec.commandLine(), "--repeats is " + repeats
                    + "; expected 1..100, e.g. --repeats 3");
        }
        TimelineBenchmark.Setup setup;
        try {
            RankMapping mapping = RankMapping.parse(rankMapping);
            setup = new TimelineBenchmark.Setup(layers, hidden, heads, seq, vocab, devices, mp, cluster, mapping,
                    perRank);
            setup.clusterSpec();
            setup.model();
        } catch (IllegalArgumentException e) {
            throw new ParameterException(spec.commandLine(), Json.oneLine(e.getMessage()));
        }
        List<TimelineBenchmark.Run> runs = new ArrayList<>();
        for (int i = 0; i < repeats; i++) {
            runs.add(TimelineBenchmark.run(setup));
        }
        PrintWriter out = spec.commandLine().getOut();
        out.print(json ? Json.write(toJson(setup, runs)) : text(setup, runs));
        out.flush();
        return Tessera.EXIT_OK;
    }

    static ObjectNode toJson(TimelineBenchmark.Setup setup, List<TimelineBenchmark.Run> runs) {
        TimelineBenchmark.Run first = runs.get(0);
        ObjectNode o = Json.object();
        o.put("model", TimelineBenchmark.describe(setup, first.parameters()));
        o.put("layers", setup.layers());
        o.put("hidden", setup.hidden());
        o.put("devices", setup.devices());
        o.put("dp", setup.dp());
        o.put("mp", setup.mp());
        o.put("cluster", setup.cluster());
        o.put("rank_mapping", setup.rankMapping().kind().jsonName());
        o.put("per_rank", setup.perRank());
        o.put("parameters", first.parameters());
        o.put("operators", first.operators());
        o.put("communications", first.communications());
        o.put("classes", first.classes());
        o.put("step_seconds", first.stepSeconds());
        o.put("mfu", first.mfu());
        ArrayNode a = o.putArray("runs");
        for (TimelineBenchmark.Run r : runs) {
            ObjectNode n = a.addObject();
            n.put("build_seconds", r.buildSeconds());
            n.put("plan_seconds", r.planSeconds());
            n.put("timeline_seconds", r.timelineSeconds());
            n.put("total_seconds", r.totalSeconds());
        }
        return o;
    }

    static String text(TimelineBenchmark.Setup setup, List<TimelineBenchmark.Run> runs) {
        TimelineBenchmark.Run first = runs.get(0);
        double[] best = {Double.MAX_VALUE, Double.MAX_VALUE, Double.MAX_VALUE, Double.MAX_VALUE};
        for (TimelineBenchmark.Run r : runs) {
            best[0] = Math.min(best[0], r.buildSeconds());
            best[1] = Math.min(best[1], r.planSeconds());
            best[2] = Math.min(best[2], r.timelineSeconds());
            best[3] = Math.min(best[3], r.totalSeconds());
        }
        boolean many = runs.size() > 1;
        StringBuilder s = new StringBuilder("tessera bench timeline: ")
                .append(TimelineBenchmark.describe(setup, first.parameters())).append('\n');
        String bestNote = " (best of " + runs.size() + ": %.3f s)";
        s.append(String.format(Locale.ROOT, "build     %8.3f s" + (many ? bestNote : "%s") + "  %d operators%n",
                first.buildSeconds(), many ? best[0] : "", first.operators()));
        s.append(String.format(Locale.ROOT, "plan      %8.3f s" + (many ? bestNote : "%s") + "  %d communications%n",
                first.planSeconds(), many ? best[1] : "", first.communications()));
        s.append(String.format(Locale.ROOT, "timeline  %8.3f s" + (many ? bestNote : "%s") + "  %d %s of %d ranks%n",
                first.timelineSeconds(), many ? best[2] : "", first.classes(),
                first.classes() == 1 ? "class" : "classes", setup.devices()));
        s.append(String.format(Locale.ROOT, "total     %8.3f s" + (many ? bestNote : "%s") + "%n",
                first.totalSeconds(), many ? best[3] : ""));
        s.append(TimelineBenchmark.stepLine(first)).append('\n');
        return s.toString();
    }
}
