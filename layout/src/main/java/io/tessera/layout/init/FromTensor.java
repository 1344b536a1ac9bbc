package io.tessera.layout.init;

import io.tessera.layout.Box;
import io.tessera.layout.DType;
import io.tessera.layout.tensor.Tensor;

/**
 * Values taken from a given tensor (MindSpore's {@code initializer(Tensor, shape, dtype)}), converted to the
 * requested dtype. The shape must equal the tensor's.
 *
 * @param tensor the source values (immutable)
 */
public record FromTensor(Tensor tensor) implements Initializer {

    /** Validates the tensor is not null. */
    public FromTensor {
        if (tensor == null) {
            throw new IllegalArgumentException("FromTensor: tensor is null; expected a Tensor");
        }
    }

    @Override
    public String name() {
        return "Tensor";
    }

    @Override
    public void checkShape(long[] shape) {
        Generation.checkShape(name(), shape);
        if (!java.util.Arrays.equals(shape, tensor.shape())) {
            throw new IllegalArgumentException("initializer: the shape of the init Tensor "
                    + Tensor.shapeString(tensor.shape()) + " differs from the requested shape "
                    + Tensor.shapeString(shape) + "; pass the Tensor's own shape or reshape the Tensor first");
        }
    }

    @Override
    public Tensor generate(long[] shape, DType dtype, long seed, Box region) {
        checkShape(shape);
        Generation.checkRegion(name(), shape, dtype, region);
        return tensor.slice(region).astype(dtype);
    }
}
