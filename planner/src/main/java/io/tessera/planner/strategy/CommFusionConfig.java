package io.tessera.planner.strategy;

import io.tessera.layout.comm.CollectiveKind;

/**
 * {@code parallel.comm_fusion}: the fusion mode of each fusable communication kind. AllReduce accepts
 * {@code auto}, {@code size} and {@code index}; AllGather and ReduceScatter accept {@code auto} and {@code size}.
 * A null mode means {@code auto}, the default.
 *
 * @param allreduce     gradient AllReduce fusion
 * @param allgather     optimizer-parallel AllGather fusion
 * @param reducescatter optimizer-parallel ReduceScatter fusion
 */
public record CommFusionConfig(CommFusionMode allreduce, CommFusionMode allgather, CommFusionMode reducescatter) {

    /** Replaces nulls by {@code auto}; rejects {@code index} for AllGather and ReduceScatter. */
    public CommFusionConfig {
        allreduce = allreduce == null ? CommFusionMode.auto() : allreduce;
        allgather = allgather == null ? CommFusionMode.auto() : allgather;
        reducescatter = reducescatter == null ? CommFusionMode.auto() : reducescatter;
        if (allgather instanceof CommFusionMode.Index) {
            throw new IllegalArgumentException("parallel.comm_fusion.allgather.mode: found 'index'; "
                    + "expected one of auto, size (index is for allreduce only)");
        }
        if (reducescatter instanceof CommFusionMode.Index) {
            throw new IllegalArgumentException("parallel.comm_fusion.reducescatter.mode: found 'index'; "
                    + "expected one of auto, size (index is for allreduce only)");
        }
    }

    /** The default: every kind {@code auto} (64 MB buckets). */
    public static CommFusionConfig defaults() {
        return new CommFusionConfig(null, null, null);
    }

    /** A configuration; a null mode means {@code auto}. */
    public static CommFusionConfig of(CommFusionMode allreduce, CommFusionMode allgather,
                                      CommFusionMode reducescatter) {
        return new CommFusionConfig(allreduce, allgather, reducescatter);
    }

    /**
     * The mode that fuses communications of {@code kind}: AllGather and ReduceScatter their own, every other kind
     * (the gradient AllReduce and the mirror AllReduce) AllReduce's.
     */
    public CommFusionMode mode(CollectiveKind kind) {
        return switch (kind) {
            case ALL_GATHER -> allgather;
            case REDUCE_SCATTER -> reducescatter;
            case ALL_REDUCE, ALL_TO_ALL, BROADCAST, COLLECTIVE_PERMUTE, SEND_RECV -> allreduce;
        };
    }
}
