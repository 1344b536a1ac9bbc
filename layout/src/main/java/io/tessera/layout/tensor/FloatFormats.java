package io.tessera.layout.tensor;

/**
 * Rounding to and from the 16-bit floating formats (IEEE half precision and bfloat16), round-to-nearest-even,
 * with overflow to infinity and gradual underflow. Java 17 has no {@code Float.floatToFloat16}; these methods
 * round directly from {@code double}, so there is no double rounding through {@code float}.
 */
public final class FloatFormats {

    private static final double FLOAT16_MIN_NORMAL = 0x1.0p-14;

    private FloatFormats() {
    }

    /**
     * Rounds {@code v} to the nearest value representable with {@code precision} significant bits (implicit bit
     * included), minimum normal exponent {@code minExp} and maximum exponent {@code maxExp}; ties to even.
     */
    private static double round(double v, int precision, int minExp, int maxExp) {
        if (Double.isNaN(v) || Double.isInfinite(v) || v == 0.0) {
            return v;
        }
        double a = Math.abs(v);
        int e = Math.max(Math.getExponent(a), minExp);
        double ulp = Math.scalb(1.0, e - (precision - 1));
        double q = Math.rint(a / ulp) * ulp;
        if (q >= Math.scalb(1.0, maxExp + 1)) {
            q = Double.POSITIVE_INFINITY;
        }
        return Math.copySign(q, v);
    }

    /** {@code v} rounded to the nearest IEEE half-precision value (returned as a double). */
    public static double roundToFloat16(double v) {
        return round(v, 11, -14, 15);
    }

    /** {@code v} rounded to the nearest bfloat16 value (returned as a double). */
    public static double roundToBFloat16(double v) {
        return round(v, 8, -126, 127);
    }

    /** {@code v} rounded to the nearest float (IEEE single precision), as a double. */
    public static double roundToFloat32(double v) {
        return (float) v;
    }

    /** The 16-bit pattern of {@code v} rounded to half precision; NaN gives the quiet NaN {@code 0x7e00}. */
    public static short toFloat16Bits(double v) {
        if (Double.isNaN(v)) {
            return (short) 0x7e00;
        }
        double q = roundToFloat16(v);
        int sign = (Double.doubleToRawLongBits(q) < 0) ? 0x8000 : 0;
        double a = Math.abs(q);
        int bits;
        if (Double.isInfinite(a)) {
            bits = 0x7c00;
        } else if (a < FLOAT16_MIN_NORMAL) {
            bits = (int) (a * 0x1.0p24);
        } else {
            int e = Math.getExponent(a);
            int mant = (int) ((Math.scalb(a, -e) - 1.0) * 1024.0);
            bits = ((e + 15) << 10) | mant;
        }
        return (short) (sign | bits);
    }

    /** The value of a half-precision bit pattern. */
    public static double fromFloat16Bits(short bits) {
        int b = bits & 0xffff;
        int sign = b >>> 15;
        int exp = (b >>> 10) & 0x1f;
        int mant = b & 0x3ff;
        double v;
        if (exp == 0x1f) {
            v = mant == 0 ? Double.POSITIVE_INFINITY : Double.NaN;
        } else if (exp == 0) {
            v = mant * 0x1.0p-24;
        } else {
            v = Math.scalb(1.0 + mant / 1024.0, exp - 15);
        }
        return sign == 1 ? -v : v;
    }

    /** The 16-bit pattern of {@code v} rounded to bfloat16; NaN gives the quiet NaN {@code 0x7fc0}. */
    public static short toBFloat16Bits(double v) {
        if (Double.isNaN(v)) {
            return (short) 0x7fc0;
        }
        double q = roundToBFloat16(v);
        return (short) (Float.floatToRawIntBits((float) q) >>> 16);
    }

    /** The value of a bfloat16 bit pattern. */
    public static double fromBFloat16Bits(short bits) {
        return Float.intBitsToFloat((bits & 0xffff) << 16);
    }
}
