package io.tessera.simulator.timeline;

import io.tessera.planner.cost.ClusterSpec;

import io.tessera.planner.strategy.Routing;

import java.util.Objects;

/**
 * Options of an analytic timeline simulation. Immutable.
 *
 * @param cluster             the cluster the plan runs on; it must have at least the plan's devices
 * @param overlapGradientComm true (the default) to run gradient reductions and optimizer-parallel ReduceScatters on
 *                            the communication stream while later backward operators compute; false to make backward
 *                            compute wait for each of them
 * @param recordedRanks       events are recorded for ranks {@code 0 .. recordedRanks - 1} only (the figures always
 *                            cover every rank); 0 records none, which is the fastest when no trace is wanted; default
 *                            {@link #DEFAULT_RECORDED_RANKS}
 * @param perRank             true to simulate every rank separately (the reference computation, O(ranks) work per
 *                            operator); false (the default) to keep one state per class of ranks in identical state,
 *                            with bit-identical figures and events (see {@link Timeline})
 * @param optimizerShards     ranks the optimizer step of each parameter is split over (Megatron's distributed
 *                            optimizer: the data-parallel degree), at least 1; each rank's update time is divided by
 *                            it, and so are its optimizer state and master copies in the memory figure
 *                            ({@link io.tessera.planner.plan.RankMemory#withOptimizerShards}) (default 1); above 1
 *                            with gradient overlap, a data-parallel gradient AllReduce
 *                            bucket costs as its ReduceScatter (the weight AllGather that completes it runs under
 *                            the next step's forward, Megatron's {@code --overlap-param-gather})
 * @param tpCommOverlap       Megatron-Core's {@code --tp-comm-overlap}: a tensor-parallel AllGather or ReduceScatter
 *                            next to a matrix product (before it, or after it in the same phase) is pipelined with it
 *                            in chunks, so only what outlasts the product's compute is exposed (default false)
 * @param prefetchLayers      how far ahead an optimizer-parallel parameter AllGather may start (ZeRO-3's prefetch
 *                            limit, {@code parallelism.prefetch_layers}); {@link #UNLIMITED_PREFETCH} (-1, the
 *                            default) starts it as soon as the communication stream is free; {@code k >= 1}: a
 *                            forward AllGather serving an operator of unit {@code u} (a transformer layer, or a run of
 *                            operators outside the layers) starts no earlier than the forward compute of unit
 *                            {@code u - k}'s first operator, a backward AllGather no earlier than the backward compute
 *                            of unit {@code u + k}'s first backward operator; 0: no prefetch, it waits for the compute
 *                            before it as other communications do (see {@link Timeline})
 * @param routing             how a mixture of experts routes its tokens ({@link io.tessera.planner.cost.MoeCosts}
 *                            prices the expert operators and their AllToAlls from it); null means uniform (the
 *                            default); no effect on a network without experts
 */
public record TimelineOptions(ClusterSpec cluster, boolean overlapGradientComm, int recordedRanks, boolean perRank,
                              int optimizerShards, boolean tpCommOverlap, int prefetchLayers, Routing routing) {

    /** {@link #prefetchLayers} of the unlimited prefetch (no dependency, no limit). */
    public static final int UNLIMITED_PREFETCH = -1;

    /** Ranks whose events are recorded by default. */
    public static final int DEFAULT_RECORDED_RANKS = 64;

    /** Validates the values. */
    public TimelineOptions {
        Objects.requireNonNull(cluster, "cluster");
        routing = routing == null ? Routing.uniform() : routing;
        if (optimizerShards < 1) {
            throw new IllegalArgumentException("optimizerShards: found " + optimizerShards + "; expected at least 1");
        }
        if (recordedRanks < 0) {
            throw new IllegalArgumentException("recordedRanks: found " + recordedRanks + "; expected at least 0");
        }
        if (prefetchLayers < UNLIMITED_PREFETCH) {
            throw new IllegalArgumentException("prefetchLayers: found " + prefetchLayers + "; expected a number of "
                    + "layers >= 0, or " + UNLIMITED_PREFETCH + " for unlimited prefetch");
        }
    }

    /** Options with uniform routing. */
    public TimelineOptions(ClusterSpec cluster, boolean overlapGradientComm, int recordedRanks, boolean perRank,
                           int optimizerShards, boolean tpCommOverlap, int prefetchLayers) {
        this(cluster, overlapGradientComm, recordedRanks, perRank, optimizerShards, tpCommOverlap, prefetchLayers,
                Routing.uniform());
    }

    /** A copy with another routing distribution (null: uniform). */
    public TimelineOptions withRouting(Routing r) {
        return new TimelineOptions(cluster, overlapGradientComm, recordedRanks, perRank, optimizerShards, tpCommOverlap,
                prefetchLayers, r);
    }

    /** Options with unlimited prefetch of optimizer-parallel AllGathers. */
    public TimelineOptions(ClusterSpec cluster, boolean overlapGradientComm, int recordedRanks, boolean perRank,
                           int optimizerShards, boolean tpCommOverlap) {
        this(cluster, overlapGradientComm, recordedRanks, perRank, optimizerShards, tpCommOverlap, UNLIMITED_PREFETCH);
    }

    /** Options with the optimizer step unsharded. */
    public TimelineOptions(ClusterSpec cluster, boolean overlapGradientComm, int recordedRanks, boolean perRank) {
        this(cluster, overlapGradientComm, recordedRanks, perRank, 1, false);
    }

    /** Options simulating classes of ranks (not every rank separately). */
    public TimelineOptions(ClusterSpec cluster, boolean overlapGradientComm, int recordedRanks) {
        this(cluster, overlapGradientComm, recordedRanks, false);
    }

    /** Options with the default recorded ranks. */
    public TimelineOptions(ClusterSpec cluster, boolean overlapGradientComm) {
        this(cluster, overlapGradientComm, DEFAULT_RECORDED_RANKS);
    }

    /** The defaults on {@code cluster}: gradient communication overlapped, events of the first 64 ranks. */
    public static TimelineOptions of(ClusterSpec cluster) {
        return new TimelineOptions(cluster, true);
    }

    /** A copy with gradient-communication overlap on or off. */
    public TimelineOptions withOverlapGradientComm(boolean on) {
        return new TimelineOptions(cluster, on, recordedRanks, perRank, optimizerShards, tpCommOverlap,
                prefetchLayers, routing);
    }

    /** A copy recording the events of the first {@code ranks} ranks (0: none). */
    public TimelineOptions withRecordedRanks(int ranks) {
        return new TimelineOptions(cluster, overlapGradientComm, ranks, perRank, optimizerShards, tpCommOverlap,
                prefetchLayers, routing);
    }

    /** A copy simulating every rank separately ({@code true}, the slow reference) or classes of ranks. */
    public TimelineOptions withPerRank(boolean on) {
        return new TimelineOptions(cluster, overlapGradientComm, recordedRanks, on, optimizerShards, tpCommOverlap,
                prefetchLayers, routing);
    }

    /** A copy whose optimizer step is split over {@code shards} ranks (Megatron's distributed optimizer). */
    public TimelineOptions withOptimizerShards(int shards) {
        return new TimelineOptions(cluster, overlapGradientComm, recordedRanks, perRank, shards, tpCommOverlap,
                prefetchLayers, routing);
    }

    /** A copy on another cluster. */
    public TimelineOptions withCluster(ClusterSpec c) {
        return new TimelineOptions(c, overlapGradientComm, recordedRanks, perRank, optimizerShards, tpCommOverlap,
                prefetchLayers, routing);
    }

    /**
     * A copy whose optimizer-parallel AllGathers start at most {@code layers} units ahead
     * ({@link #UNLIMITED_PREFETCH} for no limit).
     */
    public TimelineOptions withPrefetchLayers(int layers) {
        return new TimelineOptions(cluster, overlapGradientComm, recordedRanks, perRank, optimizerShards, tpCommOverlap,
                layers, routing);
    }

    /** A copy with Megatron-Core's tensor-parallel communication overlap on or off. */
    public TimelineOptions withTpCommOverlap(boolean on) {
        return new TimelineOptions(cluster, overlapGradientComm, recordedRanks, perRank, optimizerShards, on,
                prefetchLayers, routing);
    }
}
