package io.tessera.simulator.kernel;

import io.tessera.planner.op.Split;
import io.tessera.simulator.array.NDArray;
import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.List;
import java.util.Random;

import static io.tessera.simulator.kernel.CentralDifference.array;
import static io.tessera.simulator.kernel.CentralDifference.assertClose;
import static io.tessera.simulator.kernel.CentralDifference.flags;
import static io.tessera.simulator.kernel.CentralDifference.uniform;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class SplitKernelTest {

    private static List<NDArray> run(Split op, List<NDArray> in) {
        return SplitKernel.forward(op, CentralDifference.single(in, List.of()), in);
    }

    private static List<NDArray> grad(Split op, List<NDArray> in, List<NDArray> dOut, boolean[] needs) {
        return SplitKernel.backward(op, null, in, null, dOut, needs);
    }

    @Test
    void cutsTheLastAxisIntoQkv() {
        // two tokens of a fused [q | k | v] row with hidden 2
        NDArray x = array(new long[] {2, 6}, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12);
        List<NDArray> out = run(Split.of(-1, 3), List.of(x));
        assertEquals(3, out.size());
        assertEquals(array(new long[] {2, 2}, 1, 2, 7, 8), out.get(0));
        assertEquals(array(new long[] {2, 2}, 3, 4, 9, 10), out.get(1));
        assertEquals(array(new long[] {2, 2}, 5, 6, 11, 12), out.get(2));
    }

    @Test
    void piecesEqualSlicesAlongAnyAxis() {
        Random r = CentralDifference.random("Split slices", 11);
        NDArray x = uniform(r, 2, 6, 4);
        for (int axis = -3; axis < 3; axis++) {
            int a = axis < 0 ? axis + 3 : axis;
            long size = x.dim(a);
            for (int n : new int[] {1, 2}) {
                List<NDArray> out = run(Split.of(axis, n), List.of(x));
                long step = size / n;
                for (int j = 0; j < n; j++) {
                    assertEquals(CentralDifference.slice(x, a, j * step, (j + 1) * step), out.get(j),
                            "axis " + axis + " piece " + j);
                }
                assertEquals(x, CentralDifference.concat(a, out.toArray(new NDArray[0])), "axis " + axis);
            }
        }
    }

    @Test
    void backwardMatchesCentralDifferences() {
        Random r = CentralDifference.random("Split central differences", 12);
        Object[][] cases = {{new long[] {3, 6}, -1, 3}, {new long[] {4, 3, 2}, 0, 2}, {new long[] {2, 6, 2}, 1, 3},
            {new long[] {5}, 0, 5}, {new long[] {2, 2, 4}, -1, 2}};
        for (Object[] c : cases) {
            Split op = Split.of((int) c[1], (int) c[2]);
            List<NDArray> in = List.of(uniform(r, (long[]) c[0]));
            String label = "Split " + c[1] + " into " + c[2] + " " + Arrays.toString((long[]) c[0]);
            CentralDifference.check(label, r, in, flags(1, 0), a -> run(op, a), (a, o, g, n) -> grad(op, a, g, n));
            // only the first output used, as by a network reading q alone
            CentralDifference.check(label + " first only", r, in, flags(1, 0), a -> run(op, a).subList(0, 1),
                    (a, o, g, n) -> {
                        NDArray[] gs = new NDArray[op.outputNum()];
                        gs[0] = g.get(0);
                        return grad(op, a, Arrays.asList(gs), n);
                    });
        }
    }

    @Test
    void absentGradientsMeanZerosAndAnUnneededGradientIsNull() {
        Random r = CentralDifference.random("Split null grads", 13);
        Split op = Split.of(-1, 3);
        NDArray x = uniform(r, 2, 6);
        NDArray dk = uniform(r, 2, 2);
        List<NDArray> g = grad(op, List.of(x), Arrays.asList(null, dk, null), flags(1, 0));
        assertClose(CentralDifference.concat(1, NDArray.zeros(2, 2), dk, NDArray.zeros(2, 2)), g.get(0), 0, "dx");
        assertEquals(NDArray.zeros(2, 6), grad(op, List.of(x), null, flags(1, 0)).get(0));
        assertNull(grad(op, List.of(x), Arrays.asList(dk, dk, dk), flags(1)).get(0));
    }

    @Test
    void shapeErrorsAreNamed() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> run(Split.of(-1, 4), List.of(NDArray.zeros(2, 6))));
        assertTrue(e.getMessage().startsWith("SplitKernel: x [2, 6] dim 1 of size 6 does not divide into output_num 4"),
                e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> grad(Split.of(-1, 3), List.of(NDArray.zeros(2, 6)), Arrays.asList(NDArray.zeros(2, 3), null,
                        null), flags(1, 0)));
        assertTrue(e.getMessage().contains("output gradient 0 has shape [2, 3]; expected the output's shape [2, 2]"),
                e.getMessage());
    }
}
