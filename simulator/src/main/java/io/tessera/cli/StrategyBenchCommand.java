package io.tessera.cli;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.tessera.bench.StrategyBenchmark;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;

/**
 * The body of {@code tessera bench llama} and {@code tessera bench moe}: wall time to read, plan and analytically
 * simulate strategy files (the subcommand's defaults when none is given); three lines per file with the seconds of
 * each phase, the simulated step time and the memory of the fullest rank, or JSON with {@code --json}.
 */
abstract class StrategyBenchCommand implements Callable<Integer> {

    @Spec
    private CommandSpec spec;

    @Parameters(paramLabel = "FILE", arity = "0..*",
            description = "Strategy files with a cluster (default: the subcommand's shipped plans).")
    private List<Path> files = new ArrayList<>();

    @Option(names = "--json", description = "Print the figures as JSON.")
    private boolean json;

    /** The files benchmarked when none is given, relative to the working directory. */
    abstract List<Path> defaultFiles();

    /** Runs the benchmark over the files and prints the figures. */
    @Override
    public Integer call() {
        List<Path> todo = files.isEmpty() ? defaultFiles() : files;
        List<StrategyBenchmark.Run> runs = new ArrayList<>();
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        for (Path f : todo) {
            if (!json && System.console() != null) {
                err.println("tessera bench " + spec.name() + ": " + f + " ...");
                err.flush();
            }
            try {
                runs.add(StrategyBenchmark.run(f));
            } catch (IllegalArgumentException e) {
                throw InputException.inFile(f, e);
            }
            if (!json) {
                out.print(line(runs.get(runs.size() - 1)));
                out.flush();
            }
        }
        if (json) {
            out.print(Json.write(toJson(runs)));
            out.flush();
        }
        return Tessera.EXIT_OK;
    }

    static String line(StrategyBenchmark.Run r) {
        return String.format(Locale.ROOT, "%s: %,d parameters on %,d devices (%d stages, %d micro-batches)%n"
                        + "  read %.3f s, plan %.3f s, simulate %.3f s, total %.3f s%n"
                        + "  step time %.3f s; fullest rank %d: %.1f GiB (weights %.1f, gradients %.1f, optimizer "
                        + "%.1f, master %.1f, activations %.1f GiB)%n",
                r.file(), r.parameters(), r.devices(), r.stages(), r.microBatches(), r.readSeconds(),
                r.planSeconds(), r.simulateSeconds(), r.totalSeconds(), r.stepSeconds(), r.peakRank(),
                gib(r.peakRankBytes()), gib(r.peakMemory().params()), gib(r.peakMemory().gradients()),
                gib(r.peakMemory().optimizerState()), gib(r.peakMemory().masterCopies()), gib(r.peakActivations()));
    }

    static ObjectNode toJson(List<StrategyBenchmark.Run> runs) {
        ObjectNode o = Json.object();
        ArrayNode a = o.putArray("runs");
        for (StrategyBenchmark.Run r : runs) {
            ObjectNode n = a.addObject();
            n.put("file", r.file().toString());
            n.put("parameters", r.parameters());
            n.put("devices", r.devices());
            n.put("stages", r.stages());
            n.put("micro_batches", r.microBatches());
            n.put("read_seconds", r.readSeconds());
            n.put("plan_seconds", r.planSeconds());
            n.put("simulate_seconds", r.simulateSeconds());
            n.put("total_seconds", r.totalSeconds());
            n.put("step_seconds", r.stepSeconds());
            n.put("peak_rank", r.peakRank());
            n.put("peak_rank_bytes", r.peakRankBytes());
            n.put("peak_activation_bytes", r.peakActivations());
        }
        return o;
    }

    private static double gib(long bytes) {
        return bytes / (double) (1L << 30);
    }
}
