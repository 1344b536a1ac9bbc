package io.tessera.cli;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.tessera.planner.api.StrategyPlans;
import io.tessera.planner.cost.ClusterSpec;
import io.tessera.planner.cost.ErrorBand;
import io.tessera.planner.plan.Communication;
import io.tessera.planner.plan.PipelinePlan;
import io.tessera.planner.cost.Recompute;
import io.tessera.planner.strategy.StrategyFile;
import io.tessera.planner.strategy.StrategyFiles;
import io.tessera.simulator.timeline.PipelineReport;
import io.tessera.simulator.timeline.StrategyStep;
import io.tessera.simulator.timeline.Timeline;
import io.tessera.simulator.timeline.TimelineReport;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.Callable;

/**
 * {@code tessera compare A.json B.json [...] [--cluster PRESET] [--json]}: plans side by side (step time with the cost
 * model's error band, memory per rank, communication by kind, pipeline bubble) and, against the first, whether each
 * difference in step time is larger than the error bands.
 */
@Command(name = "compare", mixinStandardHelpOptions = true,
        description = {"Compares plans side by side: step time with the cost model's error band (tessera validate), "
                + "peak memory per rank, communication bytes by kind, pipeline bubble; then each plan against the "
                + "first: whether the step-time difference is larger than the error bands (a real difference) or "
                + "within them (not distinguishable by the model)."})
public final class CompareCommand implements Callable<Integer> {

    @Spec
    private CommandSpec spec;

    @Parameters(arity = "2..*", paramLabel = "STRATEGY.json", description = "Two or more strategy files.")
    private List<Path> files;

    @Option(names = "--cluster", paramLabel = "PRESET",
            description = "Price every plan on this cluster preset (default: each file's cluster, else "
                    + AnalyticSimulation.DEFAULT_CLUSTER + ").")
    private String cluster;

    @Option(names = "--json", description = "Print the comparison as JSON.")
    private boolean json;

    @Mixin
    private ProgressOption progress = new ProgressOption();

    /**
     * One plan's figures.
     *
     * @param file          the strategy file
     * @param cluster       the cluster it was priced on
     * @param devices       its devices
     * @param stages        pipeline stages
     * @param stepSeconds   the modelled step time, seconds
     * @param band          the error band of the cluster's device, if any
     * @param peakMax       the largest per-rank peak memory, bytes
     * @param peakMin       the smallest per-rank peak memory, bytes
     * @param commBytes     bytes received by all ranks per step, by collective kind
     * @param bubble        the pipeline bubble fraction (0 without stages)
     */
    record Figures(Path file, ClusterSpec cluster, int devices, int stages, double stepSeconds,
                   Optional<ErrorBand> band, long peakMax, long peakMin, Map<String, Long> commBytes, double bubble) {

        /** The band's interval of the step time, or the step time itself twice without a band. */
        double[] interval() {
            return band.map(b -> b.interval(stepSeconds)).orElse(new double[] {stepSeconds, stepSeconds});
        }
    }

    @Override
    public Integer call() {
        List<Figures> all = new ArrayList<>();
        try (ProgressOption.Handle p = progress.open(spec.commandLine().getErr(), "tessera compare")) {
            for (Path f : files) {
                p.at(f.toString());
                all.add(figures(f, p));
            }
        }
        PrintWriter out = spec.commandLine().getOut();
        out.print(json ? Json.write(toJson(all)) : text(all));
        out.flush();
        return Tessera.EXIT_OK;
    }

    private Figures figures(Path path, ProgressOption.Handle progress) {
        StrategyFile file;
        PipelinePlan pipe;
        try {
            file = StrategyFiles.read(path);
            pipe = StrategyPlans.pipelinePlan(file, progress);
        } catch (IllegalArgumentException e) {
            throw InputException.inFile(path, e);
        }
        ClusterSpec spec = AnalyticSimulation.cluster(cluster, file, path, pipe.devices());
        Map<String, Long> comm = new TreeMap<>();
        for (Communication c : pipe.plan().comms()) {
            comm.merge(c.kind().toString(), c.totalRecvBytes(), Long::sum);
        }
        try {
            boolean pipelined = pipe.stages() > 1 || file.parallelism().isPresent()
                    && (pipe.microBatches() > 1 || StrategyPlans.recompute(file) != Recompute.NONE);
            if (pipelined) {
                PipelineReport r = StrategyStep.run(file, pipe, spec, null, null, true);
                long max = 0;
                long min = Long.MAX_VALUE;
                int shards = StrategyStep.optimizerShards(file);
                long[] act = r.peakActivationBytes();
                for (int s = 0; s < pipe.stages(); s++) {
                    long bytes = pipe.memory(pipe.globalRank(s, 0), shards).total() + act[Math.min(s, act.length - 1)];
                    max = Math.max(max, bytes);
                    min = Math.min(min, bytes);
                }
                return new Figures(path, spec, pipe.devices(), pipe.stages(), r.stepSeconds(),
                        ErrorBand.of(spec.device()), max, min, comm, r.bubbleFraction());
            }
            TimelineReport r = Timeline.run(pipe.plan(), StrategyStep.timelineOptions(file, spec, true, 0));
            return new Figures(path, spec, pipe.devices(), 1, r.stepSeconds(), ErrorBand.of(spec.device()),
                    r.maxPeakMemoryBytes(), r.minPeakMemoryBytes(), comm, 0);
        } catch (IllegalArgumentException e) {
            throw new InputException(path + ": " + Json.oneLine(e.getMessage()), e);
        }
    }

    /**
     * How plan {@code b} compares with plan {@code a}: the relative step-time difference and whether the error bands'
     * intervals are disjoint (then the difference is larger than the model's error; else it is within it).
     */
    static String verdict(Figures a, Figures b) {
        double rel = (b.stepSeconds() - a.stepSeconds()) / a.stepSeconds();
        double[] ia = a.interval();
        double[] ib = b.interval();
        boolean outside = ib[1] < ia[0] || ib[0] > ia[1];
        String dir = rel < 0 ? "faster" : rel > 0 ? "slower" : "as fast";
        if (a.band().isEmpty() || b.band().isEmpty()) {
            return String.format(Locale.ROOT, "%+.1f%% (%s); no error band on %s: no published run calibrates it",
                    100 * rel, dir, (a.band().isEmpty() ? a : b).cluster().device().name());
        }
        return String.format(Locale.ROOT, "%+.1f%% (%s); %s", 100 * rel, dir, outside
                ? "larger than the error bands: a real difference"
                : "within the error bands: the model cannot tell them apart");
    }

    private static String text(List<Figures> all) {
        List<String[]> rows = new ArrayList<>();
        rows.add(row(all, "", f -> f.file().getFileName().toString()));
        rows.add(row(all, "cluster", f -> f.cluster().name()));
        rows.add(row(all, "devices", f -> f.devices() + (f.stages() > 1 ? " (" + f.stages() + " stages)" : "")));
        rows.add(row(all, "step time", f -> TimelineReport.seconds(f.stepSeconds())
                + f.band().map(b -> String.format(Locale.ROOT, " +-%.1f%%", 100 * b.maxAbsError())).orElse("")));
        rows.add(row(all, "  band", f -> f.band().isEmpty() ? "none" : TimelineReport.seconds(f.interval()[0])
                + " .. " + TimelineReport.seconds(f.interval()[1])));
        rows.add(row(all, "peak memory per rank", f -> TimelineReport.bytes(f.peakMax())
                + (f.peakMin() != f.peakMax() ? " (min " + TimelineReport.bytes(f.peakMin()) + ")" : "")));
        rows.add(row(all, "bubble", f -> f.stages() > 1 ? String.format(Locale.ROOT, "%.1f%%", 100 * f.bubble())
                : "-"));
        TreeSet<String> kinds = new TreeSet<>();
        all.forEach(f -> kinds.addAll(f.commBytes().keySet()));
        for (String k : kinds) {
            rows.add(row(all, k + " bytes", f -> TimelineReport.bytes(f.commBytes().getOrDefault(k, 0L))));
        }
        int[] width = new int[all.size() + 1];
        for (String[] r : rows) {
            for (int i = 0; i < r.length; i++) {
                width[i] = Math.max(width[i], r[i].length());
            }
        }
        StringBuilder sb = new StringBuilder();
        for (String[] r : rows) {
            StringBuilder line = new StringBuilder();
            for (int i = 0; i < r.length; i++) {
                line.append(String.format(Locale.ROOT, "%-" + (width[i] + 2) + "s", r[i]));
            }
            sb.append(line.toString().stripTrailing()).append('\n');
        }
        Figures base = all.get(0);
        for (int i = 1; i < all.size(); i++) {
            sb.append(all.get(i).file().getFileName()).append(" vs ").append(base.file().getFileName()).append(": ")
                    .append(verdict(base, all.get(i))).append('\n');
        }
        return sb.toString();
    }

    private static String[] row(List<Figures> all, String label, java.util.function.Function<Figures, String> cell) {
        String[] r = new String[all.size() + 1];
        r[0] = label;
        for (int i = 0; i < all.size(); i++) {
            r[i + 1] = cell.apply(all.get(i));
        }
        return r;
    }

    private static ObjectNode toJson(List<Figures> all) {
        ObjectNode o = Json.object();
        ArrayNode plans = o.putArray("plans");
        for (Figures f : all) {
            ObjectNode p = plans.addObject();
            p.put("file", f.file().toString());
            p.put("cluster", f.cluster().name());
            p.put("devices", f.devices());
            p.put("stages", f.stages());
            p.put("step_seconds", f.stepSeconds());
            f.band().ifPresent(b -> {
                p.put("error_band", b.maxAbsError());
                p.put("step_seconds_low", f.interval()[0]);
                p.put("step_seconds_high", f.interval()[1]);
            });
            p.put("peak_memory_bytes_max", f.peakMax());
            p.put("peak_memory_bytes_min", f.peakMin());
            p.put("bubble_fraction", f.bubble());
            ObjectNode c = p.putObject("comm_bytes");
            f.commBytes().forEach(c::put);
        }
        ArrayNode vs = o.putArray("against_first");
        Figures base = all.get(0);
        for (int i = 1; i < all.size(); i++) {
            Figures f = all.get(i);
            ObjectNode v = vs.addObject();
            v.put("file", f.file().toString());
            v.put("step_time_change", (f.stepSeconds() - base.stepSeconds()) / base.stepSeconds());
            double[] ia = base.interval();
            double[] ib = f.interval();
            boolean bands = base.band().isPresent() && f.band().isPresent();
            v.put("beyond_error_band", bands && (ib[1] < ia[0] || ib[0] > ia[1]));
            v.put("verdict", verdict(base, f));
        }
        return o;
    }
}
