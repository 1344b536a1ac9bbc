package io.tessera.planner.op;

/**
 * A tensor of an operator instance by position: input {@code i} or output {@code o}. Gradient rules name the forward
 * tensors an input's gradient reads this way ({@link Operator#gradientReads}); the graph maps them to tensor names.
 */
public sealed interface TensorRef permits TensorRef.Input, TensorRef.Output {

    /** The position among the operator's inputs or outputs, at least 0. */
    int index();

    /** Input {@code i} of the operator. */
    static TensorRef input(int i) {
        return new Input(i);
    }

    /** Output {@code o} of the operator. */
    static TensorRef output(int o) {
        return new Output(o);
    }

    /**
     * Input {@code index} of the operator.
     *
     * @param index the input position, at least 0
     */
    record Input(int index) implements TensorRef {
        /** Validates the position. */
        public Input {
            if (index < 0) {
                throw new IllegalArgumentException("TensorRef.Input: index is " + index
                        + "; expected an input position >= 0");
            }
        }
    }

    /**
     * Output {@code index} of the operator.
     *
     * @param index the output position, at least 0
     */
    record Output(int index) implements TensorRef {
        /** Validates the position. */
        public Output {
            if (index < 0) {
                throw new IllegalArgumentException("TensorRef.Output: index is " + index
                        + "; expected an output position >= 0");
            }
        }
    }
}
