package io.tessera.layout.init;

import io.tessera.layout.Box;
import io.tessera.layout.DType;
import io.tessera.layout.tensor.Tensor;

/** Fills with 1 (MindSpore's {@code One}; by name {@code "ones"} or {@code "one"}). */
public record One() implements Initializer {

    @Override
    public String name() {
        return "One";
    }

    @Override
    public Tensor generate(long[] shape, DType dtype, long seed, Box region) {
        Generation.checkRegion(name(), shape, dtype, region);
        return Tensor.ones(dtype, region.shape());
    }
}
