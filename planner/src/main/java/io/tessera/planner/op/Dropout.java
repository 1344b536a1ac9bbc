package io.tessera.planner.op;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.tessera.layout.DType;

import java.util.List;

/**
 * {@code Dropout}: keeps each element with probability {@code keepProb} and scales kept elements by
 * {@code 1 / keepProb}.
 *
 * <p>Rule (spec §3): any strategy; the device matrix is the strategy and the output has the input's layout. No
 * communication. Ranks of a repeated-calculation group (those holding the same slice) must draw the same mask, so they
 * share the mask seed; ranks holding different slices use different seeds.
 *
 * @param keepProb the probability of keeping an element, in (0, 1]
 */
public record Dropout(double keepProb) implements Operator {

    /** Validates {@code 0 < keepProb <= 1}. */
    public Dropout {
        if (!(keepProb > 0 && keepProb <= 1)) {
            throw new IllegalArgumentException("Dropout: keep_prob is " + keepProb
                    + "; expected a probability in (0, 1] (1 keeps everything)");
        }
    }

    @Override
    public String type() {
        return "Dropout";
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
        return OperatorKind.DROPOUT;
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

    /** No forward tensor: the mask is kept by the operator. */
    @Override
    public List<TensorRef> gradientReads(int i) {
        return List.of();
    }

    /** The attributes, every one written. */
    @Override
    public ObjectNode encodeAttrs() {
        ObjectNode o = OpAttrs.object();
        o.put("keep_prob", keepProb);
        return o;
    }

    /** {@link Flops#DROPOUT} per output element. */
    @Override
    public long forwardFlops(List<long[]> in, List<long[]> out) {
        return Flops.DROPOUT * Flops.volume(out.get(0));
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
