package io.tessera.planner.op;

import io.tessera.layout.DType;
import io.tessera.layout.DeviceMatrix;
import io.tessera.layout.Layout;
import io.tessera.layout.TensorMap;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The Transpose rule: the output map is the input map permuted, nothing is communicated. */
class TransposeTest {

    private static final TensorType X = TensorType.of(DType.FLOAT32, 8, 16, 4, 32);

    @Test
    void outputMapIsTheInputMapPermuted() {
        Transpose t = Transpose.of(0, 2, 1, 3);
        TensorType y = t.outputs("t", List.of(X)).get(0);
        assertArrayEquals(new long[] {8, 4, 16, 32}, y.shape());
        OpSharding s = t.shard("t", List.of(X), Strategy.of(new int[] {2, 1, 4, 1}), null, 16);
        assertEquals(DeviceMatrix.of(2, 1, 4, 1, 2), s.devMatrix());
        assertEquals(TensorMap.of(4, 3, 2, 1), s.inputMaps().get(0));
        assertEquals(TensorMap.of(4, 2, 3, 1), s.outputMaps().get(0));
        assertArrayEquals(new long[] {4, 1, 16, 32}, s.outputLayout(0, y).sliceShape());
        assertTrue(s.comms().isEmpty(), s.comms().toString());
    }

    @Test
    void everyRankTransposesItsOwnSlice() {
        Transpose t = Transpose.of(3, 0, 2, 1);
        TensorType y = t.outputs("t", List.of(X)).get(0);
        OpSharding s = t.shard("t", List.of(X), Strategy.of(new int[] {2, 2, 2, 4}), null, 32);
        int[] perm = t.perm();
        for (int r = 0; r < 32; r++) {
            Layout in = s.inputLayout(0, X);
            Layout out = s.outputLayout(0, y);
            for (int j = 0; j < perm.length; j++) {
                assertEquals(in.sliceBox(r).start(perm[j]), out.sliceBox(r).start(j), "rank " + r + " dim " + j);
                assertEquals(in.sliceBox(r).end(perm[j]), out.sliceBox(r).end(j), "rank " + r + " dim " + j);
            }
        }
    }

    @Test
    void dataParallelSplitsDimZero() {
        Transpose t = Transpose.of(1, 0, 2, 3);
        Strategy dp = t.dataParallel(List.of(X), 8);
        assertEquals(Strategy.of(new int[] {8, 1, 1, 1}), dp);
        OpSharding s = t.shard("t", List.of(X), dp, null, 8);
        assertEquals(TensorMap.of(2, 3, 1, 0), s.outputMaps().get(0));
    }

    @Test
    void rejections() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Transpose.of(0, 0, 1));
        assertEquals("Transpose: perm [0, 0, 1] has 0 at position 1; expected a permutation of 0..2 (each dim "
                + "exactly once)", e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> Transpose.of(1, 0).outputs("t", List.of(X)));
        assertEquals("Transpose 't': input 0 Float32[8, 16, 4, 32] has 4 dims but perm [1, 0] has 2 entries; give one "
                + "entry per input dim", e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> Transpose.of(1, 0, 2, 3).shard("t", List.of(X),
                Strategy.of(new int[] {1, 1, 1, 1}), Strategy.of(new int[] {1, 1, 1, 1}), 8));
        assertTrue(e.getMessage().contains("does not accept one"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> Transpose.of(1, 0, 2, 3).shard("t", List.of(X),
                Strategy.of(new int[] {1, 1, 3, 1}), null, 8));
        assertTrue(e.getMessage().startsWith("Transpose 't': input 0 dim 2 of size 4 is split 3 ways"),
                e.getMessage());
    }

    @Test
    void valueSemantics() {
        assertEquals(Transpose.of(1, 0), Transpose.of(1, 0));
        assertEquals(Transpose.of(1, 0).hashCode(), Transpose.of(1, 0).hashCode());
        assertNotEquals(Transpose.of(1, 0), Transpose.of(0, 1));
        int[] p = {1, 0};
        Transpose t = new Transpose(p);
        p[0] = 0;
        assertArrayEquals(new int[] {1, 0}, t.perm(), "copied in");
    }
}
