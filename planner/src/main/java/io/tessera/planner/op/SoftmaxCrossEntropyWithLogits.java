package io.tessera.planner.op;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.tessera.layout.DType;
import io.tessera.layout.redistribution.ReduceOp;

import java.util.List;

/**
 * {@code SoftmaxCrossEntropyWithLogits}: inputs logits {@code (N, C)} and one-hot float labels {@code (N, C)};
 * output the per-sample loss {@code (N)}.
 *
 * <p>Rule (spec §3): the labels' strategy must equal the logits'; the class dimension must not be split (the softmax
 * sums over it). The device matrix is the logits' strategy; the loss keeps the batch dimension's mapping. No
 * communication. The labels have no gradient.
 */
public record SoftmaxCrossEntropyWithLogits() implements Operator {

    @Override
    public String type() {
        return "SoftmaxCrossEntropyWithLogits";
    }

    @Override
    public int inputCount() {
        return 2;
    }

    /** The loss {@code (N)}, of the logits' dtype. */
    @Override
    public List<TensorType> outputs(String name, List<TensorType> inputs) {
        String label = Sharding.label(this, name);
        Elementwise.checkCount(label, inputs, 2, "logits and labels");
        TensorType logits = inputs.get(0);
        TensorType labels = inputs.get(1);
        if (logits.rank() != 2) {
            throw new IllegalArgumentException(label + ": input 0 (logits) " + logits + " has " + logits.rank()
                    + " dims; expected 2 (N, C)");
        }
        if (!logits.equals(labels)) {
            throw new IllegalArgumentException(label + ": input 1 (labels) " + labels + " does not match input 0 "
                    + "(logits) " + logits + "; expected one-hot labels of the same shape and dtype");
        }
        return List.of(logits.withShape(logits.dim(0)));
    }

    /** Dimension 0 of logits and labels split over {@link Sharding#fit} of its size; classes not split. */
    @Override
    public Strategy dataParallel(List<TensorType> inputs, int devices) {
        int[] s = Elementwise.batchTuple(inputs.get(0), devices);
        return Strategy.of(s, s);
    }

    @Override
    public OpSharding shard(String name, List<TensorType> inputs, Strategy in, Strategy out, int devices) {
        String label = Sharding.label(this, name);
        outputs(name, inputs);
        Elementwise.rejectOutStrategy(label, out);
        Sharding.checkStrategy(label, inputs, in);
        int[] sl = in.tuple(0);
        for (int d = 0; d < 2; d++) {
            Sharding.checkEqual(label, "input 1 (labels) dim " + d, in.get(1, d), "input 0 (logits) dim " + d,
                    sl[d], "labels must be split like logits");
        }
        Sharding.checkUnsplit(label, "input 0 (logits)", 1, sl, "the softmax sums over the class dimension");
        int[][] dims = Elementwise.identity(2);
        return Sharding.derive(label, sl, List.of(dims, dims), List.<int[][]>of(new int[][] {{0}}),
                new boolean[] {inputs.get(0).dtype().isFloating(), false}, devices, ReduceOp.SUM,
                "the class dimension is not split", List.of());
    }

    @Override
    public OperatorKind operatorKind() {
        return OperatorKind.SOFTMAX_CROSS_ENTROPY_WITH_LOGITS;
    }

    /** Only the logits: MindSpore's bprop returns zeros for the labels. */
    @Override
    public boolean differentiableInput(int i) {
        return i == 0;
    }

    /** Every output's gradient flows back. */
    @Override
    public boolean differentiableOutput(int o) {
        return true;
    }

    /** The logits and the labels. */
    @Override
    public List<TensorRef> gradientReads(int i) {
        return List.of(TensorRef.input(0), TensorRef.input(1));
    }

    /** No attributes: an empty object. */
    @Override
    public ObjectNode encodeAttrs() {
        return OpAttrs.object();
    }

    /** {@link Flops#CROSS_ENTROPY} per logit (input 0 element). */
    @Override
    public long forwardFlops(List<long[]> in, List<long[]> out) {
        return (long) Flops.CROSS_ENTROPY * Flops.volume(in.get(0));
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
