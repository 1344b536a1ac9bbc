package io.tessera.planner.checkpoint;

import io.tessera.layout.DType;
import io.tessera.layout.UserText;
import io.tessera.layout.tensor.Tensor;

import java.util.Arrays;

/**
 * One tensor of a safetensors header: its name, dtype, shape and the byte range {@code [begin, end)} of its data,
 * relative to the start of the file's data buffer (byte {@code 8 + headerBytes} of the file). Immutable (the shape
 * is copied in and out); equality compares the shape by value.
 *
 * @param name  the tensor's name, non-blank
 * @param dtype its element type
 * @param shape its dimensions, each {@code >= 0}; empty for a scalar
 * @param begin first byte of its data in the data buffer, {@code >= 0}
 * @param end   one past its last byte: {@code end - begin == volume() * dtype.bytes()}
 */
public record SafeTensorsEntry(String name, DType dtype, long[] shape, long begin, long end) {

    /** Validates and copies the shape. */
    public SafeTensorsEntry {
        if (name == null || name.isBlank()) {
            throw new IllegalArgumentException("safetensors entry name: found " + (name == null ? "null"
                    : UserText.quoted(name)) + "; expected a non-blank tensor name");
        }
        if (dtype == null) {
            throw new IllegalArgumentException("safetensors entry " + UserText.quoted(name)
                    + ": dtype is null; expected a DType such as Float32");
        }
        shape = checkShape("safetensors entry " + UserText.quoted(name), shape);
        if (begin < 0 || end < begin) {
            throw new IllegalArgumentException("safetensors entry " + UserText.quoted(name) + ": data offsets ["
                    + begin + ", " + end + "]; expected 0 <= begin <= end");
        }
        long bytes = byteSize("safetensors entry " + UserText.quoted(name), dtype, shape);
        if (end - begin != bytes) {
            throw new IllegalArgumentException("safetensors entry " + UserText.quoted(name) + ": data offsets ["
                    + begin + ", " + end + "] span " + (end - begin) + " bytes but shape " + Tensor.shapeString(shape)
                    + " of " + SafeTensors.code(dtype) + " needs " + bytes + "; expected end - begin = " + bytes);
        }
    }

    /** The shape (a copy); empty for a scalar. */
    @Override
    public long[] shape() {
        return shape.clone();
    }

    /** Size of the tensor's data in bytes: {@code end - begin}. */
    public long bytes() {
        return end - begin;
    }

    /** Element count: the product of the shape (1 for a scalar, 0 when a dimension is 0). */
    public long volume() {
        return volume(shape);
    }

    /** The dimension count. */
    public int rank() {
        return shape.length;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof SafeTensorsEntry e && name.equals(e.name) && dtype == e.dtype
                && Arrays.equals(shape, e.shape) && begin == e.begin && end == e.end;
    }

    @Override
    public int hashCode() {
        return ((name.hashCode() * 31 + dtype.hashCode()) * 31 + Arrays.hashCode(shape)) * 31
                + Long.hashCode(begin) * 17 + Long.hashCode(end);
    }

    @Override
    public String toString() {
        return name + ": " + SafeTensors.code(dtype) + Tensor.shapeString(shape) + " [" + begin + ", " + end + ")";
    }

    /** A copy of {@code shape}, checked non-null with every dimension {@code >= 0}; {@code what} names the owner. */
    static long[] checkShape(String what, long[] shape) {
        if (shape == null) {
            throw new IllegalArgumentException(what + ": shape is null; expected dimension sizes (empty for a"
                    + " scalar)");
        }
        long[] s = shape.clone();
        for (int i = 0; i < s.length; i++) {
            if (s[i] < 0) {
                throw new IllegalArgumentException(what + ": dimension " + i + " of shape " + Tensor.shapeString(s)
                        + " is " + s[i] + "; expected sizes >= 0");
            }
        }
        return s;
    }

    /** Product of {@code shape}, saturating at {@link Long#MAX_VALUE} (a 0 dimension gives 0). */
    static long volume(long[] shape) {
        long n = 1;
        for (long d : shape) {
            if (d == 0) {
                return 0;
            }
        }
        for (long d : shape) {
            if (n > Long.MAX_VALUE / d) {
                return Long.MAX_VALUE;
            }
            n *= d;
        }
        return n;
    }

    /** The byte size of a tensor of {@code dtype} and {@code shape}; an error when above {@link Long#MAX_VALUE}. */
    static long byteSize(String what, DType dtype, long[] shape) {
        long n = volume(shape);
        if (n > Long.MAX_VALUE / dtype.bytes()) {
            throw new IllegalArgumentException(what + ": shape " + Tensor.shapeString(shape) + " of "
                    + SafeTensors.code(dtype) + " is more than 2^63 bytes; expected a realistic shape");
        }
        return n * dtype.bytes();
    }
}
