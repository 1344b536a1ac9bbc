package io.tessera.simulator.kernel;

import io.tessera.planner.op.Transpose;
import io.tessera.simulator.array.NDArray;
import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.List;

import static io.tessera.simulator.kernel.CentralDifference.array;
import static org.junit.jupiter.api.Assertions.assertEquals;

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

}
