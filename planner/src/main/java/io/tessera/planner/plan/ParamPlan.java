package io.tessera.planner.plan;

import io.tessera.layout.DType;
import io.tessera.layout.Layout;

/**
 * How one parameter is laid out and reduced. Immutable.
 *
 * @param name              the parameter's name
 * @param dtype             its element type
 * @param layout            its layout (the layout its first consumer needs; replicated when unused)
 * @param trainable         whether it requires a gradient
 * @param layerwiseParallel whether its gradient reduction is skipped ({@code layerwise_parallel})
 * @param commFusion        its {@code comm_fusion} id (0 = never fused)
 * @param consumer          the operator whose strategy set the layout, or null when unused
 * @param shard             its optimizer sharding (not sharded, with the reason, when optimizer parallel is off)
 * @param recompute         its {@code parallel_optimizer_comm_recompute}
 */
public record ParamPlan(String name, DType dtype, Layout layout, boolean trainable, boolean layerwiseParallel,
                        int commFusion, String consumer, OptimizerShard shard, boolean recompute) {

    /** Bytes of each rank's model-parallel slice (what forward and backward compute with). */
    public long sliceBytes() {
        return layout.sliceBytes(dtype);
    }

    /** Bytes each rank stores between steps: its optimizer shard, or its whole slice when not sharded. */
    public long shardBytes() {
        return sliceBytes() / shard.shards();
    }

    /** Bytes of the whole parameter. */
    public long fullBytes() {
        long v = dtype.bytes();
        for (long d : layout.shape()) {
            v *= d;
        }
        return v;
    }
}
