package io.tessera.planner.search;

import io.tessera.layout.DeviceMatrix;
import io.tessera.layout.Layout;
import io.tessera.layout.comm.CollectiveKind;
import io.tessera.layout.comm.Phase;
import io.tessera.layout.param.Parameter;
import io.tessera.planner.cost.CostModel;
import io.tessera.planner.cost.Placement;
import io.tessera.planner.graph.Network;
import io.tessera.planner.graph.Node;
import io.tessera.planner.op.OpComm;
import io.tessera.planner.op.OpSharding;
import io.tessera.planner.op.Strategy;
import io.tessera.planner.op.TensorType;
import io.tessera.planner.plan.OpPlan;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * An operator candidate's own cost (see {@link Search}): its forward and backward compute seconds plus the seconds of
 * its own communication, a fused gradient reduction what it adds to its fusion bucket, and its memory. Thread-safe:
 * the candidates of distinct operators are costed in parallel.
 */
final class OperatorCosts {

    private final SearchSetup setup;
    private final Network net;
    private final CostModel cost;
    private final FusionPricing fusion;
    private final Map<CommKey, CommCost> commCache = new ConcurrentHashMap<>();
    private final Map<GroupsKey, Groups> groupCache = new ConcurrentHashMap<>();

    /**
     * An operator candidate's own cost; per input, the groups its gradient is partial over (null when none or a
     * parameter) and the seconds of that reduction charged in {@code seconds}.
     *
     * @param seconds        forward and backward compute plus own communication seconds
     * @param memory         bytes of parameter slices (twice: parameter and gradient) and output slices
     * @param buckets        the fusion bucket ids of its fused gradient reductions
     * @param bucketBytes    the bytes of each fused reduction
     * @param bucketMarginal what each fused reduction adds to its bucket on its own, {@code t(bytes) - t(0)}
     * @param partial        per input, the groups its gradient is partial over, or null
     * @param partialSeconds per input, the seconds of that partial reduction charged in {@code seconds}
     */
    record Own(double seconds, double memory, int[] buckets, long[] bucketBytes, double[] bucketMarginal,
               List<List<List<Integer>>> partial, double[] partialSeconds) {

        /** Validates one byte count and marginal per bucket and one partial entry per input. */
        Own {
            if (buckets.length != bucketBytes.length || buckets.length != bucketMarginal.length
                    || partial.size() != partialSeconds.length) {
                throw new IllegalArgumentException("operator cost: found " + buckets.length + " buckets, "
                        + bucketBytes.length + " byte counts, " + bucketMarginal.length + " marginals, "
                        + partial.size() + " partial groups and " + partialSeconds.length + " partial seconds; "
                        + "expected one byte count and marginal per bucket and one partial entry per input");
            }
        }
    }

    private record CommKey(DeviceMatrix dev, List<Integer> axes, CollectiveKind kind, Phase phase, long slice,
                           boolean gradient) {
    }

    private record GroupsKey(DeviceMatrix dev, List<Integer> axes) {
    }

    /** Rank groups with their distinct shapes (groups of one shape cost the same, {@link CostModel#shape}). */
    private record Groups(List<List<Integer>> groups, List<Placement> shapes) {
    }

    /** A communication's seconds, its seconds with an empty buffer (latency) and its rank groups. */
    private record CommCost(double seconds, double latency, List<List<Integer>> groups) {
    }

    /** Costs the candidates of {@code setup}, interning fusion bucket keys in {@code fusion}. */
    OperatorCosts(SearchSetup setup, FusionPricing fusion) {
        this.setup = setup;
        this.net = setup.net();
        this.cost = setup.cost();
        this.fusion = fusion;
    }

    /**
     * An operator's own seconds (forward and backward compute plus its communication; a fused gradient reduction
     * what it adds to its bucket), its memory bytes (parameter slices twice, for the parameter and its gradient, plus
     * output slices) and the fusion buckets of its fused gradient reductions under strategy {@code s}.
     */
    Own own(Node node, List<TensorType> types, List<TensorType> outTypes, Strategy s) {
        OpSharding sh = node.op().shard(node.name(), types, s, setup.template().outStrategies().get(node.name()),
                setup.devices());
        List<Layout> in = new ArrayList<>();
        for (int j = 0; j < types.size(); j++) {
            in.add(sh.inputLayout(j, types.get(j)));
        }
        List<Layout> out = new ArrayList<>();
        for (int j = 0; j < outTypes.size(); j++) {
            out.add(sh.outputLayout(j, outTypes.get(j)));
        }
        OpPlan op = new OpPlan(node.name(), node.op().type(), s, null, false, sh, in, out);
        double seconds = cost.computeSeconds(net, op, false) + cost.computeSeconds(net, op, true);
        List<Integer> buckets = new ArrayList<>();
        List<Long> bucketBytes = new ArrayList<>();
        List<Double> bucketMarginal = new ArrayList<>();
        List<List<List<Integer>>> partial = new ArrayList<>(Collections.nCopies(types.size(), null));
        double[] partialSeconds = new double[types.size()];
        for (OpComm c : sh.comms()) {
            String t = c.output() ? node.output(c.index()) : node.input(c.index());
            boolean gradient = false;
            if (c.phase() == Phase.BACKWARD) {
                if (!setup.bg().needsGradient(t)) {
                    continue;
                }
                // as in the planner, a payload of its own (BatchNorm's gradient statistics) is never a gradient
                if (!c.output() && net.isParameter(t) && c.movesTensor()) {
                    Parameter p = net.parameter(t);
                    if (!p.requiresGrad() || p.layerwiseParallel()) {
                        continue;
                    }
                    gradient = true;
                }
            }
            TensorType type = c.output() ? outTypes.get(c.index()) : types.get(c.index());
            Layout l = c.output() ? out.get(c.index()) : in.get(c.index());
            long slice = c.payload() >= 0 ? c.payload() * type.dtype().bytes() : l.sliceBytes(type.dtype());
            double share = c.phase() == Phase.BACKWARD && !c.output() && !net.isParameter(t)
                    && c.kind() == CollectiveKind.ALL_REDUCE ? 1.0 / net.consumers(t).size() : 1.0;
            CommKey key = new CommKey(sh.devMatrix(), Arrays.stream(c.axes()).boxed().toList(), c.kind(), c.phase(),
                    slice, gradient);
            CommCost cc = commCache.computeIfAbsent(key, k -> commCost(c, sh, slice, k.gradient()));
            if (gradient && net.parameter(t).commFusion() != 0 && cc.latency() > 0) {
                // a fused gradient reduction shares its bucket's collective: charge what it adds to the bucket on its
                // own; each round of the dynamic programming prices the rest (FusionPricing.Pricing)
                seconds += cc.seconds() - cc.latency();
                buckets.add(fusion.bucket(new FusionPricing.BucketKey(c.kind(), cc.groups(), type.dtype(),
                        net.parameter(t).commFusion()), cc.latency()));
                bucketBytes.add(slice);
                bucketMarginal.add(cc.seconds() - cc.latency());
            } else {
                // the planner sums the partial gradients of a tensor's consumers locally and reduces once: each of k
                // consumers is charged 1/k of its reduction (exact when they reduce over the same groups)
                seconds += share * cc.seconds();
                if (c.phase() == Phase.BACKWARD && !c.output() && !net.isParameter(t)
                        && c.kind() == CollectiveKind.ALL_REDUCE) {
                    partial.set(c.index(), cc.groups());
                    partialSeconds[c.index()] += share * cc.seconds();
                }
            }
        }
        double memory = 0;
        for (int j = 0; j < types.size(); j++) {
            if (net.isParameter(node.input(j))) {
                memory += 2.0 * in.get(j).sliceBytes(types.get(j).dtype());
            }
        }
        for (int j = 0; j < outTypes.size(); j++) {
            memory += out.get(j).sliceBytes(outTypes.get(j).dtype());
        }
        return new Own(seconds, memory, buckets.stream().mapToInt(Integer::intValue).toArray(),
                bucketBytes.stream().mapToLong(Long::longValue).toArray(),
                bucketMarginal.stream().mapToDouble(Double::doubleValue).toArray(), partial, partialSeconds);
    }

    /**
     * Seconds of one operator communication: a parameter's gradient reduction as the plan's fusion bucket of it
     * alone ({@link CostModel#collectiveSeconds} of the slice, the slowest group; latency: of an empty buffer),
     * any other as the planner records it ({@link CostModel#communicationSeconds}).
     */
    private CommCost commCost(OpComm c, OpSharding sh, long slice, boolean gradient) {
        Groups groups = groupCache.computeIfAbsent(new GroupsKey(sh.devMatrix(),
                Arrays.stream(c.axes()).boxed().toList()), k -> groups(OpComm.groupsAlong(sh.devMatrix(), c.axes())));
        CollectiveKind kind = c.kind();
        if (gradient) {
            double seconds = 0;
            double latency = 0;
            for (Placement g : groups.shapes()) {
                seconds = Math.max(seconds, cost.collectiveSeconds(kind, g, slice));
                latency = Math.max(latency, cost.collectiveSeconds(kind, g, 0));
            }
            return new CommCost(seconds, latency, groups.groups());
        }
        // CostModel.communicationSeconds of the communication the planner records (every member of a group
        // receives the same bytes), without building it: the slowest group at the buffer its receive implies
        double seconds = 0;
        for (Placement g : groups.shapes()) {
            int p = g.ranks();
            if (p > 1) {
                long buffer = CostModel.bufferBytes(kind, p, c.ringRecvBytes(slice, p));
                seconds = Math.max(seconds, cost.collectiveSeconds(kind, g, buffer));
            }
        }
        return new CommCost(seconds, 0, groups.groups());
    }

    private Groups groups(List<List<Integer>> groups) {
        LinkedHashSet<Placement> shapes = new LinkedHashSet<>();
        for (List<Integer> g : groups) {
            shapes.add(cost.spec().placement(g));
        }
        return new Groups(groups, List.copyOf(shapes));
    }
}
