package io.tessera.planner.op;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.tessera.layout.DType;

import java.util.List;

/**
 * {@code Softmax} / {@code LogSoftmax} along one axis.
 *
 * <p>Rule (spec §3): the axis dimension must not be split (the normalising sum spans it); the other dimensions are
 * free. The device matrix is the strategy and the output has the input's layout. No communication.
 *
 * @param axis the normalised axis; negative values count from the end ({@code -1} is the last dimension)
 * @param log  true for {@code LogSoftmax}
 */
public record Softmax(int axis, boolean log) implements Operator {

    /** {@code Softmax} along {@code axis} (negative counts from the end). */
    public static Softmax of(int axis) {
        return new Softmax(axis, false);
    }

    /** {@code LogSoftmax} along {@code axis} (negative counts from the end). */
    public static Softmax log(int axis) {
        return new Softmax(axis, true);
    }

    @Override
    public String type() {
        return log ? "LogSoftmax" : "Softmax";
    }

    @Override
    public int inputCount() {
        return 1;
    }

    /** The input's type; the axis must exist. */
    @Override
    public List<TensorType> outputs(String name, List<TensorType> inputs) {
        String label = Sharding.label(this, name);
        Elementwise.checkCount(label, inputs, 1, "x");
        Elementwise.axis(label, "axis", axis, inputs.get(0));
        return List.of(inputs.get(0));
    }

    /** Dimension 0 split over {@link Sharding#fit} of its size unless it is the axis; everything else 1. */
    @Override
    public Strategy dataParallel(List<TensorType> inputs, int devices) {
        TensorType x = inputs.get(0);
        int a = Elementwise.axis(Sharding.label(this, "data parallel"), "axis", axis, x);
        return Strategy.of(a == 0 ? Elementwise.ones(x.rank()) : Elementwise.batchTuple(x, devices));
    }

    @Override
    public OpSharding shard(String name, List<TensorType> inputs, Strategy in, Strategy out, int devices) {
        String label = Sharding.label(this, name);
        outputs(name, inputs);
        TensorType x = inputs.get(0);
        Elementwise.rejectOutStrategy(label, out);
        Sharding.checkStrategy(label, inputs, in);
        int a = Elementwise.axis(label, "axis", axis, x);
        Sharding.checkUnsplit(label, "input 0", a, in.tuple(0), type() + " normalises along axis " + axis);
        return Elementwise.sameLayout(label, x, in, null, devices, x.dtype().isFloating());
    }

    @Override
    public OperatorKind operatorKind() {
        return OperatorKind.SOFTMAX;
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

    /** The output (the softmax, or the log-softmax whose exp it is). */
    @Override
    public List<TensorRef> gradientReads(int i) {
        return List.of(TensorRef.output(0));
    }

    /** The attributes, every one written. */
    @Override
    public ObjectNode encodeAttrs() {
        ObjectNode o = OpAttrs.object();
        o.put("axis", axis);
        return o;
    }

    /** {@link Flops#SOFTMAX} per output element. */
    @Override
    public long forwardFlops(List<long[]> in, List<long[]> out) {
        return Flops.SOFTMAX * Flops.volume(out.get(0));
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
