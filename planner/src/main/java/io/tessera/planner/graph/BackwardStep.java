package io.tessera.planner.graph;

/** One step of a {@link BackwardGraph}: the gradient of one operator input, or the sum of partial gradients. */
public sealed interface BackwardStep permits GradStep, Accumulate {

    /** The gradient tensor this step writes. */
    String gradTensor();
}
