package io.tessera.simulator.numeric;

import io.tessera.simulator.array.NDArray;
import io.tessera.simulator.cluster.RankState;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Typed slots: their keys in a rank's memory, their lifetimes and their arithmetic. */
class SlotTest {

    @Test
    void keysAreTheRankStateNames() {
        assertEquals("param/w1", Slot.param("w1").key());
        assertEquals("opt/w1/v", Slot.optimizerState("w1", "v").key());
        assertEquals("acc/loss", Slot.lossSum().key());
        assertEquals("act/h", Slot.activation("h").key());
        assertEquals("in/fc1/1", Slot.input("fc1", 1).key());
        assertEquals("gathered/w1", Slot.gathered("w1").key());
        assertEquals("grad/h", Slot.gradient("h").key());
        assertEquals("igrad/fc1/0", Slot.inputGradient("fc1", 0).key());
        assertEquals("share/fc1/0", Slot.sharedGradient("fc1", 0).key());
        assertEquals("eacc/fc1/1", Slot.inputGradientSum("fc1", 1).key());
        assertEquals("back/fc1/0", Slot.returnedGradient("fc1", 0).key());
        List<List<Integer>> groups = List.of(List.of(0, 1), List.of(2, 3));
        assertEquals("pend/w1|" + groups.hashCode(), Slot.pending("w1", groups).key());
        assertEquals("gacc/w1", Slot.shardGradientSum("w1").key());
        assertEquals("gshard/w1", Slot.shardGradient("w1").key());
        assertEquals("in/fc1/1", Slot.input("fc1", 1).toString());
        assertEquals(Slot.Kind.GRADIENT, Slot.Kind.of("grad/h"));
        assertEquals(Slot.Kind.GATHERED_OUTPUT_GRADIENT, Slot.Kind.of("bgrad/fc2"));
        assertNull(Slot.Kind.of("unknown/x"));
    }

    @Test
    void aKeyMustStartWithItsKindsPrefix() {
        IllegalArgumentException ex = assertThrows(IllegalArgumentException.class,
                () -> new Slot(Slot.Kind.GRADIENT, "act/h"));
        assertTrue(ex.getMessage().contains("'act/h'") && ex.getMessage().contains("grad/<name>"), ex.getMessage());
        assertThrows(IllegalArgumentException.class, () -> new Slot(Slot.Kind.PARAM, "param/"));
    }

    @Test
    void lifetimes() {
        Set<String> params = Set.of("w1");
        assertTrue(Slot.persistent("param/w1"));
        assertTrue(Slot.persistent("opt/w1/m"));
        assertFalse(Slot.persistent("grad/w1"));
        for (String kept : List.of("param/w1", "opt/w1/v", "gacc/w1", "eacc/fc1/1", "acc/loss", "grad/w1",
                "pend/w1|7")) {
            assertTrue(Slot.accumulated(kept, params::contains), kept);
        }
        for (String gone : List.of("act/h", "in/fc1/0", "grad/h", "pend/h|7", "igrad/fc1/0", "gathered/w1")) {
            assertFalse(Slot.accumulated(gone, params::contains), gone);
        }
    }

    @Test
    void addCopiesIntoAnEmptySlotAndSumsIntoAFullOne() {
        RankState s = new RankState(3);
        Slot g = Slot.gradient("h");
        NDArray one = NDArray.of(new long[] {2}, new double[] {1, 2});
        g.add(s, one);
        one.data()[0] = 100;
        assertArrayEquals(new double[] {1, 2}, g.get(s).data());
        g.add(s, NDArray.of(new long[] {2}, new double[] {10, 20}));
        assertArrayEquals(new double[] {11, 22}, g.get(s).data());
        IllegalStateException ex = assertThrows(IllegalStateException.class,
                () -> g.add(s, NDArray.of(new long[] {3}, new double[] {1, 2, 3})));
        assertTrue(ex.getMessage().contains("rank 3") && ex.getMessage().contains("'grad/h'"), ex.getMessage());
        assertNull(Slot.activation("x").getOrNull(s));
        NDArray z = Slot.optimizerState("w", "v").getOrZeros(s, one);
        assertArrayEquals(new double[] {0, 0}, z.data());
        assertEquals(g.get(s), g.remove(s));
        assertFalse(s.has("grad/h"));
    }
}
