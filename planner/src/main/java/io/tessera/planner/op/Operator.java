package io.tessera.planner.op;

import java.util.List;

/**
 * An operator of the catalogue with its attributes and its sharding rule. Each operator is one record implementing
 * this interface (the closed set is listed in {@code permits}); adding an operator is one record plus its tests.
 */
public sealed interface Operator permits MatMul, Binary, BiasAdd, Activation, Dropout, Cast, Softmax, LayerNorm,
        BatchNorm, SoftmaxCrossEntropyWithLogits, Reshape, Transpose, Reduce, Gather, Conv2D {

    /** MindSpore's primitive name, e.g. {@code MatMul}. */
    String type();

    /** Number of inputs. */
    int inputCount();

    /**
     * The output types for the given input types.
     *
     * @param name the operator instance's name, for messages
     * @throws IllegalArgumentException naming the operator, the input and the shape rule broken
     */
    List<TensorType> outputs(String name, List<TensorType> inputs);

    /** The strategy a semi-auto plan uses when the user gives none: data parallel over {@code devices}. */
    Strategy dataParallel(List<TensorType> inputs, int devices);

    /**
     * Derives the operator's device matrix, tensor maps and own communication from a strategy.
     *
     * @param name    the operator instance's name, for messages
     * @param inputs  the input types
     * @param in      the in_strategy: one tuple per input
     * @param out     the out_strategy, or null (only some operators accept one)
     * @param devices the number of devices in the stage
     * @throws IllegalArgumentException naming the operator, the input, the dimension and the rule broken
     */
    OpSharding shard(String name, List<TensorType> inputs, Strategy in, Strategy out, int devices);
}
