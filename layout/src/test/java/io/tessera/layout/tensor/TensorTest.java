package io.tessera.layout.tensor;

import io.tessera.layout.Box;
import io.tessera.layout.DType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class TensorTest {

    @Test
    void factoriesAndAccessors() {
        Tensor t = Tensor.arange(DType.INT64, 6).reshape(2, 3);
        assertEquals(DType.INT64, t.dtype());
        assertArrayEquals(new long[] {2, 3}, t.shape());
        assertEquals(2, t.ndim());
        assertEquals(6, t.size());
        assertEquals(5, t.getLong(1, 2));
        assertEquals(4.0, t.getDouble(1, 1));
        assertEquals(3, t.longAt(3));
        assertArrayEquals(new long[] {0, 1, 2, 3, 4, 5}, t.toLongArray());

        Tensor s = Tensor.scalar(DType.FLOAT32, 2.0);
        assertEquals(0, s.ndim());
        assertEquals(1, s.size());
        assertEquals(2.0, s.getDouble());

        assertArrayEquals(new double[] {1, 1, 1, 1}, Tensor.ones(DType.FLOAT16, 2, 2).toDoubleArray());
        assertArrayEquals(new double[] {0, 0}, Tensor.zeros(DType.FLOAT64, 2).toDoubleArray());
        assertArrayEquals(new long[] {7, 7, 7}, Tensor.full(DType.INT32, 7.9, 3).toLongArray());
        assertArrayEquals(new long[] {1, 0, 1}, Tensor.of(DType.BOOL, new long[] {3}, new double[] {2, 0, -0.5})
                .toLongArray());
        assertEquals(0.1f, (float) Tensor.of(DType.FLOAT32, new long[] {1}, new double[] {0.1}).doubleAt(0));
    }

    @Test
    void conversionErrors() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> Tensor.of(DType.INT8, new long[] {1}, new double[] {200}));
        assertTrue(e.getMessage().contains("Int8"), e.getMessage());
        assertThrows(IllegalArgumentException.class,
                () -> Tensor.of(DType.FLOAT32, new long[] {2, 2}, new double[] {1, 2, 3}));
        assertThrows(IllegalArgumentException.class,
                () -> Tensor.ofLongs(DType.UINT8, new long[] {1}, new long[] {-1}));
        IllegalArgumentException big = assertThrows(IllegalArgumentException.class,
                () -> Tensor.zeros(DType.FLOAT32, 1L << 20, 1L << 20));
        assertTrue(big.getMessage().contains("elements"), big.getMessage());
        assertThrows(IllegalArgumentException.class, () -> Tensor.zeros(DType.FLOAT32, 2, -1));
    }

    @Test
    void fromNestedInfersDtypeAndRejectsRagged() {
        Tensor ints = Tensor.fromNested(List.of(List.of(1, 2, 3), List.of(4, 5, 6)), null);
        assertEquals(DType.INT64, ints.dtype());
        assertArrayEquals(new long[] {2, 3}, ints.shape());
        assertEquals(Tensor.arange(DType.INT64, 6).reshape(2, 3).toString().replace('0', '0'),
                Tensor.fromNested(new int[][] {{0, 1, 2}, {3, 4, 5}}, null).toString());

        Tensor floats = Tensor.fromNested(new Object[] {1, 2.5}, null);
        assertEquals(DType.FLOAT32, floats.dtype());
        assertArrayEquals(new double[] {1.0, 2.5}, floats.toDoubleArray());

        Tensor bools = Tensor.fromNested(List.of(true, false), null);
        assertEquals(DType.BOOL, bools.dtype());
        assertEquals("[ True False]", bools.toString());

        Tensor scalar = Tensor.fromNested(3.0, DType.FLOAT64);
        assertEquals(0, scalar.ndim());

        Tensor asInt32 = Tensor.fromNested(List.of(1L, 2L), DType.INT32);
        assertEquals(DType.INT32, asInt32.dtype());

        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> Tensor.fromNested(List.of(List.of(1, 2), List.of(3)), null));
        assertTrue(e.getMessage().contains("ragged"), e.getMessage());
        assertThrows(IllegalArgumentException.class,
                () -> Tensor.fromNested(List.of(List.of(1, 2), 3), null));
        assertThrows(IllegalArgumentException.class, () -> Tensor.fromNested(List.of("a"), null));
    }

    @Test
    void reshapeSliceConcat() {
        Tensor t = Tensor.arange(DType.FLOAT32, 24).reshape(2, 3, 4);
        assertArrayEquals(new long[] {6, 4}, t.reshape(-1, 4).shape());
        assertThrows(IllegalArgumentException.class, () -> t.reshape(5, 5));

        Tensor s = t.slice(Box.of(new long[] {1, 1, 2}, new long[] {2, 3, 4}));
        assertArrayEquals(new long[] {1, 2, 2}, s.shape());
        assertArrayEquals(new double[] {18, 19, 22, 23}, s.toDoubleArray());
        assertThrows(IllegalArgumentException.class, () -> t.slice(Box.of(new long[] {0, 0}, new long[] {1, 1})));
        assertThrows(IllegalArgumentException.class,
                () -> t.slice(Box.of(new long[] {0, 0, 0}, new long[] {3, 1, 1})));

        for (int dim = 0; dim < 3; dim++) {
            long[] end1 = t.shape();
            end1[dim] = 1;
            long[] start2 = new long[3];
            start2[dim] = 1;
            Tensor a = t.slice(Box.of(new long[3], end1));
            Tensor b = t.slice(Box.of(start2, t.shape()));
            assertEquals(t, Tensor.concat(List.of(a, b), dim), "dim " + dim);
        }
        assertThrows(IllegalArgumentException.class,
                () -> Tensor.concat(List.of(t, Tensor.zeros(DType.FLOAT32, 2, 3, 5)), 0));
        assertThrows(IllegalArgumentException.class,
                () -> Tensor.concat(List.of(t, t.astype(DType.FLOAT64)), 0));

        Tensor z = Tensor.zeros(DType.INT32, 2, 3);
        Tensor placed = z.withRegion(Box.of(new long[] {1, 1}, new long[] {2, 3}),
                Tensor.ofLongs(DType.INT32, new long[] {1, 2}, new long[] {8, 9}));
        assertArrayEquals(new long[] {0, 0, 0, 0, 8, 9}, placed.toLongArray());
    }

    @Test
    void astypeRoundsAndTruncates() {
        Tensor t = Tensor.of(DType.FLOAT64, new long[] {3}, new double[] {1.7, -1.7, 0.1});
        assertArrayEquals(new long[] {1, -1, 0}, t.astype(DType.INT32).toLongArray());
        assertArrayEquals(new long[] {1, 1, 1}, t.astype(DType.BOOL).toLongArray());
        assertEquals((double) 0.1f, t.astype(DType.FLOAT32).doubleAt(2));
        assertEquals(FloatFormats.fromFloat16Bits((short) 0x2e66), t.astype(DType.FLOAT16).doubleAt(2));
        assertSame(t, t.astype(DType.FLOAT64));
        assertThrows(IllegalArgumentException.class,
                () -> Tensor.full(DType.FLOAT32, 1e10, 1).astype(DType.INT32));
    }

    @Test
    void equalityIsBitwiseAndDtypeAware() {
        Tensor a = Tensor.of(DType.FLOAT32, new long[] {2}, new double[] {0.0, Double.NaN});
        Tensor b = Tensor.of(DType.FLOAT32, new long[] {2}, new double[] {0.0, Double.NaN});
        Tensor c = Tensor.of(DType.FLOAT32, new long[] {2}, new double[] {-0.0, Double.NaN});
        assertEquals(a, b);
        assertEquals(a.hashCode(), b.hashCode());
        assertNotEquals(a, c);
        assertNotEquals(Tensor.zeros(DType.FLOAT32, 2), Tensor.zeros(DType.FLOAT64, 2));
        assertNotEquals(Tensor.zeros(DType.FLOAT32, 2), Tensor.zeros(DType.FLOAT32, 1, 2));
    }

    @ParameterizedTest(name = "float16 {0} -> {1}")
    @CsvSource({
        "1.0, 3c00", "-2.0, c000", "65504, 7bff", "65519.99, 7bff", "65520, 7c00", "1e6, 7c00",
        "0.1, 2e66", "0.333333333333, 3555", "5.960464477539063e-8, 0001", "2.9802322387695312e-8, 0000",
        "8.940696716308594e-8, 0002", "6.103515625e-5, 0400", "1.0009765625, 3c01",
        "1.00048828125, 3c00", "1.00146484375, 3c02", "1.0004882821, 3c01", "-0.0, 8000"
    })
    void float16RoundingMatchesKnownBits(double value, String hex) {
        short bits = (short) Integer.parseInt(hex, 16);
        assertEquals(bits, FloatFormats.toFloat16Bits(value), "bits of " + value);
        assertEquals(FloatFormats.fromFloat16Bits(bits), FloatFormats.roundToFloat16(value), "value of " + value);
    }

    @ParameterizedTest(name = "bfloat16 {0} -> {1}")
    @CsvSource({
        "1.0, 3f80", "-2.0, c000", "0.1, 3dcd", "3.141592653589793, 4049", "1.00390625, 3f80",
        "1.01171875, 3f82", "3.3895313892515355e38, 7f7f", "3.4e38, 7f80", "1e-40, 0001", "-0.0, 8000"
    })
    void bfloat16RoundingMatchesKnownBits(double value, String hex) {
        short bits = (short) Integer.parseInt(hex, 16);
        assertEquals(bits, FloatFormats.toBFloat16Bits(value), "bits of " + value);
        assertEquals(FloatFormats.fromBFloat16Bits(bits), FloatFormats.roundToBFloat16(value), "value of " + value);
    }

    @Test
    void float16AvoidsDoubleRoundingThroughFloat() {
        double v = 1 + Math.scalb(1.0, -11) + Math.scalb(1.0, -30);
        assertEquals((short) 0x3c01, FloatFormats.toFloat16Bits(v));
        assertEquals(Double.NaN, FloatFormats.fromFloat16Bits(FloatFormats.toFloat16Bits(Double.NaN)));
        assertEquals(Double.POSITIVE_INFINITY, FloatFormats.fromFloat16Bits((short) 0x7c00));
    }

    @Test
    void printsLikeNumpy() {
        assertEquals("[[0 1 2]\n [3 4 5]]", Tensor.arange(DType.INT64, 6).reshape(2, 3).toString());
        assertEquals("[[[1. 1. 1.]\n  [1. 1. 1.]]]", Tensor.ones(DType.FLOAT32, 1, 2, 3).toString());
        assertEquals("[[2.]]", Tensor.full(DType.FLOAT32, 2, 1, 1).toString());
        assertEquals("[[0.01012452 0.00313655]]",
                Tensor.of(DType.FLOAT32, new long[] {1, 2}, new double[] {0.01012452, 0.00313655}).toString());
        assertEquals("[1.5  2.25]", Tensor.of(DType.FLOAT32, new long[] {2}, new double[] {1.5, 2.25}).toString());
        assertEquals("[-1.   2.5]", Tensor.of(DType.FLOAT64, new long[] {2}, new double[] {-1, 2.5}).toString());
        assertEquals("[0.1 0.2]", Tensor.of(DType.FLOAT16, new long[] {2}, new double[] {0.1, 0.2}).toString());
        assertEquals("[ 1.e+00 -1.e-05]",
                Tensor.of(DType.FLOAT32, new long[] {2}, new double[] {1, -1e-5}).toString());
        assertEquals("[ 1. nan inf]", Tensor.of(DType.FLOAT32, new long[] {3},
                new double[] {1, Double.NaN, Double.POSITIVE_INFINITY}).toString());
        assertEquals("[-10  20]", Tensor.ofLongs(DType.INT32, new long[] {2}, new long[] {-10, 20}).toString());
        assertEquals("2.0", Tensor.scalar(DType.FLOAT32, 2).toString());
        assertEquals("0.1", Tensor.scalar(DType.FLOAT32, 0.1).toString());
        assertEquals("3", Tensor.scalar(DType.INT64, 3).toString());
        assertEquals("[]", Tensor.zeros(DType.FLOAT32, 0).toString());
        String longRow = Tensor.arange(DType.INT64, 30).toString();
        assertEquals("[ 0  1  2  3  4  5  6  7  8  9 10 11 12 13 14 15 16 17 18 19 20 21 22 23\n 24 25 26 27 28 29]",
                longRow);
        assertEquals("[   0    1    2 ... 1997 1998 1999]", Tensor.arange(DType.INT64, 2000).toString());
    }

    /** The seeds' 003 output of a [1, 64, 16, 50] convolution result (first and last channel blocks). */
    @Test
    void printsTheSeedsScientificSummary() {
        double[][] ch0 = {{3.10382620e-02, 4.38603461e-02, 1.38719045e-02},
            {3.26051228e-02, 3.54298912e-02, -5.54019120e-03}, {9.66199022e-03, 1.24104535e-02, -1.38977719e-02}};
        double[][] ch1 = {{3.98553275e-02, -1.35465711e-03, -1.00310734e-02},
            {4.38403059e-03, -3.60766202e-02, -2.95619294e-02}, {1.33139016e-02, 6.74417242e-05, -2.27325838e-02}};
        double[] v = new double[2 * 16 * 50];
        for (int c = 0; c < 2; c++) {
            double[][] p = c == 0 ? ch0 : ch1;
            for (int h = 0; h < 16; h++) {
                double[] row = p[h == 0 ? 0 : (h == 15 ? 2 : 1)];
                for (int w = 0; w < 50; w++) {
                    v[(c * 16 + h) * 50 + w] = row[w == 0 ? 0 : (w == 49 ? 2 : 1)];
                }
            }
        }
        String out = Tensor.of(DType.FLOAT32, new long[] {1, 2, 16, 50}, v).toString();
        String[] blocks = out.split("\n\n");
        assertEquals(2, blocks.length, out);
        String first = "[[[[ 3.10382620e-02 4.38603461e-02 4.38603461e-02 ... 4.38603461e-02\n"
                + " 4.38603461e-02 1.38719045e-02]\n"
                + " [ 3.26051228e-02 3.54298912e-02 3.54298912e-02 ... 3.54298912e-02\n"
                + " 3.54298912e-02 -5.54019120e-03]\n"
                + " [ 3.26051228e-02 3.54298912e-02 3.54298912e-02 ... 3.54298912e-02\n"
                + " 3.54298912e-02 -5.54019120e-03]\n"
                + " ...\n"
                + " [ 3.26051228e-02 3.54298912e-02 3.54298912e-02 ... 3.54298912e-02\n"
                + " 3.54298912e-02 -5.54019120e-03]\n"
                + " [ 3.26051228e-02 3.54298912e-02 3.54298912e-02 ... 3.54298912e-02\n"
                + " 3.54298912e-02 -5.54019120e-03]\n"
                + " [ 9.66199022e-03 1.24104535e-02 1.24104535e-02 ... 1.24104535e-02\n"
                + " 1.24104535e-02 -1.38977719e-02]]";
        String last = " [ 1.33139016e-02 6.74417242e-05 6.74417242e-05 ... 6.74417242e-05\n"
                + " 6.74417242e-05 -2.27325838e-02]]]]";
        assertEquals(collapse(first), collapse(blocks[0]));
        assertEquals(first.split("\n").length, blocks[0].split("\n").length, blocks[0]);
        assertTrue(collapse(blocks[1]).endsWith(collapse(last)), blocks[1]);
        assertTrue(blocks[0].startsWith("[[[[ 3.10382620e-02  4.38603461e-02  4.38603461e-02 ...  4.38603461e-02\n"),
                blocks[0]);
    }

    private static String collapse(String s) {
        return Arrays.stream(s.trim().split("\\s+")).reduce((a, b) -> a + " " + b).orElse("");
    }

    @Test
    void shapeStringIsPythonTuple() {
        assertEquals("()", Tensor.shapeString(new long[0]));
        assertEquals("(4,)", Tensor.shapeString(new long[] {4}));
        assertEquals("(2, 3)", Tensor.shapeString(new long[] {2, 3}));
    }
}
