package io.tessera.layout.comm;

/** When a communication runs in a training step: one type for the plan, fusion, costs, the timeline and the simulator. */
public enum Phase {
    /** The forward pass. */
    FORWARD,
    /** The backward pass. */
    BACKWARD,
    /** The optimizer step. */
    OPTIMIZER;

    /** The JSON name, e.g. {@code forward}. */
    public String jsonName() {
        return name().toLowerCase(java.util.Locale.ROOT);
    }
}
