package io.tessera.simulator.kernel;

import io.tessera.planner.op.Reduce;
import io.tessera.simulator.array.NDArray;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.util.List;
import java.util.Random;

import static io.tessera.simulator.kernel.KernelTesting.array;
import static io.tessera.simulator.kernel.KernelTesting.assertClose;
import static io.tessera.simulator.kernel.KernelTesting.shape;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

class ReduceKernelTest {

    private static NDArray run(Reduce op, NDArray x) {
        List<NDArray> in = List.of(x);
        List<NDArray> out = ReduceKernel.forward(op, KernelTesting.ctx(in), in);
        KernelTesting.assertShapes(op, in, out);
        return out.get(0);
    }

    @Test
    void forwardHandComputed() {
        NDArray x = array(shape(2, 3), 1, 5, 3, 4, 2, 6);
        assertEquals(array(shape(3), 5, 7, 9), run(Reduce.sum(false, 0), x));
        assertEquals(array(shape(2, 1), 9, 12), run(Reduce.sum(true, -1), x));
        assertEquals(NDArray.scalar(21), run(Reduce.sum(false), x));
        assertEquals(array(shape(1, 1), 3.5), run(Reduce.mean(true), x));
        assertEquals(array(shape(2), 3, 4), run(Reduce.mean(false, 1), x));
        assertEquals(array(shape(3), 4, 5, 6), run(Reduce.max(false, 0), x));
        assertEquals(array(shape(2, 1), 1, 2), run(Reduce.min(true, 1), x));
        assertEquals(array(shape(1, 1), 6), run(Reduce.max(true), x));
        assertEquals(NDArray.scalar(3), run(Reduce.mean(false), NDArray.scalar(3)));
        // a 3-d middle axis
        NDArray y = array(shape(2, 2, 2), 1, 2, 3, 4, 5, 6, 7, 8);
        assertEquals(array(shape(2, 2), 4, 6, 12, 14), run(Reduce.sum(false, 1), y));
        assertEquals(array(shape(1, 2, 1), 1 + 2 + 5 + 6, 3 + 4 + 7 + 8), run(Reduce.sum(true, 0, 2), y));
    }

    @Test
    void maxAndMinGradientGoesToEveryTiedPosition() {
        NDArray x = array(shape(2, 3), 3, 1, 3, 0, 0, 2);
        List<NDArray> in = List.of(x);
        NDArray g = array(shape(2), 10, 20);
        NDArray dmax = ReduceKernel.backward(Reduce.max(false, 1), KernelTesting.ctx(in), in, null, List.of(g),
                new boolean[] {true}).get(0);
        assertEquals(array(shape(2, 3), 10, 0, 10, 0, 0, 20), dmax);
        NDArray dmin = ReduceKernel.backward(Reduce.min(false, 1), KernelTesting.ctx(in), in, null, List.of(g),
                new boolean[] {true}).get(0);
        assertEquals(array(shape(2, 3), 0, 10, 0, 20, 20, 0), dmin);
    }

    /** Columns {@code [from, to)} of a 2-d array. */
    private static NDArray columns(NDArray x, int from, int to) {
        int rows = (int) x.dim(0);
        int cols = (int) x.dim(1);
        NDArray s = NDArray.zeros(rows, to - from);
        for (int i = 0; i < rows; i++) {
            for (int j = from; j < to; j++) {
                s.set(i * (to - from) + j - from, x.get(i * cols + j));
            }
        }
        return s;
    }

    @ParameterizedTest
    @EnumSource(Reduce.Kind.class)
    void partialResultsOverASplitDimensionCombineToTheFullResult(Reduce.Kind kind) {
        Random r = KernelTesting.seeded("Reduce split " + kind);
        NDArray x = KernelTesting.random(r, 3, 8);
        for (int[] axes : new int[][] {{1}, {}}) {
            Reduce op = new Reduce(kind, axes, false);
            NDArray full = run(op, x);
            NDArray left = run(op, columns(x, 0, 4));
            NDArray right = run(op, columns(x, 4, 8));
            NDArray combined = NDArray.zeros(full.shape());
            for (int i = 0; i < combined.size(); i++) {
                double a = left.get(i);
                double b = right.get(i);
                double v;
                switch (kind) {
                    case SUM:
                        v = a + b;
                        break;
                    case MEAN:
                        // local means over equal local counts: their mean is the global mean
                        v = (a + b) / 2;
                        break;
                    case MAX:
                        v = Math.max(a, b);
                        break;
                    default:
                        v = Math.min(a, b);
                        break;
                }
                combined.set(i, v);
            }
            assertClose(full, combined, 1e-14);
        }
        // uneven parts still add up for a sum
        if (kind == Reduce.Kind.SUM) {
            Reduce op = Reduce.sum(true, 1);
            NDArray full = run(op, x);
            NDArray a = run(op, columns(x, 0, 3));
            NDArray b = run(op, columns(x, 3, 8));
            for (int i = 0; i < full.size(); i++) {
                assertEquals(full.get(i), a.get(i) + b.get(i), 1e-14);
            }
        }
    }

    @Test
    void meanDividesByTheLocalCount() {
        NDArray local = array(shape(1, 2), 2, 4);
        assertEquals(NDArray.scalar(3), run(Reduce.mean(false), local));
        List<NDArray> in = List.of(local);
        NDArray dx = ReduceKernel.backward(Reduce.mean(false), KernelTesting.ctx(in), in, null,
                List.of(NDArray.scalar(1)), new boolean[] {true}).get(0);
        assertEquals(array(shape(1, 2), 0.5, 0.5), dx);
    }

    @Test
    void rejectsBadAxes() {
        assertThrows(IllegalArgumentException.class, () -> run(Reduce.sum(false, 2), NDArray.zeros(2, 2)));
        assertThrows(IllegalArgumentException.class, () -> run(Reduce.sum(false, 0, -2), NDArray.zeros(2, 2)));
    }
}
