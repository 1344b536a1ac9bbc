package io.tessera.planner.op;

/**
 * One matrix product a kernel runs: {@code batch} independent products of an {@code (m, k)} by a {@code (k, n)}
 * matrix, giving {@code (m, n)}. The cost model prices it from its shape (tile and wave quantisation, a short
 * reduction, memory traffic), not from its FLOPs alone. Immutable.
 *
 * @param batch independent products, at least 1
 * @param m     rows of the result, at least 1
 * @param n     columns of the result, at least 1
 * @param k     the reduced dimension, at least 1
 */
public record Gemm(long batch, long m, long n, long k) {

    /** Validates that every size is at least 1. */
    public Gemm {
        if (batch < 1 || m < 1 || n < 1 || k < 1) {
            throw new IllegalArgumentException("gemm: found batch " + batch + ", m " + m + ", n " + n + ", k " + k
                    + "; expected every size >= 1");
        }
    }

    /** {@code batch} products of {@code (m, k) x (k, n)}. */
    public static Gemm of(long batch, long m, long n, long k) {
        return new Gemm(batch, m, n, k);
    }

    /** Multiply-adds counted twice: {@code 2 * batch * m * n * k} FLOPs. */
    public double flops() {
        return 2.0 * batch * m * n * k;
    }

    /** Elements read and written once each: both operands and the result, {@code batch * (mk + kn + mn)}. */
    public double elements() {
        return (double) batch * ((double) m * k + (double) k * n + (double) m * n);
    }
}
