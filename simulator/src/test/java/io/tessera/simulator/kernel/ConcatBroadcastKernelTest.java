package io.tessera.simulator.kernel;

import io.tessera.layout.Box;
import io.tessera.layout.DType;
import io.tessera.planner.op.BroadcastTo;
import io.tessera.planner.op.Concat;
import io.tessera.simulator.array.NDArray;
import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.List;
import java.util.Random;

import static io.tessera.simulator.kernel.CentralDifference.array;
import static io.tessera.simulator.kernel.CentralDifference.flags;
import static io.tessera.simulator.kernel.CentralDifference.uniform;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The kernels of {@link Concat} and {@link BroadcastTo}: values by hand, the backward against central differences
 * (seeded, the seed printed by {@link CentralDifference#random}), a broadcast onto a split output box, errors.
 */
class ConcatBroadcastKernelTest {

    private static List<NDArray> concat(Concat op, List<NDArray> in) {
        return ConcatKernel.forward(op, CentralDifference.single(in, List.of()), in);
    }

    private static List<NDArray> broadcast(BroadcastTo op, List<NDArray> in) {
        return BroadcastToKernel.forward(op, null, in);
    }

    @Test
    void concatJoinsAlongTheAxis() {
        NDArray nope = array(new long[] {2, 2}, 1, 2, 3, 4);
        NDArray pe = array(new long[] {2, 1}, 9, 8);
        assertEquals(array(new long[] {2, 3}, 1, 2, 9, 3, 4, 8), concat(Concat.of(-1), List.of(nope, pe)).get(0));
        assertEquals(array(new long[] {3, 2}, 1, 2, 3, 4, 5, 6),
                concat(Concat.of(0), List.of(nope, array(new long[] {1, 2}, 5, 6))).get(0));
    }

    @Test
    void concatBackwardMatchesCentralDifferences() {
        Random r = CentralDifference.random("Concat central differences", 21);
        Object[][] cases = {{-1, new long[][] {{2, 3, 4}, {2, 3, 2}}}, {0, new long[][] {{1, 3}, {2, 3}, {3, 3}}},
            {1, new long[][] {{2, 1, 2}, {2, 4, 2}}}, {-1, new long[][] {{5}}}};
        for (Object[] c : cases) {
            long[][] shapes = (long[][]) c[1];
            Concat op = new Concat((int) c[0], shapes.length);
            List<NDArray> in = Arrays.stream(shapes).map(s -> uniform(r, s)).toList();
            boolean[] all = new boolean[shapes.length];
            Arrays.fill(all, true);
            CentralDifference.check("Concat " + c[0], r, in, all, a -> concat(op, a),
                    (a, o, g, n) -> ConcatKernel.backward(op, null, a, o, g, n));
        }
        NDArray x = uniform(r, 2, 2);
        List<NDArray> g = ConcatKernel.backward(Concat.of(0), null, List.of(x, x), null, null, flags(2, 0));
        assertEquals(NDArray.zeros(2, 2), g.get(0), "no output gradient: zeros");
        assertNull(g.get(1));
    }

    @Test
    void broadcastRepeatsTheSizeOneDims() {
        // one shared rotary key per position repeated over 3 heads
        NDArray kPe = array(new long[] {1, 1, 2, 2}, 1, 2, 3, 4);
        assertEquals(array(new long[] {1, 3, 2, 2}, 1, 2, 3, 4, 1, 2, 3, 4, 1, 2, 3, 4),
                broadcast(BroadcastTo.of(1, 3, 2, 2), List.of(kPe)).get(0));
        assertEquals(array(new long[] {2, 3}, 7, 7, 7, 8, 8, 8),
                broadcast(BroadcastTo.of(2, 3), List.of(array(new long[] {2, 1}, 7, 8))).get(0));
        // a rank holding heads [2, 4) of the output: the local output box decides the repeats
        KernelContext half = new KernelContext(List.of(Box.full(new long[] {1, 1, 2, 2})),
                List.of(Box.of(new long[] {0, 2, 0, 0}, new long[] {1, 4, 2, 2})), DType.FLOAT64, 0);
        assertEquals(array(new long[] {1, 2, 2, 2}, 1, 2, 3, 4, 1, 2, 3, 4),
                BroadcastToKernel.forward(BroadcastTo.of(1, 4, 2, 2), half, List.of(kPe)).get(0));
    }

    @Test
    void broadcastBackwardMatchesCentralDifferences() {
        Random r = CentralDifference.random("BroadcastTo central differences", 22);
        Object[][] cases = {{new long[] {2, 1, 3, 2}, new long[] {2, 4, 3, 2}}, {new long[] {1, 3, 1},
            new long[] {2, 3, 4}}, {new long[] {1, 1}, new long[] {3, 2}}, {new long[] {2, 3}, new long[] {2, 3}}};
        for (Object[] c : cases) {
            BroadcastTo op = BroadcastTo.of((long[]) c[1]);
            List<NDArray> in = List.of(uniform(r, (long[]) c[0]));
            CentralDifference.check(op.toString(), r, in, flags(1, 0), a -> broadcast(op, a),
                    (a, o, g, n) -> BroadcastToKernel.backward(op, null, a, o, g, n));
        }
    }

    @Test
    void shapeErrorsAreNamed() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> broadcast(BroadcastTo.of(2, 3), List.of(NDArray.zeros(2, 2))));
        assertTrue(e.getMessage().startsWith("BroadcastToKernel: x [2, 2] does not broadcast to the local output"
                + " [2, 3]"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> concat(Concat.of(0), List.of(NDArray.zeros(2, 2), NDArray.zeros(2, 3))));
        assertTrue(e.getMessage().startsWith("ConcatKernel: input 1 [2, 3] does not fit input 0 [2, 2]"),
                e.getMessage());
    }
}
