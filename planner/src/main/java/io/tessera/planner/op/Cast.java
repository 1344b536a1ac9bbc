package io.tessera.planner.op;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.tessera.layout.DType;

import java.util.List;

/**
 * {@code Cast}: converts the elements to another dtype; the shape is unchanged.
 *
 * <p>Rule (spec §3): any strategy; the device matrix is the strategy and the output has the input's layout (its
 * bytes per rank change with the dtype). No communication. A gradient flows back only between floating dtypes.
 *
 * @param to the target dtype
 */
public record Cast(DType to) implements Operator {

    /** Validates a target dtype. */
    public Cast {
        if (to == null) {
            throw new IllegalArgumentException("Cast: the target dtype is null; expected a DType such as FLOAT16");
        }
    }

    @Override
    public String type() {
        return "Cast";
    }

    @Override
    public int inputCount() {
        return 1;
    }

    /** The input's shape with dtype {@link #to()}. */
    @Override
    public List<TensorType> outputs(String name, List<TensorType> inputs) {
        Elementwise.checkCount(Sharding.label(this, name), inputs, 1, "x");
        return List.of(new TensorType(inputs.get(0).shape(), to));
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
        return Elementwise.sameLayout(Sharding.label(this, name), x, in, out, devices,
                x.dtype().isFloating() && to.isFloating());
    }

    @Override
    public OperatorKind operatorKind() {
        return OperatorKind.CAST;
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

    /** The gradient is cast back: no forward tensor. */
    @Override
    public List<TensorRef> gradientReads(int i) {
        return List.of();
    }

    /** The attributes, every one written. */
    @Override
    public ObjectNode encodeAttrs() {
        ObjectNode o = OpAttrs.object();
        o.put("dst_type", to.jsonName());
        return o;
    }

    /** {@link Flops#BINARY} per output element. */
    @Override
    public long forwardFlops(List<long[]> in, List<long[]> out) {
        return Flops.BINARY * Flops.volume(out.get(0));
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
