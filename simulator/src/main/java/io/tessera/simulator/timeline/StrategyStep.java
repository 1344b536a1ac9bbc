package io.tessera.simulator.timeline;

import io.tessera.planner.api.StrategyPlans;
import io.tessera.planner.cost.ClusterSpec;
import io.tessera.planner.cost.Recompute;
import io.tessera.planner.plan.PipelinePlan;
import io.tessera.planner.plan.RankMemory;
import io.tessera.planner.strategy.Parallelism;
import io.tessera.planner.strategy.StrategyFile;

/**
 * The analytic training step of a strategy file's planned pipeline, as {@code tessera simulate FILE} and
 * {@code tessera validate} run it: the one place where a file's settings become timeline options.
 * <ul>
 *   <li>schedule: 1F1B, or the interleaved 1F1B with {@code parallelism.virtual_pipeline > 1} (unless given);</li>
 *   <li>recompute: {@code parallelism.recompute} (unless given);</li>
 *   <li>gradient overlap: {@code parallelism.overlap_grad_reduce} (default true), and only if the caller allows it
 *       ({@code --no-overlap} does not);</li>
 *   <li>Megatron's scatter/gather pipeline sends (each tensor-parallel rank sends its share of a replicated boundary
 *       tensor, the receivers AllGather it) for files with a {@code parallelism} section, as Megatron-LM does by
 *       default; off otherwise;</li>
 *   <li>Megatron's distributed optimizer ({@code parallelism.distributed_optimizer}): each rank runs the optimizer
 *       step of its {@code 1 / data} share ({@link TimelineOptions#optimizerShards}); the gradient reduction and the
 *       weight gather it needs are costed as the data-parallel AllReduce, whose ring is exactly that ReduceScatter
 *       and AllGather; with gradient overlap a bucket costs its ReduceScatter, the AllGather running under the
 *       next step's forward;</li>
 *   <li>{@code parallelism.tp_comm_overlap}: {@link TimelineOptions#tpCommOverlap}.</li>
 *   <li>{@code routing}: the mixture-of-experts routing distribution ({@link TimelineOptions#routing}, uniform
 *       without the section);</li>
 *   <li>{@code parallelism.zero_stage 3}: the weight AllGathers start at most {@code parallelism.prefetch_layers}
 *       (default 1) layers ahead ({@link TimelineOptions#prefetchLayers}); otherwise unlimited, as before.</li>
 * </ul>
 */
public final class StrategyStep {

    private StrategyStep() {
    }

    /** 1F1B, or the interleaved 1F1B with {@code parallelism.virtual_pipeline > 1}. */
    public static PipelineSchedule schedule(StrategyFile file) {
        return StrategyPlans.virtualPipeline(file) > 1 ? PipelineSchedule.INTERLEAVED_1F1B
                : PipelineSchedule.ONE_F_ONE_B;
    }

    /** {@code allowed && parallelism.overlap_grad_reduce} (true without a section). */
    public static boolean overlap(StrategyFile file, boolean allowed) {
        return allowed && file.parallelism().map(Parallelism::overlapGradReduce).orElse(true);
    }

    /** Whether pipeline sends use Megatron's scatter/gather: with a {@code parallelism} section. */
    public static boolean scatterGather(StrategyFile file) {
        return file.parallelism().isPresent();
    }

    /**
     * Ranks each parameter's optimizer step is split over: the data-parallel degree with Megatron's
     * {@code parallelism.distributed_optimizer}, else 1.
     */
    public static int optimizerShards(StrategyFile file) {
        return file.parallelism().filter(Parallelism::distributedOptimizer)
                .map(p -> p.dataFor(file.deviceCount())).orElse(1);
    }

    /**
     * The prefetch limit of the weight AllGathers: {@code parallelism.prefetch_layers} (default 1) with
     * {@code zero_stage 3}, else {@link TimelineOptions#UNLIMITED_PREFETCH}.
     */
    public static int prefetchLayers(StrategyFile file) {
        return file.parallelism().filter(Parallelism::fullySharded).map(Parallelism::prefetch)
                .orElse(TimelineOptions.UNLIMITED_PREFETCH);
    }

    /**
     * The single-step {@link Timeline}'s options for {@code file} (one stage, one micro-batch, no recompute, as
     * {@code tessera simulate} runs it): gradient overlap ({@link #overlap}), the distributed optimizer's sharded update
     * ({@link #optimizerShards}), {@code parallelism.tp_comm_overlap} and the ZeRO-3 prefetch limit
     * ({@link #prefetchLayers}), the same settings {@link #run} gives the pipeline timeline.
     *
     * @param overlapAllowed false to keep gradient reductions from overlapping the backward whatever the file says
     * @param recordedRanks  ranks whose events are recorded (0: none)
     */
    public static TimelineOptions timelineOptions(StrategyFile file, ClusterSpec cluster, boolean overlapAllowed,
                                                  int recordedRanks) {
        return new TimelineOptions(cluster, overlap(file, overlapAllowed), recordedRanks, false,
                optimizerShards(file), file.parallelism().map(Parallelism::tpCommOverlap).orElse(false),
                prefetchLayers(file), file.routingOrUniform());
    }

    /**
     * The rank with the most memory in a simulated step: its global rank (the first of its stage), its
     * {@link RankMemory} with the optimizer sharded as the file says ({@link #optimizerShards}) and its stage's peak
     * activations.
     *
     * @param rank            the global rank
     * @param memory          weights, gradients, optimizer state, master copies and buffers, bytes
     * @param activationBytes the stage's peak activation bytes
     */
    public record FullestRank(int rank, RankMemory memory, long activationBytes) {

        /** Everything the rank holds at its peak, bytes: {@code memory.total() + activationBytes}. */
        public long totalBytes() {
            return memory.total() + activationBytes;
        }
    }

    /**
     * The fullest rank of {@code file}'s planned pipeline {@code pipe} after the step {@code report}: per stage, its
     * first rank's memory with the optimizer sharded as the file says plus the stage's peak activations; the largest
     * (the first stage among equals).
     */
    public static FullestRank fullestRank(StrategyFile file, PipelinePlan pipe, PipelineReport report) {
        int shards = optimizerShards(file);
        long[] activations = report.peakActivationBytes();
        FullestRank best = null;
        for (int stage = 0; stage < pipe.stages(); stage++) {
            int rank = stage * pipe.stageDevices();
            FullestRank r = new FullestRank(rank, pipe.memory(rank, shards),
                    activations[Math.min(stage, activations.length - 1)]);
            if (best == null || r.totalBytes() > best.totalBytes()) {
                best = r;
            }
        }
        return best;
    }

    /**
     * Simulates the planned pipeline {@code pipe} of {@code file} on {@code cluster}.
     *
     * @param schedule  the schedule, or null for {@link #schedule(StrategyFile)}
     * @param recompute the recompute mode, or null for the file's ({@link StrategyPlans#recompute})
     * @param overlap   false to keep gradient reductions from overlapping the backward whatever the file says
     * @throws IllegalArgumentException when the schedule cannot run on the plan or the cluster is too small
     */
    public static PipelineReport run(StrategyFile file, PipelinePlan pipe, ClusterSpec cluster,
                                     PipelineSchedule schedule, Recompute recompute, boolean overlap) {
        PipelineSchedule s = schedule != null ? schedule : schedule(file);
        Recompute r = recompute != null ? recompute : StrategyPlans.recompute(file);
        return PipelineTimeline.run(pipe, s, r, new TimelineOptions(cluster, overlap(file, overlap), 0, false,
                optimizerShards(file), file.parallelism().map(Parallelism::tpCommOverlap).orElse(false),
                prefetchLayers(file), file.routingOrUniform()),
                scatterGather(file));
    }
}
