package io.tessera.simulator.timeline;

import io.tessera.layout.comm.CollectiveKind;

import io.tessera.planner.cost.Recompute;
import io.tessera.layout.DType;
import io.tessera.planner.cost.ClusterSpec;
import io.tessera.planner.cost.CostModel;
import io.tessera.planner.graph.Network;
import io.tessera.planner.graph.Node;
import io.tessera.planner.plan.OpPlan;
import io.tessera.planner.plan.Plan;
import io.tessera.planner.plan.Bucket;
import io.tessera.planner.plan.Communication;
import io.tessera.planner.plan.PipelinePlan;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Function;
import java.util.stream.Collectors;

/**
 * Analytic simulation of a pipeline-parallel training step made of {@code p} identical stages, each the plan of one
 * stage on {@code stagePlan.devices()} ranks; stage {@code s} runs on global ranks {@code s * n .. s * n + n - 1},
 * placed on nodes by the cluster's {@link io.tessera.planner.cost.RankMapping} (the one-stage timeline runs on ranks
 * {@code 0 .. n - 1}).
 * All times are in seconds from the start of the step, all sizes in bytes per rank.
 *
 * <p>The model, in two steps:
 * <ol>
 *   <li>{@link #stageCosts}: the one-stage {@link Timeline} of {@code stagePlan} on the full batch gives the slowest
 *       rank's forward time (to its last forward operator's end, including the communication it waits for) and
 *       backward time (from there to its last backward operator's end; gradient reductions overlapped). A micro-batch
 *       costs both divided by {@code m} (linear scaling: latency terms and efficiency at smaller operations are not
 *       modelled), and so do the activations ({@link CostModel#activationBytes}) and the boundary tensor (the first
 *       floating-point operator output of the stage, for a transformer the embedding's hidden state). A send of the
 *       boundary tensor is {@code CostModel.collectiveSeconds("SendRecv", ...)} between a rank and its counterpart in
 *       the neighbouring stage, the slowest pair. The gradient reductions and the optimizer update issued after the
 *       first backward operator become the once-per-step tail.</li>
 *   <li>{@link #layout}: each device runs its schedule's fixed order of forwards and backwards of model chunks
 *       (virtual stage {@code k = c * p + d} for chunk {@code c} on device {@code d}); a forward of chunk {@code k > 0}
 *       waits for the forward of {@code k - 1} and its send, a backward of {@code k < K - 1} for the backward of
 *       {@code k + 1} and its send, a backward of the last chunk for its own forward. A unit starts when its device's
 *       compute stream is free and its input has arrived; sends run on the sender's communication stream after the
 *       unit. A chunk's forward and backward take {@code 1/v} of the stage's. Then the tail: with gradient overlap a
 *       reduction is ready where the one-stage backward issued it, mapped onto the device's last backward; without,
 *       when that backward ends; the update waits for every communication.</li>
 * </ol>
 * Recompute {@link Recompute#FULL} adds one chunk forward before each backward and keeps only each chunk's input per
 * micro-batch (plus one chunk's activations while it is recomputed); {@link Recompute#SELECTIVE} adds the attention
 * scores and softmax forward and does not keep their activations.
 */
public final class PipelineTimeline {

    private PipelineTimeline() {
    }

    /**
     * Simulates a step of {@code options.stages()} copies of {@code stagePlan}: {@link #stageCosts} then
     * {@link #layout} with the gradient overlap of {@code timeline}.
     *
     * @throws IllegalArgumentException when the cluster has fewer devices than {@code stages * stagePlan.devices()} or
     *                                  a network input's batch does not split into the micro-batches
     */
    public static PipelineReport run(Plan stagePlan, PipelineOptions options, Recompute recompute,
                                     TimelineOptions timeline) {
        return layout(stageCosts(stagePlan, options, timeline), options, recompute, timeline.overlapGradientComm());
    }

    /**
     * The per-micro-batch costs of one stage planned as {@code stagePlan}, on {@code timeline.cluster()} (see the class
     * comment).
     *
     * @throws IllegalArgumentException when the cluster has fewer devices than {@code stages * stagePlan.devices()} or
     *                                  a network input's batch does not split into the micro-batches
     */
    public static StageCosts stageCosts(Plan stagePlan, PipelineOptions options, TimelineOptions timeline) {
        ClusterSpec cluster = timeline.cluster();
        int n = stagePlan.devices();
        int p = options.stages();
        int m = options.microBatches();
        if ((long) n * p > cluster.devices()) {
            throw new IllegalArgumentException("cluster '" + cluster.name() + "' has " + cluster.devices()
                    + " devices but " + p + " stages of " + n + " ranks need " + (long) n * p + "; use a larger cluster");
        }
        Network net = stagePlan.network();
        for (String in : net.inputs()) {
            long[] shape = net.tensor(in).shape();
            if (shape.length > 0 && shape[0] % m != 0) {
                throw new IllegalArgumentException("input '" + in + "' has batch " + shape[0]
                        + ", not divisible into " + m + " micro-batches");
            }
        }
        // the slowest rank by its last backward's end (the first of equals), then its events from a second run
        // recording that rank only: cheaper than recording every rank of a large stage
        TimelineOptions quiet = new TimelineOptions(cluster, true, 0, timeline.perRank());
        Timeline.Result ends = Timeline.simulate(stagePlan, quiet, null, 0, 0);
        double[] fwdEnd = ends.forwardEnd();
        double[] bwdEnd = ends.backwardEnd();
        int slow = 0;
        for (int r = 1; r < n; r++) {
            if (bwdEnd[r] > bwdEnd[slow]) {
                slow = r;
            }
        }
        TimelineReport one = Timeline.simulate(stagePlan, quiet, null, slow, slow + 1).report();
        double forward = fwdEnd[slow];
        double backward = Math.max(0, bwdEnd[slow] - forward);
        List<StageCosts.TailStep> tail = new ArrayList<>();
        final int rank = slow;
        List<TimelineReport.Event> mine = one.events().stream().filter(e -> e.rank() == rank)
                .sorted(Comparator.comparingDouble(TimelineReport.Event::start)).collect(Collectors.toList());
        for (TimelineReport.Event e : mine) {
            boolean update = e.stream().equals(TimelineReport.Event.COMPUTE) && e.category().equals("optimizer");
            boolean reduction = e.stream().equals(TimelineReport.Event.COMM) && e.start() >= forward
                    && (e.category().equals("gradient") || e.category().equals("parallel_optimizer"))
                    && !e.name().startsWith("backward AllGather") && !e.name().startsWith("forward ");
            if (update || reduction) {
                double at = backward > 0 ? (Math.min(e.start(), bwdEnd[slow]) - forward) / backward : 1;
                tail.add(new StageCosts.TailStep(e.name(), e.stream(), e.category(), Math.max(0, Math.min(1, at)),
                        e.duration()));
            }
        }
        CostModel cost = new CostModel(cluster);
        long activations = cost.activationBytes(net, stagePlan, slow);
        long boundary = 0;
        for (OpPlan op : stagePlan.ops()) {
            DType t = net.tensor(net.node(op.name()).output(0)).dtype();
            if (t.isFloating()) {
                boundary = op.outputLayouts().get(0).sliceBytes(t);
                break;
            }
        }
        Map<String, OpPlan> byName = stagePlan.ops().stream()
                .collect(Collectors.toMap(OpPlan::name, Function.identity(), (a, b) -> a));
        double attentionSeconds = 0;
        long attentionBytes = 0;
        for (String name : Recompute.selectiveOps(net)) {
            OpPlan op = byName.get(name);
            attentionSeconds += cost.computeSeconds(net, op, false);
            Node node = net.node(name);
            for (int i = 0; i < op.outputLayouts().size(); i++) {
                attentionBytes += op.outputLayouts().get(i).sliceBytes(net.tensor(node.output(i)).dtype());
            }
        }
        long microBoundary = ceilDiv(boundary, m);
        double send = 0;
        if (p > 1) {
            List<int[]> pairs = new ArrayList<>();
            for (int s = 0; s + 1 < p; s++) {
                pairs.add(new int[] {s, s + 1});
            }
            if (options.virtualStages() > 1) {
                pairs.add(new int[] {p - 1, 0});
            }
            for (int[] pair : pairs) {
                for (int j = 0; j < n; j++) {
                    send = Math.max(send, cost.collectiveSeconds(CollectiveKind.SEND_RECV,
                            List.of(pair[0] * n + j, pair[1] * n + j), microBoundary));
                }
            }
        }
        return new StageCosts(forward / m, backward / m, send, ceilDiv(activations, m), microBoundary,
                attentionSeconds / m, Math.min(ceilDiv(attentionBytes, m), ceilDiv(activations, m)), tail);
    }

    /**
     * Simulates a step of a planned pipeline ({@link PipelinePlan}: stages of their own operators, micro-batches from
     * the plan): {@link #stageCosts(PipelinePlan, TimelineOptions)} then
     * {@link #layout(List, PipelineOptions, Recompute, boolean)} with {@code schedule} (gpipe or 1f1b).
     *
     * @throws IllegalArgumentException when the cluster is too small, or for the interleaved schedule
     */
    public static PipelineReport run(PipelinePlan pipe, PipelineSchedule schedule, Recompute recompute,
                                     TimelineOptions timeline) {
        if (schedule == PipelineSchedule.INTERLEAVED_1F1B) {
            throw new IllegalArgumentException("the interleaved schedule splits identical stages into chunks; planned "
                    + "stages of their own cost take gpipe or 1f1b");
        }
        PipelineOptions options = new PipelineOptions(pipe.stages(), pipe.microBatches(), schedule);
        return layout(stageCosts(pipe, timeline), options, recompute, timeline.overlapGradientComm());
    }

    /**
     * The per-micro-batch costs of each stage of a planned pipeline, on {@code timeline.cluster()}. The network is one
     * micro-batch, so nothing is divided.
     * <ul>
     *   <li>Forward and backward: a {@link Timeline} of {@code pipe.plan()} without the gradient reductions that run
     *       once per step (gradient AllReduces, optimizer-parallel ReduceScatters and mirror AllReduces; weight
     *       AllGathers stay, one per micro-batch, as the numeric simulation runs them), with every operator on one
     *       stage's {@code n} ranks placed as the stage's own ranks (one timeline for all stages that sit like stage
     *       0). A stage's forward and backward is the sum over its operators, on the slowest rank, of their compute
     *       plus the wait before them: the blocking communication since the previous operator ended.</li>
     *   <li>Tail: the gradient reductions and fusion buckets of its parameters at their position in its backward in
     *       the timeline of the whole plan (placed as stage 0's ranks), then its share of the optimizer update, in
     *       proportion to its parameter bytes.</li>
     *   <li>Activations: its operators' output slices; input: what it receives from earlier stages or loads (data
     *       inputs); attention: its scores and softmax.</li>
     *   <li>Send: the SendRecv of every boundary tensor it sends, on the slowest pair of ranks; a boundary that skips
     *       stages is charged to its sender.</li>
     * </ul>
     *
     * @throws IllegalArgumentException when the cluster has fewer devices than the pipeline
     */
    public static List<StageCosts> stageCosts(PipelinePlan pipe, TimelineOptions timeline) {
        ClusterSpec cluster = timeline.cluster();
        int n = pipe.stageDevices();
        int p = pipe.stages();
        if (pipe.devices() > cluster.devices()) {
            throw new IllegalArgumentException("cluster '" + cluster.name() + "' has " + cluster.devices()
                    + " devices but " + p + " stages of " + n + " ranks need " + pipe.devices()
                    + "; use a larger cluster");
        }
        Plan plan = pipe.plan();
        Network net = plan.network();
        TimelineOptions quiet = new TimelineOptions(cluster, true, 0, timeline.perRank());
        // a micro-batch's forward and backward: the plan without the once-per-step gradient reductions
        List<Communication> perMicro = new ArrayList<>();
        int[] index = new int[plan.comms().size()];
        for (int i = 0; i < index.length; i++) {
            Communication c = plan.comms().get(i);
            index[i] = oncePerStep(c) ? -1 : perMicro.size();
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
        double[] forward = new double[p];
        double[] backward = new double[p];
        Chain first = chain(pipe, micro, quiet);
        for (int st = 0; st < p; st++) {
            Chain chain = st == 0 || samePlacement(cluster, n, st) ? first : chain(pipe, micro,
                    new TimelineOptions(stageCluster(cluster, n, st), true, 0, timeline.perRank()));
            forward[st] = chain.forward()[st];
            backward[st] = chain.backward()[st];
        }
        // the whole step's timeline places each stage's gradient reductions in its backward
        Chain whole = chain(pipe, plan, quiet);
        int slow = whole.slow();
        double[] backwardStart = whole.backwardStart();
        double[] backwardEnd = whole.backwardEnd();
        double update = whole.update();
        List<TimelineReport.Event> mine = whole.events();
        // which stage each communication event belongs to, by the name Timeline gives it
        Map<String, Integer> stageOfEvent = new java.util.HashMap<>();
        for (Communication c : plan.comms()) {
            stageOfEvent.put(c.phase().jsonName() + " " + c.kind() + " " + c.tensor(), pipe.commStage(c));
        }
        for (Bucket b : plan.buckets()) {
            Communication c = plan.comms().get(b.issuedAt());
            stageOfEvent.put(c.phase().jsonName() + " " + b.kind() + (b.members().size() == 1 ? " " + c.tensor()
                    : " bucket " + b.id() + " (" + b.members().size() + " tensors)"), pipe.bucketStage(b));
        }
        List<List<StageCosts.TailStep>> tails = new ArrayList<>();
        for (int st = 0; st < p; st++) {
            tails.add(new ArrayList<>());
        }
        for (TimelineReport.Event e : mine) {
            boolean reduction = e.stream().equals(TimelineReport.Event.COMM)
                    && (e.category().equals("gradient") || e.category().equals("parallel_optimizer"))
                    && !e.name().startsWith("backward AllGather") && !e.name().startsWith("forward ");
            Integer st = reduction ? stageOfEvent.get(e.name()) : null;
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
        long[] activations = new long[p];
        long[] inputs = new long[p];
        double[] attentionSeconds = new double[p];
        long[] attentionBytes = new long[p];
        Map<String, OpPlan> byName = plan.ops().stream()
                .collect(Collectors.toMap(OpPlan::name, Function.identity(), (a, b) -> a));
        Set<String> attention = Recompute.selectiveOps(net);
        for (OpPlan op : plan.ops()) {
            int st = pipe.stageOf(op.name());
            Node node = net.node(op.name());
            long out = 0;
            for (int i = 0; i < op.outputLayouts().size(); i++) {
                out += op.outputLayouts().get(i).sliceBytes(net.tensor(node.output(i)).dtype());
            }
            activations[st] += out;
            if (attention.contains(op.name())) {
                attentionSeconds[st] += cost.computeSeconds(net, op, false);
                attentionBytes[st] += out;
            }
            for (int i = 0; i < node.inputs().size(); i++) {
                if (net.inputs().contains(node.input(i))) {
                    inputs[st] += op.inputLayouts().get(i).sliceBytes(net.tensor(node.input(i)).dtype());
                }
            }
        }
        double[] send = new double[p];
        for (PipelinePlan.Boundary b : pipe.boundaries()) {
            inputs[b.toStage()] += b.bytes();
            double worst = 0;
            for (int j = 0; j < n; j++) {
                worst = Math.max(worst, cost.collectiveSeconds(CollectiveKind.SEND_RECV,
                        List.of(pipe.globalRank(b.fromStage(), j), pipe.globalRank(b.toStage(), j)), b.bytes()));
            }
            send[b.fromStage()] += worst;
        }
        List<StageCosts> out = new ArrayList<>();
        for (int st = 0; st < p; st++) {
            List<StageCosts.TailStep> tail = tails.get(st);
            if (update > 0) {
                double share = allParams > 0 ? (double) paramBytes[st] / allParams : 1.0 / p;
                tail.add(new StageCosts.TailStep("optimizer update", TimelineReport.Event.COMPUTE, "optimizer", 1,
                        update * share));
            }
            out.add(new StageCosts(forward[st], backward[st], send[st], activations[st], inputs[st],
                    attentionSeconds[st], Math.min(attentionBytes[st], activations[st]), tail));
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
    private static boolean oncePerStep(Communication c) {
        return c.origin() == Communication.Origin.GRADIENT
                || c.origin() == Communication.Origin.PARALLEL_OPTIMIZER && c.kind() != CollectiveKind.ALL_GATHER;
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
        int p = pipe.stages();
        double[] bwdEnd = Timeline.simulate(plan, quiet, null, 0, 0).backwardEnd();
        int slow = 0;
        for (int r = 1; r < bwdEnd.length; r++) {
            if (bwdEnd[r] > bwdEnd[slow]) {
                slow = r;
            }
        }
        final int rank = slow;
        List<TimelineReport.Event> mine = Timeline.simulate(plan, quiet, null, slow, slow + 1).report().events()
                .stream().filter(e -> e.rank() == rank)
                .sorted(Comparator.comparingDouble(TimelineReport.Event::start)).collect(Collectors.toList());
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
                int st = pipe.stageOf(e.name());
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

    private static long ceilDiv(long a, long b) {
        return (a + b - 1) / b;
    }

    /**
     * Lays out a step of {@code options.stages()} stages with per-micro-batch {@code costs} (see the class comment).
     *
     * @param overlapGradientComm true to let the tail's communication start during the last backward
     */
    public static PipelineReport layout(StageCosts costs, PipelineOptions options, Recompute recompute,
                                        boolean overlapGradientComm) {
        return new Layout(java.util.Collections.nCopies(options.stages(), costs), options, recompute,
                overlapGradientComm).run();
    }

    /**
     * Lays out a step whose stages have their own per-micro-batch costs ({@code costs.get(s)} for stage {@code s}),
     * as {@link #layout(StageCosts, PipelineOptions, Recompute, boolean)}; a stage's sends (forward to the next stage,
     * gradient back from the next stage) cost the sending stage's {@code sendSeconds} of the boundary between them.
     *
     * @throws IllegalArgumentException when the list does not have one entry per stage, or with virtual stages (the
     *                                  interleaved schedule needs identical stages)
     */
    public static PipelineReport layout(List<StageCosts> costs, PipelineOptions options, Recompute recompute,
                                        boolean overlapGradientComm) {
        if (costs.size() != options.stages()) {
            throw new IllegalArgumentException("pipeline layout: " + costs.size() + " stage costs for "
                    + options.stages() + " stages; expected one per stage");
        }
        if (options.virtualStages() > 1) {
            throw new IllegalArgumentException("the interleaved schedule splits identical stages into chunks; stages "
                    + "of their own cost take gpipe or 1f1b");
        }
        return new Layout(costs, options, recompute, overlapGradientComm).run();
    }

    /** One forward or backward of one micro-batch through one chunk on a device. */
    private record Unit(boolean forward, int chunk, int micro) {
    }

    private static final class Layout {
        private final List<StageCosts> perStage;
        private final StageCosts costs;
        private final PipelineOptions options;
        private final Recompute recompute;
        private final boolean overlap;
        private final int p;
        private final int v;
        private final int m;
        private final int chunks;
        private final double[][] forwardEnd;
        private final double[][] forwardArrival;
        private final double[][] backwardEnd;
        private final double[][] backwardArrival;
        private final double[] computeFree;
        private final double[] commFree;
        private final List<TimelineReport.Event> events = new ArrayList<>();

        Layout(List<StageCosts> perStage, PipelineOptions options, Recompute recompute, boolean overlap) {
            this.perStage = List.copyOf(perStage);
            this.costs = perStage.get(0);
            this.options = options;
            this.recompute = java.util.Objects.requireNonNull(recompute, "recompute");
            this.overlap = overlap;
            this.p = options.stages();
            this.v = options.virtualStages();
            this.m = options.microBatches();
            this.chunks = p * v;
            this.forwardEnd = nans(chunks, m);
            this.forwardArrival = nans(chunks, m);
            this.backwardEnd = nans(chunks, m);
            this.backwardArrival = nans(chunks, m);
            this.computeFree = new double[p];
            this.commFree = new double[p];
        }

        private static double[][] nans(int a, int b) {
            double[][] x = new double[a][b];
            for (double[] row : x) {
                Arrays.fill(row, Double.NaN);
            }
            return x;
        }

        /** The order of units on device {@code d}. */
        private List<Unit> order(int d) {
            List<Unit> out = new ArrayList<>();
            switch (options.schedule()) {
                case GPIPE:
                    for (int i = 0; i < m; i++) {
                        out.add(new Unit(true, 0, i));
                    }
                    for (int i = 0; i < m; i++) {
                        out.add(new Unit(false, 0, i));
                    }
                    return out;
                case ONE_F_ONE_B: {
                    int warm = Math.min(p - 1 - d, m);
                    for (int i = 0; i < warm; i++) {
                        out.add(new Unit(true, 0, i));
                    }
                    for (int i = 0; i < m - warm; i++) {
                        out.add(new Unit(true, 0, warm + i));
                        out.add(new Unit(false, 0, i));
                    }
                    for (int i = m - warm; i < m; i++) {
                        out.add(new Unit(false, 0, i));
                    }
                    return out;
                }
                default: {
                    int total = m * v;
                    int warm = Math.min(total, (p - d - 1) * 2 + (v - 1) * p);
                    for (int k = 0; k < warm; k++) {
                        out.add(interleaved(k, true));
                    }
                    for (int k = 0; k < total - warm; k++) {
                        out.add(interleaved(warm + k, true));
                        out.add(interleaved(k, false));
                    }
                    for (int k = total - warm; k < total; k++) {
                        out.add(interleaved(k, false));
                    }
                    return out;
                }
            }
        }

        /** Megatron-LM's k-th forward (or backward) on a device: groups of p micro-batches per chunk. */
        private Unit interleaved(int k, boolean forward) {
            int group = (k % (p * v)) / p;
            int chunk = forward ? group : v - 1 - group;
            int micro = (k / (p * v)) * p + k % p;
            return new Unit(forward, chunk, micro);
        }

        /** When the unit's input is available, or NaN when its producer is not laid out yet. */
        private double ready(Unit u, int k) {
            if (u.forward()) {
                return k == 0 ? 0 : forwardArrival[k - 1][u.micro()];
            }
            double own = forwardEnd[k][u.micro()];
            return k == chunks - 1 ? own : Math.max(own, backwardArrival[k + 1][u.micro()]);
        }

        PipelineReport run() {
            List<List<Unit>> orders = new ArrayList<>();
            int remaining = 0;
            for (int d = 0; d < p; d++) {
                orders.add(order(d));
                remaining += orders.get(d).size();
            }
            double[] fs = new double[p];
            double[] bs = new double[p];
            double[] extras = new double[p];
            for (int d = 0; d < p; d++) {
                StageCosts c = perStage.get(d);
                fs[d] = c.forwardSeconds() / v;
                bs[d] = c.backwardSeconds() / v;
                extras[d] = recompute == Recompute.FULL ? fs[d]
                        : recompute == Recompute.SELECTIVE ? c.attentionSeconds() / v : 0;
            }
            int[] next = new int[p];
            double[] busy = new double[p];
            double[] lastBackwardStart = new double[p];
            double[] lastBackwardEnd = new double[p];
            List<List<double[]>> inFlight = new ArrayList<>();
            for (int d = 0; d < p; d++) {
                inFlight.add(new ArrayList<>());
            }
            while (remaining > 0) {
                boolean progress = false;
                for (int d = 0; d < p; d++) {
                    List<Unit> order = orders.get(d);
                    while (next[d] < order.size()) {
                        Unit u = order.get(next[d]);
                        int k = u.chunk() * p + d;
                        double ready = ready(u, k);
                        if (Double.isNaN(ready)) {
                            break;
                        }
                        double start = Math.max(computeFree[d], ready);
                        double f = fs[d];
                        double b = bs[d];
                        double extra = extras[d];
                        String suffix = " mb " + u.micro() + (v > 1 ? " chunk " + u.chunk() : "");
                        double end;
                        if (u.forward()) {
                            end = start + f;
                            compute(d, "forward" + suffix, "forward", start, f);
                            forwardEnd[k][u.micro()] = end;
                            inFlight.get(d).add(new double[] {start, 1});
                            forwardArrival[k][u.micro()] = k + 1 < chunks
                                    ? send(d, (k + 1) % p, "forward" + suffix, end) : end;
                        } else {
                            if (extra > 0) {
                                compute(d, "recompute" + suffix, "recompute", start, extra);
                            }
                            double bStart = start + extra;
                            end = bStart + b;
                            compute(d, "backward" + suffix, "backward", bStart, b);
                            backwardEnd[k][u.micro()] = end;
                            inFlight.get(d).add(new double[] {end, -1});
                            backwardArrival[k][u.micro()] = k > 0 ? send(d, (k - 1) % p, "gradient" + suffix, end)
                                    : end;
                            if (end >= lastBackwardEnd[d]) {
                                lastBackwardStart[d] = bStart;
                                lastBackwardEnd[d] = end;
                            }
                        }
                        busy[d] += end - start;
                        computeFree[d] = end;
                        next[d]++;
                        remaining--;
                        progress = true;
                    }
                }
                if (!progress) {
                    throw new IllegalStateException("pipeline schedule " + options.schedule().cliName()
                            + " deadlocks with " + p + " stages, " + m + " micro-batches, " + v + " chunks");
                }
            }
            double span = 0;
            double totalBusy = 0;
            for (int d = 0; d < p; d++) {
                span = Math.max(span, computeFree[d]);
                totalBusy += busy[d];
            }
            for (int d = 0; d < p; d++) {
                tail(d, lastBackwardStart[d], lastBackwardEnd[d]);
            }
            double step = 0;
            for (int d = 0; d < p; d++) {
                step = Math.max(step, Math.max(computeFree[d], commFree[d]));
            }
            int[] peak = new int[p];
            long[] bytes = new long[p];
            for (int d = 0; d < p; d++) {
                List<double[]> deltas = inFlight.get(d);
                deltas.sort(Comparator.<double[]>comparingDouble(x -> x[0]).thenComparingDouble(x -> x[1]));
                int now = 0;
                for (double[] x : deltas) {
                    now += (int) x[1];
                    peak[d] = Math.max(peak[d], now);
                }
                bytes[d] = activationBytes(peak[d], perStage.get(d));
            }
            double bubble = span > 0 ? Math.max(0, 1 - totalBusy / (p * span)) : 0;
            return new PipelineReport(step, bubble, bytes, peak, costs, options, recompute, events, perStage);
        }

        /** Peak activation bytes with {@code inFlight} chunk micro-batches kept. */
        private long activationBytes(int inFlight, StageCosts costs) {
            double chunkActivations = (double) costs.activationBytes() / v;
            double chunkAttention = (double) costs.attentionBytes() / v;
            double bytes;
            switch (recompute) {
                case FULL:
                    bytes = (double) inFlight * costs.inputBytes() + chunkActivations;
                    break;
                case SELECTIVE:
                    bytes = inFlight * (chunkActivations - chunkAttention) + chunkAttention;
                    break;
                default:
                    bytes = inFlight * chunkActivations;
                    break;
            }
            return Math.round(bytes);
        }

        private void compute(int d, String name, String category, double start, double seconds) {
            events.add(new TimelineReport.Event(d, TimelineReport.Event.COMPUTE, name, category, start, seconds));
        }

        /** A send from device {@code d} to device {@code to} after {@code after}; returns its arrival. */
        private double send(int d, int to, String what, double after) {
            // the boundary between d and to belongs to the earlier stage (the wrap-around of interleaving: identical)
            double seconds = perStage.get(Math.min(d, to)).sendSeconds();
            if (to == d || seconds == 0) {
                return after;
            }
            double start = Math.max(commFree[d], after);
            commFree[d] = start + seconds;
            events.add(new TimelineReport.Event(d, TimelineReport.Event.COMM, "send " + what + " to stage " + to,
                    "pipeline", start, seconds));
            return commFree[d];
        }

        /** The gradient reductions and the update of device {@code d} after its last backward. */
        private void tail(int d, double backwardStart, double backwardEnd) {
            double afterUpdate = 0;
            for (StageCosts.TailStep t : perStage.get(d).tail()) {
                if (t.stream().equals(TimelineReport.Event.COMPUTE)) {
                    double start = Math.max(Math.max(computeFree[d], commFree[d]), backwardEnd);
                    events.add(new TimelineReport.Event(d, t.stream(), t.name(), t.category(), start, t.seconds()));
                    computeFree[d] = start + t.seconds();
                    afterUpdate = computeFree[d];
                    continue;
                }
                double ready = overlap ? backwardStart + t.backwardPosition() * (backwardEnd - backwardStart)
                        : backwardEnd;
                double start = Math.max(commFree[d], Math.max(ready, afterUpdate));
                events.add(new TimelineReport.Event(d, t.stream(), t.name(), t.category(), start, t.seconds()));
                commFree[d] = start + t.seconds();
            }
        }
    }
}
