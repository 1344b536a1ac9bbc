package io.tessera.simulator.kernel;

import io.tessera.planner.op.MatMul;
import io.tessera.simulator.array.NDArray;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;

import static io.tessera.simulator.kernel.KernelTesting.array;
import static io.tessera.simulator.kernel.KernelTesting.assertClose;
import static io.tessera.simulator.kernel.KernelTesting.shape;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

class MatMulKernelTest {

    private static List<NDArray> run(MatMul op, List<NDArray> in) {
        return MatMulKernel.forward(op, KernelTesting.ctx(in), in);
    }

    /** Logical (m, k) / (k, n) shapes stored per the transposes, batch dims in front. */
    private static long[] stored(long[] batch, long rows, long cols, boolean transposed) {
        long[] s = Arrays.copyOf(batch, batch.length + 2);
        s[batch.length] = transposed ? cols : rows;
        s[batch.length + 1] = transposed ? rows : cols;
        return s;
    }

    /** A naive reference: element by element with explicit index arithmetic. */
    private static NDArray naive(NDArray a, boolean ta, NDArray b, boolean tb) {
        long[] sa = a.shape();
        long[] sb = b.shape();
        long[] out = MatMulKernel.outShape(sa, ta, sb, tb);
        int r = out.length;
        int m = (int) out[r - 2];
        int n = (int) out[r - 1];
        int k = (int) (ta ? sa[sa.length - 2] : sa[sa.length - 1]);
        NDArray c = NDArray.zeros(out);
        long[] batch = Arrays.copyOf(out, r - 2);
        int batches = (int) NDArray.count(batch);
        for (int t = 0; t < batches; t++) {
            long[] idx = new long[batch.length];
            int rest = t;
            for (int d = batch.length - 1; d >= 0; d--) {
                idx[d] = rest % batch[d];
                rest /= (int) batch[d];
            }
            int matA = matrixIndex(idx, sa);
            int matB = matrixIndex(idx, sb);
            for (int i = 0; i < m; i++) {
                for (int j = 0; j < n; j++) {
                    double acc = 0;
                    for (int p = 0; p < k; p++) {
                        double av = ta ? a.get(matA * m * k + p * m + i) : a.get(matA * m * k + i * k + p);
                        double bv = tb ? b.get(matB * k * n + j * k + p) : b.get(matB * k * n + p * n + j);
                        acc += av * bv;
                    }
                    c.set(t * m * n + i * n + j, acc);
                }
            }
        }
        return c;
    }

    private static int matrixIndex(long[] idx, long[] s) {
        int own = s.length - 2;
        int shift = idx.length - own;
        int index = 0;
        for (int d = 0; d < own; d++) {
            index = index * (int) s[d] + (s[d] == 1 ? 0 : (int) idx[d + shift]);
        }
        return index;
    }

    @Test
    void forwardHandComputed() {
        NDArray a = array(shape(2, 3), 1, 2, 3, 4, 5, 6);
        NDArray b = array(shape(3, 2), 7, 8, 9, 10, 11, 12);
        assertEquals(array(shape(2, 2), 58, 64, 139, 154), run(MatMul.of(false, false), List.of(a, b)).get(0));
        // A stored (k, m) = the transpose of [[1, 2, 3], [4, 5, 6]]; B stored (n, k)
        NDArray at = array(shape(3, 2), 1, 4, 2, 5, 3, 6);
        NDArray bt = array(shape(2, 3), 7, 9, 11, 8, 10, 12);
        assertEquals(array(shape(2, 2), 58, 64, 139, 154), run(MatMul.of(true, true), List.of(at, bt)).get(0));
        // batched: two batches of [[1, 2]] x [[1], [1]] times the batch index
        NDArray ba = array(shape(2, 1, 2), 1, 2, 3, 4);
        NDArray bb = array(shape(2, 2, 1), 1, 1, 2, 2);
        assertEquals(array(shape(2, 1, 1), 3, 14), run(MatMul.batched(false, false), List.of(ba, bb)).get(0));
    }

    static Stream<Arguments> cases() {
        List<Arguments> list = new ArrayList<>();
        long[][][] batches = {
            {{}, {}},
            {{3}, {}},
            {{}, {2}},
            {{2}, {2}},
            {{2, 1}, {3}},
            {{1, 3}, {2, 1}},
            {{2, 3}, {2, 3}},
        };
        for (long[][] bs : batches) {
            for (int t = 0; t < 4; t++) {
                list.add(Arguments.of(bs[0], bs[1], (t & 1) != 0, (t & 2) != 0));
            }
        }
        return list.stream();
    }

    @ParameterizedTest(name = "batch {0} x {1}, transpose_a={2}, transpose_b={3}")
    @MethodSource("cases")
    void forwardMatchesNaiveAndOperatorShapes(long[] batchA, long[] batchB, boolean ta, boolean tb) {
        Random r = KernelTesting.seeded("MatMul forward");
        NDArray a = KernelTesting.random(r, stored(batchA, 3, 4, ta));
        NDArray b = KernelTesting.random(r, stored(batchB, 4, 5, tb));
        MatMul op = new MatMul(ta, tb, batchA.length + batchB.length > 0);
        List<NDArray> out = run(op, List.of(a, b));
        KernelTesting.assertShapes(op, List.of(a, b), out);
        assertClose(naive(a, ta, b, tb), out.get(0), 1e-12);
    }

    @ParameterizedTest(name = "transpose_a={0}, transpose_b={1}")
    @MethodSource("transposes")
    void splitKPartialOutputsSumToTheFullOutput(boolean ta, boolean tb) {
        Random r = KernelTesting.seeded("MatMul split k");
        int m = 5;
        int k = 8;
        int n = 3;
        NDArray a = KernelTesting.random(r, shape(m, k));
        NDArray b = KernelTesting.random(r, shape(k, n));
        MatMul op = MatMul.of(ta, tb);
        NDArray full = run(op, List.of(stored(a, ta), stored(b, tb))).get(0);
        NDArray sum = NDArray.zeros(m, n);
        for (int half = 0; half < 2; half++) {
            NDArray ah = slice(a, 1, half * k / 2, k / 2);
            NDArray bh = slice(b, 0, half * k / 2, k / 2);
            NDArray part = run(op, List.of(stored(ah, ta), stored(bh, tb))).get(0);
            for (int i = 0; i < sum.size(); i++) {
                sum.set(i, sum.get(i) + part.get(i));
            }
        }
        assertClose(full, sum, 1e-12);
    }

    static Stream<Arguments> transposes() {
        return Stream.of(Arguments.of(false, false), Arguments.of(true, false), Arguments.of(false, true),
                Arguments.of(true, true));
    }

    /** The logical 2-d matrix {@code x} stored transposed when asked. */
    private static NDArray stored(NDArray x, boolean transposed) {
        if (!transposed) {
            return x;
        }
        int rows = (int) x.dim(0);
        int cols = (int) x.dim(1);
        NDArray t = NDArray.zeros(cols, rows);
        for (int i = 0; i < rows; i++) {
            for (int j = 0; j < cols; j++) {
                t.set(j * rows + i, x.get(i * cols + j));
            }
        }
        return t;
    }

    /** Columns (dim 1) or rows (dim 0) {@code [start, start + len)} of a 2-d array. */
    private static NDArray slice(NDArray x, int dim, int start, int len) {
        int rows = (int) x.dim(0);
        int cols = (int) x.dim(1);
        int outRows = dim == 0 ? len : rows;
        int outCols = dim == 1 ? len : cols;
        NDArray s = NDArray.zeros(outRows, outCols);
        for (int i = 0; i < outRows; i++) {
            for (int j = 0; j < outCols; j++) {
                int si = dim == 0 ? i + start : i;
                int sj = dim == 1 ? j + start : j;
                s.set(i * outCols + j, x.get(si * cols + sj));
            }
        }
        return s;
    }

    @Test
    void blockedLoopMatchesNaiveAcrossBlockEdges() {
        Random r = KernelTesting.seeded("MatMul blocks");
        // k and n cross the 128 / 256 block edges, k is not a multiple of the unroll
        NDArray a = KernelTesting.random(r, shape(2, 7, 259));
        NDArray b = KernelTesting.random(r, shape(259, 263));
        for (int t = 0; t < 2; t++) {
            MatMul op = MatMul.batched(false, false);
            assertClose(naive(a, false, b, false), run(op, List.of(a, b)).get(0), 1e-11);
        }
        NDArray at = KernelTesting.random(r, shape(131, 9));
        NDArray bt = KernelTesting.random(r, shape(300, 131));
        assertClose(naive(at, true, bt, true), run(MatMul.of(true, true), List.of(at, bt)).get(0), 1e-11);
    }

    @Test
    void rejectsMismatchedContraction() {
        NDArray a = NDArray.zeros(2, 3);
        NDArray b = NDArray.zeros(4, 2);
        assertThrows(IllegalArgumentException.class, () -> run(MatMul.of(false, false), List.of(a, b)));
        assertThrows(IllegalArgumentException.class, () -> run(MatMul.batched(false, false),
                List.of(NDArray.zeros(2, 2, 3), NDArray.zeros(3, 3, 2))));
    }
}
