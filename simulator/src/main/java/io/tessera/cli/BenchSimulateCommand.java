package io.tessera.cli;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.tessera.bench.SimulationBenchmark;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.function.Consumer;

/**
 * {@code tessera bench simulate}: one training step of the sharded MLP 1024 -> 4096 -> 1024 (column- then
 * row-parallel over 8 ranks, batch over the rest) simulated on 8 and 64 ranks, against one device in the same run.
 */
@Command(name = "simulate", mixinStandardHelpOptions = true,
        description = {"Benchmarks the numeric simulator: seconds per training step of the MLP 1024 -> 4096 -> 1024 "
                + "(batch 128 and 1024) simulated on 8 and 64 ranks (tensor parallel 8 x data parallel) against one "
                + "device in the same run, and their ratio (goal: at most 1.5).",
                "--quick runs a 256 -> 1024 -> 256 MLP with batch 64 instead. Prints a table, or JSON with --json.",
                "The full run takes about 3 minutes and needs about 6 GB of heap (java -Xmx6g -jar ...) on 2 cores; --quick "
                        + "takes about 20 seconds and 1.5 GB."})
public final class BenchSimulateCommand implements Callable<Integer> {

    @Spec
    private CommandSpec spec;

    @Option(names = "--steps", paramLabel = "N", defaultValue = "2",
            description = "Timed steps per run, the best is reported (default: ${DEFAULT-VALUE}).")
    private int steps;

    @Option(names = "--quick", description = "A small MLP (256 -> 1024 -> 256, batch 64) for a fast check.")
    private boolean quick;

    @Option(names = "--json", description = "Print the figures as JSON.")
    private boolean json;

    /** Runs the benchmark and prints the figures. */
    @Override
    public Integer call() {
        if (steps < 1 || steps > 20) {
            throw new ParameterException(spec.commandLine(), "--steps is " + steps + "; expected 1..20");
        }
        PrintWriter err = spec.commandLine().getErr();
        Consumer<String> progress = System.console() != null
                ? line -> {
                    err.println("tessera bench simulate: " + line);
                    err.flush();
                }
                : line -> { };
        List<SimulationBenchmark.Case> cases = quick
                ? SimulationBenchmark.run(new int[] {64}, 256, 1024, steps, progress)
                : SimulationBenchmark.run(new int[] {128, 1024}, 1024, 4096, steps, progress);
        PrintWriter out = spec.commandLine().getOut();
        out.print(json ? Json.write(toJson(cases)) : table(cases, quick));
        out.flush();
        return Tessera.EXIT_OK;
    }

    static ObjectNode toJson(List<SimulationBenchmark.Case> cases) {
        ObjectNode o = Json.object();
        ArrayNode a = o.putArray("cases");
        for (SimulationBenchmark.Case c : cases) {
            ObjectNode n = a.addObject();
            n.put("batch", c.batch());
            n.put("ranks", c.ranks());
            n.put("single_seconds", c.singleSeconds());
            n.put("parallel_seconds", c.parallelSeconds());
            n.put("ratio", c.ratio());
            n.put("max_rel_error", c.maxRelError());
        }
        return o;
    }

    static String table(List<SimulationBenchmark.Case> cases, boolean quick) {
        StringBuilder sb = new StringBuilder(String.format(Locale.ROOT,
                "tessera bench simulate (MLP %s, one training step, float32)%n", quick ? "256 -> 1024 -> 256"
                        : "1024 -> 4096 -> 1024"));
        sb.append(String.format(Locale.ROOT, "  %6s %6s %12s %14s %7s %12s%n", "batch", "ranks", "1 device (s)",
                "parallel (s)", "ratio", "max rel err"));
        for (SimulationBenchmark.Case c : cases) {
            sb.append(String.format(Locale.ROOT, "  %6d %6d %12.3f %14.3f %7.2f %12.2e%n", c.batch(), c.ranks(),
                    c.singleSeconds(), c.parallelSeconds(), c.ratio(), c.maxRelError()));
        }
        return sb.toString();
    }
}
