package io.tessera.cli;

import io.tessera.planner.api.StrategyPlans;
import io.tessera.planner.cost.ClusterSpec;
import io.tessera.planner.plan.PipelinePlan;
import io.tessera.planner.strategy.StrategyFile;
import io.tessera.planner.strategy.StrategyFiles;
import io.tessera.simulator.report.HtmlReport;
import io.tessera.simulator.report.ReportExplanation;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;

/**
 * {@code tessera report STRATEGY.json --out report.html [--cluster PRESET_OR_FILE]}: plans the strategy file,
 * simulates its step as {@code tessera simulate} does and writes one self-contained HTML page ({@link HtmlReport}):
 * the device mesh and per tensor which device holds which slice, memory per rank, communication by kind and origin,
 * the pipeline schedule, the step breakdown, the search's runners-up of an {@code auto_parallel} file and the
 * explanations of communications. The page is written atomically ({@link OutputFiles}); nothing is written on
 * failure. Exit code 2 for bad input.
 */
@Command(name = "report", mixinStandardHelpOptions = true,
        description = {"Writes a self-contained HTML report of a strategy file's plan (no network access needed to "
                + "open it): the device mesh and which device holds which slice of every parameter and activation, "
                + "memory per rank, communication by kind and origin, the pipeline schedule, the step breakdown and, "
                + "for auto_parallel files, the search's runners-up."})
public final class ReportCommand implements Callable<Integer> {

    @Spec
    private CommandSpec spec;

    @Parameters(index = "0", paramLabel = "STRATEGY.json", description = "The strategy file to report on.")
    private Path strategy;

    @Option(names = "--out", paramLabel = "REPORT.html", required = true,
            description = "Write the HTML page here (atomically).")
    private Path out;

    /** {@code --cluster}; null when not given (then the strategy file's {@code cluster} key, else the default). */
    @Option(names = "--cluster", paramLabel = "PRESET_OR_FILE",
            description = "A cluster preset (its node count grown to fit the plan) or a cluster JSON file (default: "
                    + "the strategy file's cluster key, else " + AnalyticSimulation.DEFAULT_CLUSTER + ").")
    private String cluster;

    @Mixin
    private ProgressOption progress = new ProgressOption();

    @Option(names = "--explain", paramLabel = "N", defaultValue = "3",
            description = "Explain the N communications moving the most bytes, as tessera explain does (default: "
                    + "${DEFAULT-VALUE}; 0 for none).")
    private int explain;

    @Option(names = "--explain-time-limit", paramLabel = "SECONDS", defaultValue = "2",
            description = "The search time per explained communication (default: ${DEFAULT-VALUE} s).")
    private double explainSeconds;

    /** The explanations of the {@code --explain} communications moving the most bytes (ties: lower id first). */
    private List<ReportExplanation> explanations(StrategyFile file, PipelinePlan pipe, ClusterSpec spec) {
        if (explain < 0 || !(explainSeconds > 0) || Double.isInfinite(explainSeconds)) {
            throw new InputException("--explain " + explain + " --explain-time-limit " + explainSeconds
                    + ": expected a count >= 0 and a positive finite time in seconds");
        }
        List<io.tessera.planner.plan.Communication> comms = pipe.plan().comms();
        List<Integer> ids = new java.util.ArrayList<>();
        for (int i = 0; i < comms.size(); i++) {
            ids.add(i);
        }
        ids.sort(java.util.Comparator.<Integer>comparingLong(i -> -comms.get(i).totalRecvBytes())
                .thenComparingInt(i -> i));
        List<ReportExplanation> out = new java.util.ArrayList<>();
        if (explain == 0 || ids.isEmpty()) {
            return out;
        }
        io.tessera.simulator.explain.Explainer x = io.tessera.simulator.explain.Explainer.of(file, pipe, spec);
        for (int id : ids.subList(0, Math.min(explain, ids.size()))) {
            String text;
            try {
                text = io.tessera.simulator.explain.Explanations.text(x.explain(id, explainSeconds));
            } catch (IllegalArgumentException e) {
                throw new InputException(strategy + ": " + Json.oneLine(e.getMessage()), e);
            }
            int nl = text.indexOf('\n');
            out.add(new ReportExplanation(id, nl < 0 ? text : text.substring(0, nl),
                    nl < 0 ? "" : text.substring(nl + 1).stripTrailing()));
        }
        return out;
    }

    /** Plans, simulates, renders and writes the page; prints one line naming it. */
    @Override
    public Integer call() {
        OutputFiles.check("--out", out);
        if (out.toAbsolutePath().normalize().equals(strategy.toAbsolutePath().normalize())) {
            throw new InputException("--out " + out + " is the strategy file itself; choose another path");
        }
        StrategyFile file;
        PipelinePlan pipe;
        try {
            if (SimulateCommand.looksLikePlanJson(strategy)) {
                throw new IllegalArgumentException("this is a PLAN.json, which does not carry the network; report on "
                        + "the strategy file it was planned from");
            }
            file = StrategyFiles.read(strategy);
            try (ProgressOption.Handle p = progress.open(spec.commandLine().getErr(), "tessera report")) {
                pipe = StrategyPlans.pipelinePlan(file, p);
            }
        } catch (IllegalArgumentException e) {
            throw InputException.inFile(strategy, e);
        }
        ClusterSpec spec = AnalyticSimulation.cluster(cluster, file, strategy, pipe.devices());
        List<ReportExplanation> explanations = explanations(file, pipe, spec);
        String page;
        try {
            Path name = strategy.getFileName();
            page = HtmlReport.write(name == null ? strategy.toString() : name.toString(), file, pipe, spec,
                    explanations);
        } catch (IllegalArgumentException e) {
            throw new InputException(strategy + ": " + Json.oneLine(e.getMessage()), e);
        }
        new OutputFiles().add("--out", out, page).commit();
        PrintWriter stdout = this.spec.commandLine().getOut();
        stdout.println("report: " + out + " (" + page.getBytes(java.nio.charset.StandardCharsets.UTF_8).length / 1024
                + " KiB; open it in a browser)");
        stdout.flush();
        return Tessera.EXIT_OK;
    }
}
