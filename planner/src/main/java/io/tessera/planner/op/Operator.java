package io.tessera.planner.op;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.tessera.layout.DType;

import java.util.List;

/**
 * An operator of the catalogue: its attributes and everything the planner and the simulator need to know about it.
 * Each operator is one record implementing this interface (the closed set is listed in {@code permits}), and that
 * record file, {@code op/<Op>.java}, is the operator's room: the compiler refuses a record that leaves out any of
 * the abstract methods below.
 *
 * <p><b>Adding an operator</b> means, and the build or the contract test refuses anything less:
 * <ol>
 *   <li>the record {@code planner/.../op/<Op>.java}, added to {@code permits}, implementing: its shape rule
 *       ({@link #outputs}), its sharding rule ({@link #dataParallel}, {@link #shard}), its gradient rule
 *       ({@link #differentiableInput}, {@link #differentiableOutput}, {@link #gradientReads}), its JSON attributes
 *       ({@link #encodeAttrs}), its forward FLOPs ({@link #forwardFlops}), its memory traffic
 *       ({@link #forwardBytes}), its kind ({@link #operatorKind}) and {@link #accept};</li>
 *   <li>a constant in {@link OperatorKind} with its MindSpore type names, attribute names and decoder (the
 *       JSON read side);</li>
 *   <li>a {@code visit} method for it in {@link Visitor} (every visitor, among them the simulator's
 *       {@code Kernels}, then fails to compile until it handles the record) and the kernel class
 *       {@code simulator/.../kernel/<Op>Kernel.java} with {@code forward} and {@code backward};</li>
 *   <li>its samples in {@code simulator/src/test/.../kernel/OperatorSamples.java} (input shapes and attribute
 *       variants covering each type name), on which {@code OperatorContractTest} checks, for random valid
 *       strategies, the sharded kernels against the unsharded one (a one-op network simulated on all ranks), the
 *       backward against central differences, the JSON round trip, and FLOPs and bytes; that test fails for a
 *       permitted record without samples. Rule tests go to {@code planner/src/test/.../op/<Op>Test.java}.</li>
 * </ol>
 */
public sealed interface Operator permits MatMul, Binary, BiasAdd, Activation, Dropout, CausalMask, Cast, Softmax,
        LayerNorm, RMSNorm, BatchNorm, SoftmaxCrossEntropyWithLogits, Reshape, Transpose, Reduce, Gather, Conv2D,
        FlashAttention, Rope, Split, MoeDispatch, MoeCombine, MoeRouter, MoeAuxLoss, Concat, BroadcastTo {

    /** MindSpore's primitive name, e.g. {@code MatMul}. */
    String type();

    /** The registry constant of this operator's record. */
    OperatorKind operatorKind();

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

    /**
     * Gradient rule: whether input {@code i} has a gradient (following MindSpore's bprop; integer indices, labels
     * and saved statistics have none).
     */
    boolean differentiableInput(int i);

    /** Gradient rule: whether the gradient of output {@code o} flows back to the inputs. */
    boolean differentiableOutput(int o);

    /**
     * Gradient rule: the forward tensors the gradient of (differentiable) input {@code i} is computed from, besides
     * the gradients of the outputs; an empty list when it needs none.
     */
    List<TensorRef> gradientReads(int i);

    /**
     * The JSON {@code attrs} of this operator: every attribute of {@link OperatorKind#attrNames()} (defaults
     * included), in that order; {@link OperatorKind#decode} of the result gives an equal operator.
     */
    ObjectNode encodeAttrs();

    /**
     * FLOPs of one rank's forward on input slices of shapes {@code in} and output slices {@code out}; at least 0 and
     * not decreasing when a slice grows. The per-element constants are in {@link Flops}.
     */
    long forwardFlops(List<long[]> in, List<long[]> out);

    /**
     * Whether the operator's products ({@link #forwardGemms}, {@link #backwardGemms}) exchange their intermediate
     * results on chip, as a fused kernel does: its memory traffic is then its {@link #forwardBytes}, not the products'
     * operands and results (false, the default, for every operator but {@link FlashAttention}).
     */
    default boolean keepsIntermediatesOnChip() {
        return false;
    }

    /**
     * The in_strategies a strategy search tries for this operator, given each input's candidate tuples
     * ({@code perInput.get(i)}: every tuple the search would split input {@code i} by); null, the default, means
     * their cartesian product. Each strategy returned is still checked by {@link #shard}. An operator whose inputs
     * must share one split ({@link FlashAttention}) returns the few that can be valid instead of a product of
     * millions.
     */
    default List<Strategy> searchCandidates(List<List<int[]>> perInput) {
        return null;
    }

    /**
     * Bytes one rank's forward reads and writes, from the slice shapes and dtypes of its inputs and outputs: usually
     * every input slice plus every output slice ({@link Flops#streamedBytes}).
     */
    long forwardBytes(List<long[]> in, List<DType> inTypes, List<long[]> out, List<DType> outTypes);

    /**
     * The matrix products one rank's forward runs on input slices {@code in} giving {@code out}, for shape-aware
     * kernel costs; empty (the default) for operators that are not matrix products, which are priced from their
     * FLOPs and bytes. When not empty their FLOPs sum to {@link #forwardFlops}.
     */
    default List<Gemm> forwardGemms(List<long[]> in, List<long[]> out) {
        return List.of();
    }

    /**
     * The matrix products of one rank's backward on the same slices: for a product, the data gradient and the
     * weight gradient, each its own kernel of its own shape; empty (the default) for other operators.
     */
    default List<Gemm> backwardGemms(List<long[]> in, List<long[]> out) {
        return List.of();
    }

    /** Calls the {@code visit} method of {@code v} for this operator's record. */
    <R> R accept(Visitor<R> v);

    /**
     * One method per operator record: a visitor handles every operator of the catalogue or does not compile (the
     * simulator's kernels dispatch this way).
     *
     * @param <R> the result type
     */
    interface Visitor<R> {
        /** Visits a {@link MatMul}. */
        R visit(MatMul op);

        /** Visits a {@link Binary}. */
        R visit(Binary op);

        /** Visits a {@link BiasAdd}. */
        R visit(BiasAdd op);

        /** Visits an {@link Activation}. */
        R visit(Activation op);

        /** Visits a {@link Dropout}. */
        R visit(Dropout op);

        /** Visits a {@link CausalMask}. */
        R visit(CausalMask op);

        /** Visits a {@link Cast}. */
        R visit(Cast op);

        /** Visits a {@link Softmax}. */
        R visit(Softmax op);

        /** Visits a {@link LayerNorm}. */
        R visit(LayerNorm op);

        /** Visits an {@link RMSNorm}. */
        R visit(RMSNorm op);

        /** Visits a {@link BatchNorm}. */
        R visit(BatchNorm op);

        /** Visits a {@link SoftmaxCrossEntropyWithLogits}. */
        R visit(SoftmaxCrossEntropyWithLogits op);

        /** Visits a {@link Reshape}. */
        R visit(Reshape op);

        /** Visits a {@link Transpose}. */
        R visit(Transpose op);

        /** Visits a {@link Reduce}. */
        R visit(Reduce op);

        /** Visits a {@link Gather}. */
        R visit(Gather op);

        /** Visits a {@link Conv2D}. */
        R visit(Conv2D op);

        /** Visits a {@link FlashAttention}. */
        R visit(FlashAttention op);

        /** Visits a {@link Rope}. */
        R visit(Rope op);

        /** Visits a {@link Split}. */
        R visit(Split op);

        /** Visits a {@link MoeDispatch}. */
        R visit(MoeDispatch op);

        /** Visits a {@link MoeCombine}. */
        R visit(MoeCombine op);

        /** Visits a {@link MoeRouter}. */
        R visit(MoeRouter op);

        /** Visits a {@link MoeAuxLoss}. */
        R visit(MoeAuxLoss op);

        /** Visits a {@link Concat}. */
        R visit(Concat op);

        /** Visits a {@link BroadcastTo}. */
        R visit(BroadcastTo op);
    }
}
