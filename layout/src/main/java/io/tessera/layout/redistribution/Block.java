package io.tessera.layout.redistribution;

import io.tessera.layout.Box;

import java.util.Arrays;
import java.util.List;
import java.util.function.ToDoubleFunction;

/**
 * A box of a tensor held by one rank, with its elements in row-major order. The array is copied in and out.
 *
 * @param box  the region of the global tensor
 * @param data {@code box.volume()} values, row-major over the box
 */
public record Block(Box box, double[] data) {

    /** Validates that the data length equals the box volume. */
    public Block {
        if (box == null || data == null) {
            throw new IllegalArgumentException("Block: box and data are required");
        }
        if (box.volume() != data.length) {
            throw new IllegalArgumentException("Block: box " + box + " holds " + box.volume() + " elements but "
                    + data.length + " values were given");
        }
        data = data.clone();
    }

    /** A block from a box and its row-major values. */
    public static Block of(Box box, double[] data) {
        return new Block(box, data);
    }

    /** A block whose element at global index {@code idx} is {@code f(idx)}. */
    public static Block fill(Box box, ToDoubleFunction<long[]> f) {
        long volume = box.volume();
        double[] d = new double[Math.toIntExact(volume)];
        long[] idx = box.start();
        for (int k = 0; k < d.length; k++) {
            d[k] = f.applyAsDouble(idx.clone());
            for (int i = idx.length - 1; i >= 0; i--) {
                if (++idx[i] < box.end(i)) {
                    break;
                }
                idx[i] = box.start(i);
            }
        }
        return new Block(box, d);
    }

    @Override
    public double[] data() {
        return data.clone();
    }

    /** The sub-block over {@code region}, which must lie inside this block. */
    public Block region(Box region) {
        if (!box.contains(region)) {
            throw new IllegalArgumentException("Block " + box + " does not contain the region " + region);
        }
        double[] out = new double[Math.toIntExact(region.volume())];
        copy(box, data, region, out, region);
        return new Block(region, out);
    }

    /**
     * Assembles {@code target} from {@code parts}: each element is taken from a part containing it (later parts win
     * where parts overlap).
     *
     * @throws IllegalStateException naming the first element no part covers
     */
    public static Block assemble(Box target, List<Block> parts) {
        double[] out = new double[Math.toIntExact(target.volume())];
        boolean[] covered = new boolean[out.length];
        for (Block p : parts) {
            Box overlap = p.box.intersect(target);
            if (overlap.isEmpty()) {
                continue;
            }
            copy(p.box, p.data, target, out, overlap);
            markCovered(target, covered, overlap);
        }
        for (int k = 0; k < covered.length; k++) {
            if (!covered[k]) {
                throw new IllegalStateException("cannot assemble " + target + ": element "
                        + Arrays.toString(unflatten(target, k)) + " is in none of the " + parts.size() + " blocks held");
            }
        }
        return new Block(target, out);
    }

    /** Copies {@code region} (inside both boxes) from {@code src} laid out over {@code srcBox} into {@code dst}. */
    static void copy(Box srcBox, double[] src, Box dstBox, double[] dst, Box region) {
        int n = region.rank();
        if (n == 0) {
            dst[0] = src[0];
            return;
        }
        long[] srcStride = strides(srcBox);
        long[] dstStride = strides(dstBox);
        int run = Math.toIntExact(region.extent(n - 1));
        long[] idx = region.start();
        long rows = region.volume() / run;
        for (long r = 0; r < rows; r++) {
            long so = 0;
            long d0 = 0;
            for (int i = 0; i < n; i++) {
                so += (idx[i] - srcBox.start(i)) * srcStride[i];
                d0 += (idx[i] - dstBox.start(i)) * dstStride[i];
            }
            System.arraycopy(src, (int) so, dst, (int) d0, run);
            for (int i = n - 2; i >= 0; i--) {
                if (++idx[i] < region.end(i)) {
                    break;
                }
                idx[i] = region.start(i);
            }
        }
    }

    private static void markCovered(Box target, boolean[] covered, Box region) {
        int n = region.rank();
        if (n == 0) {
            covered[0] = true;
            return;
        }
        long[] stride = strides(target);
        int run = Math.toIntExact(region.extent(n - 1));
        long[] idx = region.start();
        long rows = region.volume() / run;
        for (long r = 0; r < rows; r++) {
            long o = 0;
            for (int i = 0; i < n; i++) {
                o += (idx[i] - target.start(i)) * stride[i];
            }
            Arrays.fill(covered, (int) o, (int) o + run, true);
            for (int i = n - 2; i >= 0; i--) {
                if (++idx[i] < region.end(i)) {
                    break;
                }
                idx[i] = region.start(i);
            }
        }
    }

    private static long[] strides(Box b) {
        long[] s = new long[b.rank()];
        long acc = 1;
        for (int i = s.length - 1; i >= 0; i--) {
            s[i] = acc;
            acc *= b.extent(i);
        }
        return s;
    }

    private static long[] unflatten(Box b, long k) {
        long[] idx = new long[b.rank()];
        for (int i = idx.length - 1; i >= 0; i--) {
            idx[i] = b.start(i) + k % b.extent(i);
            k /= b.extent(i);
        }
        return idx;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Block b && box.equals(b.box) && Arrays.equals(data, b.data);
    }

    @Override
    public int hashCode() {
        return box.hashCode() * 31 + Arrays.hashCode(data);
    }

    @Override
    public String toString() {
        return "Block" + box + " (" + data.length + " values)";
    }
}
