package io.tessera.cli;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.tessera.bench.LayoutBenchmark;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.Callable;
import java.util.function.Consumer;

/**
 * {@code tessera bench layout}: slice queries per second, redistribution plans per second, and the quality of the
 * plans (share at the byte minimum, share verified, mean step counts) on a seeded set of random cases.
 */
@Command(name = "layout", mixinStandardHelpOptions = true,
        description = {"Benchmarks the layout algebra and the redistribution planner: slice queries/s, plans/s, and on "
                + "a seeded set of random cases the share of plans at the byte minimum and the mean step count.",
                "Prints a table, or JSON with --json. Progress goes to stderr when run on a terminal."})
public final class BenchLayoutCommand implements Callable<Integer> {

    @Spec
    private CommandSpec spec;

    @Option(names = "--cases", paramLabel = "N", defaultValue = "1000",
            description = "Number of random redistribution cases (default: ${DEFAULT-VALUE}).")
    private int cases;

    @Option(names = "--seed", paramLabel = "S", defaultValue = "42",
            description = "Seed of the random cases (default: ${DEFAULT-VALUE}).")
    private long seed;

    @Option(names = "--json", description = "Print the report as JSON.")
    private boolean json;

    /** Runs the benchmark and prints the report. */
    @Override
    public Integer call() {
        if (cases < 1) {
            throw new ParameterException(spec.commandLine(), "--cases is " + cases
                    + "; expected a number of cases >= 1, e.g. --cases 1000");
        }
        PrintWriter err = spec.commandLine().getErr();
        Consumer<String> progress = System.console() != null
                ? line -> {
                    err.println("tessera bench layout: " + line);
                    err.flush();
                }
                : line -> { };
        LayoutBenchmark.Report report = LayoutBenchmark.run(seed, cases, progress);
        PrintWriter out = spec.commandLine().getOut();
        out.print(json ? Json.write(toJson(report)) : table(report));
        out.flush();
        return Tessera.EXIT_OK;
    }

    /** The report as a JSON object, fields in record order, op counts sorted by op name. */
    static ObjectNode toJson(LayoutBenchmark.Report r) {
        ObjectNode o = Json.object();
        o.put("seed", r.seed());
        o.put("cases", r.cases());
        o.put("slice_queries_per_second", r.sliceQueriesPerSecond());
        o.put("plans_per_second", r.plansPerSecond());
        o.put("byte_minimal_share", r.byteMinimalShare());
        o.put("verified_share", r.verifiedShare());
        o.put("mean_steps", r.meanSteps());
        o.put("mean_communication_steps", r.meanCommunicationSteps());
        o.put("bytes_vs_gather_all", r.bytesVsGatherAll());
        ObjectNode ops = o.putObject("op_counts");
        new TreeMap<>(r.opCounts()).forEach(ops::put);
        return o;
    }

    /** The report as a readable two-column table. */
    static String table(LayoutBenchmark.Report r) {
        StringBuilder sb = new StringBuilder();
        sb.append(String.format(Locale.ROOT, "tessera bench layout (seed %d, %d cases)\n", r.seed(), r.cases()));
        row(sb, "slice queries/s", String.format(Locale.ROOT, "%,.0f", r.sliceQueriesPerSecond()));
        row(sb, "redistribution plans/s", String.format(Locale.ROOT, "%,.0f", r.plansPerSecond()));
        row(sb, "plans at the byte minimum", percent(r.byteMinimalShare()));
        row(sb, "plans verified", percent(r.verifiedShare()));
        row(sb, "mean steps per plan", String.format(Locale.ROOT, "%.3f", r.meanSteps()));
        row(sb, "mean communication steps", String.format(Locale.ROOT, "%.3f", r.meanCommunicationSteps()));
        row(sb, "bytes vs gather-all-then-slice", String.format(Locale.ROOT, "%.4f", r.bytesVsGatherAll()));
        for (Map.Entry<String, Integer> e : new TreeMap<>(r.opCounts()).entrySet()) {
            row(sb, "steps: " + e.getKey(), Integer.toString(e.getValue()));
        }
        return sb.toString();
    }

    private static void row(StringBuilder sb, String name, String value) {
        sb.append(String.format(Locale.ROOT, "  %-32s %14s\n", name, value));
    }

    private static String percent(double share) {
        return String.format(Locale.ROOT, "%.1f %%", 100 * share);
    }
}
