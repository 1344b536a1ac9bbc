package io.tessera.planner.op;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.tessera.layout.DType;

import java.util.List;

/**
 * {@code CausalMask}: the causal (upper-triangular) mask of attention scores, as Megatron's
 * {@code attention_mask_func}: every element of {@code x [..., q, k]} whose key index (last dimension) is above its
 * query index (second-to-last dimension), {@code j > i}, is replaced by {@code fillValue}; the others pass unchanged.
 * A softmax over the last dimension then gives those positions probability 0 (with the default -10000 the
 * exponential underflows to exactly 0 in float16, float32 and float64 for scores of ordinary size). Not a MindSpore
 * primitive: it stands for the mask step of Megatron's fused scale-mask-softmax, with no mask tensor (the mask is a
 * function of the element's global coordinates, so it needs neither memory nor a parameter).
 *
 * <p>Rule: any strategy, as an element-wise operator; the device matrix is the strategy and the output has the
 * input's layout. No communication: each rank masks its slice by the global coordinates of its elements, so a split
 * of the query or key dimension masks exactly the elements of the unsplit tensor.
 *
 * @param fillValue the value written over masked elements, finite (default {@link #DEFAULT_FILL}, Megatron's)
 */
public record CausalMask(double fillValue) implements Operator {

    /** Megatron's fill value of masked scores: -10000. */
    public static final double DEFAULT_FILL = -10000.0;

    /** Validates a finite fill value. */
    public CausalMask {
        if (!Double.isFinite(fillValue)) {
            throw new IllegalArgumentException("CausalMask: fill_value is " + fillValue
                    + "; expected a finite number such as -10000 (an infinite fill makes gradients NaN)");
        }
    }

    /** The mask with Megatron's fill value -10000. */
    public static CausalMask of() {
        return new CausalMask(DEFAULT_FILL);
    }

    @Override
    public String type() {
        return "CausalMask";
    }

    @Override
    public int inputCount() {
        return 1;
    }

    /** The input's type; the input has at least 2 dimensions (query, key) and a floating dtype. */
    @Override
    public List<TensorType> outputs(String name, List<TensorType> inputs) {
        String label = Sharding.label(this, name);
        Elementwise.checkCount(label, inputs, 1, "x");
        TensorType x = inputs.get(0);
        if (x.rank() < 2) {
            throw new IllegalArgumentException(label + ": input 0 " + x + " has " + x.rank()
                    + " dims; expected at least 2 (..., query, key)");
        }
        if (!x.dtype().isFloating()) {
            throw new IllegalArgumentException(label + ": input 0 is " + x.dtype()
                    + "; expected a floating dtype (attention scores): insert a Cast");
        }
        return List.of(x);
    }

    /** Dimension 0 split over {@link Sharding#fit} of its size; everything else 1. */
    @Override
    public Strategy dataParallel(List<TensorType> inputs, int devices) {
        return Strategy.of(Elementwise.batchTuple(inputs.get(0), devices));
    }

    @Override
    public OpSharding shard(String name, List<TensorType> inputs, Strategy in, Strategy out, int devices) {
        outputs(name, inputs);
        return Elementwise.sameLayout(Sharding.label(this, name), inputs.get(0), in, out, devices, true);
    }

    @Override
    public OperatorKind operatorKind() {
        return OperatorKind.CAUSAL_MASK;
    }

    /** The input has a gradient (zero at masked elements). */
    @Override
    public boolean differentiableInput(int i) {
        return true;
    }

    /** The output's gradient flows back. */
    @Override
    public boolean differentiableOutput(int o) {
        return true;
    }

    /** No forward tensor: the mask follows from the coordinates. */
    @Override
    public List<TensorRef> gradientReads(int i) {
        return List.of();
    }

    /** The attributes, every one written. */
    @Override
    public ObjectNode encodeAttrs() {
        ObjectNode o = OpAttrs.object();
        o.put("fill_value", fillValue);
        return o;
    }

    /** {@link Flops#BINARY} per output element (a compare and a select). */
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
