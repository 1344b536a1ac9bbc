package io.tessera.planner.strategy;

/**
 * Per-parameter settings of a strategy file ({@code parameters.<name or prefix.*>}). Each field is null when the
 * file does not set it; the parameter's own value (spec §4 defaults: comm_fusion 1, parallel_optimizer true,
 * parallel_optimizer_comm_recompute false, layerwise_parallel false, requires_grad true) then applies.
 *
 * @param commFusion                     {@code comm_fusion}: the fusion id, >= 0 (0 = never fused), or null
 * @param parallelOptimizer              {@code parallel_optimizer}: may optimizer parallel shard it, or null
 * @param parallelOptimizerCommRecompute {@code parallel_optimizer_comm_recompute}: re-gather in backward, or null
 * @param layerwiseParallel              {@code layerwise_parallel}: skip the gradient AllReduce, or null
 * @param requiresGrad                   {@code requires_grad}: trainable, or null
 */
public record ParamSettings(Integer commFusion, Boolean parallelOptimizer, Boolean parallelOptimizerCommRecompute,
                            Boolean layerwiseParallel, Boolean requiresGrad) {

    private static final ParamSettings NONE = new ParamSettings(null, null, null, null, null);

    /** Validates the fusion id. */
    public ParamSettings {
        if (commFusion != null && commFusion < 0) {
            throw new IllegalArgumentException("comm_fusion: found " + commFusion
                    + "; expected a fusion id >= 0 (0 = never fused)");
        }
    }

    /** Settings that set nothing. */
    public static ParamSettings none() {
        return NONE;
    }

    /** A copy with {@code comm_fusion} replaced. */
    public ParamSettings withCommFusion(Integer v) {
        return new ParamSettings(v, parallelOptimizer, parallelOptimizerCommRecompute, layerwiseParallel,
                requiresGrad);
    }

    /** A copy with {@code parallel_optimizer} replaced. */
    public ParamSettings withParallelOptimizer(Boolean v) {
        return new ParamSettings(commFusion, v, parallelOptimizerCommRecompute, layerwiseParallel, requiresGrad);
    }

    /** A copy with {@code parallel_optimizer_comm_recompute} replaced. */
    public ParamSettings withParallelOptimizerCommRecompute(Boolean v) {
        return new ParamSettings(commFusion, parallelOptimizer, v, layerwiseParallel, requiresGrad);
    }

    /** A copy with {@code layerwise_parallel} replaced. */
    public ParamSettings withLayerwiseParallel(Boolean v) {
        return new ParamSettings(commFusion, parallelOptimizer, parallelOptimizerCommRecompute, v, requiresGrad);
    }

    /** A copy with {@code requires_grad} replaced. */
    public ParamSettings withRequiresGrad(Boolean v) {
        return new ParamSettings(commFusion, parallelOptimizer, parallelOptimizerCommRecompute, layerwiseParallel,
                v);
    }

    /** Whether no field is set. */
    public boolean isEmpty() {
        return equals(NONE);
    }

    /** These settings with every field that {@code other} sets replaced by {@code other}'s value. */
    public ParamSettings overriddenBy(ParamSettings other) {
        return new ParamSettings(
                other.commFusion != null ? other.commFusion : commFusion,
                other.parallelOptimizer != null ? other.parallelOptimizer : parallelOptimizer,
                other.parallelOptimizerCommRecompute != null
                        ? other.parallelOptimizerCommRecompute : parallelOptimizerCommRecompute,
                other.layerwiseParallel != null ? other.layerwiseParallel : layerwiseParallel,
                other.requiresGrad != null ? other.requiresGrad : requiresGrad);
    }
}
