package io.tessera.planner.op;

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
}
