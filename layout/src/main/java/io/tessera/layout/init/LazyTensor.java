package io.tessera.layout.init;

import io.tessera.layout.Box;
import io.tessera.layout.DType;
import io.tessera.layout.tensor.Tensor;

import java.util.Arrays;

/**
 * A tensor described but not yet generated (MindSpore's "initializer Tensor", which only keeps shape and dtype):
 * the initializer, shape, dtype and the seed captured at creation. Holds no data; {@link #materialize(Box)}
 * generates any region exactly.
 *
 * @param init  how to fill the tensor
 * @param shape the full (unsharded) shape; copied in and out
 * @param dtype element type
 * @param seed  the seed the initializer is called with (ignored by deterministic initializers)
 */
public record LazyTensor(Initializer init, long[] shape, DType dtype, long seed) {

    /** Validates the arguments and that the shape suits the initializer (e.g. Identity needs 2-D). */
    public LazyTensor {
        if (init == null) {
            throw new IllegalArgumentException("LazyTensor: init is null; expected an Initializer such as"
                    + " new Normal() or Initializers.byName(\"normal\")");
        }
        if (dtype == null) {
            throw new IllegalArgumentException("LazyTensor: dtype is null; expected a DType such as Float32");
        }
        shape = Generation.checkShape(init.name(), shape).clone();
        init.checkShape(shape);
    }

    @Override
    public long[] shape() {
        return shape.clone();
    }

    /** Number of elements of the full tensor. */
    public long size() {
        long n = 1;
        for (long s : shape) {
            n *= s;
        }
        return n;
    }

    /** Bytes the full tensor would occupy: {@code size() * dtype.bytes()}. */
    public long bytes() {
        return size() * dtype.bytes();
    }

    /** The whole tensor. */
    public Tensor materialize() {
        return materialize(Box.full(shape));
    }

    /**
     * Exactly the {@code region} (global coordinates) of the full tensor, generated directly: bit-identical to
     * {@code materialize().slice(region)}; memory O(region) for all initializers but {@link Orthogonal}.
     */
    public Tensor materialize(Box region) {
        return init.generate(shape, dtype, seed, region);
    }

    @Override
    public boolean equals(Object o) {
        if (!(o instanceof LazyTensor)) {
            return false;
        }
        LazyTensor t = (LazyTensor) o;
        return init.equals(t.init) && Arrays.equals(shape, t.shape) && dtype == t.dtype && seed == t.seed;
    }

    @Override
    public int hashCode() {
        return ((init.hashCode() * 31 + Arrays.hashCode(shape)) * 31 + dtype.hashCode()) * 31 + Long.hashCode(seed);
    }

    /** E.g. {@code LazyTensor(init=Normal[sigma=0.01, mean=0.0, seed=null], shape=(2, 3), dtype=Float32, seed=42)}. */
    @Override
    public String toString() {
        return "LazyTensor(init=" + init + ", shape=" + Tensor.shapeString(shape) + ", dtype=" + dtype
                + ", seed=" + seed + ")";
    }
}
