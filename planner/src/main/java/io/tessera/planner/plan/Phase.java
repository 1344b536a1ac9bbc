package io.tessera.planner.plan;

/** When an inserted communication runs in a training step. */
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
