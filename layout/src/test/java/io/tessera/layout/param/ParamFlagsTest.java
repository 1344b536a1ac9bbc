package io.tessera.layout.param;

import io.tessera.layout.DType;
import io.tessera.layout.tensor.Tensor;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The immutable flag groups of a parameter: {@link ParamFlags} and {@link ParamServerSettings}. */
class ParamFlagsTest {

    /** 002 "参数": requires_grad True, layerwise_parallel False, parallel_optimizer True by default. */
    @Test
    void defaultsAndWithers() {
        ParamFlags d = ParamFlags.DEFAULT;
        assertEquals(new ParamFlags(true, false, true, 1, false, false), d);
        ParamFlags f = d.withRequiresGrad(false).withLayerwiseParallel(true).withParallelOptimizer(false)
                .withCommFusion(0).withParallelOptimizerCommRecompute(true).withUnique(true);
        assertEquals(new ParamFlags(false, true, false, 0, true, true), f);
        assertEquals(ParamFlags.DEFAULT, d, "withX leaves the original");
        assertEquals(ParamFlags.of(false, true, false), d.withRequiresGrad(false).withLayerwiseParallel(true)
                .withParallelOptimizer(false));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> d.withCommFusion(-2));
        assertEquals("comm_fusion must be an int >= 0, but got -2; use 0 to never fuse its communication, or a "
                + "positive fusion id", e.getMessage());
    }

    @Test
    void serverSettings() {
        ParamServerSettings d = ParamServerSettings.DEFAULT;
        assertFalse(d.paramPs());
        assertTrue(d.requiresAggr());
        ParamServerSettings s = d.withParamPs(true).withParamFl(true, false, false).withCacheEnable(true)
                .withCacheShape(4, 2);
        assertEquals(new ParamServerSettings(true, true, true, false, false, true, new long[] {4, 2}), s);
        assertEquals(s.hashCode(), new ParamServerSettings(true, true, true, false, false, true, new long[] {4, 2})
                .hashCode());
        assertNotEquals(d, s);
        assertEquals(s, s.withParamFl(false, false, true), "false/false/true leaves the flags as they are");
        long[] shape = s.cacheShape();
        shape[0] = 9;
        assertArrayEquals(new long[] {4, 2}, s.cacheShape(), "the cache shape is copied out");
        assertThrows(IllegalArgumentException.class, () -> d.withCacheShape(2, -1));
        assertThrows(IllegalArgumentException.class, () -> d.withCacheShape((long[]) null));
    }

    @Test
    void aParameterReadsAndReplacesItsFlags() {
        Parameter p = Parameter.of(Tensor.ones(DType.FLOAT32, 2), "w", false, true);
        assertEquals(ParamFlags.of(false, true, true), p.flags());
        p.setCommFusion(3);
        assertEquals(3, p.flags().commFusion());
        p.setFlags(ParamFlags.DEFAULT.withUnique(true));
        assertTrue(p.unique());
        assertTrue(p.requiresGrad());
        assertEquals(1, p.commFusion());
        assertThrows(IllegalArgumentException.class, () -> p.setFlags(null));
        p.setParamPs(true);
        assertEquals(ParamServerSettings.DEFAULT.withParamPs(true), p.serverSettings());
        assertEquals(p.flags(), p.clone().flags(), "a clone keeps the flags");
        assertEquals(p.serverSettings(), p.clone().serverSettings());
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> p.setCacheShape(1, -1));
        assertEquals("Parameter 'w': cache_shape [1, -1] has the negative size -1; expected sizes >= 0",
                e.getMessage());
    }
}
