package io.tessera.layout;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * Seeded randomised differential tests: {@link Layout} and {@link DeviceMatrix} against a naive reference written in
 * this class from the words of spec layouts.md sections 1 and 2 (it calls none of the helpers under test). The base
 * seed is printed; rerun a failure with {@code -Dtessera.seed=<base seed>}.
 */
class LayoutDifferentialTest {

    private static final long BASE_SEED = 20240611L;
    private static final int CASES = 2000;
    private static final int MAX_DEVICES = 64;
    /** Device dimension sizes to draw from; 1 is frequent so that size-1 dims are common. */
    private static final int[] DEV_SIZES = {1, 1, 1, 2, 2, 2, 3, 3, 4, 4, 5, 6, 7, 8, 16, 32, 64};

    /** A random layout as plain data: the reference reads only these fields. */
    private record Case(int[] dev, int[][] axes, boolean[] asList, long[] shape) {
        TensorMap tensorMap() {
            List<TensorMap.Entry> entries = new ArrayList<>();
            for (int i = 0; i < axes.length; i++) {
                if (axes[i].length == 0) {
                    entries.add(TensorMap.notSplit());
                } else if (axes[i].length == 1 && !asList[i]) {
                    entries.add(TensorMap.Entry.of(axes[i][0]));
                } else {
                    entries.add(TensorMap.Entry.of(axes[i]));
                }
            }
            return TensorMap.of(entries);
        }

        Layout layout() {
            return Layout.of(DeviceMatrix.of(dev), tensorMap(), shape);
        }

        @Override
        public String toString() {
            return "dev " + Arrays.toString(dev) + " map " + tensorMap() + " shape " + Arrays.toString(shape);
        }
    }

    private static long baseSeed() {
        return Long.getLong("tessera.seed", BASE_SEED);
    }

    @Test
    void randomLayoutsAgreeWithTheNaiveReference() {
        long base = baseSeed();
        System.out.println("LayoutDifferentialTest.randomLayoutsAgreeWithTheNaiveReference: base seed " + base
                + " (rerun with -Dtessera.seed=" + base + ")");
        SplittableRandom master = new SplittableRandom(base);
        int withList = 0;
        int withUnitDim = 0;
        int allUnit = 0;
        int repeated = 0;
        int scalar = 0;
        int multiSliceAndRepeated = 0;
        for (int k = 0; k < CASES; k++) {
            long seed = master.nextLong();
            Case c = randomCase(new SplittableRandom(seed));
            String ctx = "case " + k + " (seed " + seed + ", base seed " + base + "): " + c;
            check(c, ctx);

            if (Arrays.stream(c.axes).anyMatch(a -> a.length > 1)) {
                withList++;
            }
            if (Arrays.stream(c.dev).anyMatch(d -> d == 1)) {
                withUnitDim++;
            }
            if (Arrays.stream(c.dev).allMatch(d -> d == 1)) {
                allUnit++;
            }
            long rep = refRepeatedCount(c);
            if (rep > 1) {
                repeated++;
                if (refSliceCount(c) > 1) {
                    multiSliceAndRepeated++;
                }
            }
            if (c.shape.length == 0) {
                scalar++;
            }
        }
        // the generator must exercise the interesting shapes, or the comparison above proves little
        String mix = "lists " + withList + ", unit dims " + withUnitDim + ", all-unit " + allUnit + ", repeated "
                + repeated + ", sliced and repeated " + multiSliceAndRepeated + ", 0-d " + scalar;
        System.out.println("LayoutDifferentialTest: " + CASES + " layouts; " + mix);
        assertTrue(withList >= CASES / 20, mix);
        assertTrue(withUnitDim >= CASES / 5, mix);
        assertTrue(allUnit >= 1, mix);
        assertTrue(repeated >= CASES / 10, mix);
        assertTrue(multiSliceAndRepeated >= CASES / 20, mix);
        assertTrue(scalar >= 1, mix);
    }

    @Test
    void randomStrategiesAgreeWithSection2() {
        long base = baseSeed();
        System.out.println("LayoutDifferentialTest.randomStrategiesAgreeWithSection2: base seed " + base
                + " (rerun with -Dtessera.seed=" + base + ")");
        SplittableRandom master = new SplittableRandom(base ^ 0x5EC7102L);
        int appended = 0;
        for (int k = 0; k < CASES; k++) {
            long seed = master.nextLong();
            SplittableRandom rnd = new SplittableRandom(seed);
            int n = rnd.nextInt(5);
            int[] strategy = new int[n];
            long[] shape = new long[n];
            int covered = 1;
            for (int i = 0; i < n; i++) {
                strategy[i] = covered * 4 > MAX_DEVICES ? 1 : 1 + rnd.nextInt(4);
                covered *= strategy[i];
                shape[i] = (long) strategy[i] * (1 + rnd.nextInt(5));
            }
            int quotient = 1 + rnd.nextInt(4);
            int stage = covered * quotient;
            String ctx = "case " + k + " (seed " + seed + ", base seed " + base + "): shape " + Arrays.toString(shape)
                    + " strategy " + Arrays.toString(strategy) + " stage " + stage;

            Layout l = Layout.fromStrategy(shape, strategy, stage);

            // spec §2: dev = strategy, plus the quotient as a new rightmost dim when the strategy covers fewer devices
            int[] dev = quotient > 1 ? Arrays.copyOf(strategy, n + 1) : strategy.clone();
            if (quotient > 1) {
                dev[n] = quotient;
                appended++;
            }
            if (dev.length == 0) {
                dev = new int[] {stage};
            }
            assertArrayEquals(dev, l.devMatrix().dims(), ctx);
            // tensor dim i is split over device dim i; map values count from the right
            int[] map = new int[n];
            for (int i = 0; i < n; i++) {
                map[i] = dev.length - 1 - i;
            }
            assertArrayEquals(map, l.tensorMap().values(), ctx);
            for (int i = 0; i < n; i++) {
                assertEquals(shape[i] / strategy[i], l.sliceShape()[i], ctx + " slice dim " + i);
            }
            assertEquals(stage, l.deviceCount(), ctx);
            assertEquals(quotient, l.repeatedCount(), ctx);
            for (int r = 0; r < stage; r++) {
                int[] coord = refCoord(dev, r);
                long[] sc = l.sliceCoordinates(r);
                for (int i = 0; i < n; i++) {
                    assertEquals(coord[i], sc[i], ctx + " rank " + r + " dim " + i);
                }
            }
        }
        assertTrue(appended >= CASES / 2, "cases with an appended repeated dim: " + appended);
    }

    // ---------------------------------------------------------------------------------------------------------------
    // generator

    private static Case randomCase(SplittableRandom rnd) {
        int[] dev;
        do {
            dev = new int[1 + rnd.nextInt(4)];
            for (int i = 0; i < dev.length; i++) {
                dev[i] = DEV_SIZES[rnd.nextInt(DEV_SIZES.length)];
            }
        } while (product(dev) > MAX_DEVICES);

        int tensorRank = rnd.nextInt(40) == 0 ? 0 : 1 + rnd.nextInt(4);
        List<List<Integer>> assigned = new ArrayList<>();
        for (int i = 0; i < tensorRank; i++) {
            assigned.add(new ArrayList<>());
        }
        if (tensorRank > 0) {
            for (int axis = 0; axis < dev.length; axis++) {
                if (rnd.nextInt(10) < 7) {
                    assigned.get(rnd.nextInt(tensorRank)).add(axis);
                }
            }
        }
        int[][] axes = new int[tensorRank][];
        boolean[] asList = new boolean[tensorRank];
        long[] shape = new long[tensorRank];
        for (int i = 0; i < tensorRank; i++) {
            List<Integer> a = assigned.get(i);
            // random order: the first listed is the outermost, so the order matters
            for (int j = a.size() - 1; j > 0; j--) {
                int s = rnd.nextInt(j + 1);
                Integer t = a.get(j);
                a.set(j, a.get(s));
                a.set(s, t);
            }
            axes[i] = a.stream().mapToInt(Integer::intValue).toArray();
            asList[i] = axes[i].length > 1 || (axes[i].length == 1 && rnd.nextInt(5) == 0);
            long splits = 1;
            for (int m : axes[i]) {
                splits *= dev[dev.length - 1 - m];
            }
            shape[i] = splits * (1 + rnd.nextInt(3));
        }
        return new Case(dev, axes, asList, shape);
    }

    // ---------------------------------------------------------------------------------------------------------------
    // naive reference, from the words of spec §1

    /** {@code coord(rank)}: for i from last to first, {@code coord[i] = rank % dev[i]; rank /= dev[i]}. */
    private static int[] refCoord(int[] dev, int rank) {
        int[] coord = new int[dev.length];
        int r = rank;
        for (int i = dev.length - 1; i >= 0; i--) {
            coord[i] = r % dev[i];
            r /= dev[i];
        }
        return coord;
    }

    /** Map value m names device dimension {@code dev[len(dev) - 1 - m]}. */
    private static int devDim(int[] dev, int m) {
        return dev.length - 1 - m;
    }

    private static long[] refSplits(Case c) {
        long[] s = new long[c.shape.length];
        for (int i = 0; i < s.length; i++) {
            s[i] = 1;
            for (int m : c.axes[i]) {
                s[i] *= c.dev[devDim(c.dev, m)];
            }
        }
        return s;
    }

    private static long refSliceCount(Case c) {
        long p = 1;
        for (long s : refSplits(c)) {
            p *= s;
        }
        return p;
    }

    private static long[] refSliceShape(Case c) {
        long[] splits = refSplits(c);
        long[] s = new long[c.shape.length];
        for (int i = 0; i < s.length; i++) {
            s[i] = c.shape[i] / splits[i];
        }
        return s;
    }

    /** The slice coordinate per tensor dim: the device coordinates of its listed dims, the first outermost. */
    private static long[] refSliceCoord(Case c, int rank) {
        int[] coord = refCoord(c.dev, rank);
        long[] sc = new long[c.shape.length];
        for (int i = 0; i < sc.length; i++) {
            long v = 0;
            for (int m : c.axes[i]) {
                int d = devDim(c.dev, m);
                v = v * c.dev[d] + coord[d];
            }
            sc[i] = v;
        }
        return sc;
    }

    /** {@code [c*slice[i], (c+1)*slice[i])} per dimension; {start[], end[]}. */
    private static long[][] refBounds(Case c, int rank) {
        long[] sc = refSliceCoord(c, rank);
        long[] slice = refSliceShape(c);
        long[][] b = new long[2][c.shape.length];
        for (int i = 0; i < sc.length; i++) {
            b[0][i] = sc[i] * slice[i];
            b[1][i] = (sc[i] + 1) * slice[i];
        }
        return b;
    }

    private static long refRepeatedCount(Case c) {
        long used = 1;
        boolean[] isUsed = refUsedDims(c);
        for (int d = 0; d < c.dev.length; d++) {
            if (isUsed[d]) {
                used *= c.dev[d];
            }
        }
        return product(c.dev) / used;
    }

    private static boolean[] refUsedDims(Case c) {
        boolean[] used = new boolean[c.dev.length];
        for (int[] a : c.axes) {
            for (int m : a) {
                used[devDim(c.dev, m)] = true;
            }
        }
        return used;
    }

    private static long product(int[] a) {
        long p = 1;
        for (int v : a) {
            p *= v;
        }
        return p;
    }

    private static boolean sameBounds(long[][] a, long[][] b) {
        return Arrays.equals(a[0], b[0]) && Arrays.equals(a[1], b[1]);
    }

    private static boolean disjoint(long[][] a, long[][] b) {
        for (int i = 0; i < a[0].length; i++) {
            if (Math.max(a[0][i], b[0][i]) >= Math.min(a[1][i], b[1][i])) {
                return true;
            }
        }
        return false;
    }

    // ---------------------------------------------------------------------------------------------------------------
    // the comparison

    private static void check(Case c, String ctx) {
        Layout l = c.layout();
        int n = c.shape.length;
        int devices = (int) product(c.dev);
        long[] splits = refSplits(c);
        long[] slice = refSliceShape(c);
        long repeatedCount = refRepeatedCount(c);
        long sliceCount = refSliceCount(c);
        boolean[] used = refUsedDims(c);

        assertEquals(devices, l.deviceCount(), ctx);
        assertArrayEquals(slice, l.sliceShape(), ctx + " slice shape");
        for (int i = 0; i < n; i++) {
            assertEquals(splits[i], l.splits(i), ctx + " splits of dim " + i);
        }
        assertEquals(sliceCount, l.sliceCount(), ctx + " slice count");
        assertEquals(repeatedCount, l.repeatedCount(), ctx + " repeated count");

        long[][][] bounds = new long[devices][][];
        DeviceMatrix m = l.devMatrix();
        for (int r = 0; r < devices; r++) {
            String at = ctx + " rank " + r;
            int[] coord = refCoord(c.dev, r);
            assertArrayEquals(coord, m.coordinate(r), at + " coordinate");
            assertEquals(r, m.rankOf(coord), at + " rankOf(coordinate)");
            for (int d = 0; d < c.dev.length; d++) {
                assertArrayEquals(refRanksAlong(c.dev, d, r), m.ranksAlong(d, r), at + " ranks along device dim " + d);
            }

            // (a) slice bounds
            bounds[r] = refBounds(c, r);
            Box box = l.sliceBox(r);
            assertArrayEquals(bounds[r][0], box.start(), at + " slice start");
            assertArrayEquals(bounds[r][1], box.end(), at + " slice end");
            long[] sc = refSliceCoord(c, r);
            assertArrayEquals(sc, l.sliceCoordinates(r), at + " slice coordinates");

            // (d) slice index: row-major over the split counts, dim 0 slowest
            long index = 0;
            for (int i = 0; i < n; i++) {
                index = index * splits[i] + sc[i];
            }
            assertEquals(index, l.sliceIndex(r), at + " slice index");

            // (e) rank from slice coordinates and replica index
            int replica = l.replicaIndex(r);
            assertTrue(replica >= 0 && replica < repeatedCount, at + " replica index " + replica);
            assertEquals(r, l.rankOf(l.sliceCoordinates(r), replica), at + " rankOf(sliceCoordinates, replica)");
        }

        // (c) the repeated group is the set of ranks with identical bounds, equivalently the ranks agreeing on every
        // device dim the map uses; its size is prod(dev) / prod(used dims)
        Set<Long> indices = new HashSet<>();
        for (int r = 0; r < devices; r++) {
            List<Integer> same = new ArrayList<>();
            List<Integer> agreeing = new ArrayList<>();
            int[] cr = refCoord(c.dev, r);
            Set<Integer> replicas = new HashSet<>();
            for (int s = 0; s < devices; s++) {
                if (sameBounds(bounds[r], bounds[s])) {
                    same.add(s);
                    replicas.add(l.replicaIndex(s));
                }
                int[] cs = refCoord(c.dev, s);
                boolean agree = true;
                for (int d = 0; d < c.dev.length; d++) {
                    agree &= !used[d] || cr[d] == cs[d];
                }
                if (agree) {
                    agreeing.add(s);
                }
            }
            int[] expected = same.stream().mapToInt(Integer::intValue).toArray();
            assertArrayEquals(expected, l.repeatedGroup(r), ctx + " repeated group of rank " + r);
            assertArrayEquals(expected, agreeing.stream().mapToInt(Integer::intValue).toArray(),
                    ctx + " identical bounds vs agreeing coordinates, rank " + r);
            assertEquals(repeatedCount, expected.length, ctx + " repeated group size of rank " + r);
            assertEquals(repeatedCount, replicas.size(), ctx + " distinct replica indices in the group of rank " + r);
            indices.add(l.sliceIndex(r));
        }
        assertEquals(sliceCount, indices.size(), ctx + " distinct slice indices");
        for (long idx : indices) {
            assertTrue(idx >= 0 && idx < sliceCount, ctx + " slice index " + idx);
        }

        // (b) slices of ranks in different groups are disjoint; the distinct slices tile the tensor exactly
        for (int r = 0; r < devices; r++) {
            for (int s = r + 1; s < devices; s++) {
                if (!sameBounds(bounds[r], bounds[s])) {
                    assertTrue(disjoint(bounds[r], bounds[s]), ctx + " ranks " + r + " and " + s + " overlap");
                    assertTrue(l.sliceBox(r).intersect(l.sliceBox(s)).isEmpty(),
                            ctx + " Box.intersect of ranks " + r + " and " + s);
                }
            }
        }
        checkTiling(c, l, devices, repeatedCount, ctx);

        // (f) normalisation keeps every rank's slice and drops the size-1 device dims
        Layout norm = l.normalized();
        int[] kept = Arrays.stream(c.dev).filter(d -> d != 1).toArray();
        if (kept.length == 0) {
            kept = new int[] {1};
        }
        assertArrayEquals(kept, norm.devMatrix().dims(), ctx + " normalised dev matrix");
        assertArrayEquals(c.shape, norm.shape(), ctx + " normalised shape");
        assertEquals(devices, norm.deviceCount(), ctx + " normalised device count");
        assertEquals(repeatedCount, norm.repeatedCount(), ctx + " normalised repeated count");
        for (int r = 0; r < devices; r++) {
            Box nb = norm.sliceBox(r);
            assertArrayEquals(bounds[r][0], nb.start(), ctx + " normalised slice start, rank " + r);
            assertArrayEquals(bounds[r][1], nb.end(), ctx + " normalised slice end, rank " + r);
        }
        // the map of the normalised layout names only device dims of size > 1 (or the single [1])
        for (TensorMap.Entry e : norm.tensorMap().entries()) {
            for (int a : e.axes()) {
                assertTrue(norm.devMatrix().dim(norm.deviceDimOf(a)) > 1, ctx + " normalised map uses a size-1 dim");
            }
        }
        assertEquals(norm, norm.normalized(), ctx + " normalisation is idempotent");
        // the original is unchanged
        assertEquals(c.layout(), l, ctx + " original layout changed");
        assertArrayEquals(c.dev, l.devMatrix().dims(), ctx + " original dev matrix");
    }

    /** Counts, element by element, how many ranks and how many distinct slices hold each element. */
    private static void checkTiling(Case c, Layout l, int devices, long repeatedCount, String ctx) {
        int n = c.shape.length;
        long total = 1;
        for (long s : c.shape) {
            total *= s;
        }
        assertTrue(total <= 1_000_000, ctx + " shape too large for the brute-force count");
        int[] byRank = new int[(int) total];
        int[] bySlice = new int[(int) total];
        Set<Box> distinct = new HashSet<>();
        for (int r = 0; r < devices; r++) {
            Box box = l.sliceBox(r);
            boolean first = distinct.add(box);
            long[] idx = box.start();
            if (box.isEmpty()) {
                continue;
            }
            while (true) {
                long flat = 0;
                for (int i = 0; i < n; i++) {
                    flat = flat * c.shape[i] + idx[i];
                }
                byRank[(int) flat]++;
                if (first) {
                    bySlice[(int) flat]++;
                }
                int i = n - 1;
                while (i >= 0 && ++idx[i] == box.end(i)) {
                    idx[i] = box.start(i);
                    i--;
                }
                if (i < 0) {
                    break;
                }
            }
        }
        assertEquals(refSliceCount(c), distinct.size(), ctx + " distinct slices");
        for (int e = 0; e < total; e++) {
            assertEquals(1, bySlice[e], ctx + " element " + e + " held by distinct slices");
            assertEquals(repeatedCount, byRank[e], ctx + " element " + e + " held by ranks");
        }
    }

    /** The ranks whose coordinate differs from {@code rank}'s only in device dim {@code d}, ascending. */
    private static int[] refRanksAlong(int[] dev, int d, int rank) {
        int[] cr = refCoord(dev, rank);
        List<Integer> out = new ArrayList<>();
        int devices = (int) product(dev);
        for (int s = 0; s < devices; s++) {
            int[] cs = refCoord(dev, s);
            boolean same = true;
            for (int i = 0; i < dev.length; i++) {
                same &= i == d || cr[i] == cs[i];
            }
            if (same) {
                out.add(s);
            }
        }
        assertFalse(out.isEmpty());
        return out.stream().mapToInt(Integer::intValue).toArray();
    }
}
