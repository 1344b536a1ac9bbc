package io.tessera.simulator.kernel;

import io.tessera.planner.op.MatMul;
import io.tessera.simulator.array.NDArray;

import java.util.Arrays;
import java.util.List;

/**
 * {@code MatMul} / {@code BatchMatMul}: {@code A (..., m, k) x B (..., k, n)} with optional transposes and batch
 * dimensions right-aligned and broadcast. On a slice whose k is split, the output is the partial sum over the local k
 * range (the simulator reduces it). The inner product is a blocked i-k-j loop over row-major panels; transposed
 * operands are packed to row-major first.
 */
public final class MatMulKernel {

    private static final String NAME = "MatMulKernel";
    /** Rows of B (the contracted range) per block. */
    private static final int KC = 128;
    /** Columns of B and C per block: a KC x NC panel of B (512 KiB) stays in cache across the rows of A. */
    private static final int NC = 512;
    /** Tile edge of the packing transpose. */
    private static final int TILE = 32;

    private MatMulKernel() {
    }

    /** {@code op(A) x op(B)} with the broadcast batch shape. */
    public static List<NDArray> forward(MatMul op, KernelContext ctx, List<NDArray> inputs) {
        Shapes.checkInputs(NAME, inputs, 2);
        return List.of(matmul(inputs.get(0), op.transposeA(), inputs.get(1), op.transposeB()));
    }

    /**
     * Gradients of A and B (null where {@code needsGrad[i]} is false), summed over the batch dimensions each was
     * broadcast along; a missing output gradient counts as zeros.
     */
    public static List<NDArray> backward(MatMul op, KernelContext ctx, List<NDArray> inputs, List<NDArray> outputs,
                                         List<NDArray> outputGrads, boolean[] needsGrad) {
        Shapes.checkBackward(NAME, inputs, 2, outputGrads, 1, needsGrad);
        NDArray a = inputs.get(0);
        NDArray b = inputs.get(1);
        boolean ta = op.transposeA();
        boolean tb = op.transposeB();
        long[] outShape = outShape(a.shape(), ta, b.shape(), tb);
        NDArray g = Shapes.outputGrad(NAME, outputGrads, 0, outShape);
        NDArray[] grads = Shapes.gradients(2);
        for (int i = 0; i < 2; i++) {
            if (needsGrad[i] && g == null) {
                grads[i] = NDArray.zeros(inputs.get(i).shape());
            }
        }
        if (g == null) {
            return Shapes.list(grads);
        }
        if (needsGrad[0]) {
            // a = op(A), b = op(B): da = g b^T; A = a^T when transposed, so dA = b g^T
            NDArray da = ta ? matmul(b, tb, g, true) : matmul(g, false, b, !tb);
            grads[0] = Shapes.sumTo(da, a.shape());
        }
        if (needsGrad[1]) {
            // db = a^T g; B = b^T when transposed, so dB = g^T a
            NDArray db = tb ? matmul(g, true, a, ta) : matmul(a, !ta, g, false);
            grads[1] = Shapes.sumTo(db, b.shape());
        }
        return Shapes.list(grads);
    }

    /** The output shape of {@code op(A) x op(B)}; checks ranks, k and the batch broadcast. */
    static long[] outShape(long[] a, boolean ta, long[] b, boolean tb) {
        if (a.length < 2 || b.length < 2) {
            throw new IllegalArgumentException(NAME + ": inputs " + Arrays.toString(a) + " and " + Arrays.toString(b)
                    + " need at least 2 dims each");
        }
        int ra = a.length;
        int rb = b.length;
        long m = ta ? a[ra - 1] : a[ra - 2];
        long ka = ta ? a[ra - 2] : a[ra - 1];
        long kb = tb ? b[rb - 1] : b[rb - 2];
        long n = tb ? b[rb - 2] : b[rb - 1];
        if (ka != kb) {
            throw new IllegalArgumentException(NAME + ": input 0 " + Arrays.toString(a) + " has k = " + ka
                    + " but input 1 " + Arrays.toString(b) + " has k = " + kb + " (transpose_a=" + ta
                    + ", transpose_b=" + tb + ")");
        }
        long[] batch = Shapes.broadcast(NAME, Arrays.copyOf(a, ra - 2), Arrays.copyOf(b, rb - 2));
        long[] out = Arrays.copyOf(batch, batch.length + 2);
        out[batch.length] = m;
        out[batch.length + 1] = n;
        return out;
    }

    /** {@code op(A) x op(B)}, batched with right-aligned broadcast batch dimensions. */
    static NDArray matmul(NDArray a, boolean ta, NDArray b, boolean tb) {
        long[] sa = a.shape();
        long[] sb = b.shape();
        long[] shape = outShape(sa, ta, sb, tb);
        int ra = sa.length;
        int rb = sb.length;
        int m = Math.toIntExact(shape[shape.length - 2]);
        int n = Math.toIntExact(shape[shape.length - 1]);
        int k = Math.toIntExact(ta ? sa[ra - 2] : sa[ra - 1]);
        NDArray out = NDArray.zeros(shape);
        if (m == 0 || n == 0 || k == 0) {
            return out;
        }
        long[] batch = Arrays.copyOf(shape, shape.length - 2);
        long batches = NDArray.count(batch);
        int[] strideA = Shapes.broadcastStrides(Arrays.copyOf(sa, ra - 2), batch);
        int[] strideB = Shapes.broadcastStrides(Arrays.copyOf(sb, rb - 2), batch);
        int matA = m * k;
        int matB = k * n;
        double[] packA = ta ? new double[matA] : null;
        double[] packB = tb ? new double[matB] : null;
        int packedA = -1;
        int packedB = -1;
        int[] index = new int[batch.length];
        int offA = 0;
        int offB = 0;
        double[] c = out.data();
        for (long t = 0; t < batches; t++) {
            double[] pa = a.data();
            int oa = offA * matA;
            if (ta) {
                if (packedA != offA) {
                    transpose(a.data(), oa, k, m, packA);
                    packedA = offA;
                }
                pa = packA;
                oa = 0;
            }
            double[] pb = b.data();
            int ob = offB * matB;
            if (tb) {
                if (packedB != offB) {
                    transpose(b.data(), ob, n, k, packB);
                    packedB = offB;
                }
                pb = packB;
                ob = 0;
            }
            gemm(pa, oa, pb, ob, c, Math.toIntExact(t * m * n), m, k, n);
            // next batch index (odometer), tracking the matrix index of each operand
            for (int d = batch.length - 1; d >= 0; d--) {
                index[d]++;
                offA += strideA[d];
                offB += strideB[d];
                if (index[d] < batch[d]) {
                    break;
                }
                offA -= strideA[d] * index[d];
                offB -= strideB[d] * index[d];
                index[d] = 0;
            }
        }
        return out;
    }

    /** Writes the transpose of the {@code rows x cols} row-major matrix at {@code src[off]} into {@code dst}. */
    private static void transpose(double[] src, int off, int rows, int cols, double[] dst) {
        for (int r0 = 0; r0 < rows; r0 += TILE) {
            int r1 = Math.min(rows, r0 + TILE);
            for (int c0 = 0; c0 < cols; c0 += TILE) {
                int c1 = Math.min(cols, c0 + TILE);
                for (int r = r0; r < r1; r++) {
                    int s = off + r * cols;
                    for (int col = c0; col < c1; col++) {
                        dst[col * rows + r] = src[s + col];
                    }
                }
            }
        }
    }

    /**
     * {@code C += A x B} for row-major {@code A (m, k)}, {@code B (k, n)}, {@code C (m, n)} at the given offsets:
     * blocked over k and n, i-k-j order inside a block, four rows of B per pass over a row of C.
     */
    static void gemm(double[] a, int ao, double[] b, int bo, double[] c, int co, int m, int k, int n) {
        for (int j0 = 0; j0 < n; j0 += NC) {
            int j1 = Math.min(n, j0 + NC);
            for (int p0 = 0; p0 < k; p0 += KC) {
                int p1 = Math.min(k, p0 + KC);
                for (int i = 0; i < m; i++) {
                    int ci = co + i * n;
                    int ai = ao + i * k;
                    int p = p0;
                    for (; p + 3 < p1; p += 4) {
                        double a0 = a[ai + p];
                        double a1 = a[ai + p + 1];
                        double a2 = a[ai + p + 2];
                        double a3 = a[ai + p + 3];
                        int b0 = bo + p * n;
                        int b1 = b0 + n;
                        int b2 = b1 + n;
                        int b3 = b2 + n;
                        for (int j = j0; j < j1; j++) {
                            c[ci + j] += a0 * b[b0 + j] + a1 * b[b1 + j] + a2 * b[b2 + j] + a3 * b[b3 + j];
                        }
                    }
                    for (; p < p1; p++) {
                        double av = a[ai + p];
                        int b0 = bo + p * n;
                        for (int j = j0; j < j1; j++) {
                            c[ci + j] += av * b[b0 + j];
                        }
                    }
                }
            }
        }
    }
}
