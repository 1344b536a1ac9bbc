package io.tessera.simulator.explain;

import io.tessera.layout.comm.CollectiveKind;
import io.tessera.planner.graph.Network;
import io.tessera.planner.graph.Node;
import io.tessera.planner.plan.Communication;
import io.tessera.planner.plan.OpPlan;
import io.tessera.planner.plan.ParamPlan;
import io.tessera.planner.plan.PipelinePlan;
import io.tessera.planner.plan.Plan;

import java.util.List;

/** What makes a communication necessary, in one line, when no change tried removes it without adding more. */
final class Reasons {

    private Reasons() {
    }

    /**
     * The reason communication {@code c} of {@code pipe} is necessary, then the cheapest change found that removes it
     * but adds more ({@code adding}, or null), then how the search ran.
     */
    static String necessary(PipelinePlan pipe, Communication c, Explanation.Suggestion adding,
                            Explanation.Search search) {
        Plan plan = pipe.plan();
        String why = switch (c.origin()) {
            case GRADIENT -> "parameter '" + c.parameter() + "' is replicated over ranks " + groups(c.groups())
                    + " that see different samples: their partial gradients must be summed (data parallelism)";
            case PARALLEL_OPTIMIZER -> optimizer(plan, c);
            case OPERATOR -> operator(plan, c);
            case REDISTRIBUTION -> redistribution(plan, c);
        };
        StringBuilder sb = new StringBuilder(why);
        if (adding != null) {
            sb.append("; the cheapest change that removes it, ").append(adding.change().snippet())
                    .append(adding.change().expandedFirst() ? " (in the file with its parallelism section expanded)"
                            : "")
                    .append(", adds ").append(adding.addedBytes()).append(" bytes per rank elsewhere (")
                    .append(adding.added().size()).append(adding.added().size() == 1 ? " communication" :
                            " communications").append(" for ").append(adding.removedBytes())
                    .append(" removed) and makes the step ").append(Explanations.seconds(adding.stepSecondsBefore()))
                    .append(" -> ").append(Explanations.seconds(adding.stepSecondsAfter()));
        }
        sb.append(search.timeLimitReached()
                ? " (time limit reached after " + search.tried() + " of " + search.candidates() + " changes)"
                : " (" + search.tried() + " changes tried)");
        return sb.toString();
    }

    private static String optimizer(Plan plan, Communication c) {
        ParamPlan p = c.parameter() == null ? null : plan.param(c.parameter());
        String name = "'" + c.parameter() + "'";
        if (c.kind() == CollectiveKind.ALL_GATHER) {
            long extra = p == null ? 0 : p.sliceBytes() - p.shardBytes();
            return "parameter " + name + " is sharded by the optimizer (parallel_optimizer) over ranks "
                    + groups(c.groups()) + ": set parallel_optimizer false on it to keep it whole, at +" + extra
                    + " bytes per rank";
        }
        if (c.kind() == CollectiveKind.REDUCE_SCATTER) {
            return "the gradient of parameter " + name + " is reduce-scattered to its optimizer shards over ranks "
                    + groups(c.groups()) + ", which see different samples: their partial gradients must be summed";
        }
        return "the optimizer shards of parameter " + name + " are mirrored over ranks " + groups(c.groups())
                + " (optimizer_weight_shard_size below the replicas), which see different samples: their gradients "
                + "must be summed across the mirrors";
    }

    private static String operator(Plan plan, Communication c) {
        OpPlan op = c.operator() == null ? null : plan.op(c.operator());
        if (op == null) {
            return c.reason();
        }
        if (isLoss(plan.network(), c.operator())) {
            return "the loss needs the full batch on every rank: '" + op.name() + "' (" + op.type() + ", in_strategy "
                    + op.inStrategy() + ") reduces over a dimension split across ranks " + groups(c.groups());
        }
        return "'" + op.name() + "' (" + op.type() + ", in_strategy " + op.inStrategy() + ") splits a dimension it "
                + "reduces or contracts over across ranks " + groups(c.groups()) + " (" + c.reason() + "), and no "
                + "strategy tried avoids it without adding more";
    }

    private static String redistribution(Plan plan, Communication c) {
        Network net = plan.network();
        Node producer = net.hasTensor(c.tensor()) ? net.producer(c.tensor()) : null;
        String from = c.from() == null ? "its layout" : c.from().toString();
        String to = c.to() == null ? "another" : c.to().toString();
        return (c.operator() == null ? "" : "'" + c.operator() + "'" + (c.input() >= 0 ? " input " + c.input() : "")
                + " needs ") + "'" + c.tensor() + "' as " + to + " but "
                + (producer == null ? "it is held" : "its producer '" + producer.name() + "' leaves it")
                + " as " + from + "; no strategy tried of " + (producer == null ? "the consumer" : "either")
                + " makes the layouts agree without adding more";
    }

    /** Whether operator {@code name} computes the loss or feeds only the loss's producer. */
    static boolean isLoss(Network net, String name) {
        String loss = net.loss();
        if (loss == null || !net.hasNode(name)) {
            return false;
        }
        Node n = net.node(name);
        if (n.outputs().contains(loss)) {
            return true;
        }
        for (String out : n.outputs()) {
            List<Node> readers = net.consumers(out);
            if (readers.isEmpty() || readers.stream().anyMatch(r -> !r.outputs().contains(loss))) {
                return false;
            }
        }
        return !n.outputs().isEmpty();
    }

    /** {@code {0, 1, 2, 3}} or {@code {0, 4} (and 3 more groups)}. */
    static String groups(List<List<Integer>> groups) {
        if (groups.isEmpty()) {
            return "{}";
        }
        return Provenance.ranks(groups.get(0)) + (groups.size() == 1 ? ""
                : " (and " + (groups.size() - 1) + " more group" + (groups.size() == 2 ? "" : "s") + ")");
    }
}
