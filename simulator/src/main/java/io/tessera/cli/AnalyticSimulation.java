package io.tessera.cli;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.tessera.planner.cost.ClusterSpec;
import io.tessera.planner.cost.ClusterSpecs;
import io.tessera.planner.plan.Plan;
import io.tessera.planner.plan.StrategyPlans;
import io.tessera.planner.strategy.StrategyFiles;
import io.tessera.simulator.timeline.ChromeTrace;
import io.tessera.simulator.timeline.Timeline;
import io.tessera.simulator.timeline.TimelineOptions;
import io.tessera.simulator.timeline.TimelineReport;

import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

/**
 * The analytic side of {@code tessera simulate}: plans a strategy file, runs {@link Timeline} on a cluster, prints the
 * figures (text or JSON) and optionally writes a Chrome trace.
 */
final class AnalyticSimulation {

    /** The cluster used without {@code --cluster}. */
    static final String DEFAULT_CLUSTER = "a100-80gb-dgx";

    private final Path strategy;
    private final String cluster;
    private final Path trace;
    private final boolean overlap;
    private final boolean json;

    AnalyticSimulation(Path strategy, String cluster, Path trace, boolean overlap, boolean json) {
        this.strategy = strategy;
        this.cluster = cluster;
        this.trace = trace;
        this.overlap = overlap;
        this.json = json;
    }

    /** Plans, simulates and prints; returns the exit code. */
    int run(PrintWriter out) {
        if (trace != null) {
            Json.checkWritable("--trace", trace);
        }
        Plan plan;
        try {
            if (SimulateCommand.looksLikePlanJson(strategy)) {
                throw new IllegalArgumentException("this is a PLAN.json, which does not carry the network; simulate "
                        + "the strategy file it was planned from");
            }
            plan = StrategyPlans.plan(StrategyFiles.read(strategy));
        } catch (IllegalArgumentException e) {
            String message = Json.oneLine(e.getMessage());
            String prefix = strategy + ": ";
            throw new InputException(message.startsWith(prefix) ? message : prefix + message, e);
        }
        ClusterSpec spec = cluster(plan.devices());
        TimelineOptions options = new TimelineOptions(spec, overlap, trace == null ? 0 : ChromeTrace.DEFAULT_RANKS);
        TimelineReport report;
        try {
            report = Timeline.run(plan, options);
        } catch (IllegalArgumentException e) {
            throw new InputException(strategy + ": " + Json.oneLine(e.getMessage()), e);
        }
        if (trace != null) {
            Json.writeAtomically("--trace", trace, ChromeTrace.write(report));
        }
        if (json) {
            out.print(Json.write(toJson(report, spec)));
        } else {
            out.println("cluster: " + spec.name() + " (" + spec.devices() + " devices, " + spec.devicesPerNode()
                    + " per node)");
            out.print(report.summary());
            if (trace != null) {
                out.println("trace: " + trace + " (open in ui.perfetto.dev)");
            }
        }
        out.flush();
        return Tessera.EXIT_OK;
    }

    /** The cluster named by {@code --cluster}: a preset grown to fit {@code devices}, or a cluster file. */
    private ClusterSpec cluster(int devices) {
        if (ClusterSpec.presets().contains(cluster)) {
            ClusterSpec preset = ClusterSpec.preset(cluster);
            int nodes = Math.max(1, (devices + preset.devicesPerNode() - 1) / preset.devicesPerNode());
            return preset.withNodes(nodes);
        }
        Path file = Path.of(cluster);
        if (!Files.isRegularFile(file)) {
            throw new InputException("--cluster '" + cluster + "' is neither a preset nor a file; expected one of "
                    + String.join(", ", ClusterSpec.presets()) + " or a cluster JSON file");
        }
        ClusterSpec spec;
        try {
            spec = ClusterSpecs.read(file);
        } catch (IllegalArgumentException e) {
            throw new InputException("--cluster " + cluster + ": " + Json.oneLine(e.getMessage()), e);
        }
        if (spec.devices() < devices) {
            throw new InputException("--cluster " + cluster + " has " + spec.devices() + " devices but the plan needs "
                    + devices + "; add nodes to the cluster file or use a preset");
        }
        return spec;
    }

    static ObjectNode toJson(TimelineReport r, ClusterSpec spec) {
        ObjectNode o = Json.object();
        o.put("cluster", spec.name());
        o.put("devices", r.devices());
        o.put("step_seconds", r.stepSeconds());
        o.put("mfu", r.mfu());
        o.put("compute_seconds", r.computeSeconds());
        o.put("exposed_comm_seconds", r.exposedCommSeconds());
        ObjectNode memory = o.putObject("peak_memory_bytes");
        memory.put("min", r.minPeakMemoryBytes());
        memory.put("max", r.maxPeakMemoryBytes());
        ObjectNode comm = o.putObject("comm_bytes");
        for (Map.Entry<String, Long> e : r.commBytesByKind().entrySet()) {
            comm.put(e.getKey(), e.getValue());
        }
        return o;
    }
}
