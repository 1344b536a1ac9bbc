package io.tessera.layout.param;

import io.tessera.layout.DType;
import io.tessera.layout.init.Initializers;
import io.tessera.layout.init.LazyTensor;
import io.tessera.layout.tensor.Tensor;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * When a parameter holds values and when it holds only an initializer description: at creation (by parallel mode)
 * and through {@code set_data} (all four combinations of initialised and lazy).
 */
class LazyOrFilledTest {

    private static LazyTensor normal(long... shape) {
        return Initializers.initializer("normal", shape, DType.FLOAT32);
    }

    @AfterEach
    void resetContext() {
        ParallelContext.reset();
    }

    // ------------------------------------------------------------ (b) creation from an initializer

    /**
     * 002 note: "在"semi_auto_parallel"和"auto_parallel"的并行模式下，如果使用 Initializer 模块初始化参数，参数的类型将为
     * Tensor ... 仅保存张量的形状和类型信息" (and 000: "当网络采用半自动或者全自动并行策略，并且使用Initializer初始化Parameter
     * 时，Parameter里保存的不是Tensor，而是MetaTensor"): in the other modes MindSpore fills the values in at once.
     */
    @ParameterizedTest
    @EnumSource(value = ParallelMode.class, names = {"STAND_ALONE", "DATA_PARALLEL", "HYBRID_PARALLEL"})
    void outsideAutoParallelAnInitializerIsFilledInAtOnce(ParallelMode mode) {
        ParallelContext.setParallelMode(mode);
        LazyTensor lazy = normal(4, 3);
        Parameter p = Parameter.of(lazy, "w");
        assertFalse(p.hasInit());
        assertTrue(p.initMode().isEmpty());
        assertEquals(lazy.materialize(), p.tensor(), "the initializer's own values, seed included");
        assertSame(p, p.initData(), "MindSpore: init_mode is None, init_data returns the parameter");
        assertNull(p.initedParam());
        assertEquals("Parameter (name=w, shape=(4, 3), dtype=Float32, requires_grad=True)", p.toString());
        Parameter copy = Parameter.of(Parameter.lazy(lazy, "src"), "copy");
        assertFalse(copy.hasInit(), "a lazy parameter as default_input is filled in the same way");
    }

    /** 002 note: in semi_auto_parallel and auto_parallel the parameter keeps only shape and dtype. */
    @ParameterizedTest
    @EnumSource(value = ParallelMode.class, names = {"SEMI_AUTO_PARALLEL", "AUTO_PARALLEL"})
    void inAutoParallelAnInitializerStaysLazy(ParallelMode mode) {
        ParallelContext.setParallelMode(mode);
        LazyTensor lazy = normal(4, 3);
        Parameter p = Parameter.of(lazy, "w");
        assertTrue(p.hasInit());
        assertThrows(IllegalStateException.class, p::tensor);
        assertEquals(lazy.materialize(), p.initData().tensor());
    }

    /** Tessera's explicit factories stay lazy whatever the mode (planner networks of ~1e12 parameters). */
    @ParameterizedTest
    @EnumSource(ParallelMode.class)
    void lazyAndFromInitializerStayLazyInEveryMode(ParallelMode mode) {
        ParallelContext.setParallelMode(mode);
        LazyTensor huge = normal(1L << 20, 1L << 20);
        Parameter p = Parameter.lazy(huge, "huge", false, true, false);
        assertTrue(p.hasInit());
        assertSame(huge, p.initMode().get());
        assertFalse(p.requiresGrad());
        assertTrue(p.layerwiseParallel());
        assertFalse(p.parallelOptimizer());
        assertTrue(Parameter.fromInitializer("ones", new long[] {1L << 20, 1L << 20}, DType.FLOAT32, "f").hasInit());
        assertThrows(IllegalArgumentException.class, () -> Parameter.lazy(null, "x"));
    }

    /** MindSpore's init_data still checks the mode of an initializer-made parameter that was filled in at once. */
    @Test
    void aFilledInParameterStillChecksTheMode() {
        Parameter p = Parameter.of(normal(2, 2), "w");
        ParallelContext.setParallelMode(ParallelMode.SEMI_AUTO_PARALLEL);
        IllegalStateException e = assertThrows(IllegalStateException.class, p::initData);
        assertTrue(e.getMessage().startsWith(Parameter.PARALLEL_MODE_CHANGED), e.getMessage());
    }

    // ------------------------------------------------------------ (a) set_data: initialised x lazy

    /**
     * 001/003 "Methods": set_data "sets the data saved by Parameter. Tensor, Initializer, int, and float can be input
     * for setting"; 004: set_data "常用于使用Initializer进行Cell遍历初始化". MindSpore's set_data: a parameter holding
     * values given an initializer calls {@code data.init_data()} and holds the values.
     */
    @Test
    void initializedParameterWithLazyDataFillsItIn() {
        Parameter p = Parameter.of(Tensor.zeros(DType.FLOAT32, 4, 3), "w");
        LazyTensor lazy = normal(4, 3);
        assertSame(p, p.setData(lazy));
        assertFalse(p.hasInit());
        assertEquals(lazy.materialize(), p.tensor());
        Parameter f64 = Parameter.of(Tensor.zeros(DType.FLOAT64, 4, 3), "d");
        f64.setData(lazy);
        assertEquals(lazy.materialize().astype(DType.FLOAT64), f64.tensor(), "widened, then filled in");
        IllegalArgumentException shape = assertThrows(IllegalArgumentException.class, () -> p.setData(normal(3)));
        assertTrue(shape.getMessage().startsWith("Can not change the shape of Parameter"), shape.getMessage());
        assertEquals(lazy.materialize(), p.tensor(), "a refused set_data leaves the values");
    }

    /**
     * MindSpore's {@code _set_data_check_input_valid}: {@code if incoming_tensor_is_init and not
     * current_tensor_is_init: raise TypeError("The original tensor data is initialized, but the argument 'data' is not
     * initialized. ...")} — a lazy parameter refuses values, under MindSpore's own wording.
     */
    @Test
    void lazyParameterWithInitializedTensorIsRefused() {
        Parameter p = Parameter.lazy(normal(4, 3), "w");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> p.setData(Tensor.ones(DType.FLOAT32, 4, 3)));
        assertTrue(e.getMessage().startsWith("The original tensor data is initialized, but the argument 'data' is "
                + "not initialized. Please initialize 'data' before call this method: parameter 'w' holds no values "
                + "(it is backed by the initializer 'Normal')"), e.getMessage());
        assertTrue(e.getMessage().endsWith("call initData() and set the data on the parameter it returns, or pass a "
                + "LazyTensor (Initializers.initializer(...))"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> p.setData(3.0), "a number is values too");
        assertThrows(IllegalArgumentException.class, () -> p.setData(Parameter.of(Tensor.ones(DType.FLOAT32, 4, 3))));
        assertTrue(p.hasInit());
    }

    /** MindSpore's set_data: both lazy, the parameter keeps the new description (init_mode = data). */
    @Test
    void lazyParameterWithLazyDataStaysLazy() {
        Parameter p = Parameter.lazy(normal(4, 3), "w");
        LazyTensor zeros = Initializers.initializer("zeros", new long[] {4, 3}, DType.FLOAT32);
        p.setData(zeros);
        assertTrue(p.hasInit());
        assertSame(zeros, p.initMode().get());
        assertEquals(Tensor.zeros(DType.FLOAT32, 4, 3), p.initData().tensor());
    }

    /** 002 example: {@code net.weight.set_data(Tensor(np.zeros((1, 2)), mindspore.float32))} on a Tensor parameter. */
    @Test
    void initializedParameterWithInitializedTensorTakesIt() {
        Parameter p = Parameter.of(Tensor.ones(DType.FLOAT32, 1, 2), "w");
        Tensor zeros = Tensor.zeros(DType.FLOAT32, 1, 2);
        p.setData(zeros);
        assertSame(zeros, p.tensor());
    }
}
