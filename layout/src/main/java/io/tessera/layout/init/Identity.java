package io.tessera.layout.init;

import io.tessera.layout.Box;
import io.tessera.layout.DType;
import io.tessera.layout.tensor.Tensor;

/** A 2-D identity matrix, ones on the main diagonal (MindSpore's {@code Identity}, like {@code numpy.eye}). */
public record Identity() implements Initializer {

    @Override
    public String name() {
        return "Identity";
    }

    @Override
    public void checkShape(long[] shape) {
        Generation.checkShape(name(), shape);
        if (shape.length != 2) {
            throw new IllegalArgumentException("Identity: shape " + Tensor.shapeString(shape) + " has "
                    + shape.length + " dims; expected a 2-D shape (rows, cols); use Dirac for conv kernels");
        }
    }

    @Override
    public Tensor generate(long[] shape, DType dtype, long seed, Box region) {
        checkShape(shape);
        return Generation.fill(name(), shape, dtype, region, (g, idx) -> idx[0] == idx[1] ? 1.0 : 0.0);
    }
}
