package io.tessera.planner.graph;

import io.tessera.planner.op.Operator;

import java.util.List;

/**
 * One operator instance of a {@link Network}: its unique (hierarchical) name, the operator with its attributes, the
 * names of the tensors it reads (one per operator input, in order) and the names of the tensors it writes. The first
 * output is named like the node, further outputs {@code name + ":1"}, {@code name + ":2"}, ... (see
 * {@link #outputName(String, int)}). Immutable.
 *
 * @param name    the node name, e.g. {@code layers.0.attention.q}
 * @param op      the operator
 * @param inputs  the input tensor names, one per operator input
 * @param outputs the output tensor names, at least one, named as described above
 */
public record Node(String name, Operator op, List<String> inputs, List<String> outputs) {

    /** Validates the names and the number of inputs, and copies the lists. */
    public Node {
        if (name == null || name.isBlank()) {
            throw new IllegalArgumentException("node: found the name '" + name + "'; expected a non-blank name");
        }
        if (op == null) {
            throw new IllegalArgumentException("node '" + name + "': found no operator; expected an Operator");
        }
        if (inputs == null || inputs.stream().anyMatch(java.util.Objects::isNull)) {
            throw new IllegalArgumentException("node '" + name + "': found the inputs " + inputs
                    + "; expected a list of tensor names without nulls");
        }
        if (inputs.size() != op.inputCount()) {
            throw new IllegalArgumentException("node '" + name + "' (" + op.type() + "): found " + inputs.size()
                    + " input" + (inputs.size() == 1 ? "" : "s") + " " + inputs + "; expected " + op.inputCount()
                    + "; give one tensor name per operator input");
        }
        if (outputs == null || outputs.isEmpty() || outputs.stream().anyMatch(java.util.Objects::isNull)) {
            throw new IllegalArgumentException("node '" + name + "': found the outputs " + outputs
                    + "; expected at least one output name");
        }
        for (int i = 0; i < outputs.size(); i++) {
            if (!outputName(name, i).equals(outputs.get(i))) {
                throw new IllegalArgumentException("node '" + name + "': output " + i + " is named '"
                        + outputs.get(i) + "'; expected '" + outputName(name, i)
                        + "' (the first output takes the node name, output i the suffix ':i')");
            }
        }
        inputs = List.copyOf(inputs);
        outputs = List.copyOf(outputs);
    }

    /** The name of output {@code index} of the node {@code node}: {@code node} for 0, else {@code node + ":" + index}. */
    public static String outputName(String node, int index) {
        return index == 0 ? node : node + ":" + index;
    }

    /** The operator's MindSpore primitive name, e.g. {@code MatMul}. */
    public String type() {
        return op.type();
    }

    /** Input tensor {@code i}. */
    public String input(int i) {
        return inputs.get(i);
    }

    /** Output tensor {@code i}. */
    public String output(int i) {
        return outputs.get(i);
    }

    /** Prints as {@code layers.0.dense = MatMul(x, layers.0.weight)}. */
    @Override
    public String toString() {
        return name + " = " + op.type() + "(" + String.join(", ", inputs) + ")";
    }
}
