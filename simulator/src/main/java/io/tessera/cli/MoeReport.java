package io.tessera.cli;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.tessera.planner.cost.ClusterSpec;
import io.tessera.planner.cost.CostModel;
import io.tessera.planner.cost.ExpertLoad;
import io.tessera.planner.cost.MoeCosts;
import io.tessera.planner.plan.Plan;
import io.tessera.planner.strategy.Routing;
import io.tessera.simulator.timeline.TimelineReport;

import java.io.PrintWriter;
import java.util.Locale;
import java.util.Optional;
import java.util.function.DoubleSupplier;

/**
 * The mixture-of-experts part of {@code tessera simulate}'s analytic output: the routing distribution, the busiest
 * expert-parallel rank's load, the step time under the routing against uniform routing (the imbalance's cost) and
 * the dispatch buffers per rank. Immutable.
 *
 * @param routing            the strategy file's routing (uniform without a {@code routing} section)
 * @param layer              the first mixture-of-experts layer (every layer of a network routes alike)
 * @param layers             the mixture-of-experts layers
 * @param stepSeconds        the step under {@code routing}
 * @param uniformStepSeconds the same step under uniform routing
 */
record MoeReport(Routing routing, MoeCosts.Layer layer, int layers, double stepSeconds, double uniformStepSeconds) {

    /**
     * The report of {@code plan} when it has a mixture-of-experts layer, else empty; {@code uniformStep} runs the
     * step again under uniform routing (called only when the routing is not uniform).
     */
    static Optional<MoeReport> of(Plan plan, Routing routing, ClusterSpec spec, double stepSeconds,
                                  DoubleSupplier uniformStep) {
        MoeCosts moe = MoeCosts.of(plan, routing, new CostModel(spec));
        if (!moe.any()) {
            return Optional.empty();
        }
        double uniform = routing instanceof Routing.Uniform ? stepSeconds : uniformStep.getAsDouble();
        return Optional.of(new MoeReport(routing, moe.layers().get(0), moe.layers().size(), stepSeconds, uniform));
    }

    /** The step under the routing minus the step under uniform routing, seconds. */
    double imbalanceSeconds() {
        return stepSeconds - uniformStepSeconds;
    }

    /** {@link #imbalanceSeconds} over the uniform step, in percent. */
    double imbalancePercent() {
        return uniformStepSeconds > 0 ? 100 * imbalanceSeconds() / uniformStepSeconds : 0;
    }

    /** Three lines: the routing and its load, the imbalance's cost, the dispatch buffers. */
    void print(PrintWriter out) {
        ExpertLoad l = layer.load();
        out.println(String.format(Locale.ROOT, "moe routing: %s over %d experts, top-%d, expert degree %d, %s: "
                        + "busiest expert rank %d at %.2fx the mean rows (%.1f%% of its buffer), %.1f%% of slots dropped",
                routing.describe(), l.experts(), l.topK(), l.degree(), l.capacityFactor() > 0
                        ? "capacity factor " + l.capacityFactor() : "dropless", l.busiestRank(), l.imbalance(),
                100 * l.loadedFraction(), 100 * l.droppedFraction()));
        out.println(String.format(Locale.ROOT, "moe imbalance: step %s vs %s with uniform routing (%s%s, %+.1f%%)",
                TimelineReport.seconds(stepSeconds), TimelineReport.seconds(uniformStepSeconds),
                imbalanceSeconds() < 0 ? "-" : "+", TimelineReport.seconds(Math.abs(imbalanceSeconds())),
                imbalancePercent()));
        out.println("moe buffers per rank: " + TimelineReport.bytes(layer.bufferBytes()) + " per layer, " + layers
                + " layers in all (dispatch and combine buffers and their AllToAll receive buffers, allocated at "
                + (l.capacityFactor() > 0 ? "capacity" : "the dropless worst case") + ")");
    }

    /** The {@code moe} object of the JSON output. */
    void put(ObjectNode o) {
        ExpertLoad l = layer.load();
        ObjectNode m = o.putObject("moe");
        m.set("routing", routing.toJson());
        m.put("experts", l.experts());
        m.put("top_k", l.topK());
        m.put("expert_degree", l.degree());
        m.put("capacity_factor", l.capacityFactor());
        m.put("capacity", l.capacity());
        m.put("busiest_rank", l.busiestRank());
        m.put("imbalance", l.imbalance());
        m.put("loaded_fraction", l.loadedFraction());
        m.put("dropped_fraction", l.droppedFraction());
        m.put("step_seconds", stepSeconds);
        m.put("uniform_step_seconds", uniformStepSeconds);
        m.put("imbalance_seconds", imbalanceSeconds());
        m.put("imbalance_percent", imbalancePercent());
        m.put("buffer_bytes_per_layer", layer.bufferBytes());
        m.put("layers", layers);
    }
}
