package io.tessera.layout;

import io.tessera.layout.DType;
import io.tessera.layout.DeviceMatrix;
import io.tessera.layout.Layout;
import io.tessera.layout.TensorMap;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * Seeded random layouts and redistribution cases for benchmarks and differential tests: 1 to 64 devices, 1 to 4
 * tensor dimensions, device matrices of 1 to 4 dimensions (size-1 dimensions included), list entries in tensor maps,
 * and source and target device matrices of different shapes over the same device count.
 */
public final class RandomLayouts {

    /** Device counts drawn from: every count from 1 to 64 with many divisors, weighted toward powers of two. */
    private static final int[] DEVICES = {1, 2, 3, 4, 4, 6, 8, 8, 8, 12, 16, 16, 16, 24, 32, 32, 48, 64, 64};

    /** Largest tensor volume generated, in elements. */
    public static final long MAX_VOLUME = 1 << 15;

    /**
     * One random redistribution case.
     *
     * @param from  source layout
     * @param to    target layout, same shape and device count
     * @param dtype element type
     */
    public record Case(Layout from, Layout to, DType dtype) {
    }

    private final SplittableRandom rnd;

    private RandomLayouts(long seed) {
        this.rnd = new SplittableRandom(seed);
    }

    /** A generator seeded with {@code seed}: the same seed gives the same sequence. */
    public static RandomLayouts seeded(long seed) {
        return new RandomLayouts(seed);
    }

    /** The next random redistribution case. */
    public Case nextCase() {
        while (true) {
            int devices = DEVICES[rnd.nextInt(DEVICES.length)];
            int dims = 1 + rnd.nextInt(4);
            DeviceMatrix a = randomMatrix(devices);
            DeviceMatrix b = rnd.nextInt(3) == 0 ? a : randomMatrix(devices);
            List<int[]> mapA = randomMap(a, dims);
            List<int[]> mapB = randomMap(b, dims);
            long[] shape = new long[dims];
            long volume = 1;
            for (int i = 0; i < dims; i++) {
                long sa = splits(a, mapA.get(i));
                long sb = splits(b, mapB.get(i));
                shape[i] = lcm(sa, sb) * (1 + rnd.nextInt(3));
                volume *= shape[i];
            }
            if (volume > MAX_VOLUME) {
                continue;
            }
            DType dtype = rnd.nextBoolean() ? DType.FLOAT32 : (rnd.nextBoolean() ? DType.FLOAT16 : DType.FLOAT64);
            return new Case(Layout.of(a, toMap(mapA), shape), Layout.of(b, toMap(mapB), shape), dtype);
        }
    }

    /** A random valid layout over {@code devices} devices with {@code dims} tensor dimensions. */
    public Layout nextLayout(int devices, int dims) {
        DeviceMatrix m = randomMatrix(devices);
        List<int[]> map = randomMap(m, dims);
        long[] shape = new long[dims];
        for (int i = 0; i < dims; i++) {
            shape[i] = splits(m, map.get(i)) * (1 + rnd.nextInt(3));
        }
        return Layout.of(m, toMap(map), shape);
    }

    private DeviceMatrix randomMatrix(int devices) {
        List<Integer> factors = new ArrayList<>();
        int rest = devices;
        for (int p = 2; p <= rest; p++) {
            while (rest % p == 0) {
                factors.add(p);
                rest /= p;
            }
        }
        int rank = 1 + rnd.nextInt(4);
        int[] dims = new int[rank];
        java.util.Arrays.fill(dims, 1);
        for (int f : factors) {
            dims[rnd.nextInt(rank)] *= f;
        }
        return DeviceMatrix.of(dims);
    }

    /** For each tensor dim, the map values (device dims counted from the right) splitting it, outermost first. */
    private List<int[]> randomMap(DeviceMatrix m, int dims) {
        List<List<Integer>> per = new ArrayList<>();
        for (int i = 0; i < dims; i++) {
            per.add(new ArrayList<>());
        }
        for (int axis = 0; axis < m.rank(); axis++) {
            int choice = rnd.nextInt(dims + 1);
            if (choice < dims) {
                List<Integer> l = per.get(choice);
                l.add(rnd.nextInt(l.size() + 1), axis);
            }
        }
        List<int[]> out = new ArrayList<>();
        for (List<Integer> l : per) {
            out.add(l.stream().mapToInt(Integer::intValue).toArray());
        }
        return out;
    }

    private TensorMap toMap(List<int[]> map) {
        List<TensorMap.Entry> entries = new ArrayList<>();
        for (int[] axes : map) {
            if (axes.length == 0) {
                entries.add(TensorMap.notSplit());
            } else if (axes.length == 1 && rnd.nextInt(4) != 0) {
                entries.add(TensorMap.Entry.of(axes[0]));
            } else {
                entries.add(TensorMap.Entry.of(axes));
            }
        }
        return TensorMap.of(entries);
    }

    private static long splits(DeviceMatrix m, int[] axes) {
        long p = 1;
        for (int a : axes) {
            p *= m.dim(m.rank() - 1 - a);
        }
        return p;
    }

    private static long lcm(long a, long b) {
        long x = a;
        long y = b;
        while (y != 0) {
            long t = x % y;
            x = y;
            y = t;
        }
        return a / x * b;
    }
}
