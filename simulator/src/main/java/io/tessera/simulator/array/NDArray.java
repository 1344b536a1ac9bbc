package io.tessera.simulator.array;

import io.tessera.layout.Box;
import io.tessera.layout.redistribution.Block;

import java.util.Arrays;

/**
 * A dense n-d array of doubles in row-major order: the working data of the numeric simulator (kernels and
 * collectives). Mutable for speed: {@link #data()} is the backing array, not a copy. Float32 runs keep values
 * rounded to float precision (see {@link #roundToFloat()}).
 */
public final class NDArray {

    private final long[] shape;
    private final double[] data;

    private NDArray(long[] shape, double[] data) {
        this.shape = shape;
        this.data = data;
    }

    /** An array of {@code shape} over {@code data} (not copied), which must hold exactly the shape's element count. */
    public static NDArray of(long[] shape, double[] data) {
        long n = count(shape);
        if (n != data.length) {
            throw new IllegalArgumentException("NDArray: shape " + Arrays.toString(shape) + " holds " + n
                    + " elements but " + data.length + " values were given");
        }
        return new NDArray(shape.clone(), data);
    }

    /** Zeros of {@code shape}. */
    public static NDArray zeros(long... shape) {
        return new NDArray(shape.clone(), new double[Math.toIntExact(count(shape))]);
    }

    /** A 0-d array holding {@code value}. */
    public static NDArray scalar(double value) {
        return new NDArray(new long[0], new double[] {value});
    }

    /** An array filled with {@code value}. */
    public static NDArray full(double value, long... shape) {
        NDArray a = zeros(shape);
        Arrays.fill(a.data, value);
        return a;
    }

    /** The data of a block, shaped like its box. */
    public static NDArray of(Block block) {
        return new NDArray(block.box().shape(), block.data());
    }

    /** The number of elements of {@code shape} (1 for a scalar). */
    public static long count(long[] shape) {
        long n = 1;
        for (long d : shape) {
            if (d < 0) {
                throw new IllegalArgumentException("NDArray: negative dimension in " + Arrays.toString(shape));
            }
            n *= d;
        }
        return n;
    }

    /** A copy of the shape. */
    public long[] shape() {
        return shape.clone();
    }

    /** Size of dimension {@code i}. */
    public long dim(int i) {
        return shape[i];
    }

    /** Number of dimensions. */
    public int ndim() {
        return shape.length;
    }

    /** Number of elements. */
    public int size() {
        return data.length;
    }

    /** The backing array (row-major), not a copy: kernels read and write it directly. */
    public double[] data() {
        return data;
    }

    /** Element {@code i} in row-major order. */
    public double get(int i) {
        return data[i];
    }

    /** Sets element {@code i} in row-major order. */
    public void set(int i, double v) {
        data[i] = v;
    }

    /** The same data with another shape of the same element count (shares the backing array). */
    public NDArray reshape(long... newShape) {
        return of(newShape, data);
    }

    /** A deep copy. */
    public NDArray copy() {
        return new NDArray(shape.clone(), data.clone());
    }

    /** Rounds every value to float32 precision in place and returns this array. */
    public NDArray roundToFloat() {
        for (int i = 0; i < data.length; i++) {
            data[i] = (float) data[i];
        }
        return this;
    }

    /** This array as a block over the global region {@code box} (whose shape must equal this shape; data copied). */
    public Block toBlock(Box box) {
        if (!Arrays.equals(box.shape(), shape)) {
            throw new IllegalArgumentException("NDArray " + Arrays.toString(shape) + " does not fit the box " + box);
        }
        return Block.of(box, data);
    }

    /** The largest absolute difference to {@code other} divided by the largest absolute value of {@code other}. */
    public double relativeError(NDArray other) {
        return relativeError(other, 0);
    }

    /**
     * The largest absolute difference to {@code other} divided by the larger of the largest absolute value of
     * {@code other} and {@code floor}: a relative error that measures a tensor whose values are all far below
     * {@code floor} (e.g. exactly 0 in exact arithmetic, so at round-off size) against {@code floor} instead of
     * against its own round-off.
     *
     * @param floor the smallest scale to compare with (same unit as the values), {@code >= 0}; 0: purely relative
     * @throws IllegalArgumentException when the shapes differ or {@code floor} is negative or not finite
     */
    public double relativeError(NDArray other, double floor) {
        if (!(floor >= 0) || Double.isInfinite(floor)) {
            throw new IllegalArgumentException("NDArray.relativeError: floor " + floor + " is not a finite value "
                    + ">= 0; pass 0 for a purely relative error");
        }
        if (!Arrays.equals(shape, other.shape)) {
            throw new IllegalArgumentException("NDArray: cannot compare " + Arrays.toString(shape) + " with "
                    + Arrays.toString(other.shape));
        }
        double diff = 0;
        double scale = 0;
        for (int i = 0; i < data.length; i++) {
            diff = Math.max(diff, Math.abs(data[i] - other.data[i]));
            scale = Math.max(scale, Math.abs(other.data[i]));
        }
        return diff == 0 ? 0 : diff / Math.max(Math.max(scale, floor), Double.MIN_NORMAL);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof NDArray a && Arrays.equals(shape, a.shape) && Arrays.equals(data, a.data);
    }

    @Override
    public int hashCode() {
        return Arrays.hashCode(shape) * 31 + Arrays.hashCode(data);
    }

    @Override
    public String toString() {
        return "NDArray" + Arrays.toString(shape) + (data.length <= 16 ? " " + Arrays.toString(data) : "");
    }
}
