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
 */
public record ParamPlan(String name, DType dtype, Layout layout, boolean trainable, boolean layerwiseParallel,
                        int commFusion, String consumer) {

    /** Bytes of each rank's slice. */
    public long sliceBytes() {
        return layout.sliceBytes(dtype);
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
