package io.tessera.layout.archfixture;

import io.tessera.planner.op.MatMul;

/** A deliberate back-edge: a class of the layout module's packages using the planner. Test code only. */
public final class BackEdge {
    private BackEdge() {
    }

    /** Uses a planner type from a layout package. */
    public static String type() {
        return MatMul.of(false, false).type();
    }
}
