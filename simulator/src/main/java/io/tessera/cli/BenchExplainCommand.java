package io.tessera.cli;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.tessera.bench.ExplainBenchmark;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;

/**
 * {@code tessera bench explain [FILE...] [--time-limit S] [--json]}: {@link ExplainBenchmark} over, by default,
 * {@link #DEFAULT_FILES}.
 */
@Command(name = "explain", mixinStandardHelpOptions = true,
        description = {"Benchmarks tessera explain: for each strategy file, seconds to read, plan and simulate it, then "
                + "one communication per family (the same communication in every copy of a repeated layer) explained "
                + "within the time limit: mean and slowest seconds, how many the limit cut, and the mean seconds of "
                + "one evaluation (a change re-planned, and simulated when it removes the communication).",
                "Default: strategies/scale/llama-3.1-405b-tp8-pp16-dp128.json, "
                        + "strategies/scale/llama-3-8b-tp4-dp16.json and strategies/gpt-megatron-tp4-dp2.json (run "
                        + "from the repository root). Prints a table, or JSON with --json."})
public final class BenchExplainCommand implements Callable<Integer> {

    /** The files benchmarked when none is given, relative to the working directory. */
    public static final List<Path> DEFAULT_FILES = List.of(
            Path.of("strategies", "scale", "llama-3.1-405b-tp8-pp16-dp128.json"),
            Path.of("strategies", "scale", "llama-3-8b-tp4-dp16.json"),
            Path.of("strategies", "gpt-megatron-tp4-dp2.json"));

    @Spec
    private CommandSpec spec;

    @Parameters(paramLabel = "FILE", arity = "0..*", description = "Strategy files (default: see above).")
    private List<Path> files;

    @Option(names = "--time-limit", paramLabel = "SECONDS", defaultValue = "5",
            description = "Time limit per communication, seconds (default: ${DEFAULT-VALUE}, as tessera explain).")
    private double timeLimit;

    @Option(names = "--json", description = "Print the figures as JSON.")
    private boolean json;

    /** Runs the benchmark and prints the figures. */
    @Override
    public Integer call() {
        if (!(timeLimit > 0) || Double.isInfinite(timeLimit)) {
            throw new InputException("--time-limit " + timeLimit + ": expected seconds > 0, e.g. 5 (the default)");
        }
        List<Path> chosen = files == null || files.isEmpty() ? DEFAULT_FILES : files;
        PrintWriter err = spec.commandLine().getErr();
        List<ExplainBenchmark.Case> cases;
        try {
            cases = ExplainBenchmark.run(chosen, timeLimit, f -> {
                if (System.console() != null) {
                    err.println("tessera bench explain: " + f);
                    err.flush();
                }
            });
        } catch (IllegalArgumentException e) {
            throw new InputException(Json.oneLine(e.getMessage()), e);
        }
        PrintWriter out = spec.commandLine().getOut();
        out.print(json ? Json.write(toJson(cases)) : table(cases));
        out.flush();
        return Tessera.EXIT_OK;
    }

    static ObjectNode toJson(List<ExplainBenchmark.Case> cases) {
        ObjectNode o = Json.object();
        ArrayNode a = o.putArray("files");
        for (ExplainBenchmark.Case c : cases) {
            ObjectNode n = a.addObject();
            n.put("file", c.file().toString());
            n.put("devices", c.devices());
            n.put("communications", c.communications());
            n.put("explained", c.explained());
            n.put("suggestions", c.suggestions());
            n.put("stopped_by_limit", c.stopped());
            n.put("setup_seconds", c.setupSeconds());
            n.put("mean_seconds", c.meanSeconds());
            n.put("slowest_seconds", c.slowestSeconds());
            n.put("over_limit", c.overLimit());
            n.put("evaluations", c.evaluations());
            n.put("mean_evaluation_seconds", c.meanEvaluationSeconds());
            n.put("time_limit_seconds", c.limitSeconds());
        }
        return o;
    }

    static String table(List<ExplainBenchmark.Case> cases) {
        StringBuilder sb = new StringBuilder("tessera bench explain (one communication per family)\n");
        for (ExplainBenchmark.Case c : cases) {
            sb.append(String.format(Locale.ROOT, "  %s: %d devices, %d communications, %d families; setup %.2f s%n",
                    c.file(), c.devices(), c.communications(), c.explained(), c.setupSeconds()));
            sb.append(String.format(Locale.ROOT, "    explained %d: %d suggestions, %d necessary, %d cut by the %.3g s "
                    + "limit; mean %.2f s, slowest %.2f s, %d over the limit%n", c.explained(), c.suggestions(),
                    c.explained() - c.suggestions(), c.stopped(), c.limitSeconds(), c.meanSeconds(),
                    c.slowestSeconds(), c.overLimit()));
            sb.append(String.format(Locale.ROOT, "    %d evaluations, %.3f s each%n", c.evaluations(),
                    c.meanEvaluationSeconds()));
        }
        return sb.toString();
    }
}
