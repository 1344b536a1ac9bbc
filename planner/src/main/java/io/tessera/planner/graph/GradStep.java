package io.tessera.planner.graph;

import java.util.List;

/**
 * The gradient of input {@code input} of the forward node {@code forward}, computed from the gradients of the
 * node's outputs (those with a gradient: {@link BackwardGraph#gradientOf}) and the forward tensors {@code reads}.
 * The result is {@code "grad/" + tensor} when this is the only gradient contribution to that input tensor, else the
 * partial {@code "grad/" + tensor + "@" + forward.name()} summed by an {@link Accumulate} (with {@code "#" + input}
 * appended when the node reads the tensor at several inputs). Immutable.
 *
 * @param name       the step's name: {@code forward.name() + "/grad" + input}, e.g. {@code layers.0.dense/grad1}
 * @param forward    the forward node
 * @param input      the input index of {@code forward}
 * @param gradTensor the gradient tensor written
 * @param reads      the forward tensors (inputs or outputs of {@code forward}) the gradient is computed from
 */
public record GradStep(String name, Node forward, int input, String gradTensor, List<String> reads)
        implements BackwardStep {

    /** Validates and copies. */
    public GradStep {
        if (name == null || forward == null || gradTensor == null || reads == null) {
            throw new IllegalArgumentException("grad step: found name " + name + ", forward " + forward
                    + ", gradTensor " + gradTensor + ", reads " + reads + "; all are required");
        }
        if (input < 0 || input >= forward.inputs().size()) {
            throw new IllegalArgumentException("grad step '" + name + "': input " + input + " of " + forward
                    + "; expected 0.." + (forward.inputs().size() - 1));
        }
        reads = List.copyOf(reads);
    }

    /** The forward tensor whose gradient (or partial gradient) this step computes. */
    public String inputTensor() {
        return forward.input(input);
    }

    /** Prints as {@code grad/w = MatMul'(layers.0.dense)#1 reads [x]}. */
    @Override
    public String toString() {
        return gradTensor + " = " + forward.type() + "'(" + forward.name() + ")#" + input + " reads " + reads;
    }
}
