package io.tessera.cli;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.tessera.simulator.validation.PublishedRun;
import io.tessera.simulator.validation.PublishedRuns;
import io.tessera.simulator.validation.Validation;
import io.tessera.simulator.validation.ValidationReport;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;

/**
 * {@code tessera validate [RUNS.json]}: simulates published training runs (the built-in calibration runs, or a file in
 * their format) and prints measured against predicted iteration time per run, then
 * {@code validation: mean X% max Y% over N runs}.
 */
@Command(name = "validate", mixinStandardHelpOptions = true,
        description = "Simulates published training runs (built in: the calibration runs of Narayanan et al. 2021 "
                + "and the Megatron-LM H100 table; or RUNS.json in the same format) and prints measured vs predicted "
                + "iteration time and the error of each, then 'validation: mean X%% max Y%% over N runs'.")
final class ValidateCommand implements Callable<Integer> {

    @Spec
    private CommandSpec spec;

    @Parameters(index = "0", arity = "0..1", paramLabel = "RUNS.json",
            description = "Published runs in the format of calibration_runs.json (default: the built-in runs).")
    private Path file;

    @Option(names = "--json", description = "Print the runs and the summary as JSON.")
    private boolean json;

    @Option(names = "--write-strategies", paramLabel = "DIR",
            description = "Also write each run's strategy file (what 'tessera simulate' reproduces it from) to DIR.")
    private Path strategies;

    @Option(names = "--fail-above", paramLabel = "PERCENT",
            description = "Exit with code 1 when a run's absolute error exceeds PERCENT.")
    private Double failAbove;

    @Mixin
    private ProgressOption progress = new ProgressOption();

    /** Runs the validation and prints the table or JSON. */
    @Override
    public Integer call() {
        PublishedRuns.Table table;
        try {
            table = file == null ? PublishedRuns.builtIn() : PublishedRuns.read(file);
        } catch (IllegalArgumentException e) {
            throw new InputException(Json.oneLine(e.getMessage()), e);
        }
        if (failAbove != null && !(failAbove >= 0 && Double.isFinite(failAbove))) {
            throw new InputException("--fail-above is " + failAbove + "; expected a finite percentage >= 0, e.g. 6");
        }
        if (strategies != null) {
            if (Files.exists(strategies) && !Files.isDirectory(strategies)) {
                throw new InputException("--write-strategies " + strategies + " is a file; expected a directory");
            }
            try {
                Files.createDirectories(strategies);
            } catch (java.io.IOException e) {
                throw new InputException("--write-strategies " + strategies + ": cannot create the directory ("
                        + e.getMessage() + ")", e);
            }
            OutputFiles files = new OutputFiles();
            for (PublishedRun r : table.runs()) {
                files.add("--write-strategies", strategies.resolve(fileName(r)), r.strategyJson());
            }
            files.commit();
        }
        PrintWriter err = spec.commandLine().getErr();
        ValidationReport report;
        try (ProgressOption.Handle p = progress.open(err, "tessera validate")) {
            report = Validation.run(table, Validation::predict, p::phase);
        } catch (IllegalArgumentException e) {
            throw new InputException(Json.oneLine(e.getMessage()), e);
        }
        PrintWriter out = spec.commandLine().getOut();
        out.print(json ? Json.write(toJson(report)) : report.table());
        out.flush();
        return failAbove != null && 100 * report.maxAbsError() > failAbove ? Tessera.EXIT_INTERNAL : Tessera.EXIT_OK;
    }

    /** {@code narayanan2021_table1-gpt-1.7b.json}. */
    static String fileName(PublishedRun r) {
        return (r.table() + "-" + r.model()).toLowerCase(java.util.Locale.ROOT).replaceAll("[^a-z0-9.]+", "-")
                .replaceAll("-+$", "") + ".json";
    }

    static ObjectNode toJson(ValidationReport report) {
        ObjectNode o = Json.object();
        ArrayNode runs = o.putArray("runs");
        for (ValidationReport.Row r : report.rows()) {
            ObjectNode n = runs.addObject();
            n.put("table", r.run().table());
            n.put("model", r.run().model());
            n.put("configuration", r.run().configuration());
            n.put("measured_seconds", r.run().measuredSeconds());
            n.put("predicted_seconds", r.predictedSeconds());
            n.put("error", r.error());
            ArrayNode a = n.putArray("assumptions");
            r.run().assumptions().forEach(a::add);
        }
        ArrayNode skipped = o.putArray("skipped");
        report.skipped().forEach(skipped::add);
        o.put("runs_simulated", report.rows().size());
        o.put("mean_abs_error", report.meanAbsError());
        o.put("max_abs_error", report.maxAbsError());
        o.put("mean_error", report.meanError());
        return o;
    }
}
