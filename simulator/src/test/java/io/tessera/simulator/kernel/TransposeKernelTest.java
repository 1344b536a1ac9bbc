package io.tessera.simulator.kernel;

import io.tessera.planner.op.Transpose;
import io.tessera.simulator.array.NDArray;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;

import static io.tessera.simulator.kernel.CentralDifference.array;
import static io.tessera.simulator.kernel.CentralDifference.flags;
import static io.tessera.simulator.kernel.CentralDifference.uniform;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

class TransposeKernelTest {

    private static NDArray run(Transpose op, NDArray x) {
        return TransposeKernel.forward(op, CentralDifference.single(List.of(x), List.of()), List.of(x)).get(0);
    }

    @Test
    void transposesAMatrix() {
        NDArray x = array(new long[] {2, 3}, 1, 2, 3, 4, 5, 6);
        assertEquals(array(new long[] {3, 2}, 1, 4, 2, 5, 3, 6), run(Transpose.of(1, 0), x));
        assertEquals(x, run(Transpose.of(0, 1), x));
    }

    @Test
    void movesEveryElementOfARank3Array() {
        NDArray x = NDArray.zeros(2, 3, 4);
        for (int i = 0; i < x.size(); i++) {
            x.set(i, i);
        }
        NDArray y = run(Transpose.of(2, 0, 1), x);
        assertEquals(List.of(4L, 2L, 3L), Arrays.stream(y.shape()).boxed().toList());
        for (int a = 0; a < 4; a++) {
            for (int b = 0; b < 2; b++) {
                for (int c = 0; c < 3; c++) {
                    // y[a][b][c] = x[b][c][a]
                    assertEquals(x.get((b * 3 + c) * 4 + a), y.get((a * 2 + b) * 3 + c));
                }
            }
        }
    }

    static Stream<Arguments> perms() {
        return Stream.of(new int[] {0, 1, 2}, new int[] {0, 2, 1}, new int[] {1, 0, 2}, new int[] {1, 2, 0},
                new int[] {2, 0, 1}, new int[] {2, 1, 0}, new int[] {3, 1, 0, 2}, new int[] {1, 3, 2, 0},
                new int[] {0}).map(p -> Arguments.of((Object) p));
    }

    @ParameterizedTest(name = "perm {0}")
    @MethodSource("perms")
    void backwardMatchesCentralDifferencesAndShapesMatchTheOperator(int[] perm) {
        String label = "Transpose " + Arrays.toString(perm);
        Random r = CentralDifference.random(label, 4000L + Arrays.hashCode(perm));
        long[] shape = Arrays.copyOf(new long[] {2, 3, 4, 5}, perm.length);
        Transpose op = Transpose.of(perm);
        NDArray x = uniform(r, shape);
        CentralDifference.check(label, r, List.of(x), flags(1, 0), xs -> List.of(run(op, xs.get(0))),
                (xs, ys, dys, needs) -> TransposeKernel.backward(op, null, xs, ys, dys, needs));
        assertEquals(CentralDifference.typeShapes(op.outputs("t", CentralDifference.types(List.of(x)))),
                CentralDifference.shapes(List.of(run(op, x))));
    }

    @Test
    void nullGradientsAreZerosAndUnneededOnesNull() {
        Transpose op = Transpose.of(1, 0);
        NDArray x = NDArray.zeros(2, 3);
        assertEquals(NDArray.zeros(2, 3),
                TransposeKernel.backward(op, null, List.of(x), List.of(), Arrays.asList((NDArray) null),
                        flags(1, 0)).get(0));
        assertNull(TransposeKernel.backward(op, null, List.of(x), List.of(), List.of(NDArray.zeros(3, 2)),
                flags(1)).get(0));
    }
}
