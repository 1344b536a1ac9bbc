package io.tessera.layout.param;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ParallelContextTest {

    @AfterEach
    void resetContext() {
        ParallelContext.reset();
    }

    @Test
    void defaultIsStandAlone() {
        assertEquals(ParallelMode.STAND_ALONE, ParallelContext.parallelMode());
        assertFalse(ParallelContext.isInParallelMode());
    }

    @Test
    void mindsporeNames() {
        assertEquals("stand_alone", ParallelMode.STAND_ALONE.toString());
        assertEquals("data_parallel", ParallelMode.DATA_PARALLEL.mindsporeName());
        assertEquals("semi_auto_parallel", ParallelMode.SEMI_AUTO_PARALLEL.mindsporeName());
        assertEquals("auto_parallel", ParallelMode.AUTO_PARALLEL.mindsporeName());
        assertEquals("hybrid_parallel", ParallelMode.HYBRID_PARALLEL.mindsporeName());
        for (ParallelMode m : ParallelMode.values()) {
            assertEquals(m, ParallelMode.parse(m.mindsporeName()));
            assertEquals(m, ParallelMode.parse(m.name()));
        }
        assertEquals(ParallelMode.AUTO_PARALLEL, ParallelMode.parse("  Auto_Parallel "));
    }

    @Test
    void setAndReset() {
        ParallelContext.setParallelMode("semi_auto_parallel");
        assertEquals(ParallelMode.SEMI_AUTO_PARALLEL, ParallelContext.parallelMode());
        assertTrue(ParallelContext.isInParallelMode());
        ParallelContext.setParallelMode(ParallelMode.DATA_PARALLEL);
        assertFalse(ParallelContext.isInParallelMode());
        ParallelContext.reset();
        assertEquals(ParallelMode.STAND_ALONE, ParallelContext.parallelMode());
    }

    @Test
    void unknownNamesListTheValidOnes() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> ParallelContext.setParallelMode("model_parallel"));
        assertEquals("parallel_mode: found 'model_parallel'; expected one of stand_alone, data_parallel, "
                + "semi_auto_parallel, auto_parallel, hybrid_parallel", e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> ParallelMode.parse(null));
        assertThrows(IllegalArgumentException.class, () -> ParallelContext.setParallelMode((ParallelMode) null));
        assertEquals(ParallelMode.STAND_ALONE, ParallelContext.parallelMode(), "a refused mode changes nothing");
    }
}
