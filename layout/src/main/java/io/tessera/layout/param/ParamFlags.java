package io.tessera.layout.param;

/**
 * The training and parallel flags of a {@link Parameter}, as an immutable value: requires_grad, layerwise_parallel,
 * parallel_optimizer, comm_fusion, parallel_optimizer_comm_recompute and unique. Change one with its {@code withX}
 * method; {@link #DEFAULT} holds MindSpore's defaults (true, false, true, 1, false, false).
 *
 * @param requiresGrad                   whether gradients are computed for the parameter
 * @param layerwiseParallel              whether broadcast and gradient aggregation skip the parameter
 * @param parallelOptimizer              whether the optimizer may shard the parameter
 * @param commFusion                     the fusion id of its communication operators; 0 is never fused; &gt;= 0
 * @param parallelOptimizerCommRecompute whether the optimizer-parallel AllGather is recomputed in backward
 * @param unique                         whether the parameter is already unique
 */
public record ParamFlags(boolean requiresGrad, boolean layerwiseParallel, boolean parallelOptimizer, int commFusion,
        boolean parallelOptimizerCommRecompute, boolean unique) {

    /** MindSpore's defaults: requires_grad, no layerwise parallel, parallel optimizer on, comm_fusion 1. */
    public static final ParamFlags DEFAULT = new ParamFlags(true, false, true, 1, false, false);

    /**
     * Validates the flags.
     *
     * @throws IllegalArgumentException when {@code commFusion} is negative
     */
    public ParamFlags {
        if (commFusion < 0) {
            throw new IllegalArgumentException("comm_fusion must be an int >= 0, but got " + commFusion
                    + "; use 0 to never fuse its communication, or a positive fusion id");
        }
    }

    /** The default flags with the three given by MindSpore's {@code Parameter(...)} constructor. */
    public static ParamFlags of(boolean requiresGrad, boolean layerwiseParallel, boolean parallelOptimizer) {
        return DEFAULT.withRequiresGrad(requiresGrad).withLayerwiseParallel(layerwiseParallel)
                .withParallelOptimizer(parallelOptimizer);
    }

    /** These flags with {@code requiresGrad}. */
    public ParamFlags withRequiresGrad(boolean requiresGrad) {
        return new ParamFlags(requiresGrad, layerwiseParallel, parallelOptimizer, commFusion,
                parallelOptimizerCommRecompute, unique);
    }

    /** These flags with {@code layerwiseParallel}. */
    public ParamFlags withLayerwiseParallel(boolean layerwiseParallel) {
        return new ParamFlags(requiresGrad, layerwiseParallel, parallelOptimizer, commFusion,
                parallelOptimizerCommRecompute, unique);
    }

    /** These flags with {@code parallelOptimizer}. */
    public ParamFlags withParallelOptimizer(boolean parallelOptimizer) {
        return new ParamFlags(requiresGrad, layerwiseParallel, parallelOptimizer, commFusion,
                parallelOptimizerCommRecompute, unique);
    }

    /**
     * These flags with {@code commFusion}.
     *
     * @throws IllegalArgumentException when {@code commFusion} is negative
     */
    public ParamFlags withCommFusion(int commFusion) {
        return new ParamFlags(requiresGrad, layerwiseParallel, parallelOptimizer, commFusion,
                parallelOptimizerCommRecompute, unique);
    }

    /** These flags with {@code parallelOptimizerCommRecompute}. */
    public ParamFlags withParallelOptimizerCommRecompute(boolean recompute) {
        return new ParamFlags(requiresGrad, layerwiseParallel, parallelOptimizer, commFusion, recompute, unique);
    }

    /** These flags with {@code unique}. */
    public ParamFlags withUnique(boolean unique) {
        return new ParamFlags(requiresGrad, layerwiseParallel, parallelOptimizer, commFusion,
                parallelOptimizerCommRecompute, unique);
    }
}
