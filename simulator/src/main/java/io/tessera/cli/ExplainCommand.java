package io.tessera.cli;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.tessera.planner.api.StrategyPlans;
import io.tessera.planner.plan.PipelinePlan;
import io.tessera.planner.strategy.StrategyFile;
import io.tessera.planner.strategy.StrategyFiles;
import io.tessera.simulator.explain.Explainer;
import io.tessera.simulator.explain.Explanation;
import io.tessera.simulator.explain.Explanations;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import java.util.concurrent.Callable;

/**
 * {@code tessera explain STRATEGY.json [--comm ID | --op NAME] [--per-family] [--json] [--time-limit SECONDS]}: for each inserted
 * communication of the plan (or the chosen ones), its provenance and the cheapest change of annotations that removes
 * it, verified by re-planning ({@link Explainer}), or what makes it necessary.
 */
@Command(name = "explain", mixinStandardHelpOptions = true,
        description = {"Explains the plan's communications: where each comes from and the cheapest change of "
                + "annotations that removes it (verified by re-planning, with step time and peak memory per rank "
                + "before and after), or what makes it necessary.",
                "The cluster is the strategy file's 'cluster', else " + AnalyticSimulation.DEFAULT_CLUSTER + "."})
public final class ExplainCommand implements Callable<Integer> {

    @Spec
    private CommandSpec spec;

    @Parameters(index = "0", paramLabel = "STRATEGY.json",
            description = "The strategy file (format: strategies/README.md).")
    private Path strategy;

    @Option(names = "--comm", paramLabel = "ID",
            description = "Explain only communication ID (its id in 'tessera plan --json').")
    private Integer comm;

    @Option(names = "--op", paramLabel = "NAME",
            description = "Explain only the communications serving operator NAME.")
    private String op;

    @Option(names = "--per-family", description = "Explain one communication per family: the first of the "
            + "communications that differ only in the number of a repeated layer (layers.3. and layers.40.), with how "
            + "many it stands for.")
    private boolean perFamily;

    @Option(names = "--json", description = "Print a JSON array, one object per communication.")
    private boolean json;

    @Option(names = "--time-limit", paramLabel = "SECONDS", defaultValue = "5",
            description = "Time limit of the search per communication, seconds (default: ${DEFAULT-VALUE}).")
    private double timeLimit;

    /** Plans the file, explains the chosen communications and prints them. */
    @Override
    public Integer call() {
        if (comm != null && op != null) {
            throw new InputException("--comm " + comm + " and --op " + op + " both choose communications; give one");
        }
        if (perFamily && (comm != null || op != null)) {
            throw new InputException("--per-family and " + (comm != null ? "--comm " + comm : "--op " + op)
                    + " both choose communications; give one");
        }
        if (!(timeLimit > 0) || Double.isInfinite(timeLimit)) {
            throw new InputException("--time-limit " + timeLimit + ": expected seconds > 0, e.g. 5 (the default)");
        }
        StrategyFile file;
        PipelinePlan pipe;
        Explainer explainer;
        try {
            if (SimulateCommand.looksLikePlanJson(strategy)) {
                throw new IllegalArgumentException("this is a PLAN.json, which does not carry the network; explain "
                        + "the strategy file it was planned from");
            }
            file = StrategyFiles.read(strategy);
            pipe = StrategyPlans.pipelinePlan(file, null);
            explainer = Explainer.of(file, pipe, Explainer.cluster(file, pipe.devices()));
        } catch (IllegalArgumentException e) {
            throw InputException.inFile(strategy, e);
        }
        List<Integer> ids = chosen(explainer);
        PrintWriter out = spec.commandLine().getOut();
        ArrayNode array = Json.array();
        if (!json) {
            out.println("cluster: " + explainer.cluster().name() + "; step " + Explanations.seconds(
                    explainer.stepSeconds()) + ", peak memory per rank " + explainer.peakBytes() + " bytes; "
                    + explainer.communications() + " communication" + (explainer.communications() == 1 ? "" : "s"));
        }
        Map<Integer, Integer> familySize = new HashMap<>();
        if (perFamily) {
            explainer.families().values().forEach(f -> familySize.put(f.get(0), f.size()));
            ids = ids.stream().filter(familySize::containsKey).toList();
        }
        // --json prints at the end: a bar on a terminal shows how far it is
        ProgressBar bar = json && ids.size() > 1 && System.console() != null
                ? new ProgressBar(spec.commandLine().getErr(), ProgressBar.terminalWidth(System.getenv("COLUMNS")),
                System::nanoTime) : null;
        try {
            if (bar != null) {
                bar.phase("explaining " + ids.size() + " communications, at most " + timeLimit + " s each");
            }
            for (int k = 0; k < ids.size(); k++) {
                int id = ids.get(k);
                Explanation e = explainer.explain(id, timeLimit);
                Integer members = familySize.get(id);
                if (json) {
                    ObjectNode o = Explanations.json(e);
                    if (perFamily) {
                        o.put("family_size", members);
                    }
                    array.add(o);
                } else {
                    out.println();
                    out.print(Explanations.text(e));
                    if (perFamily && members > 1) {
                        out.println("  family: stands for " + members + " communications, the same one in every copy "
                                + "of the repeated layer");
                    }
                }
                out.flush();
                if (bar != null) {
                    bar.advance(k + 1, ids.size());
                }
            }
        } finally {
            if (bar != null) {
                bar.finish();
            }
        }
        if (json) {
            out.print(Json.write(array));
        }
        out.flush();
        return Tessera.EXIT_OK;
    }

    /** The ids {@code --comm} or {@code --op} choose, else every communication. */
    private List<Integer> chosen(Explainer explainer) {
        int n = explainer.communications();
        if (comm != null) {
            if (comm < 0 || comm >= n) {
                throw new InputException("--comm " + comm + ": " + strategy + " plans " + n + " communication"
                        + (n == 1 ? "" : "s") + (n == 0 ? "" : "; expected an id in 0.." + (n - 1))
                        + " (the ids of 'tessera plan --json')");
            }
            return List.of(comm);
        }
        if (op != null) {
            List<Integer> ids = explainer.communicationsOf(op);
            if (ids.isEmpty()) {
                TreeSet<String> ops = new TreeSet<>();
                explainer.plan().plan().comms().forEach(c -> {
                    if (c.operator() != null) {
                        ops.add(c.operator());
                    }
                });
                boolean exists = explainer.plan().plan().op(op) != null;
                List<String> some = new ArrayList<>(ops).subList(0, Math.min(8, ops.size()));
                throw new InputException("--op " + op + ": " + (exists ? "no communication serves this operator"
                        : "no operator of this name") + "; operators with communications: "
                        + (ops.isEmpty() ? "none" : String.join(", ", some) + (ops.size() > 8 ? ", ..." : "")));
            }
            return ids;
        }
        List<Integer> all = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            all.add(i);
        }
        return all;
    }
}
