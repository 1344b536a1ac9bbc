package io.tessera.cli;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.tessera.bench.PlanBenchmark;
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
 * {@code tessera bench plan}: wall time to plan a Megatron-style {@code gpt} (forward and backward) of 24 and 96
 * layers on 8 x 8 and 64 x 64 device matrices.
 */
@Command(name = "plan", mixinStandardHelpOptions = true,
        description = {"Benchmarks the planner: seconds to plan a Megatron-style gpt (hidden 4096, 64 heads) of 24 and "
                + "96 layers, forward and backward, on 8 x 8 and 64 x 64 device matrices (data x tensor parallel), and "
                + "96 layers on 64 x 64 with optimizer parallel (Adam); "
                + "best of --repeats runs, the first run of the JVM included in 'first'.",
                "Prints a table, or JSON with --json."})
public final class BenchPlanCommand implements Callable<Integer> {

    @Spec
    private CommandSpec spec;

    @Option(names = "--repeats", paramLabel = "N", defaultValue = "3",
            description = "Plans per case; the best time is reported (default: ${DEFAULT-VALUE}).")
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
        PrintWriter err = spec.commandLine().getErr();
        Consumer<String> progress = System.console() != null
                ? line -> {
                    err.println("tessera bench plan: " + line);
                    err.flush();
                }
                : line -> { };
        List<PlanBenchmark.Case> cases = PlanBenchmark.run(repeats, progress);
        PrintWriter out = spec.commandLine().getOut();
        out.print(json ? Json.write(toJson(cases)) : table(cases));
        out.flush();
        return Tessera.EXIT_OK;
    }

    static ObjectNode toJson(List<PlanBenchmark.Case> cases) {
        ObjectNode o = Json.object();
        ArrayNode a = o.putArray("cases");
        for (PlanBenchmark.Case c : cases) {
            ObjectNode n = a.addObject();
            n.put("layers", c.layers());
            n.put("dp", c.dp());
            n.put("mp", c.mp());
            n.put("optimizer_parallel", c.optimizerParallel());
            n.put("devices", c.devices());
            n.put("operators", c.operators());
            n.put("communications", c.communications());
            n.put("build_seconds", c.buildSeconds());
            n.put("first_plan_seconds", c.firstPlanSeconds());
            n.put("plan_seconds", c.planSeconds());
        }
        return o;
    }

    static String table(List<PlanBenchmark.Case> cases) {
        StringBuilder sb = new StringBuilder("tessera bench plan (Megatron gpt, forward + backward)\n");
        sb.append(String.format(Locale.ROOT, "  %6s %9s %8s %9s %10s %8s %10s %10s%n", "layers", "dp x mp",
                "devices", "opt-par", "operators", "comms", "first (s)", "best (s)"));
        for (PlanBenchmark.Case c : cases) {
            sb.append(String.format(Locale.ROOT, "  %6d %9s %8d %9s %10d %8d %10.3f %10.3f%n", c.layers(),
                    c.dp() + " x " + c.mp(), c.devices(), c.optimizerParallel() ? "adam" : "-", c.operators(),
                    c.communications(), c.firstPlanSeconds(), c.planSeconds()));
        }
        return sb.toString();
    }
}
