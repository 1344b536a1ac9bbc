package io.tessera.planner.op;

import io.tessera.layout.DType;
import io.tessera.layout.Limits;

import java.util.Arrays;

/**
 * The type of a tensor as an operator sees it: its full shape and element type. Immutable.
 *
 * @param shape the full shape; each dimension positive (an empty shape is a scalar), at most
 *              {@link Limits.Limit#TENSOR_ELEMENTS} elements in all
 * @param dtype the element type
 */
public record TensorType(long[] shape, DType dtype) {

    /** Validates positive dimensions and a dtype. */
    public TensorType {
        if (shape == null || dtype == null) {
            throw new IllegalArgumentException("tensor type: shape and dtype are required");
        }
        shape = shape.clone();
        for (int i = 0; i < shape.length; i++) {
            if (shape[i] <= 0) {
                throw new IllegalArgumentException("tensor type " + Arrays.toString(shape) + ": dim " + i + " is "
                        + shape[i] + "; expected a positive size");
            }
        }
        Limits.multiply("tensor type " + dtype + Arrays.toString(shape) + " bytes",
                Limits.elements("tensor type " + dtype, shape), dtype.bytes());
    }

    /** A tensor type of {@code dtype} and {@code shape}. */
    public static TensorType of(DType dtype, long... shape) {
        return new TensorType(shape, dtype);
    }

    @Override
    public long[] shape() {
        return shape.clone();
    }

    /** Number of dimensions. */
    public int rank() {
        return shape.length;
    }

    /** Size of dimension {@code i}. */
    public long dim(int i) {
        return shape[i];
    }

    /** Number of elements. */
    public long elements() {
        long v = 1;
        for (long d : shape) {
            v *= d;
        }
        return v;
    }

    /** Size in bytes. */
    public long bytes() {
        return elements() * dtype.bytes();
    }

    /** The same dtype with another shape. */
    public TensorType withShape(long... newShape) {
        return new TensorType(newShape, dtype);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof TensorType t && Arrays.equals(shape, t.shape) && dtype == t.dtype;
    }

    @Override
    public int hashCode() {
        return Arrays.hashCode(shape) * 31 + dtype.hashCode();
    }

    /** Prints as {@code Float32[32, 64]}. */
    @Override
    public String toString() {
        return dtype + Arrays.toString(shape);
    }
}
