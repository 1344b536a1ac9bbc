package io.tessera.planner.graph;

import java.util.List;

/**
 * The gradient of a tensor read by several nodes: the sum of the partial gradients {@code parts}, written to
 * {@code gradTensor} ({@code "grad/" + tensor}). Immutable.
 *
 * @param gradTensor the summed gradient
 * @param parts      the partial gradients, at least two, in the order they are computed
 */
public record Accumulate(String gradTensor, List<String> parts) implements BackwardStep {

    /** Validates and copies. */
    public Accumulate {
        if (gradTensor == null || parts == null || parts.size() < 2) {
            throw new IllegalArgumentException("accumulate: found gradTensor " + gradTensor + " and parts " + parts
                    + "; expected a name and at least two partial gradients");
        }
        parts = List.copyOf(parts);
    }

    /** Prints as {@code grad/x = grad/x@a + grad/x@b}. */
    @Override
    public String toString() {
        return gradTensor + " = " + String.join(" + ", parts);
    }
}
