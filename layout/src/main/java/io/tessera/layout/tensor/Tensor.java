package io.tessera.layout.tensor;

import io.tessera.layout.Box;
import io.tessera.layout.DType;

import java.lang.reflect.Array;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.function.LongToDoubleFunction;

/**
 * An immutable dense n-dimensional tensor: a {@link DType}, a shape and row-major values.
 *
 * <p>Values are held at the precision of the dtype: Float16, BFloat16 and Float32 in a {@code float[]} (each
 * value rounded to the dtype, round-to-nearest-even), Float64 in a {@code double[]}, integers and Bool in a
 * {@code long[]} (Bool as 0/1). The element count must fit in a Java array ({@value #MAX_ELEMENTS} elements).
 * Equality is by dtype, shape and values, floats compared bitwise ({@code NaN} equals {@code NaN},
 * {@code -0.0} differs from {@code 0.0}). {@link #toString()} prints like numpy / MindSpore.
 */
public final class Tensor {

    /** Largest element count a tensor can hold. */
    public static final int MAX_ELEMENTS = Integer.MAX_VALUE - 8;

    private final DType dtype;
    private final long[] shape;
    private final int size;
    private final float[] f;
    private final double[] d;
    private final long[] l;

    private Tensor(DType dtype, long[] shape, float[] f, double[] d, long[] l) {
        this.dtype = dtype;
        this.shape = shape;
        this.size = (int) checkedSize(shape);
        this.f = f;
        this.d = d;
        this.l = l;
    }

    // ------------------------------------------------------------------ storage helpers

    private enum Kind { FLOAT, DOUBLE, LONG }

    private static Kind kindOf(DType t) {
        switch (t) {
            case FLOAT16:
            case BFLOAT16:
            case FLOAT32:
            case FLOAT8_E4M3FN:
            case FLOAT8_E5M2:
                return Kind.FLOAT;
            case FLOAT64:
                return Kind.DOUBLE;
            default:
                return Kind.LONG;
        }
    }

    private static DType requireDType(DType dtype) {
        if (dtype == null) {
            throw new IllegalArgumentException("Tensor dtype: found null; expected a DType such as Float32");
        }
        return dtype;
    }

    /** Element count of {@code shape}, checked to be non-negative and to fit in a Java array. */
    static long checkedSize(long[] shape) {
        if (shape == null) {
            throw new IllegalArgumentException("Tensor shape: found null; expected an array of dimension sizes,"
                    + " e.g. new long[] {2, 3} (an empty array for a scalar)");
        }
        long n = 1;
        for (int i = 0; i < shape.length; i++) {
            if (shape[i] < 0) {
                throw new IllegalArgumentException("Tensor shape: dimension " + i + " is " + shape[i] + " in "
                        + shapeString(shape) + "; expected sizes >= 0");
            }
            n = shape[i] == 0 ? 0 : (n > MAX_ELEMENTS / shape[i] ? MAX_ELEMENTS + 1L : n * shape[i]);
        }
        if (n > MAX_ELEMENTS) {
            throw new IllegalArgumentException("Tensor shape " + shapeString(shape) + " has more than "
                    + MAX_ELEMENTS + " elements; a dense Tensor holds at most that many: materialise a smaller"
                    + " region (a slice) instead");
        }
        return n;
    }

    /** Rounds {@code v} to the precision of a floating dtype. */
    static double roundTo(DType dtype, double v) {
        switch (dtype) {
            case FLOAT16: return FloatFormats.roundToFloat16(v);
            case BFLOAT16: return FloatFormats.roundToBFloat16(v);
            case FLOAT32: return (float) v;
            case FLOAT8_E4M3FN: case FLOAT8_E5M2: return Float8.round(dtype, v, false);
            default: return v;
        }
    }

    private static long minOf(DType t) {
        switch (t) {
            case INT8: return Byte.MIN_VALUE;
            case INT16: return Short.MIN_VALUE;
            case INT32: return Integer.MIN_VALUE;
            case UINT8: return 0;
            default: return Long.MIN_VALUE;
        }
    }

    private static long maxOf(DType t) {
        switch (t) {
            case INT8: return Byte.MAX_VALUE;
            case INT16: return Short.MAX_VALUE;
            case INT32: return Integer.MAX_VALUE;
            case UINT8: return 255;
            default: return Long.MAX_VALUE;
        }
    }

    /** Converts a double to an integer or Bool dtype: Bool = nonzero, integers truncate toward zero, range-checked. */
    private static long toIntegral(DType t, double v) {
        if (t == DType.BOOL) {
            return v != 0.0 ? 1 : 0;
        }
        if (Double.isNaN(v) || Double.isInfinite(v) || v < minOf(t) || v >= maxOf(t) + 1.0) {
            throw new IllegalArgumentException("Tensor value " + v + " does not fit dtype " + t + " (range ["
                    + minOf(t) + ", " + maxOf(t) + "]); use a wider dtype or clip the values first");
        }
        return (long) v;
    }

    private static long checkIntegral(DType t, long v) {
        if (t == DType.BOOL) {
            return v != 0 ? 1 : 0;
        }
        if (v < minOf(t) || v > maxOf(t)) {
            throw new IllegalArgumentException("Tensor value " + v + " does not fit dtype " + t + " (range ["
                    + minOf(t) + ", " + maxOf(t) + "]); use a wider dtype or clip the values first");
        }
        return v;
    }

    // ------------------------------------------------------------------ factories

    /**
     * A tensor from row-major values, each converted to {@code dtype}: floats rounded to the dtype's precision,
     * integers truncated toward zero (an out-of-range value is an error), Bool = nonzero.
     *
     * @throws IllegalArgumentException when the value count differs from the shape's element count
     */
    public static Tensor of(DType dtype, long[] shape, double[] values) {
        requireDType(dtype);
        long[] s = shape == null ? null : shape.clone();
        long n = checkedSize(s);
        if (values == null || values.length != n) {
            throw new IllegalArgumentException("Tensor.of: shape " + shapeString(s) + " needs " + n
                    + " values but found " + (values == null ? "null" : values.length)
                    + "; pass exactly one value per element in row-major order");
        }
        return fromFunction(dtype, s, i -> values[(int) i]);
    }

    /**
     * A tensor from row-major integer values, converted to {@code dtype} (floats rounded, integers range-checked,
     * Bool = nonzero).
     *
     * @throws IllegalArgumentException when the value count differs from the shape's element count
     */
    public static Tensor ofLongs(DType dtype, long[] shape, long[] values) {
        requireDType(dtype);
        long[] s = shape == null ? null : shape.clone();
        long n = checkedSize(s);
        if (values == null || values.length != n) {
            throw new IllegalArgumentException("Tensor.ofLongs: shape " + shapeString(s) + " needs " + n
                    + " values but found " + (values == null ? "null" : values.length)
                    + "; pass exactly one value per element in row-major order");
        }
        if (kindOf(dtype) == Kind.LONG) {
            long[] out = new long[(int) n];
            for (int i = 0; i < out.length; i++) {
                out[i] = checkIntegral(dtype, values[i]);
            }
            return new Tensor(dtype, s, null, null, out);
        }
        return fromFunction(dtype, s, i -> (double) values[(int) i]);
    }

    /**
     * A tensor whose element at row-major flat index {@code i} is {@code valueAt.applyAsDouble(i)}, converted to
     * {@code dtype} as in {@link #of}. The function is called exactly once per element, in increasing index
     * order, so it may keep a cursor. Memory: only the tensor's own storage.
     */
    public static Tensor fromFunction(DType dtype, long[] shape, LongToDoubleFunction valueAt) {
        requireDType(dtype);
        long[] s = shape == null ? null : shape.clone();
        int n = (int) checkedSize(s);
        switch (kindOf(dtype)) {
            case FLOAT: {
                float[] out = new float[n];
                if (dtype == DType.FLOAT32) {
                    for (int i = 0; i < n; i++) {
                        out[i] = (float) valueAt.applyAsDouble(i);
                    }
                } else {
                    for (int i = 0; i < n; i++) {
                        out[i] = (float) roundTo(dtype, valueAt.applyAsDouble(i));
                    }
                }
                return new Tensor(dtype, s, out, null, null);
            }
            case DOUBLE: {
                double[] out = new double[n];
                for (int i = 0; i < n; i++) {
                    out[i] = valueAt.applyAsDouble(i);
                }
                return new Tensor(dtype, s, null, out, null);
            }
            default: {
                long[] out = new long[n];
                for (int i = 0; i < n; i++) {
                    out[i] = toIntegral(dtype, valueAt.applyAsDouble(i));
                }
                return new Tensor(dtype, s, null, null, out);
            }
        }
    }

    /** A 0-d tensor (shape {@code ()}) holding {@code value} converted to {@code dtype}. */
    public static Tensor scalar(DType dtype, double value) {
        return of(dtype, new long[0], new double[] {value});
    }

    /** {@code 0, 1, ..., n-1} as a 1-d tensor of shape {@code (n)}. */
    public static Tensor arange(DType dtype, long n) {
        requireDType(dtype);
        if (n < 0) {
            throw new IllegalArgumentException("Tensor.arange: n is " + n + "; expected n >= 0");
        }
        long[] s = {n};
        checkedSize(s);
        long[] v = new long[(int) n];
        for (int i = 0; i < v.length; i++) {
            v[i] = i;
        }
        return ofLongs(dtype, s, v);
    }

    /** A tensor of zeros. */
    public static Tensor zeros(DType dtype, long... shape) {
        return full(dtype, 0.0, shape);
    }

    /** A tensor of ones. */
    public static Tensor ones(DType dtype, long... shape) {
        return full(dtype, 1.0, shape);
    }

    /** A tensor filled with {@code value} converted to {@code dtype}. */
    public static Tensor full(DType dtype, double value, long... shape) {
        requireDType(dtype);
        if (kindOf(dtype) == Kind.LONG) {
            long v = toIntegral(dtype, value);
            long[] s = shape == null ? null : shape.clone();
            long[] out = new long[(int) checkedSize(s)];
            Arrays.fill(out, v);
            return new Tensor(dtype, s, null, null, out);
        }
        return fromFunction(dtype, shape, i -> value);
    }

    /**
     * A tensor from nested Java {@link List}s and/or arrays (object or primitive) of {@link Number} or
     * {@link Boolean}; a bare Number or Boolean gives a 0-d tensor. With {@code dtypeOrNull == null} the dtype is
     * inferred: Float32 if any value is floating (Float, Double, BigDecimal), else Int64 if any is an integer, else
     * Bool.
     *
     * @throws IllegalArgumentException for ragged nesting, a null element or an element of another type
     */
    public static Tensor fromNested(Object nested, DType dtypeOrNull) {
        List<Long> dims = new ArrayList<>();
        Object cur = nested;
        while (isSequence(cur)) {
            int len = lengthOf(cur);
            dims.add((long) len);
            if (len == 0) {
                break;
            }
            cur = elementOf(cur, 0);
        }
        long[] shape = dims.stream().mapToLong(Long::longValue).toArray();
        int n = (int) checkedSize(shape);
        double[] dv = new double[n];
        long[] lv = new long[n];
        boolean[] seen = new boolean[3]; // floating, integer, boolean
        int[] pos = {0};
        flatten(nested, shape, 0, dv, lv, seen, pos, "nested");
        DType dtype = dtypeOrNull;
        if (dtype == null) {
            dtype = seen[0] ? DType.FLOAT32 : (seen[1] ? DType.INT64 : (seen[2] ? DType.BOOL : DType.FLOAT32));
        }
        if (!seen[0] && kindOf(dtype) == Kind.LONG) {
            return ofLongs(dtype, shape, lv);
        }
        return of(dtype, shape, dv);
    }

    private static boolean isSequence(Object o) {
        return o instanceof List || (o != null && o.getClass().isArray());
    }

    private static int lengthOf(Object o) {
        return o instanceof List ? ((List<?>) o).size() : Array.getLength(o);
    }

    private static Object elementOf(Object o, int i) {
        return o instanceof List ? ((List<?>) o).get(i) : Array.get(o, i);
    }

    private static void flatten(Object o, long[] shape, int depth, double[] dv, long[] lv, boolean[] seen,
                                int[] pos, String where) {
        if (depth == shape.length) {
            if (isSequence(o)) {
                throw new IllegalArgumentException("Tensor.fromNested: ragged nesting at " + where
                        + ": found a sequence where siblings hold scalars; give every level equal lengths");
            }
            int p = pos[0]++;
            if (o instanceof Boolean) {
                seen[2] = true;
                lv[p] = ((Boolean) o) ? 1 : 0;
                dv[p] = lv[p];
            } else if (o instanceof Double || o instanceof Float || o instanceof java.math.BigDecimal) {
                seen[0] = true;
                dv[p] = ((Number) o).doubleValue();
            } else if (o instanceof Number) {
                seen[1] = true;
                lv[p] = ((Number) o).longValue();
                dv[p] = lv[p];
            } else {
                throw new IllegalArgumentException("Tensor.fromNested: element at " + where + " is "
                        + (o == null ? "null" : "a " + o.getClass().getSimpleName())
                        + "; expected a Number or Boolean");
            }
            return;
        }
        if (!isSequence(o) || lengthOf(o) != shape[depth]) {
            throw new IllegalArgumentException("Tensor.fromNested: ragged nesting at " + where + ": found "
                    + (isSequence(o) ? "length " + lengthOf(o) : "a scalar") + " but expected length "
                    + shape[depth] + " like its first sibling; give every level equal lengths");
        }
        for (int i = 0; i < shape[depth]; i++) {
            flatten(elementOf(o, i), shape, depth + 1, dv, lv, seen, pos, where + "[" + i + "]");
        }
    }

    // ------------------------------------------------------------------ accessors

    /** The element type. */
    public DType dtype() {
        return dtype;
    }

    /** The shape (a copy); empty for a 0-d tensor. */
    public long[] shape() {
        return shape.clone();
    }

    /** Number of dimensions. */
    public int ndim() {
        return shape.length;
    }

    /** Number of elements (1 for a 0-d tensor). */
    public long size() {
        return size;
    }

    /** Element at flat row-major index {@code flatIndex}, as a double. */
    public double doubleAt(long flatIndex) {
        int i = checkFlat(flatIndex);
        if (f != null) {
            return f[i];
        }
        if (d != null) {
            return d[i];
        }
        return l[i];
    }

    /** Element at flat row-major index {@code flatIndex}, as a long (floats truncated toward zero). */
    public long longAt(long flatIndex) {
        int i = checkFlat(flatIndex);
        if (l != null) {
            return l[i];
        }
        return (long) (f != null ? f[i] : d[i]);
    }

    /** Element at a multi-index (one index per dimension), as a double. */
    public double getDouble(long... index) {
        return doubleAt(flatIndexOf(index));
    }

    /** Element at a multi-index (one index per dimension), as a long (floats truncated toward zero). */
    public long getLong(long... index) {
        return longAt(flatIndexOf(index));
    }

    /** All values in row-major order as doubles (a new array). */
    public double[] toDoubleArray() {
        double[] out = new double[size];
        for (int i = 0; i < size; i++) {
            out[i] = f != null ? f[i] : (d != null ? d[i] : l[i]);
        }
        return out;
    }

    /** All values in row-major order as longs (a new array; floats truncated toward zero). */
    public long[] toLongArray() {
        if (l != null) {
            return l.clone();
        }
        long[] out = new long[size];
        for (int i = 0; i < size; i++) {
            out[i] = (long) (f != null ? f[i] : d[i]);
        }
        return out;
    }

    private int checkFlat(long flatIndex) {
        if (flatIndex < 0 || flatIndex >= size) {
            throw new IndexOutOfBoundsException("Tensor flat index " + flatIndex + " is outside [0, " + size
                    + ") for shape " + shapeString(shape));
        }
        return (int) flatIndex;
    }

    private long flatIndexOf(long[] index) {
        if (index == null || index.length != shape.length) {
            throw new IllegalArgumentException("Tensor index " + (index == null ? "null" : Arrays.toString(index))
                    + " has " + (index == null ? 0 : index.length) + " entries; expected " + shape.length
                    + " (one per dimension of shape " + shapeString(shape) + ")");
        }
        long flat = 0;
        for (int i = 0; i < index.length; i++) {
            if (index[i] < 0 || index[i] >= shape[i]) {
                throw new IndexOutOfBoundsException("Tensor index " + Arrays.toString(index) + ": entry " + i
                        + " is " + index[i] + "; expected 0 <= index < " + shape[i]);
            }
            flat = flat * shape[i] + index[i];
        }
        return flat;
    }

    // ------------------------------------------------------------------ transformations

    /**
     * The same values with another shape of equal element count; one dimension may be {@code -1} (inferred).
     *
     * @throws IllegalArgumentException when the counts differ
     */
    public Tensor reshape(long... newShape) {
        if (newShape == null) {
            throw new IllegalArgumentException("Tensor.reshape: shape is null; expected dimension sizes");
        }
        long[] s = newShape.clone();
        int infer = -1;
        long known = 1;
        for (int i = 0; i < s.length; i++) {
            if (s[i] == -1 && infer < 0) {
                infer = i;
            } else if (s[i] < 0) {
                throw new IllegalArgumentException("Tensor.reshape: dimension " + i + " is " + s[i]
                        + "; expected sizes >= 0 and at most one -1");
            } else {
                known *= s[i];
            }
        }
        if (infer >= 0) {
            if (known == 0 || size % known != 0) {
                throw new IllegalArgumentException("Tensor.reshape: cannot infer the -1 in " + shapeString(s)
                        + " for " + size + " elements");
            }
            s[infer] = size / known;
        }
        if (checkedSize(s) != size) {
            throw new IllegalArgumentException("Tensor.reshape: cannot reshape " + shapeString(shape) + " ("
                    + size + " elements) into " + shapeString(s) + " (" + checkedSize(s)
                    + " elements); the element counts must match");
        }
        return new Tensor(dtype, s, f, d, l);
    }

    /**
     * A copy of the elements inside {@code region} (global coordinates of this tensor); its shape is the
     * region's extents.
     *
     * @throws IllegalArgumentException when the region's rank differs or it leaves the tensor
     */
    public Tensor slice(Box region) {
        checkRegion(region, "slice");
        long[] rs = region.shape();
        int n = (int) checkedSize(rs);
        Object dst = newStorage(n);
        Object src = storage();
        if (n > 0) {
            forEachRow(shape, region, (srcOffset, dstOffset, len) ->
                    System.arraycopy(src, (int) srcOffset, dst, (int) dstOffset, (int) len));
        }
        return wrap(dtype, rs, dst);
    }

    /**
     * A copy of this tensor with {@code region} overwritten by {@code values} (converted to this dtype); handy to
     * assemble a tensor from slices.
     *
     * @throws IllegalArgumentException when the region leaves the tensor or {@code values} has another shape
     */
    public Tensor withRegion(Box region, Tensor values) {
        checkRegion(region, "withRegion");
        if (!Arrays.equals(region.shape(), values.shape)) {
            throw new IllegalArgumentException("Tensor.withRegion: region " + region + " has shape "
                    + shapeString(region.shape()) + " but values have shape " + shapeString(values.shape)
                    + "; give values of the region's shape");
        }
        Object src = values.astype(dtype).storage();
        Object dst = copyOf(storage());
        if (values.size > 0) {
            forEachRow(shape, region, (bigOffset, smallOffset, len) ->
                    System.arraycopy(src, (int) smallOffset, dst, (int) bigOffset, (int) len));
        }
        return wrap(dtype, shape.clone(), dst);
    }

    private void checkRegion(Box region, String op) {
        if (region == null) {
            throw new IllegalArgumentException("Tensor." + op + ": region is null; expected a Box such as"
                    + " Box.full(shape)");
        }
        if (region.rank() != shape.length) {
            throw new IllegalArgumentException("Tensor." + op + ": region " + region + " has " + region.rank()
                    + " dims but the tensor has shape " + shapeString(shape) + "; give one bound per dimension");
        }
        for (int i = 0; i < shape.length; i++) {
            if (region.end(i) > shape[i]) {
                throw new IllegalArgumentException("Tensor." + op + ": region " + region + " leaves shape "
                        + shapeString(shape) + " in dim " + i + " (end " + region.end(i) + " > " + shape[i] + ")");
            }
        }
    }

    /** Receives one contiguous run: offset in the big tensor, offset in the region, run length. */
    @FunctionalInterface
    private interface RowVisitor {
        void visit(long bigOffset, long regionOffset, long length);
    }

    /** Visits the region's contiguous runs (one per row of the last dimension) in row-major order. */
    private static void forEachRow(long[] fullShape, Box region, RowVisitor visitor) {
        int nd = fullShape.length;
        if (nd == 0) {
            visitor.visit(0, 0, 1);
            return;
        }
        long rowLen = region.extent(nd - 1);
        long[] stride = new long[nd];
        stride[nd - 1] = 1;
        for (int i = nd - 2; i >= 0; i--) {
            stride[i] = stride[i + 1] * fullShape[i + 1];
        }
        long[] idx = region.start();
        long regionOffset = 0;
        while (true) {
            long big = 0;
            for (int i = 0; i < nd; i++) {
                big += idx[i] * stride[i];
            }
            visitor.visit(big, regionOffset, rowLen);
            regionOffset += rowLen;
            int k = nd - 2;
            while (k >= 0) {
                idx[k]++;
                if (idx[k] < region.end(k)) {
                    break;
                }
                idx[k] = region.start(k);
                k--;
            }
            if (k < 0) {
                return;
            }
        }
    }

    /**
     * Concatenates tensors along {@code dim}; all parts must share dtype, rank and every other dimension.
     *
     * @throws IllegalArgumentException for an empty list or mismatched parts
     */
    public static Tensor concat(List<Tensor> parts, int dim) {
        if (parts == null || parts.isEmpty()) {
            throw new IllegalArgumentException("Tensor.concat: no parts; expected at least one tensor");
        }
        Tensor first = parts.get(0);
        int nd = first.shape.length;
        if (dim < 0 || dim >= nd) {
            throw new IllegalArgumentException("Tensor.concat: dim is " + dim + " but the parts have " + nd
                    + " dims; expected 0 <= dim < " + nd);
        }
        long total = 0;
        for (int p = 0; p < parts.size(); p++) {
            Tensor t = parts.get(p);
            if (t.dtype != first.dtype) {
                throw new IllegalArgumentException("Tensor.concat: part " + p + " has dtype " + t.dtype
                        + " but part 0 has " + first.dtype + "; convert with astype first");
            }
            if (t.shape.length != nd) {
                throw new IllegalArgumentException("Tensor.concat: part " + p + " has shape " + shapeString(t.shape)
                        + " but part 0 has " + shapeString(first.shape) + "; the ranks must match");
            }
            for (int i = 0; i < nd; i++) {
                if (i != dim && t.shape[i] != first.shape[i]) {
                    throw new IllegalArgumentException("Tensor.concat: part " + p + " has shape "
                            + shapeString(t.shape) + " but part 0 has " + shapeString(first.shape)
                            + "; only dim " + dim + " may differ");
                }
            }
            total += t.shape[dim];
        }
        long[] s = first.shape.clone();
        s[dim] = total;
        int n = (int) checkedSize(s);
        Object dst = first.newStorage(n);
        long outer = 1;
        for (int i = 0; i < dim; i++) {
            outer *= s[i];
        }
        long inner = 1;
        for (int i = dim + 1; i < nd; i++) {
            inner *= s[i];
        }
        int pos = 0;
        for (long o = 0; o < outer; o++) {
            for (Tensor t : parts) {
                int chunk = (int) (t.shape[dim] * inner);
                System.arraycopy(t.storage(), (int) (o * chunk), dst, pos, chunk);
                pos += chunk;
            }
        }
        return wrap(first.dtype, s, dst);
    }

    /**
     * This tensor converted to {@code target}: floats rounded to its precision, to integers truncated toward zero
     * (out of range is an error), to Bool as nonzero. Returns {@code this} when the dtype is already
     * {@code target}.
     */
    public Tensor astype(DType target) {
        requireDType(target);
        if (target == dtype) {
            return this;
        }
        if (l != null && kindOf(target) == Kind.LONG) {
            long[] out = new long[size];
            for (int i = 0; i < size; i++) {
                out[i] = checkIntegral(target, l[i]);
            }
            return new Tensor(target, shape.clone(), null, null, out);
        }
        return fromFunction(target, shape, this::doubleAt);
    }

    private Object storage() {
        return f != null ? f : (d != null ? d : l);
    }

    private Object newStorage(int n) {
        return f != null ? new float[n] : (d != null ? new double[n] : new long[n]);
    }

    private static Object copyOf(Object storage) {
        if (storage instanceof float[]) {
            return ((float[]) storage).clone();
        }
        if (storage instanceof double[]) {
            return ((double[]) storage).clone();
        }
        return ((long[]) storage).clone();
    }

    private static Tensor wrap(DType dtype, long[] shape, Object storage) {
        if (storage instanceof float[]) {
            return new Tensor(dtype, shape, (float[]) storage, null, null);
        }
        if (storage instanceof double[]) {
            return new Tensor(dtype, shape, null, (double[]) storage, null);
        }
        return new Tensor(dtype, shape, null, null, (long[]) storage);
    }

    // ------------------------------------------------------------------ equality and printing

    @Override
    public boolean equals(Object o) {
        if (this == o) {
            return true;
        }
        if (!(o instanceof Tensor)) {
            return false;
        }
        Tensor t = (Tensor) o;
        return dtype == t.dtype && Arrays.equals(shape, t.shape) && Arrays.equals(f, t.f) && Arrays.equals(d, t.d)
                && Arrays.equals(l, t.l);
    }

    @Override
    public int hashCode() {
        int h = dtype.hashCode() * 31 + Arrays.hashCode(shape);
        if (f != null) {
            return h * 31 + Arrays.hashCode(f);
        }
        if (d != null) {
            return h * 31 + Arrays.hashCode(d);
        }
        return h * 31 + Arrays.hashCode(l);
    }

    /**
     * Prints the values as numpy's {@code str()} does (and MindSpore's {@code print(tensor)}): {@code [[0 1 2]\n
     * [3 4 5]]} for integers, {@code [[1. 1. 1.]]} for integral floats, scientific notation such as
     * {@code 3.10382620e-02} when the magnitudes call for it, 75-character lines and {@code ...} summaries above
     * 1000 elements.
     */
    @Override
    public String toString() {
        return TensorFormat.format(this);
    }

    /** Formats a shape as MindSpore (a Python tuple) prints it: {@code (2, 3)}, {@code (4,)}, {@code ()}. */
    public static String shapeString(long[] shape) {
        if (shape == null) {
            return "null";
        }
        StringBuilder sb = new StringBuilder("(");
        for (int i = 0; i < shape.length; i++) {
            if (i > 0) {
                sb.append(", ");
            }
            sb.append(shape[i]);
        }
        if (shape.length == 1) {
            sb.append(',');
        }
        return sb.append(')').toString();
    }
}
