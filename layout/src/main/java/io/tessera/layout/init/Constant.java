package io.tessera.layout.init;

import io.tessera.layout.Box;
import io.tessera.layout.DType;
import io.tessera.layout.tensor.Tensor;

/**
 * Fills with one value (MindSpore's {@code Constant(value)}); by name {@code "constant"} it is {@code Constant(0)}.
 *
 * @param value the fill value, converted to the tensor's dtype (must not be NaN)
 */
public record Constant(double value) implements Initializer {

    /** Validates that the value is a number (infinities allowed for floating tensors). */
    public Constant {
        if (Double.isNaN(value)) {
            throw new IllegalArgumentException("Constant: value is NaN; expected a number");
        }
    }

    @Override
    public String name() {
        return "Constant";
    }

    @Override
    public Tensor generate(long[] shape, DType dtype, long seed, Box region) {
        Generation.checkRegion(name(), shape, dtype, region);
        return Tensor.full(dtype, value, region.shape());
    }
}
