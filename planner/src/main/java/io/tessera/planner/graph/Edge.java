package io.tessera.planner.graph;

/**
 * An edge of a {@link Network}'s graph: the tensor {@code tensor}, produced by node {@code source}, read by node
 * {@code target} as its input number {@code input}. A node reading one tensor twice has two edges. Immutable.
 *
 * @param tensor the tensor name
 * @param source the producing node's name
 * @param target the consuming node's name
 * @param input  the consumer's input index (0-based)
 */
public record Edge(String tensor, String source, String target, int input) {

    /** Validates the names and the index. */
    public Edge {
        if (tensor == null || source == null || target == null || input < 0) {
            throw new IllegalArgumentException("edge: found tensor " + tensor + ", source " + source + ", target "
                    + target + ", input " + input + "; expected three names and an input index >= 0");
        }
    }

    /** Prints as {@code source -[tensor#input]-> target}. */
    @Override
    public String toString() {
        return source + " -[" + tensor + "#" + input + "]-> " + target;
    }
}
