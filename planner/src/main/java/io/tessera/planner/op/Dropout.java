package io.tessera.planner.op;

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
}
