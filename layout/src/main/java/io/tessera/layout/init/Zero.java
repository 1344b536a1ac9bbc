package io.tessera.layout.init;

import io.tessera.layout.Box;
import io.tessera.layout.DType;
import io.tessera.layout.tensor.Tensor;

/** Fills with 0 (MindSpore's {@code Zero}; by name {@code "zeros"} or {@code "zero"}). */
public record Zero() implements Initializer {

    @Override
    public String name() {
        return "Zero";
    }

    @Override
    public Tensor generate(long[] shape, DType dtype, long seed, Box region) {
        Generation.checkRegion(name(), shape, dtype, region);
        return Tensor.zeros(dtype, region.shape());
    }
}
