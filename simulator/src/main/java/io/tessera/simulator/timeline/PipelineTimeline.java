package io.tessera.simulator.timeline;

import io.tessera.layout.comm.CollectiveKind;

import io.tessera.planner.cost.ActivationMemory;
import io.tessera.planner.cost.Recompute;
import io.tessera.layout.DType;
import io.tessera.planner.cost.ClusterSpec;
import io.tessera.planner.cost.CostModel;
import io.tessera.planner.graph.Network;
import io.tessera.planner.plan.OpPlan;
import io.tessera.planner.plan.Plan;
import io.tessera.planner.plan.PipelinePlan;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
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
 *       modelled), and so do the activations ({@link ActivationMemory}: what the operators save for their backward)
 *       and the boundary tensor (the first floating-point operator output of the stage, for a transformer the
 *       embedding's hidden state). A send of the boundary tensor is {@link #sendSeconds} between a rank and its
 *       counterpart in the neighbouring stage, the slowest pair. The gradient reductions and the optimizer update
 *       issued after the first backward operator become the once-per-step tail.</li>
 *   <li>{@link #layout}: each device runs its schedule's fixed order of forwards and backwards of model chunks
 *       (virtual stage {@code k = c * p + d} for chunk {@code c} on device {@code d}); a forward of chunk {@code k > 0}
 *       waits for the forward of {@code k - 1} and its send, a backward of {@code k < K - 1} for the backward of
 *       {@code k + 1} and its send, a backward of the last chunk for its own forward. A unit starts when its device's
 *       compute stream is free and its input has arrived; sends run on the sender's communication stream after the
 *       unit. Identical stages: a chunk's forward and backward take {@code 1/v} of the stage's; planned stages
 *       ({@link #run(PipelinePlan, PipelineSchedule, Recompute, TimelineOptions, boolean)}): each chunk its own. Then
 *       each device's tail: with gradient overlap a reduction is ready where its chunk's backward issued it, mapped
 *       onto that chunk's last backward (the device's last backward for identical stages); without, when the
 *       device's last backward ends; the update waits for every communication.</li>
 * </ol>
 * Recompute as Megatron-LM does it: {@link Recompute#FULL} adds one chunk forward before each backward and keeps per
 * in-flight micro-batch only each transformer layer's input (and what the operators outside the layers keep), plus
 * one layer's activations while that layer is recomputed; {@link Recompute#SELECTIVE} adds the core attention's
 * forward (QK^T through the product with V) and does not keep what it saves inside itself, plus one core attention's
 * while it is recomputed. The peak per device is the largest sum over its in-flight chunk micro-batches plus the
 * largest of those live sets.
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
        TimelineOptions quiet = timeline.withOverlapGradientComm(true).withRecordedRanks(0);
        // rank 0 is recorded on the way: when it is the slowest (the first of equals), one simulation is enough
        Timeline.Result ends = Timeline.simulate(stagePlan, quiet, null, 0, 1);
        double[] fwdEnd = ends.forwardEnd();
        double[] bwdEnd = ends.backwardEnd();
        int slow = 0;
        for (int r = 1; r < n; r++) {
            if (bwdEnd[r] > bwdEnd[slow]) {
                slow = r;
            }
        }
        TimelineReport one = slow == 0 ? ends.report() : Timeline.simulate(stagePlan, quiet, null, slow, slow + 1)
                .report();
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
        ActivationMemory memory = ActivationMemory.of(stagePlan);
        List<String> ops = stagePlan.ops().stream().map(OpPlan::name).toList();
        long activations = memory.keptBytes(ops);
        long boundary = 0;
        io.tessera.layout.Layout boundaryLayout = null;
        for (OpPlan op : stagePlan.ops()) {
            DType t = net.tensor(net.node(op.name()).output(0)).dtype();
            if (t.isFloating()) {
                boundaryLayout = op.outputLayouts().get(0);
                boundary = boundaryLayout.sliceBytes(t);
                break;
            }
        }
        Map<String, OpPlan> byName = stagePlan.ops().stream()
                .collect(Collectors.toMap(OpPlan::name, Function.identity(), (a, b) -> a));
        double attentionSeconds = 0;
        for (String name : Recompute.selectiveOps(net)) {
            attentionSeconds += cost.computeSeconds(net, byName.get(name), false);
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
                send = Math.max(send, sendSeconds(cost, boundaryLayout, microBoundary, n, pair[0], pair[1],
                        options.scatterGatherSends()));
            }
        }
        long kept = ceilDiv(activations, m);
        return new StageCosts(forward / m, backward / m, send, kept, microBoundary, attentionSeconds / m,
                Math.min(ceilDiv(memory.selectiveDroppedBytes(ops), m), kept), tail,
                ceilDiv(memory.fullKeptBytes(ops, boundary), m), ceilDiv(memory.fullWorkingBytes(ops), m),
                ceilDiv(memory.selectiveWorkingBytes(ops), m));
    }

    /**
     * Simulates a step of a planned pipeline: {@link #run(PipelinePlan, PipelineSchedule, Recompute, TimelineOptions,
     * boolean)} without the scatter/gather send optimisation.
     *
     * @throws IllegalArgumentException as that method
     */
    public static PipelineReport run(PipelinePlan pipe, PipelineSchedule schedule, Recompute recompute,
                                     TimelineOptions timeline) {
        return run(pipe, schedule, recompute, timeline, false);
    }

    /**
     * Simulates a step of a planned pipeline ({@link PipelinePlan}: stages, or with virtual stages model chunks, of
     * their own operators; micro-batches from the plan): {@link #stageCosts(PipelinePlan, TimelineOptions, boolean)}
     * then {@link #layout(List, PipelineOptions, Recompute, boolean)} with {@code schedule}: gpipe or 1f1b for a plan
     * of one chunk per stage, interleaved for a plan with {@code virtualStages >= 2} (each chunk costed with its own
     * operators).
     *
     * @param scatterGather Megatron-LM's scatter/gather send optimisation ({@link PipelineOptions#scatterGatherSends})
     * @throws IllegalArgumentException when the cluster is too small; for the interleaved schedule on a plan of one
     *                                  chunk per stage, gpipe or 1f1b on a plan with virtual stages, or micro-batches
     *                                  that the schedule does not accept
     */
    public static PipelineReport run(PipelinePlan pipe, PipelineSchedule schedule, Recompute recompute,
                                     TimelineOptions timeline, boolean scatterGather) {
        boolean interleaved = schedule == PipelineSchedule.INTERLEAVED_1F1B;
        if (interleaved && pipe.virtualStages() < 2) {
            throw new IllegalArgumentException("the interleaved schedule needs a plan with virtual stages >= 2 (model "
                    + "chunks per stage); this plan has " + pipe.stages() + " stages of one chunk each, which take "
                    + "gpipe or 1f1b (or plan it with virtual stages)");
        }
        if (!interleaved && pipe.virtualStages() > 1) {
            throw new IllegalArgumentException("schedule " + schedule.cliName() + " runs one chunk per stage but the "
                    + "plan has " + pipe.virtualStages() + " virtual stages; use the interleaved schedule");
        }
        PipelineOptions options = new PipelineOptions(pipe.stages(), pipe.microBatches(), schedule,
                pipe.virtualStages(), scatterGather);
        return layout(stageCosts(pipe, timeline, scatterGather), options, recompute, timeline.overlapGradientComm());
    }

    /**
     * The per-micro-batch costs of each model chunk of a planned pipeline (each stage without interleaving), on
     * {@code timeline.cluster()}, without the scatter/gather send optimisation. The network is one micro-batch, so
     * nothing is divided.
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
     *   <li>Activations: what its operators save for the backward ({@link ActivationMemory}), with the recompute
     *       figures (per transformer layer); input: what it receives from other stages or loads (data inputs);
     *       attention: its core attention ({@link Recompute#selectiveOps}).</li>
     *   <li>Send: the SendRecv of every boundary tensor it sends, on the slowest pair of ranks
     *       ({@link #sendSeconds}); a boundary that skips chunks is charged to its sender.</li>
     *   <li>With interleaving, a chunk's tail holds its own parameters' reductions; the device's optimizer update is
     *       in the tail of its chunk 0 (whose last backward ends the device's backwards).</li>
     * </ul>
     *
     * @throws IllegalArgumentException when the cluster has fewer devices than the pipeline
     */
    public static List<StageCosts> stageCosts(PipelinePlan pipe, TimelineOptions timeline) {
        return stageCosts(pipe, timeline, false);
    }

    /**
     * {@link #stageCosts(PipelinePlan, TimelineOptions)} with the sends costed with or without Megatron-LM's
     * scatter/gather optimisation ({@link PipelineOptions#scatterGatherSends()}); one entry per model chunk (chunk
     * {@code c * stages + d} at index {@code c * stages + d}; stages without interleaving).
     *
     * @throws IllegalArgumentException when the cluster has fewer devices than the pipeline
     */
    public static List<StageCosts> stageCosts(PipelinePlan pipe, TimelineOptions timeline, boolean scatterGather) {
        return PlannedStageCosts.of(pipe, timeline, scatterGather);
    }

    /**
     * Seconds of one send of a boundary tensor of {@code bytes} per rank in {@code layout} from stage {@code from} to
     * stage {@code to} ({@code n} ranks each, global rank {@code stage * n + local}), on the slowest pair of ranks.
     * Plain: every rank sends its slice to its peer (a SendRecv). With {@code scatterGather} and a slice held by
     * {@code r > 1} ranks ({@link io.tessera.layout.Layout#repeatedCount()}), Megatron-LM's optimisation: each of
     * them sends {@code 1/r} of it, then the receiving stage's {@code r} ranks AllGather it
     * ({@link CostModel#collectiveSeconds} of a SendRecv of {@code ceil(bytes / r)} plus an AllGather of
     * {@code bytes} over the receiving replica group). The sends of all {@code n} ranks run at once and share their
     * nodes' NICs ({@link CostModel#concurrentCollectiveSeconds}; no sharing with one NIC per device).
     */
    static double sendSeconds(CostModel cost, io.tessera.layout.Layout layout, long bytes, int n, int from, int to,
                              boolean scatterGather) {
        int r = scatterGather && layout != null && layout.deviceCount() == n ? layout.repeatedCount() : 1;
        long part = r > 1 ? ceilDiv(bytes, r) : bytes;
        List<List<Integer>> pairs = new ArrayList<>(n);
        for (int j = 0; j < n; j++) {
            pairs.add(List.of(from * n + j, to * n + j));
        }
        // every rank of the stage sends at once: they share their nodes' NICs (CostModel, nics_per_node)
        double[] sends = cost.concurrentCollectiveSeconds(CollectiveKind.SEND_RECV, pairs, part);
        double worst = 0;
        for (int j = 0; j < n; j++) {
            double s = sends[j];
            if (r > 1) {
                List<Integer> group = new ArrayList<>();
                for (int g : layout.repeatedGroup(j)) {
                    group.add(to * n + g);
                }
                s += cost.collectiveSeconds(CollectiveKind.ALL_GATHER, group, bytes);
            }
            worst = Math.max(worst, s);
        }
        return worst;
    }

    private static long ceilDiv(long a, long b) {
        return (a + b - 1) / b;
    }

    /**
     * Lays out a step of {@code options.stages()} identical stages with per-micro-batch {@code costs} (see the class
     * comment); with {@code v} virtual stages each device runs {@code v} chunks of {@code 1/v} of the stage.
     *
     * @param overlapGradientComm true to let the tail's communication start during the last backward
     */
    public static PipelineReport layout(StageCosts costs, PipelineOptions options, Recompute recompute,
                                        boolean overlapGradientComm) {
        int v = options.virtualStages();
        List<PipelineLayout.ChunkCosts> chunks = new ArrayList<>();
        for (int k = 0; k < options.chunks(); k++) {
            chunks.add(PipelineLayout.ChunkCosts.split(costs, v, k < options.stages()));
        }
        return new PipelineLayout(chunks, java.util.Collections.nCopies(options.stages(), costs), options, recompute,
                overlapGradientComm).run();
    }

    /**
     * Lays out a step whose stages (or model chunks) have their own per-micro-batch costs, as
     * {@link #layout(StageCosts, PipelineOptions, Recompute, boolean)}: {@code costs.get(k)} for chunk {@code k} (on
     * stage {@code k % stages}; one chunk per stage without interleaving). The send across the boundary between
     * chunks {@code k} and {@code k + 1} (forward activation and returning gradient) costs chunk {@code k}'s
     * {@code sendSeconds}. A chunk's tail is placed on its own last backward (with gradient overlap), the update
     * after every reduction of its device.
     *
     * @throws IllegalArgumentException when the list does not have one entry per chunk
     */
    public static PipelineReport layout(List<StageCosts> costs, PipelineOptions options, Recompute recompute,
                                        boolean overlapGradientComm) {
        if (costs.size() != options.chunks()) {
            throw new IllegalArgumentException("pipeline layout: " + costs.size() + " stage costs for "
                    + options.stages() + " stages x " + options.virtualStages() + " chunks; expected one per chunk ("
                    + options.chunks() + ")");
        }
        return new PipelineLayout(costs.stream().map(PipelineLayout.ChunkCosts::of).toList(), costs, options,
                recompute, overlapGradientComm).run();
    }
}
