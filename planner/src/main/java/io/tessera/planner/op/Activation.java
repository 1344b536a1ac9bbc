package io.tessera.planner.op;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.tessera.layout.DType;

import java.util.Arrays;
import java.util.List;

/**
 * The element-wise activations {@code ReLU}, {@code GeLU}, {@code Tanh} and {@code Sigmoid}.
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
        SIGMOID("Sigmoid");

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

    /** GeLU reads its input and output; ReLU, Tanh and Sigmoid only their output. */
    @Override
    public List<TensorRef> gradientReads(int i) {
        return kind == Kind.GELU ? List.of(TensorRef.input(0), TensorRef.output(0)) : List.of(TensorRef.output(0));
    }

    /** No attributes: an empty object. */
    @Override
    public ObjectNode encodeAttrs() {
        return OpAttrs.object();
    }

    /** Per output element: {@link Flops#RELU}, {@link Flops#GELU} or {@link Flops#TANH_SIGMOID}. */
    @Override
    public long forwardFlops(List<long[]> in, List<long[]> out) {
        long perElement;
        switch (kind) {
            case RELU:
                perElement = Flops.RELU;
                break;
            case GELU:
                perElement = Flops.GELU;
                break;
            default:
                perElement = Flops.TANH_SIGMOID;
                break;
        }
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
