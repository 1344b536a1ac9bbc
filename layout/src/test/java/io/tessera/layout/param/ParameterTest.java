package io.tessera.layout.param;

import io.tessera.layout.DType;
import io.tessera.layout.init.Initializers;
import io.tessera.layout.init.LazyTensor;
import io.tessera.layout.tensor.Tensor;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ParameterTest {

    @AfterEach
    void resetContext() {
        ParallelContext.reset();
    }

    private static LazyTensor ones(long... shape) {
        return Initializers.initializer("ones", shape, DType.FLOAT32);
    }

    // ------------------------------------------------------------ construction and defaults

    @Test
    void defaults() {
        Parameter p = Parameter.of(Tensor.zeros(DType.FLOAT32, 2, 3));
        assertEquals("Parameter", p.name());
        assertTrue(p.requiresGrad());
        assertFalse(p.layerwiseParallel());
        assertTrue(p.parallelOptimizer());
        assertFalse(p.sliced());
        assertFalse(p.isInit());
        assertNull(p.initedParam());
        assertEquals(1, p.commFusion());
        assertFalse(p.parallelOptimizerCommRecompute());
        assertFalse(p.unique());
        assertFalse(p.cacheEnable());
        assertArrayEquals(new long[0], p.cacheShape());
        assertFalse(p.isParamPs());
        assertFalse(p.initInServer());
        assertFalse(p.pushToServer());
        assertFalse(p.pullFromServer());
        assertTrue(p.requiresAggr());
        assertSame(p, p.data());
        assertFalse(p.hasInit());
        assertTrue(p.initMode().isEmpty());
    }

    @Test
    void flagsGivenAtConstruction() {
        Parameter p = Parameter.of(Tensor.zeros(DType.FLOAT32, 2), "w", false, true, false);
        assertEquals("w", p.name());
        assertFalse(p.requiresGrad());
        assertTrue(p.layerwiseParallel());
        assertFalse(p.parallelOptimizer());
        assertEquals("Parameter (name=w, shape=(2,), dtype=Float32, requires_grad=False)", p.toString());
        assertTrue(Parameter.of(1, "a", true, true).layerwiseParallel());
    }

    @Test
    void numbersBecomeScalars() {
        Parameter i = Parameter.of(3);
        assertEquals(DType.INT32, i.dtype(), "a Python int is an Int32 parameter");
        assertEquals("Parameter (name=Parameter, shape=(), dtype=Int32, requires_grad=True)", i.toString());
        assertEquals(3, i.tensor().getLong());
        assertEquals(DType.INT64, Parameter.of(5L).dtype());
        assertEquals(DType.FLOAT32, Parameter.of(2.5).dtype());
        assertEquals(DType.FLOAT32, Parameter.of(2.5f).dtype());
        assertEquals(2.5, Parameter.of(2.5).tensor().getDouble());
    }

    @Test
    void nestedListsAndArrays() {
        Parameter p = Parameter.of(List.of(List.of(1, 2, 3), List.of(4, 5, 6)), "n");
        assertEquals("Parameter (name=n, shape=(2, 3), dtype=Int64, requires_grad=True)", p.toString());
        Parameter f = Parameter.of(List.of(1.5, 2.5));
        assertEquals(DType.FLOAT32, f.dtype());
        assertArrayEquals(new long[] {2}, f.shape());
        Parameter a = Parameter.of(new double[][] {{1, 2}, {3, 4}});
        assertArrayEquals(new long[] {2, 2}, a.shape());
    }

    @Test
    void fromParameterAndInitializer() {
        Parameter src = Parameter.of(Tensor.arange(DType.INT64, 4), "src");
        Parameter copy = Parameter.of(src, "copy");
        assertEquals(src.tensor(), copy.tensor());
        Parameter lazy = Parameter.fromInitializer(Initializers.byName("zeros"), new long[] {2, 2}, DType.FLOAT64,
                "z");
        assertTrue(lazy.hasInit());
        assertEquals(DType.FLOAT64, lazy.dtype());
        assertEquals(Tensor.zeros(DType.FLOAT64, 2, 2), lazy.initData().tensor());
    }

    @Test
    void lazyParameterHasNoValuesUntilInitData() {
        Parameter p = Parameter.lazy(ones(2, 3), "w");
        IllegalStateException e = assertThrows(IllegalStateException.class, p::tensor);
        assertTrue(e.getMessage().contains("Parameter 'w' holds no values yet"), e.getMessage());
        assertTrue(e.getMessage().contains("initData()"), e.getMessage());
        assertEquals(Tensor.ones(DType.FLOAT32, 2, 3), p.initData().tensor());
    }

    @Test
    void nameRules() {
        assertEquals("Parameter", Parameter.of(1, null).name());
        assertEquals("Parameter", Parameter.of(1, "").name());
        assertEquals("Parameter", Parameter.of(1, "   ").name());
        assertEquals("w", Parameter.of(1, "  w ").name());
        String max = "a".repeat(1024);
        assertEquals(max, Parameter.of(1, max).name());
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> Parameter.of(1, "a".repeat(1025)));
        assertTrue(e.getMessage().contains("name should be less than 1024"), e.getMessage());
        assertTrue(e.getMessage().contains("found 1025 characters"), e.getMessage());

        Parameter p = Parameter.of(1, "w");
        p.setName("v");
        assertEquals("v", p.name());
        p.setName(null);
        assertEquals("Parameter", p.name());
        assertThrows(IllegalArgumentException.class, () -> p.setName("b".repeat(2000)));
    }

    @Test
    void rejectedDefaultInputs() {
        IllegalArgumentException b = assertThrows(IllegalArgumentException.class, () -> Parameter.of(true));
        assertTrue(b.getMessage().startsWith("Parameter data can not be `bool`"), b.getMessage());
        IllegalArgumentException n = assertThrows(IllegalArgumentException.class, () -> Parameter.of(null));
        assertTrue(n.getMessage().contains("found null"), n.getMessage());
        IllegalArgumentException s = assertThrows(IllegalArgumentException.class, () -> Parameter.of("ones"));
        assertTrue(s.getMessage().contains("java.lang.String"), s.getMessage());
        IllegalArgumentException i = assertThrows(IllegalArgumentException.class,
                () -> Parameter.of(Initializers.byName("ones")));
        assertTrue(i.getMessage().contains("Parameter.fromInitializer"), i.getMessage());
        IllegalArgumentException big = assertThrows(IllegalArgumentException.class,
                () -> Parameter.of(new java.math.BigInteger("12")));
        assertTrue(big.getMessage().contains("java.math.BigInteger"), big.getMessage());
    }

    @Test
    void unknownInitializerNameIsAnError() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> Parameter.fromInitializer("no_such_init", new long[] {2}, DType.FLOAT32, "w"));
        assertTrue(e.getMessage().contains("no_such_init") && e.getMessage().contains("xavieruniform"),
                "the error lists the valid names: " + e.getMessage());
    }

    // ------------------------------------------------------------ settable properties

    @Test
    void commFusion() {
        Parameter p = Parameter.of(1.0, "w");
        p.setCommFusion(0);
        assertEquals(0, p.commFusion());
        p.setCommFusion(3);
        assertEquals(3, p.commFusion());
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> p.setCommFusion(-1));
        assertEquals("Parameter 'w': comm_fusion must be an int >= 0, but got -1; use 0 to never fuse its "
                + "communication, or a positive fusion id", e.getMessage());
        assertEquals(3, p.commFusion());
    }

    @Test
    void otherSetters() {
        Parameter p = Parameter.of(1.0);
        p.setSliced(true);
        p.setIsInit(true);
        p.setRequiresGrad(false);
        p.setLayerwiseParallel(true);
        p.setParallelOptimizer(false);
        p.setParallelOptimizerCommRecompute(true);
        p.setUnique(true);
        p.setCacheEnable(true);
        p.setCacheShape(4, 8);
        assertTrue(p.sliced());
        assertTrue(p.isInit());
        assertFalse(p.requiresGrad());
        assertTrue(p.layerwiseParallel());
        assertFalse(p.parallelOptimizer());
        assertTrue(p.parallelOptimizerCommRecompute());
        assertTrue(p.unique());
        assertTrue(p.cacheEnable());
        assertArrayEquals(new long[] {4, 8}, p.cacheShape());
        assertThrows(IllegalArgumentException.class, () -> p.setCacheShape(4, -1));
        assertThrows(IllegalArgumentException.class, () -> p.setCacheShape((long[]) null));
    }

    @Test
    void parameterServerAndFederatedFlags() {
        Parameter p = Parameter.of(1.0);
        p.setParamPs();
        assertTrue(p.isParamPs());
        assertFalse(p.initInServer());
        p.setParamPs(true);
        assertTrue(p.initInServer());

        p.setParamFl(true, false, true);
        assertTrue(p.pushToServer());
        assertFalse(p.pullFromServer());
        assertTrue(p.requiresAggr());
        p.setParamFl(false, true, false);
        assertTrue(p.pushToServer(), "a false push_to_server leaves the flag, as MindSpore");
        assertTrue(p.pullFromServer());
        assertFalse(p.requiresAggr());
    }

    // ------------------------------------------------------------ set_data

    @Test
    void setDataSameShape() {
        Parameter p = Parameter.of(Tensor.zeros(DType.FLOAT32, 2, 3), "w");
        Tensor t = Tensor.ones(DType.FLOAT32, 2, 3);
        assertSame(p, p.setData(t));
        assertEquals(t, p.tensor());
        assertFalse(p.sliced());
    }

    @Test
    void setDataShapeChangeNeedsSliceShape() {
        Parameter p = Parameter.of(Tensor.zeros(DType.FLOAT32, 2, 3), "w");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> p.setData(Tensor.ones(DType.FLOAT32, 1, 3)));
        assertEquals("Can not change the shape of Parameter which has been initialized. Current shape is (2, 3), "
                + "and incoming is (1, 3): parameter 'w'; pass sliceShape=true to set a slice of another shape",
                e.getMessage());
        p.setData(Tensor.ones(DType.FLOAT32, 1, 3), true);
        assertArrayEquals(new long[] {1, 3}, p.shape());
        assertTrue(p.sliced(), "slice_shape=True marks the data sliced");
        p.setData(Tensor.zeros(DType.FLOAT32, 1, 3), false);
        assertFalse(p.sliced(), "sliced follows slice_shape, as MindSpore");
    }

    @ParameterizedTest(name = "{0} data into a {1} parameter")
    @CsvSource({
        "FLOAT64, FLOAT32",
        "FLOAT32, INT32",
        "FLOAT32, FLOAT16",
        "INT64, INT32",
        "INT32, BOOL",
        "FLOAT16, INT64",
        "FLOAT16, BFLOAT16",
        "BFLOAT16, FLOAT16",
        "INT16, UINT8",
    })
    void narrowingConversionIsRefused(DType incoming, DType current) {
        Parameter p = Parameter.of(Tensor.zeros(current, 2), "w");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> p.setData(Tensor.ones(incoming, 2)));
        assertEquals("Incoming Parameter dtype can not be converted to current dtype implicitly. Current dtype is "
                + current.displayName() + ", and incoming is " + incoming.displayName() + ": parameter 'w'; convert "
                + "the data to " + current.displayName() + " first (Tensor.astype), implicit conversion only widens",
                e.getMessage());
        assertEquals(Tensor.zeros(current, 2), p.tensor(), "a refused set_data leaves the data");
    }

    @ParameterizedTest(name = "{0} data into a {1} parameter")
    @CsvSource({
        "FLOAT32, FLOAT64",
        "INT32, FLOAT32",
        "INT64, FLOAT32",
        "INT64, FLOAT16",
        "BOOL, INT32",
        "INT8, UINT8",
        "UINT8, INT16",
        "FLOAT16, FLOAT32",
        "BFLOAT16, FLOAT32",
        "INT32, INT64",
    })
    void wideningConversionIsApplied(DType incoming, DType current) {
        Parameter p = Parameter.of(Tensor.zeros(current, 2), "w");
        p.setData(Tensor.ones(incoming, 2));
        assertEquals(current, p.dtype());
        assertEquals(Tensor.ones(current, 2), p.tensor());
        assertTrue(Parameter.convertsImplicitly(incoming, current));
        assertTrue(Parameter.convertsImplicitly(current, current));
    }

    @Test
    void setDataWithNumbers() {
        Parameter f = Parameter.of(1.0, "f");
        f.setData(3);
        assertEquals(DType.FLOAT32, f.dtype());
        assertEquals(3.0, f.tensor().getDouble());
        Parameter i = Parameter.of(1, "i");
        i.setData(7L);
        assertEquals(DType.INT32, i.dtype());
        assertEquals(7, i.tensor().getLong());
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> i.setData(1.5));
        assertTrue(e.getMessage().startsWith("Incoming Parameter dtype can not be converted to current dtype "
                + "implicitly. Current dtype is Int32, and incoming is the floating-point number 1.5"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> i.setData(true));
        assertThrows(IllegalArgumentException.class, () -> i.setData(null));
        IllegalArgumentException s = assertThrows(IllegalArgumentException.class, () -> i.setData("x"));
        assertTrue(s.getMessage().contains("java.lang.String"), s.getMessage());
    }

    @Test
    void initializedParameterFillsInLazyData() {
        // 004 "覆盖修改参数值": set_data "常用于使用Initializer进行Cell遍历初始化"; MindSpore's set_data calls
        // data.init_data() when the parameter holds values (it refused them here before).
        Parameter p = Parameter.of(Tensor.zeros(DType.FLOAT32, 2, 3), "w");
        assertSame(p, p.setData(ones(2, 3)));
        assertFalse(p.hasInit());
        assertEquals(Tensor.ones(DType.FLOAT32, 2, 3), p.tensor());
        p.setData(Parameter.lazy(Initializers.initializer("zeros", new long[] {2, 3}, DType.FLOAT32), "z"));
        assertEquals(Tensor.zeros(DType.FLOAT32, 2, 3), p.tensor());
    }

    @Test
    void lazyParameterAcceptsLazyDataAndRefusesValues() {
        Parameter p = Parameter.lazy(ones(2, 3), "w");
        Parameter first = p.initData();
        p.setData(Initializers.initializer("zeros", new long[] {2, 3}, DType.FLOAT32));
        assertTrue(p.hasInit());
        assertNull(p.initedParam(), "set_data forgets the inited parameter");
        Parameter second = p.initData();
        assertNotSame(first, second);
        assertEquals(Tensor.zeros(DType.FLOAT32, 2, 3), second.tensor());
        assertEquals(Tensor.ones(DType.FLOAT32, 2, 3), first.tensor(), "the old inited parameter is untouched");

        // MindSpore's _set_data_check_input_valid: a lazy parameter refuses values (with its message's wording)
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> p.setData(Tensor.full(DType.FLOAT32, 5, 2, 3)));
        assertTrue(e.getMessage().startsWith(Parameter.DATA_NOT_INITIALIZED), e.getMessage());
        assertTrue(p.hasInit(), "a refused set_data leaves the parameter lazy");
        Parameter inited = p.initData();
        inited.setData(Tensor.full(DType.FLOAT32, 5, 2, 3));
        assertFalse(inited.hasInit());
        assertSame(inited, inited.initData(), "a parameter holding values initialises to itself");
    }

    @Test
    void lazyDataIsWidenedRegionByRegion() {
        Parameter p = Parameter.lazy(Initializers.initializer("zeros", new long[] {4, 4}, DType.FLOAT64), "w");
        LazyTensor src = Initializers.initializer("normal", new long[] {4, 4}, DType.FLOAT32);
        p.setData(src);
        assertEquals(DType.FLOAT64, p.dtype());
        assertTrue(p.hasInit(), "the widened description is still lazy");
        Tensor whole = p.clone().initData().tensor();
        assertEquals(DType.FLOAT64, whole.dtype());
        assertEquals(src.materialize().astype(DType.FLOAT64), whole);
        Tensor slice = p.clone().initData(ParamLayout.of(new int[] {2}, new int[] {0, -1}, new long[] {2, 4}), 1)
                .tensor();
        assertEquals(whole.slice(io.tessera.layout.Box.of(new long[] {2, 0}, new long[] {4, 4})), slice);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> Parameter.of(ones(2)).setData(Initializers.initializer("ones", new long[] {2}, DType.FLOAT64)));
        assertTrue(e.getMessage().contains("Current dtype is Float32, and incoming is Float64"), e.getMessage());
    }

    // ------------------------------------------------------------ clone

    @Test
    void cloneSameCopiesDataAndSettings() {
        Parameter p = Parameter.of(Tensor.arange(DType.FLOAT32, 6).reshape(2, 3), "w", false, true, false);
        p.setCommFusion(4);
        p.setParallelOptimizerCommRecompute(true);
        p.setUnique(true);
        p.setCacheEnable(true);
        p.setCacheShape(2, 3);
        p.setParamPs(true);
        p.setParamFl(true, true, false);
        p.setSliced(true);
        p.setIsInit(true);
        Parameter c = p.clone();
        assertNotSame(p, c);
        assertEquals("w", c.name());
        assertEquals(p.tensor(), c.tensor());
        assertFalse(c.requiresGrad());
        assertTrue(c.layerwiseParallel());
        assertFalse(c.parallelOptimizer());
        assertEquals(4, c.commFusion());
        assertTrue(c.parallelOptimizerCommRecompute());
        assertTrue(c.unique());
        assertTrue(c.cacheEnable());
        assertArrayEquals(new long[] {2, 3}, c.cacheShape());
        assertTrue(c.isParamPs());
        assertTrue(c.initInServer());
        assertTrue(c.pushToServer());
        assertTrue(c.pullFromServer());
        assertFalse(c.requiresAggr());
        assertTrue(c.sliced());
        assertFalse(c.isInit(), "a clone is not synchronised to a device");
        assertNull(c.initedParam());
        c.setName("other");
        assertEquals("w", p.name());
        assertEquals(c.toString(), Parameter.of(Tensor.arange(DType.FLOAT32, 6).reshape(2, 3), "other", false)
                .toString());
    }

    @Test
    void cloneOfLazyParameterMaterialisesTheSameValues() {
        Parameter p = Parameter.fromInitializer("normal", new long[] {8, 4}, DType.FLOAT32, "w");
        Parameter c = p.clone();
        assertTrue(c.hasInit());
        assertEquals(p.initData().tensor(), c.initData().tensor());
        assertNull(p.clone().initedParam());
    }

    @Test
    void cloneWithInitReinitialises() {
        Parameter p = Parameter.of(Tensor.arange(DType.FLOAT32, 6).reshape(2, 3), "w");
        Parameter z = p.clone("zeros");
        assertEquals("w", z.name());
        assertTrue(z.hasInit());
        assertEquals(Tensor.zeros(DType.FLOAT32, 2, 3), z.initData().tensor());
        assertEquals(Tensor.ones(DType.FLOAT32, 2, 3), p.clone("Ones").initData().tensor());
        assertEquals(Tensor.ones(DType.FLOAT32, 2, 3), p.clone(Initializers.byName("ones")).initData().tensor());
        assertEquals(Tensor.full(DType.FLOAT32, 3, 2, 3), p.clone(3).initData().tensor());
        Tensor t = Tensor.full(DType.FLOAT32, 9, 2, 3);
        Parameter ct = p.clone(t);
        assertFalse(ct.hasInit());
        assertEquals(t, ct.tensor());
        assertEquals(Tensor.full(DType.FLOAT32, 4, 2, 3), p.clone(Tensor.full(DType.INT32, 4, 2, 3)).tensor());
        assertEquals(Tensor.arange(DType.FLOAT32, 6).reshape(2, 3), p.tensor(), "the original is untouched");
    }

    @Test
    void cloneErrors() {
        Parameter p = Parameter.of(Tensor.zeros(DType.FLOAT32, 2, 3), "w");
        assertThrows(IllegalArgumentException.class, () -> p.clone("no_such_init"));
        IllegalArgumentException shape = assertThrows(IllegalArgumentException.class,
                () -> p.clone(Tensor.zeros(DType.FLOAT32, 3, 2)));
        assertEquals("Parameter 'w': clone init has the shape (3, 2) but the parameter has (2, 3); pass data of the "
                + "parameter's shape", shape.getMessage());
        IllegalArgumentException narrow = assertThrows(IllegalArgumentException.class,
                () -> p.clone(Tensor.zeros(DType.FLOAT64, 2, 3)));
        assertTrue(narrow.getMessage().contains("Current dtype is Float32, and incoming is Float64"));
        assertThrows(IllegalArgumentException.class, () -> p.clone((Object) null));
        assertThrows(IllegalArgumentException.class, () -> p.clone(true));
        IllegalArgumentException other = assertThrows(IllegalArgumentException.class,
                () -> p.clone(List.of(1, 2)));
        assertTrue(other.getMessage().contains("expected \"same\""), other.getMessage());
    }

    // ------------------------------------------------------------ printing

    @Test
    void toStringFollowsPythonTuples() {
        assertEquals("Parameter (name=s, shape=(), dtype=Float32, requires_grad=True)", Parameter.of(1.0, "s")
                .toString());
        assertEquals("Parameter (name=v, shape=(3,), dtype=Int64, requires_grad=True)",
                Parameter.of(Tensor.arange(DType.INT64, 3), "v").toString());
        assertEquals("Parameter (name=m, shape=(1, 2, 3, 4), dtype=Float16, requires_grad=False)",
                Parameter.of(Tensor.zeros(DType.FLOAT16, 1, 2, 3, 4), "m", false).toString());
        assertEquals("Parameter (name=b, shape=(2,), dtype=BFloat16, requires_grad=True)",
                Parameter.of(Initializers.initializer("zeros", new long[] {2}, DType.BFLOAT16), "b").toString());
    }
}
