package io.tessera.planner.op;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.tessera.layout.DType;

import java.util.Arrays;
import java.util.List;

/**
 * The element-wise activations {@code ReLU}, {@code GeLU}, {@code Tanh}, {@code Sigmoid} and {@code SiLU} (the
 * gate activation of Llama's SwiGLU MLP).
 *
 * <p>Rule (spec §3): any strategy; the device matrix is the strategy and the output has the input's layout. No
 * communication.
 *
 * @param kind which activation
 */
public record Activation(Kind kind) implements Operator {

    /** The activations, with MindSpore's primitive names. */
    public enum Kind {
        /** {@code ReLU}: max(x, 0). */
        RELU("ReLU"),
        /** {@code GeLU}: Gaussian error linear unit. */
        GELU("GeLU"),
        /** {@code Tanh}: hyperbolic tangent. */
        TANH("Tanh"),
        /** {@code Sigmoid}: 1 / (1 + exp(-x)). */
        SIGMOID("Sigmoid"),
        /** {@code SiLU} (Swish): x * sigmoid(x). */
        SILU("SiLU");

        private final String type;

        Kind(String type) {
            this.type = type;
        }

        /** MindSpore's primitive name, e.g. {@code ReLU}. */
        public String type() {
            return type;
        }
    }

    /** Validates the kind. */
    public Activation {
        if (kind == null) {
            throw new IllegalArgumentException("Activation: kind is null; expected one of "
                    + Arrays.toString(Kind.values()));
        }
    }

    /** {@code ReLU}. */
    public static Activation relu() {
        return new Activation(Kind.RELU);
    }

    /** {@code GeLU}. */
    public static Activation gelu() {
        return new Activation(Kind.GELU);
    }

    /** {@code Tanh}. */
    public static Activation tanh() {
        return new Activation(Kind.TANH);
    }

    /** {@code Sigmoid}. */
    public static Activation sigmoid() {
        return new Activation(Kind.SIGMOID);
    }

    /** {@code SiLU}. */
    public static Activation silu() {
        return new Activation(Kind.SILU);
    }

    @Override
    public String type() {
        return kind.type();
    }

    @Override
    public int inputCount() {
        return 1;
    }

    /** The input's type. */
    @Override
    public List<TensorType> outputs(String name, List<TensorType> inputs) {
        Elementwise.checkCount(Sharding.label(this, name), inputs, 1, "x");
        return List.of(inputs.get(0));
    }

    /** Dimension 0 split over {@link Sharding#fit} of its size; everything else 1. */
    @Override
    public Strategy dataParallel(List<TensorType> inputs, int devices) {
        return Strategy.of(Elementwise.batchTuple(inputs.get(0), devices));
    }

    @Override
    public OpSharding shard(String name, List<TensorType> inputs, Strategy in, Strategy out, int devices) {
        outputs(name, inputs);
        TensorType x = inputs.get(0);
        return Elementwise.sameLayout(Sharding.label(this, name), x, in, out, devices, x.dtype().isFloating());
    }

    @Override
    public OperatorKind operatorKind() {
        return OperatorKind.ACTIVATION;
    }

    /** Every input has a gradient. */
    @Override
    public boolean differentiableInput(int i) {
        return true;
    }

    /** Every output's gradient flows back. */
    @Override
    public boolean differentiableOutput(int o) {
        return true;
    }

    /**
     * GeLU reads its input and output; SiLU only its input (its derivative {@code s (1 + x (1 - s))}, s the sigmoid,
     * is recomputed from x, as Megatron's SwiGLU saves only its input); ReLU, Tanh and Sigmoid only their output.
     */
    @Override
    public List<TensorRef> gradientReads(int i) {
        return switch (kind) {
            case GELU -> List.of(TensorRef.input(0), TensorRef.output(0));
            case SILU -> List.of(TensorRef.input(0));
            case RELU, TANH, SIGMOID -> List.of(TensorRef.output(0));
        };
    }

    /** No attributes: an empty object. */
    @Override
    public ObjectNode encodeAttrs() {
        return OpAttrs.object();
    }

    /**
     * Per output element: {@link Flops#RELU}, {@link Flops#GELU}, {@link Flops#TANH_SIGMOID} or {@link Flops#SILU}.
     */
    @Override
    public long forwardFlops(List<long[]> in, List<long[]> out) {
        long perElement = switch (kind) {
            case RELU -> Flops.RELU;
            case GELU -> Flops.GELU;
            case TANH, SIGMOID -> Flops.TANH_SIGMOID;
            case SILU -> Flops.SILU;
        };
        return perElement * Flops.volume(out.get(0));
    }

    /** Every input slice read and every output slice written once. */
    @Override
    public long forwardBytes(List<long[]> in, List<DType> inTypes, List<long[]> out, List<DType> outTypes) {
        return Flops.streamedBytes(in, inTypes, out, outTypes);
    }

    @Override
    public <R> R accept(Visitor<R> v) {
        return v.visit(this);
    }
}
