package io.tessera.layout.param;

import io.tessera.layout.Box;
import io.tessera.layout.DType;
import io.tessera.layout.Layout;
import io.tessera.layout.init.Initializer;
import io.tessera.layout.init.Initializers;
import io.tessera.layout.init.LazyTensor;
import io.tessera.layout.tensor.Tensor;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class InitDataTest {

    private static final long[] SHAPE = {8, 16};
    private static final int[] DEV = {2, 4};

    @AfterEach
    void resetContext() {
        ParallelContext.reset();
    }

    /** Layouts over dev [2, 4] (with and without an optimizer-shard group) for a [8, 16] parameter. */
    static Stream<Arguments> layouts() {
        return layoutArgs().stream();
    }

    private static List<Arguments> layoutArgs() {
        return List.of(
                Arguments.of(new int[] {1, 0}, false),
                Arguments.of(new int[] {0, 1}, false),
                Arguments.of(new int[] {1, -1}, false),
                Arguments.of(new int[] {-1, 0}, false),
                Arguments.of(new int[] {-1, 1}, false),
                Arguments.of(new int[] {-1, -1}, false),
                Arguments.of(new int[] {1, -1}, true),
                Arguments.of(new int[] {-1, 0}, true),
                Arguments.of(new int[] {-1, -1}, true));
    }

    /** The layout argument of {@code rank}; with {@code opt}, its repeated group is the optimizer-shard group. */
    private static ParamLayout layoutFor(int[] map, boolean opt, int rank) {
        Layout l = Layout.of(DEV, map, SHAPE);
        return ParamLayout.of(DEV, map, l.sliceShape(), opt ? l.repeatedGroup(rank) : null);
    }

    /** Initializer names crossed with {@link #layouts()}. */
    static Stream<Arguments> initializersAndLayouts() {
        return Stream.of("normal", "TruncatedNormal", "uniform", "xavier_uniform", "HeNormal", "identity",
                        "orthogonal", "ones")
                .flatMap(name -> layoutArgs().stream().map(a -> Arguments.of(name, a.get()[0], a.get()[1])));
    }

    @ParameterizedTest(name = "{0}, map {1}, opt shard {2}")
    @MethodSource("initializersAndLayouts")
    void initializerSlicesReassembleToTheWholeTensorBitForBit(String init, int[] map, boolean opt) {
        LazyTensor lazy = Initializers.initializer(init, SHAPE, DType.FLOAT32);
        Parameter p = Parameter.lazy(lazy, "w");
        Tensor whole = lazy.materialize();
        checkSlices(p, map, opt, whole);
        assertTrue(p.hasInit(), "initialising clones leaves the original lazy");
    }

    @ParameterizedTest(name = "tensor-backed, map {0}, opt shard {1}")
    @MethodSource("layouts")
    void tensorSlicesReassembleToTheWholeTensorBitForBit(int[] map, boolean opt) {
        double[] v = new double[8 * 16];
        for (int i = 0; i < v.length; i++) {
            v[i] = Math.sin(i * 0.37) * 1e-3 + i;
        }
        Tensor whole = Tensor.of(DType.FLOAT64, SHAPE, v);
        Parameter p = Parameter.of(whole, "w");
        checkSlices(p, map, opt, whole);
        assertSame(whole, p.tensor(), "the original keeps its whole tensor");
    }

    private static void checkSlices(Parameter p, int[] map, boolean opt, Tensor whole) {
        Layout l = Layout.of(DEV, map, SHAPE);
        Map<List<Long>, Tensor> byStart = new HashMap<>();
        for (int rank = 0; rank < 8; rank++) {
            ParamLayout pl = layoutFor(map, opt, rank);
            Parameter slice = p.clone().initData(pl, rank, true);
            assertTrue(slice.sliced());
            assertFalse(slice.hasInit());
            assertEquals("w", slice.name());
            Box region = pl.regionOf(SHAPE, rank);
            long[] expectedShape = l.sliceShape();
            if (opt) {
                expectedShape[0] /= l.repeatedCount();
            }
            assertArrayEquals(expectedShape, slice.shape(), "rank " + rank);
            assertEquals(whole.slice(region), slice.tensor(), "rank " + rank + " region " + region);
            List<Long> key = Arrays.stream(region.start()).boxed().toList();
            Tensor previous = byStart.put(key, slice.tensor());
            if (previous != null) {
                assertEquals(previous, slice.tensor(), "replicas hold identical slices");
            }
        }
        Tensor reassembled = assemble(byStart, SHAPE.length);
        assertEquals(whole, reassembled);
        assertBitsEqual(whole, reassembled);
    }

    /** Concatenates the distinct slices (keyed by their start) back into one tensor, dimension by dimension. */
    private static Tensor assemble(Map<List<Long>, Tensor> byStart, int ndim) {
        List<TreeSet<Long>> starts = new ArrayList<>();
        for (int d = 0; d < ndim; d++) {
            TreeSet<Long> s = new TreeSet<>();
            for (List<Long> k : byStart.keySet()) {
                s.add(k.get(d));
            }
            starts.add(s);
        }
        return assemble(byStart, starts, new ArrayList<>());
    }

    private static Tensor assemble(Map<List<Long>, Tensor> byStart, List<TreeSet<Long>> starts, List<Long> prefix) {
        int d = prefix.size();
        if (d == starts.size()) {
            Tensor t = byStart.get(prefix);
            assertTrue(t != null, "no slice starts at " + prefix);
            return t;
        }
        List<Tensor> parts = new ArrayList<>();
        for (long s : starts.get(d)) {
            List<Long> next = new ArrayList<>(prefix);
            next.add(s);
            parts.add(assemble(byStart, starts, next));
        }
        return parts.size() == 1 ? parts.get(0) : Tensor.concat(parts, d);
    }

    private static void assertBitsEqual(Tensor expected, Tensor actual) {
        double[] e = expected.toDoubleArray();
        double[] a = actual.toDoubleArray();
        assertEquals(e.length, a.length);
        for (int i = 0; i < e.length; i++) {
            assertEquals(Double.doubleToRawLongBits(e[i]), Double.doubleToRawLongBits(a[i]), "element " + i);
        }
    }

    /** An initializer that records the regions it is asked for, delegating to "normal". */
    private static final class Recording implements Initializer {
        final List<Box> regions = new ArrayList<>();
        private final Initializer inner = Initializers.byName("normal");

        @Override
        public String name() {
            return "Recording";
        }

        @Override
        public Tensor generate(long[] shape, DType dtype, long seed, Box region) {
            regions.add(region);
            return inner.generate(shape, dtype, seed, region);
        }
    }

    @Test
    void aRankGeneratesOnlyItsRegion() {
        Recording rec = new Recording();
        Parameter p = Parameter.fromInitializer(rec, SHAPE, DType.FLOAT32, "w");
        ParamLayout pl = layoutFor(new int[] {-1, 0}, true, 6);
        Parameter slice = p.initData(pl, 6, true);
        Box expected = Box.of(new long[] {4, 8}, new long[] {8, 12});
        assertEquals(List.of(expected), rec.regions, "only rank 6's part of its slice is generated");
        assertArrayEquals(new long[] {4, 4}, slice.shape());
        Parameter whole = p.clone().initData();
        assertEquals(whole.tensor().slice(expected), slice.tensor());
    }

    // ------------------------------------------------------------ semantics of init_data

    @Test
    void wholeTensorWithoutLayout() {
        Parameter p = Parameter.fromInitializer("ones", new long[] {2, 3}, DType.FLOAT32, "w");
        Parameter inited = p.initData();
        assertNotSame(p, inited);
        assertSame(inited, p.initedParam());
        assertEquals(Tensor.ones(DType.FLOAT32, 2, 3), inited.tensor());
        assertFalse(inited.sliced());
        assertSame(inited, p.initData(), "a second call returns the inited parameter");
        assertSame(inited, p.initData(ParamLayout.of(new int[] {2}, new int[] {0, -1}, new long[] {1, 3}), 1, true),
                "whatever its arguments");
        assertSame(inited, inited.initData(), "the inited parameter holds values: it initialises to itself");
        assertTrue(p.clone().initData(true).sliced(), "set_sliced is recorded on the new parameter");
    }

    @Test
    void initedParameterKeepsNameAndFlags() {
        Parameter p = Parameter.fromInitializer("zeros", new long[] {4}, DType.FLOAT32, "bias");
        p.setRequiresGrad(false);
        p.setLayerwiseParallel(true);
        p.setParallelOptimizer(false);
        p.setCommFusion(0);
        p.setParallelOptimizerCommRecompute(true);
        Parameter q = p.initData(ParamLayout.of(new int[] {2}, new int[] {0}, new long[] {2}), 1, true);
        assertEquals("bias", q.name());
        assertFalse(q.requiresGrad());
        assertTrue(q.layerwiseParallel());
        assertFalse(q.parallelOptimizer());
        assertEquals(0, q.commFusion());
        assertTrue(q.parallelOptimizerCommRecompute());
        assertNull(q.initedParam());
        assertEquals("Parameter (name=bias, shape=(2,), dtype=Float32, requires_grad=False)", q.toString());
    }

    @Test
    void tensorBackedParameterWithoutLayoutIsItself() {
        Parameter p = Parameter.of(Tensor.arange(DType.INT64, 6).reshape(2, 3), "x");
        assertSame(p, p.initData());
        assertSame(p, p.initData(true));
        assertFalse(p.sliced());
        assertNull(p.initedParam());
        Parameter s = p.initData(ParamLayout.of(new int[] {2, 3}, new int[] {1, -1}, new long[] {1, 3}), 5, true);
        assertSame(s, p.initedParam());
        assertEquals(Tensor.fromNested(List.of(List.of(3, 4, 5)), DType.INT64), s.tensor());
    }

    /** Published (spec §1): [[1,2,3],[4,5,6]] over dev [2,3], map [1,-1]: rank 5 holds [[4,5,6]], rank 2 [[1,2,3]]. */
    @Test
    void publishedSliceOfRank() {
        Tensor t = Tensor.fromNested(List.of(List.of(1, 2, 3), List.of(4, 5, 6)), null);
        ParamLayout l = ParamLayout.of(new int[] {2, 3}, new int[] {1, -1}, new long[] {1, 3});
        assertEquals(Tensor.fromNested(List.of(List.of(4, 5, 6)), null),
                Parameter.of(t).initData(l, 5, true).tensor());
        assertEquals(Tensor.fromNested(List.of(List.of(1, 2, 3)), null),
                Parameter.of(t).initData(l, 2, true).tensor());
    }

    @Test
    void rawListLayout() {
        LazyTensor lazy = Initializers.initializer("uniform", new long[] {4, 6}, DType.FLOAT32);
        Tensor whole = lazy.materialize();
        Parameter a = Parameter.of(lazy, "w").initData(List.of(List.of(2, 2), List.of(1, 0), List.of(2, 3)), 3,
                false);
        assertEquals(whole.slice(Box.of(new long[] {2, 3}, new long[] {4, 6})), a.tensor());
        assertFalse(a.sliced());
        // MindSpore's full form: [dev_mat, tensor_map, slice_shape, field_size, uniform_split, opt_shard_group]
        Parameter b = Parameter.of(lazy, "w").initData(
                Arrays.asList(new int[] {2, 2}, new int[] {1, -1}, new long[] {2, 6}, 0, true, List.of(1, 0)), 0,
                true);
        assertEquals(whole.slice(Box.of(new long[] {1, 0}, new long[] {2, 6})), b.tensor(),
                "rank 0 is at position 1 of the group [1, 0]");
        Parameter c = Parameter.of(lazy, "w").initData(
                Arrays.asList(List.of(2, 2), List.of(1, -1), List.of(2, 6), ""), 0, true);
        assertArrayEquals(new long[] {2, 6}, c.shape(), "an empty group name means no optimizer shard");
        Parameter d = Parameter.of(lazy, "w").initData(
                Arrays.asList(List.of(4), List.of(List.of(0), -1), List.of(1, 6)), 2, true);
        assertEquals(whole.slice(Box.of(new long[] {2, 0}, new long[] {3, 6})), d.tensor(),
                "a tensor_map entry may be a list of device dimensions");
    }

    @Test
    void optimizerShardOfPublishedLayout() {
        // spec §5: dev {8,4} map {-1,0} shape {512,1024} → model-parallel slice {512,256}, optimizer shard {64,256}
        Layout l = Layout.of(new int[] {8, 4}, new int[] {-1, 0}, 512, 1024);
        int[] group = l.repeatedGroup(5);
        assertArrayEquals(new int[] {1, 5, 9, 13, 17, 21, 25, 29}, group);
        ParamLayout pl = ParamLayout.of(l, group);
        Box region = pl.regionOf(new long[] {512, 1024}, 5);
        assertEquals(Box.of(new long[] {64, 256}, new long[] {128, 512}), region);
        Parameter p = Parameter.fromInitializer("zeros", new long[] {512, 1024}, DType.FLOAT32, "w");
        assertArrayEquals(new long[] {64, 256}, p.initData(pl, 5, true).shape());
    }

    // ------------------------------------------------------------ errors

    @Test
    void malformedLayouts() {
        Parameter p = Parameter.fromInitializer("ones", new long[] {4, 8}, DType.FLOAT32, "w");
        IllegalArgumentException nullList = assertThrows(IllegalArgumentException.class,
                () -> p.initData((List<?>) null, 0, false));
        assertTrue(nullList.getMessage().startsWith("Parameter 'w': layout: found null"), nullList.getMessage());
        IllegalArgumentException nullLayout = assertThrows(IllegalArgumentException.class,
                () -> p.initData((ParamLayout) null, 0, false));
        assertTrue(nullLayout.getMessage().contains("call initData() for the whole tensor"), nullLayout.getMessage());
        IllegalArgumentException two = assertThrows(IllegalArgumentException.class,
                () -> p.initData(List.of(List.of(2), List.of(0, -1)), 0, false));
        assertEquals("Parameter 'w': layout [[2], [0, -1]]: has 2 elements; expected at least 3: [dev_matrix, "
                + "tensor_map, slice_shape]", two.getMessage());
        IllegalArgumentException five = assertThrows(IllegalArgumentException.class,
                () -> p.initData(List.of(List.of(2), List.of(0, -1), List.of(2, 8), 0, true), 0, false));
        assertTrue(five.getMessage().contains("has 5 elements"), five.getMessage());
        IllegalArgumentException notList = assertThrows(IllegalArgumentException.class,
                () -> p.initData(List.of("2", List.of(0, -1), List.of(2, 8)), 0, false));
        assertTrue(notList.getMessage().contains("dev_matrix is String 2; expected a list of integers"),
                notList.getMessage());
        IllegalArgumentException badValue = assertThrows(IllegalArgumentException.class,
                () -> p.initData(List.of(List.of(2), List.of(0.5, -1), List.of(2, 8)), 0, false));
        assertTrue(badValue.getMessage().contains("tensor_map holds Double 0.5; expected integers"),
                badValue.getMessage());
        IllegalArgumentException groupName = assertThrows(IllegalArgumentException.class,
                () -> p.initData(List.of(List.of(2), List.of(0, -1), List.of(2, 8), "g0"), 0, false));
        assertTrue(groupName.getMessage().contains("opt_shard_group is the group name 'g0'"),
                groupName.getMessage());
        assertTrue(p.hasInit());
        assertNull(p.initedParam(), "a refused init_data leaves the parameter lazy");
    }

    @Test
    void sliceShapeMustAgree() {
        Parameter p = Parameter.fromInitializer("ones", new long[] {8, 16}, DType.FLOAT32, "w");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> p.initData(ParamLayout.of(DEV, new int[] {1, 0}, new long[] {8, 4}), 0, true));
        assertEquals("Parameter 'w' of shape (8, 16): layout (dev_matrix " + Layout.of(DEV, new int[] {1, 0}, SHAPE)
                .devMatrix() + ", tensor_map [1, 0], slice_shape [8, 4]): slice_shape disagrees with dev_matrix and "
                + "tensor_map, which give [4, 4] for the shape [8, 16]; pass slice_shape [4, 4]", e.getMessage());
    }

    @Test
    void layoutThatDoesNotFitTheParameter() {
        Parameter p = Parameter.fromInitializer("ones", new long[] {6, 16}, DType.FLOAT32, "w");
        IllegalArgumentException indivisible = assertThrows(IllegalArgumentException.class,
                () -> p.initData(ParamLayout.of(DEV, new int[] {0, -1}, new long[] {1, 16}), 0, true));
        assertTrue(indivisible.getMessage().contains("which does not divide it"), indivisible.getMessage());
        IllegalArgumentException rank = assertThrows(IllegalArgumentException.class,
                () -> p.initData(ParamLayout.of(DEV, new int[] {1, -1}, new long[] {3, 16}), 8, true));
        assertTrue(rank.getMessage().endsWith("rank 8 is outside the device matrix " + Layout.of(DEV,
                new int[] {1, -1}, 6, 16).devMatrix() + "; expected 0..7"), rank.getMessage());
        IllegalArgumentException dims = assertThrows(IllegalArgumentException.class,
                () -> ParamLayout.of(DEV, new int[] {1, 0, -1}, new long[] {3, 16}));
        assertTrue(dims.getMessage().contains("tensor_map has 3 entries but slice_shape has 2 dims"),
                dims.getMessage());
        IllegalArgumentException axis = assertThrows(IllegalArgumentException.class,
                () -> ParamLayout.of(DEV, new int[] {2, -1}, new long[] {3, 16}));
        assertTrue(axis.getMessage().contains("tensor_map uses device dimension 2 but the device matrix has 2 dims"),
                axis.getMessage());
    }

    @Test
    void optimizerShardGroupErrors() {
        Parameter p = Parameter.fromInitializer("ones", new long[] {8, 16}, DType.FLOAT32, "w");
        // map [-1, 0]: rank 1 shares its slice with rank 5
        IllegalArgumentException missing = assertThrows(IllegalArgumentException.class,
                () -> p.initData(ParamLayout.of(DEV, new int[] {-1, 0}, new long[] {8, 4}, new int[] {2, 6}), 1, true));
        assertTrue(missing.getMessage().contains("rank 2 holds the slice"), missing.getMessage());
        IllegalArgumentException notMember = assertThrows(IllegalArgumentException.class,
                () -> p.initData(ParamLayout.of(DEV, new int[] {-1, 0}, new long[] {8, 4}, new int[] {5}), 1, true));
        assertTrue(notMember.getMessage().contains("opt_shard_group [5] does not contain rank 1"),
                notMember.getMessage());
        Parameter q = Parameter.fromInitializer("ones", new long[] {6, 16}, DType.FLOAT32, "q");
        // map [1, -1] on [6, 16]: slice [3, 16] repeated on 4 ranks; 3 rows cannot be shared by 4
        IllegalArgumentException indivisible = assertThrows(IllegalArgumentException.class,
                () -> q.initData(ParamLayout.of(DEV, new int[] {1, -1}, new long[] {3, 16}, new int[] {0, 1, 2, 3}),
                        2, true));
        assertTrue(indivisible.getMessage().contains("has 3 rows, which 4 ranks cannot share equally"),
                indivisible.getMessage());
        IllegalArgumentException twice = assertThrows(IllegalArgumentException.class,
                () -> ParamLayout.of(DEV, new int[] {1, -1}, new long[] {3, 16}, new int[] {0, 0}));
        assertTrue(twice.getMessage().contains("holds rank 0 twice"), twice.getMessage());
        IllegalArgumentException outside = assertThrows(IllegalArgumentException.class,
                () -> ParamLayout.of(DEV, new int[] {1, -1}, new long[] {3, 16}, new int[] {0, 9}));
        assertTrue(outside.getMessage().contains("holds rank 9; expected ranks 0..7"), outside.getMessage());
        Parameter scalar = Parameter.of(1.0, "s");
        IllegalArgumentException zeroD = assertThrows(IllegalArgumentException.class,
                () -> scalar.initData(ParamLayout.of(new int[] {2}, new int[0], new long[0], new int[] {0, 1}), 0,
                        true));
        assertTrue(zeroD.getMessage().contains("a 0-d parameter has no dimension 0 to shard"), zeroD.getMessage());
    }

    // ------------------------------------------------------------ parallel mode changes

    @Test
    void changingModeBetweenCreationAndInitIsAnError() {
        Parameter p = Parameter.fromInitializer("ones", new long[] {2, 2}, DType.FLOAT32, "w");
        ParallelContext.setParallelMode(ParallelMode.SEMI_AUTO_PARALLEL);
        IllegalStateException e = assertThrows(IllegalStateException.class, p::initData);
        assertTrue(e.getMessage().startsWith("Must set or change parallel mode before any initializer Tensor "
                + "created."), e.getMessage());
        assertTrue(e.getMessage().contains("now semi_auto_parallel"), e.getMessage());
        assertThrows(IllegalStateException.class,
                () -> p.initData(ParamLayout.of(new int[] {2}, new int[] {0, -1}, new long[] {1, 2}), 0, true));
        assertThrows(IllegalStateException.class, () -> p.clone().initData(), "a clone keeps the creation mode");
        ParallelContext.reset();
        assertEquals(Tensor.ones(DType.FLOAT32, 2, 2), p.initData().tensor(), "back to the creation mode: fine");
    }

    @Test
    void createdInParallelThenStandAloneIsAnError() {
        ParallelContext.setParallelMode("auto_parallel");
        Parameter p = Parameter.fromInitializer("ones", new long[] {2}, DType.FLOAT32, "w");
        ParallelContext.setParallelMode(ParallelMode.SEMI_AUTO_PARALLEL);
        assertEquals(Tensor.ones(DType.FLOAT32, 2), p.clone().initData().tensor(),
                "auto and semi-auto are both parallel modes");
        ParallelContext.setParallelMode(ParallelMode.STAND_ALONE);
        IllegalStateException e = assertThrows(IllegalStateException.class, p::initData);
        assertTrue(e.getMessage().contains("created from an initializer in an auto-parallel mode"), e.getMessage());
    }

    @Test
    void modesThatDoNotMakeParametersLazyDoNotCount() {
        Parameter p = Parameter.fromInitializer("ones", new long[] {2}, DType.FLOAT32, "w");
        ParallelContext.setParallelMode(ParallelMode.DATA_PARALLEL);
        assertEquals(Tensor.ones(DType.FLOAT32, 2), p.clone().initData().tensor(),
                "as MindSpore's _is_in_parallel_mode, only semi_auto/auto parallel count");
        ParallelContext.setParallelMode(ParallelMode.HYBRID_PARALLEL);
        assertEquals(Tensor.ones(DType.FLOAT32, 2), p.initData().tensor());
    }

    @Test
    void tensorBackedParametersIgnoreModeChanges() {
        Parameter p = Parameter.of(Tensor.ones(DType.FLOAT32, 4), "w");
        ParallelContext.setParallelMode(ParallelMode.SEMI_AUTO_PARALLEL);
        assertSame(p, p.initData());
        assertEquals(Tensor.ones(DType.FLOAT32, 2),
                p.initData(ParamLayout.of(new int[] {2}, new int[] {0}, new long[] {2}), 1, true).tensor());
    }

    @Test
    void setDataWithValuesClearsTheModeCheck() {
        // 002 note: made from an initializer in stand_alone, the parameter holds its values at once, but (as
        // MindSpore's is_default_input_init) init_data still checks the mode until set_data gives it new values.
        Parameter p = Parameter.of(Initializers.initializer("ones", new long[] {2}, DType.FLOAT32), "w");
        ParallelContext.setParallelMode(ParallelMode.AUTO_PARALLEL);
        assertThrows(IllegalStateException.class, p::initData);
        p.setData(Tensor.zeros(DType.FLOAT32, 2));
        assertSame(p, p.initData(), "the data no longer comes from an initializer");
    }
}
