package io.tessera.layout.tensor;

import io.tessera.layout.DType;

/**
 * The two OCP FP8 formats ({@link DType#FLOAT8_E4M3FN}, {@link DType#FLOAT8_E5M2}): exact round-to-nearest-even
 * conversion from any double (so from float32 without double rounding) to the 8-bit pattern and back, and the
 * per-tensor scaled quantize-dequantize Transformer Engine applies to GEMM inputs. Stateless.
 *
 * <p>Overflow has two modes. <b>Saturating</b> ({@code saturate = true}, Transformer Engine's casts, CUDA's
 * {@code __NV_SATFINITE}): a value past the largest finite one, infinities included, becomes {@code ±max}; NaN stays
 * NaN. <b>Non-saturating</b> (PyTorch's {@code tensor.to(float8_...)}): a value that rounds past {@code max} becomes
 * NaN in E4M3FN (which has no infinities) and {@code ±inf} in E5M2; infinities likewise. Rounding is to nearest, ties
 * to the even pattern, with gradual underflow (E4M3FN subnormals are multiples of {@code 2^-9}, E5M2 of
 * {@code 2^-16}); the sign of zero is kept. NaN encodes as {@code 0x7f} (E4M3FN's only positive NaN; a NaN of E5M2).
 */
public final class Float8 {

    /** Largest finite E4M3FN value: {@code 1.75 * 2^8}. */
    public static final double E4M3_MAX = 448;
    /** Largest finite E5M2 value: {@code 1.75 * 2^15}. */
    public static final double E5M2_MAX = 57344;

    private static final int NAN_BITS = 0x7f;

    private Float8() {
    }

    /** Mantissa bits, exponent bias and minimum normal exponent of a format. */
    private record Spec(int mantissaBits, int bias, int minExp, double max) {
    }

    private static Spec spec(DType format) {
        if (format == DType.FLOAT8_E4M3FN) {
            return new Spec(3, 7, -6, E4M3_MAX);
        }
        if (format == DType.FLOAT8_E5M2) {
            return new Spec(2, 15, -14, E5M2_MAX);
        }
        throw new IllegalArgumentException("fp8 format: found " + format + "; expected float8_e4m3fn or float8_e5m2");
    }

    /**
     * The largest finite value of an FP8 format: 448 for E4M3FN, 57344 for E5M2.
     *
     * @throws IllegalArgumentException when {@code format} is not an FP8 dtype
     */
    public static double max(DType format) {
        return spec(format).max();
    }

    /**
     * {@code v} rounded to the nearest value of {@code format} (as a double), ties to even, overflow as the class
     * comment describes.
     *
     * @throws IllegalArgumentException when {@code format} is not an FP8 dtype
     */
    public static double round(DType format, double v, boolean saturate) {
        Spec s = spec(format);
        if (Double.isNaN(v)) {
            return v;
        }
        if (Double.isInfinite(v)) {
            return overflow(format, s, v, saturate);
        }
        if (v == 0) {
            return v;
        }
        double a = Math.abs(v);
        int e = Math.max(Math.getExponent(a), s.minExp());
        double ulp = Math.scalb(1.0, e - s.mantissaBits());
        double q = Math.rint(a / ulp) * ulp;
        if (q > s.max()) {
            return overflow(format, s, v, saturate);
        }
        return Math.copySign(q, v);
    }

    private static double overflow(DType format, Spec s, double v, boolean saturate) {
        if (saturate) {
            return Math.copySign(s.max(), v);
        }
        return format == DType.FLOAT8_E4M3FN ? Double.NaN : Math.copySign(Double.POSITIVE_INFINITY, v);
    }

    /**
     * The 8-bit pattern (0..255) of {@code v} rounded to {@code format} ({@link #round}).
     *
     * @throws IllegalArgumentException when {@code format} is not an FP8 dtype
     */
    public static int toBits(DType format, double v, boolean saturate) {
        Spec s = spec(format);
        double q = round(format, v, saturate);
        if (Double.isNaN(q)) {
            return NAN_BITS;
        }
        int sign = Double.doubleToRawLongBits(q) < 0 ? 0x80 : 0;
        double a = Math.abs(q);
        int expField;
        int mant;
        if (Double.isInfinite(a)) {
            expField = (1 << (7 - s.mantissaBits())) - 1;
            mant = 0;
        } else if (a == 0) {
            expField = 0;
            mant = 0;
        } else if (Math.getExponent(a) < s.minExp()) {
            expField = 0;
            mant = (int) Math.scalb(a, s.mantissaBits() - s.minExp());
        } else {
            int e = Math.getExponent(a);
            expField = e + s.bias();
            mant = (int) ((Math.scalb(a, -e) - 1.0) * (1 << s.mantissaBits()));
        }
        return sign | (expField << s.mantissaBits()) | mant;
    }

    /**
     * The value of an 8-bit pattern of {@code format} (only the low 8 bits of {@code bits} are read).
     *
     * @throws IllegalArgumentException when {@code format} is not an FP8 dtype
     */
    public static double fromBits(DType format, int bits) {
        Spec s = spec(format);
        int b = bits & 0xff;
        int m = s.mantissaBits();
        int expField = (b & 0x7f) >>> m;
        int mant = b & ((1 << m) - 1);
        int topExp = (1 << (7 - m)) - 1;
        double v;
        if (format == DType.FLOAT8_E4M3FN && expField == topExp && mant == (1 << m) - 1) {
            return Double.NaN;
        } else if (format == DType.FLOAT8_E5M2 && expField == topExp) {
            v = mant == 0 ? Double.POSITIVE_INFINITY : Double.NaN;
            if (Double.isNaN(v)) {
                return v;
            }
        } else if (expField == 0) {
            v = Math.scalb((double) mant, s.minExp() - m);
        } else {
            v = Math.scalb(1.0 + (double) mant / (1 << m), expField - s.bias());
        }
        return (b & 0x80) != 0 ? -v : v;
    }

    /**
     * The per-tensor scale of Transformer Engine's delayed / current scaling with margin 0: {@code max / amax}, so
     * that the largest magnitude maps to the format's largest finite value; 1 when {@code amax} is 0 or not finite.
     *
     * @throws IllegalArgumentException when {@code format} is not an FP8 dtype or {@code amax} is negative
     */
    public static double scale(DType format, double amax) {
        double max = max(format);
        if (amax < 0) {
            throw new IllegalArgumentException("fp8 scale: amax is " + amax + "; expected the largest magnitude "
                    + "of a tensor, >= 0");
        }
        return amax > 0 && Double.isFinite(amax) ? max / amax : 1;
    }

    /** The largest finite magnitude of {@code x} (0 for an empty array; NaNs and infinities are skipped). */
    public static double amax(double[] x) {
        double m = 0;
        for (double v : x) {
            if (Double.isFinite(v)) {
                m = Math.max(m, Math.abs(v));
            }
        }
        return m;
    }

    /**
     * Per-tensor scaled quantize-dequantize in place, as a GEMM input passes through FP8 in Transformer Engine:
     * {@code scale = scale(format, amax)} and each {@code x = round(format, x * scale, saturating) / scale}. Pass
     * the amax of the whole logical tensor ({@link #amax}) so that every shard of a sharded tensor rounds alike.
     *
     * @return {@code x}
     * @throws IllegalArgumentException when {@code format} is not an FP8 dtype or {@code amax} is negative
     */
    public static double[] quantizeDequantize(DType format, double[] x, double amax) {
        double s = scale(format, amax);
        for (int i = 0; i < x.length; i++) {
            x[i] = round(format, x[i] * s, true) / s;
        }
        return x;
    }
}
