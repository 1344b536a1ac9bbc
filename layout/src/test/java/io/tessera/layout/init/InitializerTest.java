package io.tessera.layout.init;

import io.tessera.layout.Box;
import io.tessera.layout.DType;
import io.tessera.layout.DeviceMatrix;
import io.tessera.layout.Layout;
import io.tessera.layout.TensorMap;
import io.tessera.layout.tensor.Tensor;
import org.apache.commons.math3.distribution.NormalDistribution;
import org.apache.commons.math3.distribution.UniformRealDistribution;
import org.apache.commons.math3.stat.descriptive.SummaryStatistics;
import org.apache.commons.math3.stat.inference.KolmogorovSmirnovTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class InitializerTest {

    private static final long SEED = 20240611L;

    // ------------------------------------------------------------------ exact sharded generation

    static Stream<Arguments> everyInitializer() {
        long[] matrix = {8, 12};
        long[] conv = {8, 4, 3, 3};
        long[] conv1d = {8, 4, 5};
        return Stream.of(
            Arguments.of(new Zero(), matrix, DType.FLOAT32),
            Arguments.of(new One(), conv, DType.FLOAT16),
            Arguments.of(new Constant(0.3), matrix, DType.BFLOAT16),
            Arguments.of(new Normal(), matrix, DType.FLOAT32),
            Arguments.of(new Normal(0.2, 1.0), conv, DType.FLOAT16),
            Arguments.of(new TruncatedNormal(), matrix, DType.FLOAT32),
            Arguments.of(new TruncatedNormal(0.5), conv, DType.BFLOAT16),
            Arguments.of(new Uniform(), matrix, DType.FLOAT64),
            Arguments.of(new XavierUniform(), conv, DType.FLOAT32),
            Arguments.of(new XavierNormal(2.0), matrix, DType.FLOAT32),
            Arguments.of(new HeUniform(), conv, DType.FLOAT32),
            Arguments.of(new HeNormal(0.1, "fan_out", "leaky_relu"), matrix, DType.FLOAT32),
            Arguments.of(new Identity(), matrix, DType.FLOAT32),
            Arguments.of(new Dirac(), conv, DType.FLOAT32),
            Arguments.of(new Dirac(2), conv1d, DType.INT32),
            Arguments.of(new Orthogonal(), matrix, DType.FLOAT32),
            Arguments.of(new Orthogonal(1.5), conv, DType.FLOAT32),
            Arguments.of(new FromTensor(Tensor.arange(DType.INT64, 96).reshape(8, 12)), matrix, DType.FLOAT32));
    }

    /** Layouts over dev [2, 4] (8 ranks) for a tensor of {@code shape} (dims 0 and 1 divisible by 8 and 4). */
    static List<Layout> layouts(long[] shape) {
        int nd = shape.length;
        List<Layout> out = new ArrayList<>();
        int[][] maps = {{1, 0}, {0, -1}, {-1, -1}, {-1, 1}, {0, 1}};
        for (int[] m : maps) {
            int[] map = new int[nd];
            java.util.Arrays.fill(map, -1);
            map[0] = m[0];
            map[1] = m[1];
            if (shape[1] % 4 != 0 && map[1] == 0) {
                continue;
            }
            if (shape[1] % 2 != 0 && map[1] == 1) {
                continue;
            }
            out.add(Layout.of(new int[] {2, 4}, map, shape));
        }
        List<TensorMap.Entry> multi = new ArrayList<>();
        multi.add(TensorMap.Entry.of(new int[] {1, 0}));
        for (int i = 1; i < nd; i++) {
            multi.add(TensorMap.notSplit());
        }
        out.add(Layout.of(DeviceMatrix.of(2, 4), TensorMap.of(multi), shape));
        return out;
    }

    @ParameterizedTest(name = "{0} {2}")
    @MethodSource("everyInitializer")
    void slicesOfEveryRankAssembleToTheUnshardedTensorBitForBit(Initializer init, long[] shape, DType dtype) {
        LazyTensor lazy = new LazyTensor(init, shape, dtype, SEED);
        Tensor full = lazy.materialize();
        assertArrayEquals(shape, full.shape());
        assertEquals(dtype, full.dtype());
        for (Layout layout : layouts(shape)) {
            Tensor assembled = Tensor.zeros(dtype, shape);
            for (int rank = 0; rank < layout.deviceCount(); rank++) {
                Box box = layout.sliceBox(rank);
                Tensor part = lazy.materialize(box);
                assertEquals(full.slice(box), part, layout + " rank " + rank);
                assembled = assembled.withRegion(box, part);
                // optimizer-shard-like split of dim 0 of the slice over the repeated ranks (or 2 if unrepeated)
                int shards = Math.max(2, layout.repeatedCount());
                long rows = box.extent(0);
                if (rows % shards == 0) {
                    List<Tensor> pieces = new ArrayList<>();
                    for (int k = 0; k < shards; k++) {
                        long[] s = box.start();
                        long[] e = box.end();
                        s[0] = box.start(0) + k * rows / shards;
                        e[0] = box.start(0) + (k + 1) * rows / shards;
                        pieces.add(lazy.materialize(Box.of(s, e)));
                    }
                    assertEquals(part, Tensor.concat(pieces, 0), layout + " rank " + rank + " opt shards");
                }
            }
            assertEquals(full, assembled, layout.toString());
        }
        // an irregular region, and a region of a single element
        long[] s = new long[shape.length];
        long[] e = shape.clone();
        s[0] = 3;
        e[0] = 6;
        s[1] = 1;
        Box odd = Box.of(s, e);
        assertEquals(full.slice(odd), lazy.materialize(odd));
        long[] one = new long[shape.length];
        long[] oneEnd = new long[shape.length];
        java.util.Arrays.fill(oneEnd, 1);
        one[0] = 7;
        oneEnd[0] = 8;
        assertEquals(full.slice(Box.of(one, oneEnd)), lazy.materialize(Box.of(one, oneEnd)));
    }

    @Test
    void aSmallRegionOfAHugeTensorNeedsNoFullTensor() {
        long[] shape = {1L << 24, 1L << 24};
        LazyTensor lazy = new LazyTensor(new Normal(), shape, DType.FLOAT32, SEED);
        Box region = Box.of(new long[] {(1L << 24) - 2, 5}, new long[] {1L << 24, 9});
        Tensor t = lazy.materialize(region);
        assertArrayEquals(new long[] {2, 4}, t.shape());
        assertEquals(t, lazy.materialize(region));
        assertThrows(IllegalArgumentException.class, lazy::materialize);
        assertThrows(IllegalArgumentException.class,
            () -> lazy.materialize(Box.of(new long[] {0, 0}, new long[] {1L << 25, 1})));
    }

    // ------------------------------------------------------------------ determinism and seeds

    @Test
    void generationIsDeterministicAndSeedSensitive() {
        for (Initializer init : List.of(new Normal(), new TruncatedNormal(), new Uniform(), new XavierUniform(),
                new XavierNormal(), new HeUniform(), new HeNormal(), new Orthogonal())) {
            Tensor a = init.generate(new long[] {16, 8}, DType.FLOAT32, 7);
            Tensor b = init.generate(new long[] {16, 8}, DType.FLOAT32, 7);
            Tensor c = init.generate(new long[] {16, 8}, DType.FLOAT32, 8);
            assertEquals(a, b, init.name());
            assertNotEquals(a, c, init.name());
        }
    }

    @Test
    void globalSeedDerivesDistinctReproducibleSeeds() {
        try {
            Initializers.setSeed(1);
            LazyTensor a = Initializers.initializer("normal", new long[] {4, 4}, DType.FLOAT32);
            LazyTensor ones = Initializers.initializer("ones", new long[] {4, 4}, DType.FLOAT32);
            LazyTensor b = Initializers.initializer("normal", new long[] {4, 4}, DType.FLOAT32);
            assertNotEquals(a.seed(), b.seed());
            assertNotEquals(a.materialize(), b.materialize());
            Initializers.setSeed(1);
            LazyTensor a2 = Initializers.initializer(new Normal(), new long[] {4, 4}, DType.FLOAT32);
            LazyTensor b2 = Initializers.initializer(new Normal(), new long[] {4, 4}, DType.FLOAT32);
            assertEquals(a.materialize(), a2.materialize());
            assertEquals(b.materialize(), b2.materialize());
            assertEquals(Tensor.ones(DType.FLOAT32, 4, 4), ones.materialize());
            Initializers.setSeed(2);
            assertNotEquals(a.seed(), Initializers.initializer("normal", new long[] {4, 4}, DType.FLOAT32).seed());
            LazyTensor explicit = Initializers.initializer(new Normal().withSeed(99), new long[] {4, 4},
                DType.FLOAT32);
            assertEquals(99, explicit.seed());
            assertEquals(new Normal().generate(new long[] {4, 4}, DType.FLOAT32, 99), explicit.materialize());
        } finally {
            Initializers.setSeed(Initializers.DEFAULT_GLOBAL_SEED);
        }
    }

    // ------------------------------------------------------------------ statistics

    private static SummaryStatistics stats(Tensor t) {
        SummaryStatistics s = new SummaryStatistics();
        for (double v : t.toDoubleArray()) {
            s.addValue(v);
        }
        return s;
    }

    @Test
    void normalMatchesItsDistribution() {
        System.out.println("InitializerTest statistics seed=" + SEED);
        Tensor t = new Normal(0.5, 1.0).generate(new long[] {400, 500}, DType.FLOAT64, SEED);
        SummaryStatistics s = stats(t);
        assertEquals(1.0, s.getMean(), 0.005);
        assertEquals(0.5, s.getStandardDeviation(), 0.005);
        double p = new KolmogorovSmirnovTest().kolmogorovSmirnovTest(new NormalDistribution(1.0, 0.5),
            t.toDoubleArray());
        assertTrue(p > 1e-4, "KS p-value " + p);
        SummaryStatistics d = stats(new Normal().generate(new long[] {100_000}, DType.FLOAT32, SEED));
        assertEquals(0.01, d.getStandardDeviation(), 0.0002);
    }

    @Test
    void truncatedNormalStaysWithinTwoSigma() {
        double sigma = 0.01;
        Tensor t = new TruncatedNormal().generate(new long[] {200_000}, DType.FLOAT32, SEED);
        SummaryStatistics s = stats(t);
        assertTrue(s.getMax() <= 2 * sigma + 1e-9 && s.getMin() >= -2 * sigma - 1e-9,
            "range [" + s.getMin() + ", " + s.getMax() + "]");
        assertTrue(s.getMax() > 1.9 * sigma && s.getMin() < -1.9 * sigma, "tails reached");
        NormalDistribution n = new NormalDistribution();
        double z = n.cumulativeProbability(2) - n.cumulativeProbability(-2);
        double expectedStd = sigma * Math.sqrt(1 - 2 * 2 * n.density(2) / z);
        assertEquals(0.0, s.getMean(), 0.0001);
        assertEquals(expectedStd, s.getStandardDeviation(), expectedStd * 0.01);
    }

    @Test
    void uniformCoversItsInterval() {
        Tensor t = new Uniform().generate(new long[] {200_000}, DType.FLOAT64, SEED);
        SummaryStatistics s = stats(t);
        assertTrue(s.getMin() >= -0.07 && s.getMax() < 0.07);
        assertEquals(0.0, s.getMean(), 0.0005);
        assertEquals(0.07 / Math.sqrt(3), s.getStandardDeviation(), 0.0005);
        double p = new KolmogorovSmirnovTest().kolmogorovSmirnovTest(new UniformRealDistribution(-0.07, 0.07),
            t.toDoubleArray());
        assertTrue(p > 1e-4, "KS p-value " + p);
    }

    @Test
    void xavierAndHeScaleWithTheFans() {
        long[] dense = {300, 200};
        Tensor xu = new XavierUniform().generate(dense, DType.FLOAT64, SEED);
        double b = Math.sqrt(6.0 / 500);
        assertEquals(b, new XavierUniform().bound(dense), 1e-15);
        SummaryStatistics s = stats(xu);
        assertTrue(s.getMax() < b && s.getMin() >= -b);
        assertEquals(b / Math.sqrt(3), s.getStandardDeviation(), b * 0.01);

        SummaryStatistics xn = stats(new XavierNormal(2.0).generate(dense, DType.FLOAT64, SEED));
        assertEquals(2.0 * Math.sqrt(2.0 / 500), xn.getStandardDeviation(), 2.0 * Math.sqrt(2.0 / 500) * 0.01);

        long[] conv = {64, 32, 3, 3};  // fan_in = 288, fan_out = 576
        HeUniform hu = new HeUniform();
        double hb = Math.sqrt(2.0) * Math.sqrt(3.0 / 288);
        assertEquals(hb, hu.bound(conv), 1e-15);
        SummaryStatistics h = stats(hu.generate(conv, DType.FLOAT64, SEED));
        assertTrue(h.getMax() < hb && h.getMin() >= -hb);
        assertEquals(hb / Math.sqrt(3), h.getStandardDeviation(), hb * 0.02);

        HeNormal hn = new HeNormal(0.0, "FAN_OUT", "relu");
        assertEquals("fan_out", hn.mode());
        double hs = Math.sqrt(2.0) / Math.sqrt(576);
        assertEquals(hs, hn.std(conv), 1e-15);
        assertEquals(hs, stats(hn.generate(conv, DType.FLOAT64, SEED)).getStandardDeviation(), hs * 0.02);
        assertEquals(Math.sqrt(2.0 / (1 + 0.04)), new HeNormal(0.2, "fan_in", "leaky_relu").gain(), 1e-15);
        assertEquals(5.0 / 3, new HeNormal(0, "fan_in", "tanh").gain(), 1e-15);
    }

    @Test
    void orthogonalHasOrthonormalRowsOrColumns() {
        for (long[] shape : new long[][] {{6, 10}, {10, 4}, {30, 3}, {4, 2, 3}, {5, 5}}) {
            double gain = 1.5;
            Tensor t = new Orthogonal(gain).generate(shape, DType.FLOAT64, SEED);
            int rows = (int) shape[0];
            int cols = (int) (t.size() / rows);
            double[] v = t.toDoubleArray();
            boolean wide = rows < cols;
            int k = wide ? rows : cols;
            for (int i = 0; i < k; i++) {
                for (int j = 0; j < k; j++) {
                    double dot = 0;
                    for (int x = 0; x < (wide ? cols : rows); x++) {
                        dot += wide ? v[i * cols + x] * v[j * cols + x] : v[x * cols + i] * v[x * cols + j];
                    }
                    assertEquals(i == j ? gain * gain : 0.0, dot, 1e-9, java.util.Arrays.toString(shape));
                }
            }
        }
    }

    @Test
    void identityAndDirac() {
        assertEquals(Tensor.of(DType.FLOAT32, new long[] {2, 3}, new double[] {1, 0, 0, 0, 1, 0}),
            new Identity().generate(new long[] {2, 3}, DType.FLOAT32, 0));
        Tensor d = new Dirac().generate(new long[] {3, 2, 3, 3}, DType.FLOAT32, 0);
        assertEquals(1.0, d.getDouble(0, 0, 1, 1));
        assertEquals(1.0, d.getDouble(1, 1, 1, 1));
        assertEquals(0.0, d.getDouble(2, 1, 1, 1));
        assertEquals(2.0, java.util.Arrays.stream(d.toDoubleArray()).sum());
        Tensor g = new Dirac(2).generate(new long[] {4, 2, 3}, DType.FLOAT32, 0);
        assertEquals(1.0, g.getDouble(0, 0, 1));
        assertEquals(1.0, g.getDouble(1, 1, 1));
        assertEquals(1.0, g.getDouble(2, 0, 1));
        assertEquals(1.0, g.getDouble(3, 1, 1));
        assertEquals(4.0, java.util.Arrays.stream(g.toDoubleArray()).sum());
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
            () -> Initializers.initializer("identity", new long[] {2, 2, 2}, DType.FLOAT32));
        assertTrue(e.getMessage().contains("(2, 2, 2)") && e.getMessage().contains("2-D"), e.getMessage());
        assertThrows(IllegalArgumentException.class,
            () -> Initializers.initializer(new Dirac(3), new long[] {4, 2, 3}, DType.FLOAT32));
        assertThrows(IllegalArgumentException.class,
            () -> Initializers.initializer("dirac", new long[] {4, 2}, DType.FLOAT32));
    }

    // ------------------------------------------------------------------ names, factories and errors

    @Test
    void namesAreCaseInsensitive() {
        String[][] cases = {
            {"ones", "One"}, {"Ones", "One"}, {"one", "One"}, {"zeros", "Zero"}, {"Zero", "Zero"},
            {"normal", "Normal"}, {"Normal", "Normal"}, {"truncatednormal", "TruncatedNormal"},
            {"TruncatedNormal", "TruncatedNormal"}, {"uniform", "Uniform"}, {"xavier_uniform", "XavierUniform"},
            {"XavierUniform", "XavierUniform"}, {"xaviernormal", "XavierNormal"}, {"xavier_normal", "XavierNormal"},
            {"he_uniform", "HeUniform"}, {"HeUniform", "HeUniform"}, {"henormal", "HeNormal"},
            {"HeNormal", "HeNormal"}, {"he_normal", "HeNormal"}, {"identity", "Identity"}, {"dirac", "Dirac"},
            {"orthogonal", "Orthogonal"}, {"constant", "Constant"}};
        for (String[] c : cases) {
            assertEquals(c[1], Initializers.byName(c[0]).name(), c[0]);
        }
        assertEquals(new Normal(), Initializers.byName("Normal"));
        assertEquals(0.07, ((Uniform) Initializers.byName("uniform")).scale());
    }

    @Test
    void unknownNameListsTheValidNames() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
            () -> Initializers.byName("gaussian"));
        assertTrue(e.getMessage().contains("'gaussian'"), e.getMessage());
        for (String n : Initializers.names()) {
            assertTrue(e.getMessage().contains(n), n + " missing from " + e.getMessage());
        }
        assertThrows(IllegalArgumentException.class, () -> Initializers.byName(null));
    }

    @Test
    void factoriesOfTensorNumberAndObject() {
        Tensor src = Tensor.arange(DType.INT64, 6).reshape(2, 3);
        LazyTensor fromTensor = Initializers.initializer(src, new long[] {2, 3}, DType.FLOAT32);
        assertEquals(src.astype(DType.FLOAT32), fromTensor.materialize());
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
            () -> Initializers.initializer(src, new long[] {3, 2}, DType.FLOAT32));
        assertTrue(e.getMessage().contains("(2, 3)") && e.getMessage().contains("(3, 2)"), e.getMessage());

        LazyTensor c = Initializers.initializer(2.5, new long[] {2}, DType.FLOAT32);
        assertEquals(Tensor.full(DType.FLOAT32, 2.5, 2), c.materialize());
        assertInstanceOf(Constant.class, c.init());
        assertEquals(Tensor.ones(DType.FLOAT32, 2), Initializers.initializer((Object) "ones", new long[] {2},
            DType.FLOAT32).materialize());
        assertThrows(IllegalArgumentException.class,
            () -> Initializers.initializer((Object) List.of(1), new long[] {1}, DType.FLOAT32));

        // the seeds' example: initializer('ones', [1, 2, 3], mstype.float32)
        LazyTensor y = Initializers.initializer("ones", new long[] {1, 2, 3}, DType.FLOAT32);
        assertEquals("[[[1. 1. 1.]\n  [1. 1. 1.]]]", y.materialize().toString());
        assertEquals(DType.FLOAT32, y.dtype());
        assertArrayEquals(new long[] {1, 2, 3}, y.shape());
        assertEquals(6, y.size());
        assertEquals(24, y.bytes());
    }

    @Test
    void recordsValidateTheirArguments() {
        assertThrows(IllegalArgumentException.class, () -> new Normal(-1));
        assertThrows(IllegalArgumentException.class, () -> new Normal(Double.NaN));
        assertThrows(IllegalArgumentException.class, () -> new Uniform(-0.1));
        assertThrows(IllegalArgumentException.class, () -> new TruncatedNormal(Double.POSITIVE_INFINITY));
        assertThrows(IllegalArgumentException.class, () -> new Dirac(0));
        assertThrows(IllegalArgumentException.class, () -> new Constant(Double.NaN));
        IllegalArgumentException mode = assertThrows(IllegalArgumentException.class,
            () -> new HeUniform(0, "fan_avg", "relu"));
        assertTrue(mode.getMessage().contains("fan_avg") && mode.getMessage().contains("fan_in"));
        IllegalArgumentException nl = assertThrows(IllegalArgumentException.class,
            () -> new HeNormal(0, "fan_in", "gelu"));
        assertTrue(nl.getMessage().contains("leaky_relu"), nl.getMessage());
        IllegalArgumentException fan = assertThrows(IllegalArgumentException.class,
            () -> Initializers.initializer("xavier_uniform", new long[] {5}, DType.FLOAT32));
        assertTrue(fan.getMessage().contains("fan_in") && fan.getMessage().contains("(5,)"), fan.getMessage());
        assertThrows(IllegalArgumentException.class,
            () -> new LazyTensor(new Normal(), new long[] {2, -1}, DType.FLOAT32, 0));
        assertThrows(IllegalArgumentException.class,
            () -> new LazyTensor(new Normal(), new long[] {2}, null, 0));
        assertThrows(IllegalArgumentException.class,
            () -> new Normal().generate(new long[] {2, 2}, DType.FLOAT32, 0, Box.full(new long[] {2})));
    }

    @Test
    void lazyTensorCopiesItsShape() {
        long[] shape = {2, 3};
        LazyTensor t = new LazyTensor(new Zero(), shape, DType.FLOAT32, 0);
        shape[0] = 9;
        assertArrayEquals(new long[] {2, 3}, t.shape());
        t.shape()[1] = 9;
        assertArrayEquals(new long[] {2, 3}, t.shape());
        assertEquals(t, new LazyTensor(new Zero(), new long[] {2, 3}, DType.FLOAT32, 0));
        assertTrue(t.toString().contains("shape=(2, 3)"), t.toString());
    }

    @Test
    void scalarsAndEmptyTensors() {
        assertEquals(Tensor.scalar(DType.FLOAT32, 2.0),
            Initializers.initializer(2.0, new long[0], DType.FLOAT32).materialize());
        Tensor n = new Normal().generate(new long[0], DType.FLOAT32, 3);
        assertEquals(0, n.ndim());
        assertEquals(0, new Normal().generate(new long[] {0, 4}, DType.FLOAT32, 3).size());
    }
}
