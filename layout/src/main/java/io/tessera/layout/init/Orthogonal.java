package io.tessera.layout.init;

import io.tessera.layout.Box;
import io.tessera.layout.DType;
import io.tessera.layout.tensor.Tensor;
import org.apache.commons.math3.linear.Array2DRowRealMatrix;
import org.apache.commons.math3.linear.QRDecomposition;
import org.apache.commons.math3.linear.RealMatrix;
import org.apache.commons.rng.sampling.distribution.ZigguratSampler;

import java.util.OptionalLong;

/**
 * A (semi-)orthogonal matrix scaled by {@code gain} (MindSpore's {@code Orthogonal(gain=1)}): the tensor is viewed
 * as {@code rows = shape[0]} by {@code cols = size / rows}; a matrix of standard normals (counter-based, keyed by
 * (seed, flat index)) is QR-decomposed (transposed first when rows &lt; cols) with Commons Math, Q's columns are
 * multiplied by the signs of R's diagonal, and the result is transposed back. Rows (or columns) are orthonormal.
 *
 * <p><b>Exception to region-proportional memory:</b> Q depends on every element, so {@link #generate} computes the
 * whole matrix (memory O(rows * cols) doubles plus the QR workspace, time O(rows * cols * min(rows, cols))) and then
 * slices the region. The region is still bit-identical to the same region of the full tensor. Intended for
 * matrices up to a few thousand per side.
 *
 * @param gain scaling factor, finite (default 1)
 * @param seed explicit seed, or null to take one from the global seed when a {@link LazyTensor} is created
 */
public record Orthogonal(double gain, Long seed) implements Initializer {

    /** Validates gain finite. */
    public Orthogonal {
        Generation.checkFinite("Orthogonal", "gain", gain, false);
    }

    /** {@code Orthogonal(gain=1)}. */
    public Orthogonal() {
        this(1.0, null);
    }

    /** {@code Orthogonal(gain)}. */
    public Orthogonal(double gain) {
        this(gain, null);
    }

    /** This initializer with an explicit seed. */
    public Orthogonal withSeed(long newSeed) {
        return new Orthogonal(gain, newSeed);
    }

    @Override
    public String name() {
        return "Orthogonal";
    }

    @Override
    public OptionalLong explicitSeed() {
        return seed == null ? OptionalLong.empty() : OptionalLong.of(seed);
    }

    @Override
    public boolean isRandom() {
        return true;
    }

    @Override
    public void checkShape(long[] shape) {
        Generation.checkShape(name(), shape);
        if (shape.length < 2) {
            throw new IllegalArgumentException("Orthogonal: shape " + Tensor.shapeString(shape) + " has "
                    + shape.length + " dims; expected at least 2 (rows = shape[0], cols = the rest)");
        }
        long rows = shape[0];
        long cols = 1;
        for (int i = 1; i < shape.length; i++) {
            cols *= shape[i];
        }
        if (rows * cols > Integer.MAX_VALUE / 2) {
            throw new IllegalArgumentException("Orthogonal: shape " + Tensor.shapeString(shape) + " has "
                    + rows * cols + " elements; the whole matrix must be built for QR, so expected at most "
                    + Integer.MAX_VALUE / 2 + "; use a Normal or Xavier initializer for larger tensors");
        }
    }

    @Override
    public Tensor generate(long[] shape, DType dtype, long seed, Box region) {
        checkShape(shape);
        Generation.checkRegion(name(), shape, dtype, region);
        int rows = (int) shape[0];
        long total = 1;
        for (long s : shape) {
            total *= s;
        }
        int cols = rows == 0 ? 0 : (int) (total / rows);
        double[] values = new double[(int) total];
        if (rows > 0 && cols > 0) {
            Generation.ElementStream stream = new Generation.ElementStream(seed);
            ZigguratSampler.NormalizedGaussian gauss = ZigguratSampler.NormalizedGaussian.of(stream);
            boolean wide = rows < cols;
            int m = wide ? cols : rows;
            int n = wide ? rows : cols;
            double[][] a = new double[m][n];
            for (int r = 0; r < rows; r++) {
                for (int c = 0; c < cols; c++) {
                    stream.at((long) r * cols + c);
                    double z = gauss.sample();
                    if (wide) {
                        a[c][r] = z;
                    } else {
                        a[r][c] = z;
                    }
                }
            }
            QRDecomposition qr = new QRDecomposition(new Array2DRowRealMatrix(a, false));
            RealMatrix r = qr.getR();
            double[][] q = thinQ(a, qr, r, m, n);
            for (int j = 0; j < n; j++) {
                double sign = Math.signum(r.getEntry(j, j));
                for (int i = 0; i < m; i++) {
                    double v = gain * sign * q[i][j];
                    if (wide) {
                        values[j * cols + i] = v;
                    } else {
                        values[i * cols + j] = v;
                    }
                }
            }
        }
        return Tensor.of(dtype, shape, values).slice(region);
    }

    /**
     * The first {@code n} columns of Q of an {@code m x n} matrix (m >= n): Commons Math's Householder Q when it
     * is not much larger than A ({@code m <= 2n}), else {@code A R^-1} by triangular solves, which avoids the
     * {@code m x m} full Q of very tall matrices.
     */
    private static double[][] thinQ(double[][] a, QRDecomposition qr, RealMatrix r, int m, int n) {
        double[][] q = new double[m][n];
        if (m <= 2L * n) {
            RealMatrix full = qr.getQ();
            for (int i = 0; i < m; i++) {
                for (int j = 0; j < n; j++) {
                    q[i][j] = full.getEntry(i, j);
                }
            }
            return q;
        }
        for (int i = 0; i < m; i++) {
            for (int j = 0; j < n; j++) {
                double x = a[i][j];
                for (int k = 0; k < j; k++) {
                    x -= q[i][k] * r.getEntry(k, j);
                }
                q[i][j] = x / r.getEntry(j, j);
            }
        }
        return q;
    }
}
