package io.tessera.layout.tensor;

import io.tessera.layout.DType;
import io.tessera.layout.param.Parameter;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@link Float8} against a brute-force reference that enumerates every positive bit pattern of a format and picks
 * the nearest (ties to the even pattern), over a seeded random sample of float32 values plus every boundary.
 */
class Float8Test {

    private static final DType E4M3 = DType.FLOAT8_E4M3FN;
    private static final DType E5M2 = DType.FLOAT8_E5M2;

    /** The finite non-negative values of a format by pattern (0x00..0x7f), NaN where the pattern is not finite. */
    private static double[] positiveValues(DType f) {
        int m = f == E4M3 ? 3 : 2;
        int bias = f == E4M3 ? 7 : 15;
        double[] v = new double[128];
        for (int b = 0; b < 128; b++) {
            int e = b >>> m;
            int mant = b & ((1 << m) - 1);
            boolean special = f == E4M3 ? (e == 15 && mant == 7) : e == 31;
            v[b] = special ? Double.NaN
                    : e == 0 ? mant * Math.pow(2, 1 - bias - m) : (1 + mant / (double) (1 << m)) * Math.pow(2, e - bias);
        }
        return v;
    }

    /**
     * The reference: nearest pattern to |x| among the finite ones and one virtual pattern just past the largest
     * finite value (the overflow, whose mantissa parity is that of the next pattern: odd 0x7f for E4M3FN, even 0x7c
     * for E5M2), ties to the even pattern; the sign applied after. Returns the value.
     */
    private static double reference(DType f, double x, boolean saturate) {
        if (Double.isNaN(x)) {
            return Double.NaN;
        }
        double[] v = positiveValues(f);
        double max = Float8.max(f);
        double a = Math.abs(x);
        int best = -1;
        double bestDist = Double.POSITIVE_INFINITY;
        for (int b = 0; b < 128; b++) {
            if (Double.isNaN(v[b]) || Double.isInfinite(v[b])) {
                continue;
            }
            double d = Math.abs(a - v[b]);
            if (d < bestDist || (d == bestDist && (b & 1) == 0)) {
                best = b;
                bestDist = d;
            }
        }
        double over = f == E4M3 ? 480 : 65536;
        int overBits = f == E4M3 ? 0x7f : 0x7c;
        double d = Math.abs(a - over);
        boolean overflow = a >= over || d < bestDist || (d == bestDist && (overBits & 1) == 0);
        if (overflow) {
            if (saturate) {
                return Math.copySign(max, x);
            }
            return f == E4M3 ? Double.NaN : Math.copySign(Double.POSITIVE_INFINITY, x);
        }
        return Math.copySign(v[best], x);
    }

    private static List<Double> boundaries(DType f) {
        List<Double> out = new ArrayList<>();
        double[] v = positiveValues(f);
        List<Double> finite = new ArrayList<>();
        for (double x : v) {
            if (Double.isFinite(x)) {
                finite.add(x);
            }
        }
        finite.add(f == E4M3 ? 480.0 : 65536.0);
        for (int i = 0; i < finite.size(); i++) {
            double x = finite.get(i);
            out.add(x);
            if (i + 1 < finite.size()) {
                double half = (x + finite.get(i + 1)) / 2;
                float h = (float) half;
                out.add(half);
                out.add((double) Math.nextUp(h));
                out.add((double) Math.nextDown(h));
            }
        }
        out.add((double) Float.MIN_VALUE);
        out.add((double) Float.MAX_VALUE);
        out.add(Double.POSITIVE_INFINITY);
        out.add(1e-30);
        out.add(0.0);
        List<Double> signed = new ArrayList<>(out);
        for (double x : out) {
            signed.add(-x);
        }
        return signed;
    }

    private static void check(DType f, double x, boolean saturate) {
        double expected = reference(f, x, saturate);
        double got = Float8.round(f, x, saturate);
        String what = f + " " + (saturate ? "saturating" : "non-saturating") + " of " + x;
        assertEquals(Double.doubleToLongBits(expected), Double.doubleToLongBits(got),
                what + ": expected " + expected + ", got " + got);
        int bits = Float8.toBits(f, x, saturate);
        double back = Float8.fromBits(f, bits);
        assertEquals(Double.doubleToLongBits(expected), Double.doubleToLongBits(back),
                what + ": bits 0x" + Integer.toHexString(bits) + " read back as " + back);
    }

    @Test
    void everyBoundaryMatchesTheBruteForceReference() {
        for (DType f : new DType[] {E4M3, E5M2}) {
            for (double x : boundaries(f)) {
                check(f, x, true);
                check(f, x, false);
            }
        }
    }

    @Test
    void randomFloat32ValuesMatchTheBruteForceReference() {
        long seed = System.nanoTime();
        System.out.println("Float8Test seed " + seed);
        Random rnd = new Random(seed);
        for (int i = 0; i < 20_000; i++) {
            // magnitudes 2^-20 .. 2^18 uniformly in exponent, random mantissa and sign: every binade of both formats
            float x = (float) (Math.scalb(1 + rnd.nextDouble(), rnd.nextInt(39) - 20) * (rnd.nextBoolean() ? 1 : -1));
            DType f = rnd.nextBoolean() ? E4M3 : E5M2;
            check(f, x, rnd.nextBoolean());
        }
    }

    @Test
    void everyPatternRoundTrips() {
        for (DType f : new DType[] {E4M3, E5M2}) {
            for (int b = 0; b < 256; b++) {
                double v = Float8.fromBits(f, b);
                if (Double.isNaN(v)) {
                    assertTrue(f == E4M3 ? (b & 0x7f) == 0x7f : (b & 0x7c) == 0x7c && (b & 3) != 0, f + " 0x"
                            + Integer.toHexString(b));
                    continue;
                }
                assertEquals(b, Float8.toBits(f, v, false), f + " pattern 0x" + Integer.toHexString(b) + " = " + v);
            }
        }
        assertEquals(448.0, Float8.fromBits(E4M3, 0x7e));
        assertEquals(57344.0, Float8.fromBits(E5M2, 0x7b));
        assertEquals(Math.pow(2, -9), Float8.fromBits(E4M3, 0x01));
        assertEquals(Math.pow(2, -16), Float8.fromBits(E5M2, 0x01));
        assertEquals(Double.NEGATIVE_INFINITY, Float8.fromBits(E5M2, 0xfc));
        assertEquals(0x80, Float8.toBits(E4M3, -0.0, true));
    }

    @Test
    void overflowSaturatesOrGoesToNanAndInfinity() {
        assertEquals(448.0, Float8.round(E4M3, 1e6, true));
        assertEquals(-448.0, Float8.round(E4M3, Double.NEGATIVE_INFINITY, true));
        assertTrue(Double.isNaN(Float8.round(E4M3, 470, false)));
        assertEquals(448.0, Float8.round(E4M3, 464, false), "464 is halfway: ties to the even 448");
        assertEquals(Double.POSITIVE_INFINITY, Float8.round(E5M2, 61440, false));
        assertEquals(57344.0, Float8.round(E5M2, 61439, false));
        assertTrue(Double.isNaN(Float8.round(E5M2, Double.NaN, true)));
        assertEquals(0x7f, Float8.toBits(E4M3, Double.NaN, true));
    }

    @Test
    void perTensorScalingMapsTheAmaxToTheLargestValue() {
        double[] x = {0.001, -0.5, 2.0, 0.3};
        double amax = Float8.amax(x);
        assertEquals(2.0, amax);
        assertEquals(224.0, Float8.scale(E4M3, amax));
        assertEquals(1.0, Float8.scale(E4M3, 0));
        double[] q = Float8.quantizeDequantize(E4M3, x.clone(), amax);
        assertEquals(2.0, q[3 - 1], "the amax itself is exact");
        for (int i = 0; i < x.length; i++) {
            double s = 224.0;
            assertEquals(Float8.round(E4M3, x[i] * s, true) / s, q[i]);
            assertTrue(Math.abs(q[i] - x[i]) <= Math.abs(x[i]) * 0x1p-4 + 0x1p-9 / s, "relative error of E4M3");
        }
        assertThrows(IllegalArgumentException.class, () -> Float8.scale(E4M3, -1));
    }

    @Test
    void dtypesParseAndTensorsRound() {
        assertEquals(E4M3, DType.parse("float8_e4m3fn"));
        assertEquals(E4M3, DType.parse("fp8_e4m3"));
        assertEquals(E5M2, DType.parse("FP8_E5M2"));
        assertEquals("float8_e5m2", E5M2.jsonName());
        assertEquals(1, E4M3.bytes());
        assertTrue(E4M3.isFloating() && E4M3.isFp8() && !DType.BFLOAT16.isFp8());
        Tensor t = Tensor.of(E4M3, new long[] {3}, new double[] {0.3, 500, -17});
        assertEquals(0.3125, t.getDouble(0));
        assertTrue(Double.isNaN(t.getDouble(1)));
        assertEquals(-16.0, t.getDouble(2));
        assertEquals("[  0.3   nan -16. ]", t.toString(), "shortest decimals that read back in E4M3");
        assertEquals(0.3125, Tensor.of(DType.FLOAT32, new long[] {1}, new double[] {0.3}).astype(E4M3).getDouble(0));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> Parameter.fromInitializer("ones", new long[] {2}, E4M3, "w"));
        assertTrue(e.getMessage().contains("float8_e4m3fn") && e.getMessage().contains("bfloat16"), e.getMessage());
    }
}
