package io.tessera.planner.op;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.tessera.layout.DType;
import io.tessera.layout.redistribution.ReduceOp;

import java.util.List;

/**
 * {@code BiasAdd}: {@code x (N, C, ...) + bias (C)}, the bias broadcast along every dimension but the channel
 * dimension 1 (MindSpore's default {@code NCHW} data format).
 *
 * <p>Rule (spec §3): x's strategy is free; the bias must be split like x's channel dimension
 * ({@code x strategy[1] == bias strategy[0]}). The device matrix is x's strategy; the output has x's layout. There is
 * no forward communication; the bias gradient is partial on each rank along the device dimensions splitting x's other
 * dimensions (the batch group) and is summed by a backward AllReduce.
 */
public record BiasAdd() implements Operator {

    @Override
    public String type() {
        return "BiasAdd";
    }

    @Override
    public int inputCount() {
        return 2;
    }

    @Override
    public List<TensorType> outputs(String name, List<TensorType> inputs) {
        String label = Sharding.label(this, name);
        Elementwise.checkCount(label, inputs, 2, "x and bias");
        TensorType x = inputs.get(0);
        TensorType bias = inputs.get(1);
        if (x.rank() < 2) {
            throw new IllegalArgumentException(label + ": input 0 " + x + " has " + x.rank()
                    + " dims; expected at least 2 (N, C, ...)");
        }
        if (bias.rank() != 1 || bias.dim(0) != x.dim(1)) {
            throw new IllegalArgumentException(label + ": input 1 " + bias + " is not a bias for input 0 " + x
                    + "; expected shape [" + x.dim(1) + "] (x's channel dimension 1)");
        }
        if (bias.dtype() != x.dtype()) {
            throw new IllegalArgumentException(label + ": input 1 is " + bias.dtype() + " but input 0 is "
                    + x.dtype() + "; expected the same dtype: insert a Cast");
        }
        return List.of(x);
    }

    /** x's dimension 0 split over {@link Sharding#fit} of its size; the bias is not split. */
    @Override
    public Strategy dataParallel(List<TensorType> inputs, int devices) {
        return Strategy.of(Elementwise.batchTuple(inputs.get(0), devices), new int[] {1});
    }

    @Override
    public OpSharding shard(String name, List<TensorType> inputs, Strategy in, Strategy out, int devices) {
        String label = Sharding.label(this, name);
        outputs(name, inputs);
        Elementwise.rejectOutStrategy(label, out);
        Sharding.checkStrategy(label, inputs, in);
        int[] sx = in.tuple(0);
        Sharding.checkEqual(label, "input 1 dim 0", in.get(1, 0), "input 0 dim 1", sx[1],
                "the bias must be split like x's channel dimension");
        TensorType x = inputs.get(0);
        int[][] dimsX = Elementwise.identity(x.rank());
        return Sharding.derive(label, sx, List.of(dimsX, new int[][] {{1}}), List.<int[][]>of(dimsX),
                new boolean[] {x.dtype().isFloating(), x.dtype().isFloating()}, devices, ReduceOp.SUM,
                "BiasAdd does not reduce", List.of());
    }

    @Override
    public OperatorKind operatorKind() {
        return OperatorKind.BIAS_ADD;
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

    /** The gradients are dout and its sum over the non-channel dims: no forward tensor. */
    @Override
    public List<TensorRef> gradientReads(int i) {
        return List.of();
    }

    /** No attributes: an empty object. */
    @Override
    public ObjectNode encodeAttrs() {
        return OpAttrs.object();
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
