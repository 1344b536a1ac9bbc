package io.tessera.layout.param;

import io.tessera.layout.Box;
import io.tessera.layout.DType;
import io.tessera.layout.init.Initializer;
import io.tessera.layout.init.Initializers;
import io.tessera.layout.init.LazyTensor;
import io.tessera.layout.tensor.Tensor;

import java.util.Arrays;
import java.util.List;
import java.util.OptionalLong;

/**
 * The input conversions of {@link Parameter}: what a {@code default_input} becomes ({@link #toData}), what
 * {@code set_data} and {@code clone} accept ({@link #setDataInput}, {@link #cloneData}), names ({@link #name}),
 * numbers as 0-d tensors ({@link #scalarOf}), and MindSpore's implicit dtype conversions
 * ({@link #convertsImplicitly}, {@link #cast}). Stateless.
 */
final class ParamConversions {

    private ParamConversions() {
    }

    /**
     * The data of a {@code default_input}: a {@link Tensor} or a {@link LazyTensor} as given, another parameter's
     * data, a number as a 0-d tensor (Int32 for int/short/byte, Int64 for long, Float32 for float/double), nested
     * lists or arrays as a tensor.
     *
     * @throws IllegalArgumentException for null, a boolean, a bare {@link Initializer} or another type
     */
    static Object toData(Object input) {
        if (input == null) {
            throw new IllegalArgumentException("Parameter default_input: found null; expected a Tensor, a LazyTensor "
                    + "from Initializers.initializer(...), an int, long, float or double, or nested lists of numbers");
        }
        if (input instanceof Tensor || input instanceof LazyTensor) {
            return input;
        }
        if (input instanceof Parameter p) {
            return p.rawData();
        }
        if (input instanceof Boolean) {
            throw new IllegalArgumentException("Parameter data can not be `bool`: found " + input
                    + "; pass a Tensor of dtype Bool for boolean data");
        }
        if (input instanceof Number n) {
            return scalarOf(n, null);
        }
        if (input instanceof Initializer init) {
            throw new IllegalArgumentException("Parameter default_input: found the initializer '" + init.name()
                    + "', which has no shape or dtype; use Parameter.fromInitializer(init, shape, dtype, name) or "
                    + "Initializers.initializer(init, shape, dtype)");
        }
        if (input instanceof List<?> || input.getClass().isArray()) {
            return Tensor.fromNested(input, null);
        }
        throw new IllegalArgumentException("Parameter default_input: found a " + input.getClass().getName()
                + "; expected a Tensor, a LazyTensor, an int, long, float or double, or nested lists/arrays of "
                + "numbers");
    }

    /**
     * The data {@code set_data} was given, for parameter {@code name} of {@code dtype}: a {@link Tensor} or a
     * {@link LazyTensor} as given, a parameter's data, a number as a 0-d tensor of {@code dtype}.
     *
     * @throws IllegalArgumentException for null, a boolean, a floating-point number into an integer or boolean
     *                                  dtype, or another type
     */
    static Object setDataInput(String name, Object data, DType dtype) {
        if (data == null || data instanceof Boolean) {
            throw new IllegalArgumentException("Parameter '" + name + "': set_data found " + data + "; expected a "
                    + "Tensor, a LazyTensor, an int, long, float or double");
        }
        if (data instanceof Number n) {
            if (!dtype.isFloating() && (n instanceof Double || n instanceof Float)) {
                throw conversionError(name, dtype, "the floating-point number " + n);
            }
            return scalarOf(n, dtype);
        }
        if (data instanceof Parameter p) {
            return p.rawData();
        }
        if (data instanceof Tensor || data instanceof LazyTensor) {
            return data;
        }
        throw new IllegalArgumentException("Parameter '" + name + "': set_data found a "
                + data.getClass().getName() + "; expected a Tensor, a LazyTensor, an int, long, float or double");
    }

    /**
     * The data {@code clone(init)} gives parameter {@code name} of {@code shape} and {@code dtype}: a lazy
     * description for an initializer name, an {@link Initializer} or a number; a {@link Tensor} or {@link LazyTensor}
     * of the shape as given, converted to {@code dtype} when that widens.
     *
     * @throws IllegalArgumentException for a boolean, another type, an unknown initializer name, or data of another
     *                                  shape or a narrower dtype
     */
    static Object cloneData(String name, Object init, long[] shape, DType dtype) {
        Object data;
        if (init instanceof String s) {
            data = Initializers.initializer(s, shape, dtype);
        } else if (init instanceof Initializer i) {
            data = Initializers.initializer(i, shape, dtype);
        } else if (init instanceof Boolean) {
            throw new IllegalArgumentException("Parameter '" + name + "': clone init can not be `bool`: found " + init
                    + "; expected \"same\", an initializer name, an Initializer, a number or a Tensor");
        } else if (init instanceof Number n) {
            data = Initializers.initializer(n, shape, dtype);
        } else if (init instanceof Tensor || init instanceof LazyTensor) {
            data = init;
        } else {
            throw new IllegalArgumentException("Parameter '" + name + "': clone init is a "
                    + init.getClass().getName() + "; expected \"same\", an initializer name, an Initializer, a "
                    + "number or a Tensor");
        }
        long[] newShape = shapeOf(data);
        if (!Arrays.equals(newShape, shape)) {
            throw new IllegalArgumentException("Parameter '" + name + "': clone init has the shape "
                    + PyFormat.tuple(newShape) + " but the parameter has " + PyFormat.tuple(shape)
                    + "; pass data of the parameter's shape");
        }
        return cast(name, data, dtype);
    }

    /**
     * A parameter name: null or blank gives {@value Parameter#DEFAULT_NAME}, surrounding blanks are removed.
     *
     * @throws IllegalArgumentException when the name is longer than {@value Parameter#MAX_NAME_LENGTH} characters
     */
    static String name(String name) {
        if (name == null) {
            return Parameter.DEFAULT_NAME;
        }
        String n = name.strip();
        if (n.isEmpty()) {
            return Parameter.DEFAULT_NAME;
        }
        if (n.length() > Parameter.MAX_NAME_LENGTH) {
            String shown = n.length() <= 40 ? n : n.substring(0, 37) + "...";
            throw new IllegalArgumentException("The length of the '" + shown + "' name should be less than "
                    + Parameter.MAX_NAME_LENGTH + ": found " + n.length() + " characters; use a name of at most "
                    + Parameter.MAX_NAME_LENGTH + " characters");
        }
        return n;
    }

    /** A 0-d tensor of a number: of {@code dtype}, or when null, Int32/Int64/Float32 by the number's type. */
    static Tensor scalarOf(Number n, DType dtype) {
        boolean integral = n instanceof Integer || n instanceof Long || n instanceof Short || n instanceof Byte;
        boolean floating = n instanceof Double || n instanceof Float;
        if (!integral && !floating) {
            throw new IllegalArgumentException("Parameter data: found the number " + n + " of type "
                    + n.getClass().getName() + "; expected an int, long, short, byte, float or double");
        }
        DType t = dtype;
        if (t == null) {
            t = floating ? DType.FLOAT32 : (n instanceof Long ? DType.INT64 : DType.INT32);
        }
        if (integral && !t.isFloating()) {
            return Tensor.ofLongs(t, new long[0], new long[] {n.longValue()});
        }
        return Tensor.scalar(t, n.doubleValue());
    }

    /** The shape of a data object ({@link Tensor} or {@link LazyTensor}). */
    static long[] shapeOf(Object data) {
        return data instanceof Tensor t ? t.shape() : ((LazyTensor) data).shape();
    }

    /** The dtype of a data object ({@link Tensor} or {@link LazyTensor}). */
    static DType dtypeOf(Object data) {
        return data instanceof Tensor t ? t.dtype() : ((LazyTensor) data).dtype();
    }

    /**
     * {@code data} converted to {@code dtype} for parameter {@code name}: a tensor by {@link Tensor#astype}, a lazy
     * description region by region (it stays lazy).
     *
     * @throws IllegalArgumentException when the conversion would narrow ({@link #convertsImplicitly})
     */
    static Object cast(String name, Object data, DType dtype) {
        DType from = dtypeOf(data);
        if (from == dtype) {
            return data;
        }
        if (!convertsImplicitly(from, dtype)) {
            throw conversionError(name, dtype, from.displayName());
        }
        return data instanceof Tensor t ? t.astype(dtype) : castLazy((LazyTensor) data, dtype);
    }

    /** MindSpore's dtype conversion error, naming the parameter and the fix. */
    static IllegalArgumentException conversionError(String name, DType current, String incoming) {
        return new IllegalArgumentException("Incoming Parameter dtype can not be converted to current dtype "
                + "implicitly. Current dtype is " + current.displayName() + ", and incoming is " + incoming
                + ": parameter '" + name + "'; convert the data to " + current.displayName()
                + " first (Tensor.astype), implicit conversion only widens");
    }

    /** MindSpore's {@code implicit_conversion_seq} position; Float16 and BFloat16 share one. */
    static int conversionRank(DType t) {
        switch (t) {
            case BOOL: return 0;
            case INT8: return 1;
            case UINT8: return 2;
            case INT16: return 3;
            case INT32: return 4;
            case INT64: return 5;
            case FLOAT16: case BFLOAT16: return 6;
            case FLOAT32: return 7;
            case FLOAT64: return 8;
            default: throw new IllegalArgumentException("dtype " + t + " has no implicit conversion rank (FP8 "
                    + "converts only explicitly, Tensor.astype); expected Bool, Int8, UInt8, Int16, Int32, Int64, Float16, BFloat16, Float32 or Float64");
        }
    }

    /** See {@link Parameter#convertsImplicitly(DType, DType)}. */
    static boolean convertsImplicitly(DType from, DType to) {
        if (from == to) {
            return true;
        }
        if ((from == DType.FLOAT16 && to == DType.BFLOAT16) || (from == DType.BFLOAT16 && to == DType.FLOAT16)) {
            return false;
        }
        return conversionRank(from) <= conversionRank(to);
    }

    /** A lazy description generating {@code lazy}'s values converted to {@code dtype}, region by region. */
    static LazyTensor castLazy(LazyTensor lazy, DType dtype) {
        return new LazyTensor(new CastInitializer(lazy.init(), lazy.dtype()), lazy.shape(), dtype, lazy.seed());
    }

    /** Generates with the wrapped initializer in its own dtype, then converts. */
    private static final class CastInitializer implements Initializer {
        private final Initializer inner;
        private final DType source;

        CastInitializer(Initializer inner, DType source) {
            this.inner = inner;
            this.source = source;
        }

        @Override
        public String name() {
            return inner.name();
        }

        @Override
        public Tensor generate(long[] shape, DType dtype, long seed, Box region) {
            return inner.generate(shape, source, seed, region).astype(dtype);
        }

        @Override
        public OptionalLong explicitSeed() {
            return inner.explicitSeed();
        }

        @Override
        public boolean isRandom() {
            return inner.isRandom();
        }

        @Override
        public void checkShape(long[] shape) {
            inner.checkShape(shape);
        }

        @Override
        public String toString() {
            return inner + " as " + source;
        }
    }
}
