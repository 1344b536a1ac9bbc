package io.tessera.layout.init;

import io.tessera.layout.Box;
import io.tessera.layout.DType;
import io.tessera.layout.tensor.Tensor;

/**
 * The Dirac delta for 3-, 4- and 5-D convolution kernels {@code (out, in, k...)} (MindSpore's
 * {@code Dirac(groups=1)}): within each of the {@code groups} blocks of {@code out / groups} output channels, channel
 * {@code d < min(out / groups, in)} has a 1 at input channel {@code d} and the centre {@code k / 2} of every spatial
 * dim; everything else is 0. Convolution with it preserves the input (channel by channel).
 *
 * @param groups number of groups, >= 1, dividing {@code shape[0]} (default 1)
 */
public record Dirac(int groups) implements Initializer {

    /** Validates groups >= 1. */
    public Dirac {
        if (groups < 1) {
            throw new IllegalArgumentException("Dirac: groups is " + groups + "; expected an integer >= 1");
        }
    }

    /** {@code Dirac(groups=1)}. */
    public Dirac() {
        this(1);
    }

    @Override
    public String name() {
        return "Dirac";
    }

    @Override
    public void checkShape(long[] shape) {
        Generation.checkShape(name(), shape);
        if (shape.length < 3 || shape.length > 5) {
            throw new IllegalArgumentException("Dirac: shape " + Tensor.shapeString(shape) + " has " + shape.length
                    + " dims; expected 3, 4 or 5 (a conv kernel (out, in, k...)); use Identity for 2-D");
        }
        if (shape[0] % groups != 0) {
            throw new IllegalArgumentException("Dirac: shape[0] is " + shape[0] + " which groups=" + groups
                    + " does not divide; expected out channels divisible by groups");
        }
    }

    @Override
    public Tensor generate(long[] shape, DType dtype, long seed, Box region) {
        checkShape(shape);
        long perGroup = shape[0] / groups;
        long minDim = Math.min(perGroup, shape[1]);
        long[] centre = new long[shape.length];
        for (int i = 2; i < shape.length; i++) {
            centre[i] = shape[i] / 2;
        }
        return Generation.fill(name(), shape, dtype, region, (g, idx) -> {
            long d = idx[0] % perGroup;
            if (d >= minDim || idx[1] != d) {
                return 0.0;
            }
            for (int i = 2; i < idx.length; i++) {
                if (idx[i] != centre[i]) {
                    return 0.0;
                }
            }
            return 1.0;
        });
    }
}
