package io.tessera.simulator.timeline;

import io.tessera.layout.comm.CollectiveKind;
import io.tessera.planner.cost.ActivationMemory;
import io.tessera.planner.cost.ClusterSpec;
import io.tessera.planner.cost.CostModel;
import io.tessera.planner.cost.Recompute;
import io.tessera.planner.graph.Network;
import io.tessera.planner.graph.Node;
import io.tessera.planner.plan.Bucket;
import io.tessera.planner.plan.Communication;
import io.tessera.planner.plan.OpPlan;
import io.tessera.planner.plan.PipelinePlan;
import io.tessera.planner.plan.Plan;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;

/**
 * The per-micro-batch costs of each model chunk of a planned pipeline ({@link PipelineTimeline#stageCosts(PipelinePlan,
 * TimelineOptions)}; a chunk is a stage without interleaving).
 */
final class PlannedStageCosts {

    private PlannedStageCosts() {
    }

    static List<StageCosts> of(PipelinePlan pipe, TimelineOptions timeline, boolean scatterGather) {
        ClusterSpec cluster = timeline.cluster();
        int n = pipe.stageDevices();
        int p = pipe.stages();
        int chunks = pipe.chunks();
        if (pipe.devices() > cluster.devices()) {
            throw new IllegalArgumentException("cluster '" + cluster.name() + "' has " + cluster.devices()
                    + " devices but " + p + " stages of " + n + " ranks need " + pipe.devices()
                    + "; use a larger cluster");
        }
        Plan plan = pipe.plan();
        Network net = plan.network();
        TimelineOptions quiet = timeline.withOverlapGradientComm(true).withRecordedRanks(0);
        // a micro-batch's forward and backward: the plan without the once-per-step gradient reductions
        List<Communication> perMicro = new ArrayList<>();
        int[] index = new int[plan.comms().size()];
        for (int i = 0; i < index.length; i++) {
            Communication c = plan.comms().get(i);
            index[i] = oncePerStep(c, plan) ? -1 : perMicro.size();
            if (index[i] >= 0) {
                perMicro.add(c);
            }
        }
        // the weight AllGathers keep their fusion buckets
        List<Bucket> gathers = new ArrayList<>();
        for (Bucket b : plan.buckets()) {
            if (b.comms().stream().allMatch(i -> index[i] >= 0)) {
                gathers.add(new Bucket(gathers.size(), b.kind(), b.phase(), b.groups(), b.dtype(), b.fusionId(),
                        b.members(), b.comms().stream().map(i -> index[i]).toList(), b.bytes(), index[b.issuedAt()]));
            }
        }
        Plan micro = new Plan(net, plan.config(), plan.ops(), plan.layouts(), perMicro, plan.params(), gathers,
                plan.notes());
        // each stage on its own ranks' placement: one timeline when every stage sits like stage 0
        double[] forward = new double[chunks];
        double[] backward = new double[chunks];
        Chain first = chain(pipe, micro, quiet);
        Chain[] byStage = new Chain[p];
        for (int k = 0; k < chunks; k++) {
            int st = pipe.stageOfChunk(k);
            if (byStage[st] == null) {
                byStage[st] = st == 0 || samePlacement(cluster, n, st) ? first : chain(pipe, micro,
                        timeline.withCluster(stageCluster(cluster, n, st)).withOverlapGradientComm(true)
                                .withRecordedRanks(0));
            }
            forward[k] = byStage[st].forward()[k];
            backward[k] = byStage[st].backward()[k];
        }
        // the whole step's timeline places each stage's gradient reductions in its backward
        Chain whole = chain(pipe, plan, quiet);
        int slow = whole.slow();
        double[] backwardStart = whole.backwardStart();
        double[] backwardEnd = whole.backwardEnd();
        double update = whole.update();
        List<TimelineReport.Event> mine = whole.events();
        // which chunk each communication event belongs to, by the name Timeline gives it
        Map<String, Integer> chunkOfEvent = new java.util.HashMap<>();
        for (Communication c : plan.comms()) {
            chunkOfEvent.put(c.phase().jsonName() + " " + c.kind() + " " + c.tensor(), pipe.commChunk(c));
        }
        for (Bucket b : plan.buckets()) {
            Communication c = plan.comms().get(b.issuedAt());
            chunkOfEvent.put(c.phase().jsonName() + " " + b.kind() + (b.members().size() == 1 ? " " + c.tensor()
                    : " bucket " + b.id() + " (" + b.members().size() + " tensors)"), pipe.bucketChunk(b));
        }
        List<List<StageCosts.TailStep>> tails = new ArrayList<>();
        for (int k = 0; k < chunks; k++) {
            tails.add(new ArrayList<>());
        }
        boolean perMicroShards = plan.config().optimizerConfig().gradientAccumulationShard();
        for (TimelineReport.Event e : mine) {
            boolean reduction = e.stream().equals(TimelineReport.Event.COMM)
                    && (e.category().equals("gradient") || e.category().equals("parallel_optimizer") && !perMicroShards)
                    && !e.name().startsWith("backward AllGather") && !e.name().startsWith("forward ");
            Integer st = reduction ? chunkOfEvent.get(e.name()) : null;
            if (st == null) {
                continue;
            }
            double span = backwardEnd[st] - backwardStart[st];
            double at = span > 0 ? (Math.min(e.start(), backwardEnd[st]) - backwardStart[st]) / span : 1;
            tails.get(st).add(new StageCosts.TailStep(e.name(), e.stream(), e.category(), Math.max(0, Math.min(1, at)),
                    e.duration()));
        }
        long[] paramBytes = new long[p];
        long allParams = 0;
        for (int st = 0; st < p; st++) {
            paramBytes[st] = pipe.memory(pipe.globalRank(st, slow)).params();
            allParams += paramBytes[st];
        }
        CostModel cost = new CostModel(cluster);
        long[] inputs = new long[chunks];
        double[] attentionSeconds = new double[chunks];
        Set<String> attention = Recompute.selectiveOps(net);
        for (OpPlan op : plan.ops()) {
            int st = pipe.chunkOf(op.name());
            Node node = net.node(op.name());
            if (attention.contains(op.name())) {
                attentionSeconds[st] += cost.computeSeconds(net, op, false);
            }
            for (int i = 0; i < node.inputs().size(); i++) {
                if (net.inputs().contains(node.input(i))) {
                    inputs[st] += op.inputLayouts().get(i).sliceBytes(net.tensor(node.input(i)).dtype());
                }
            }
        }
        double[] send = new double[chunks];
        for (PipelinePlan.Boundary b : pipe.boundaries()) {
            inputs[b.toChunk()] += b.bytes();
            send[b.fromChunk()] += PipelineTimeline.sendSeconds(cost, b.layout(), b.bytes(), n, b.fromStage(),
                    b.toStage(), scatterGather);
        }
        ActivationMemory memory = ActivationMemory.of(plan);
        List<StageCosts> out = new ArrayList<>();
        for (int k = 0; k < chunks; k++) {
            List<StageCosts.TailStep> tail = tails.get(k);
            int st = pipe.stageOfChunk(k);
            if (update > 0 && k == st) {
                // the device's optimizer update, once, after the tail of its chunk 0 (its last backward)
                double share = allParams > 0 ? (double) paramBytes[st] / allParams : 1.0 / p;
                tail.add(new StageCosts.TailStep("optimizer update", TimelineReport.Event.COMPUTE, "optimizer", 1,
                        update * share));
            }
            List<String> ops = pipe.chunkOps(k).stream().map(OpPlan::name).toList();
            long kept = memory.keptBytes(ops);
            out.add(new StageCosts(forward[k], backward[k], send[k], kept, inputs[k], attentionSeconds[k],
                    Math.min(memory.selectiveDroppedBytes(ops), kept), tail, memory.fullKeptBytes(ops, inputs[k]),
                    memory.fullWorkingBytes(ops), memory.selectiveWorkingBytes(ops)));
        }
        return out;
    }

    /**
     * Whether stage {@code st}'s ranks sit as stage 0's: local ranks {@code i, j} share a node in one stage exactly
     * when they do in the other.
     */
    private static boolean samePlacement(ClusterSpec cluster, int n, int st) {
        int a = st;
        int b = 0;
        Map<Integer, Integer> rename = new java.util.HashMap<>();
        Map<Integer, Integer> back = new java.util.HashMap<>();
        for (int r = 0; r < n; r++) {
            int x = cluster.nodeOf(a * n + r);
            int y = cluster.nodeOf(b * n + r);
            if (!rename.computeIfAbsent(x, k -> y).equals(y) || !back.computeIfAbsent(y, k -> x).equals(x)) {
                return false;
            }
        }
        return true;
    }

    /**
     * The cluster with stage {@code st}'s ranks swapped onto ranks {@code 0 .. n-1} (an explicit mapping, the same
     * number of ranks per node), so that a one-stage timeline costs that stage's placement.
     */
    private static ClusterSpec stageCluster(ClusterSpec cluster, int n, int st) {
        List<Integer> nodes = new ArrayList<>();
        for (int r = 0; r < cluster.devices(); r++) {
            int from = r < n ? st * n + r : r >= st * n && r < st * n + n ? r - st * n : r;
            nodes.add(cluster.nodeOf(from));
        }
        return cluster.withRankMapping(io.tessera.planner.cost.RankMapping.explicit(nodes));
    }

    /** Gradient reductions that run once per step, on the sums over the micro-batches (not weight gathers). */
    /**
     * Whether {@code c} runs once per step, after the last micro-batch: gradient reductions, and the optimizer-parallel
     * ReduceScatters and mirror AllReduces unless {@code gradient_accumulation_shard} makes them run after every
     * micro-batch.
     */
    private static boolean oncePerStep(Communication c, Plan plan) {
        return c.origin() == Communication.Origin.GRADIENT
                || c.origin() == Communication.Origin.PARALLEL_OPTIMIZER && c.kind() != CollectiveKind.ALL_GATHER
                && !plan.config().optimizerConfig().gradientAccumulationShard();
    }

    /**
     * The slowest rank's compute chain split by stage: per stage its forward and backward seconds (its operators'
     * compute plus the wait before them) and where its backward starts and ends; the rank, its optimizer seconds and
     * all its events in start order.
     */
    private record Chain(double[] forward, double[] backward, double[] backwardStart, double[] backwardEnd, int slow,
                         double update, List<TimelineReport.Event> events) {
    }

    /** The {@link Chain} of {@code plan} on its slowest rank. */
    private static Chain chain(PipelinePlan pipe, Plan plan, TimelineOptions quiet) {
        // rank 0 is recorded on the way: when it is the slowest (the first of equals), one simulation is enough
        Timeline.Result first = Timeline.simulate(plan, quiet, null, 0, 1);
        double[] bwdEnd = first.backwardEnd();
        int slow = 0;
        for (int r = 1; r < bwdEnd.length; r++) {
            if (bwdEnd[r] > bwdEnd[slow]) {
                slow = r;
            }
        }
        final int rank = slow;
        Timeline.Result recorded = slow == 0 ? first : Timeline.simulate(plan, quiet, null, slow, slow + 1);
        List<TimelineReport.Event> mine = recorded.report().events()
                .stream().filter(e -> e.rank() == rank)
                .sorted(Comparator.comparingDouble(TimelineReport.Event::start)).collect(Collectors.toList());
        int p = pipe.chunks();
        double[] forward = new double[p];
        double[] backward = new double[p];
        double[] backwardStart = new double[p];
        double[] backwardEnd = new double[p];
        Arrays.fill(backwardStart, Double.POSITIVE_INFINITY);
        double previous = 0;
        double update = 0;
        for (TimelineReport.Event e : mine) {
            if (!e.stream().equals(TimelineReport.Event.COMPUTE)) {
                continue;
            }
            double end = e.start() + e.duration();
            if (e.category().equals("forward") || e.category().equals("backward")) {
                int st = pipe.chunkOf(e.name());
                if (e.category().equals("forward")) {
                    forward[st] += end - previous;
                } else {
                    backward[st] += end - previous;
                    backwardStart[st] = Math.min(backwardStart[st], previous);
                    backwardEnd[st] = Math.max(backwardEnd[st], end);
                }
                previous = end;
            } else if (e.category().equals("optimizer")) {
                update += e.duration();
            }
        }
        return new Chain(forward, backward, backwardStart, backwardEnd, slow, update, mine);
    }

}
