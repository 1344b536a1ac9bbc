package io.tessera.planner.op;

import io.tessera.layout.comm.CollectiveKind;

import io.tessera.layout.Box;
import io.tessera.layout.DType;
import io.tessera.layout.DeviceMatrix;
import io.tessera.layout.Layout;
import io.tessera.layout.TensorMap;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Optional;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The Reshape rule: the published layout, the carry rule with its examples, and a brute-force check of carry. */
class ReshapeTest {

    private static OpSharding shard(Reshape op, TensorType x, int[] s, int devices) {
        return op.shard("rs", List.of(x), Strategy.of(s), null, devices);
    }

    @Test
    void publishedInputLayout() {
        TensorType x = TensorType.of(DType.FLOAT32, 32, 512, 7, 7);
        Reshape op = Reshape.of(32, -1);
        TensorType y = op.outputs("rs", List.of(x)).get(0);
        assertArrayEquals(new long[] {32, 25088}, y.shape());
        OpSharding s = shard(op, x, new int[] {4, 1, 1, 1}, 32);
        assertEquals(DeviceMatrix.of(4, 1, 1, 1, 8), s.devMatrix());
        assertEquals(TensorMap.of(4, 3, 2, 1), s.inputMaps().get(0));
        assertArrayEquals(new long[] {8, 512, 7, 7}, s.inputLayout(0, x).sliceShape());
        assertEquals(TensorMap.of(4, 3), s.outputMaps().get(0), "dim 0 carries the split; C's size-1 dim starts "
                + "the merged dim");
        assertArrayEquals(new long[] {8, 25088}, s.outputLayout(0, y).sliceShape());
        assertTrue(s.comms().isEmpty(), s.comms().toString());
    }

    @Test
    void splittingTheMergedBatchCarriesToTheOuterDim() {
        // [B*S, H] split (dp, 1) -> [B, S, H] split (dp, 1, 1) when dp divides B
        TensorType x = TensorType.of(DType.FLOAT32, 4 * 8, 16);
        OpSharding s = shard(Reshape.of(4, 8, 16), x, new int[] {2, 1}, 8);
        assertEquals(DeviceMatrix.of(2, 1, 4), s.devMatrix());
        assertEquals(TensorMap.of(2, 1), s.inputMaps().get(0));
        assertEquals(TensorMap.of(2, -1, 1), s.outputMaps().get(0));
        assertArrayEquals(new long[] {2, 8, 16}, s.outputLayout(0, TensorType.of(DType.FLOAT32, 4, 8, 16))
                .sliceShape());
        assertTrue(s.comms().isEmpty());
    }

    @Test
    void mergingHeadsCarriesBothSplits() {
        // [B, S, heads, hd] split (dp, 1, mp, 1) -> [B*S, heads*hd] split (dp, mp)
        TensorType x = TensorType.of(DType.FLOAT16, 4, 8, 8, 16);
        TensorType y = TensorType.of(DType.FLOAT16, 32, 128);
        OpSharding s = shard(Reshape.of(-1, 128), x, new int[] {2, 1, 4, 1}, 8);
        assertEquals(DeviceMatrix.of(2, 1, 4, 1), s.devMatrix());
        assertEquals(TensorMap.of(3, 1), s.outputMaps().get(0));
        assertArrayEquals(new long[] {16, 32}, s.outputLayout(0, y).sliceShape());
        assertTrue(s.comms().isEmpty());
        // and back: [B*S, heads*hd] split (dp, mp) -> [B, S, heads, hd] split (dp, 1, mp, 1)
        OpSharding back = shard(Reshape.of(4, 8, 8, 16), y, new int[] {2, 4}, 8);
        assertEquals(TensorMap.of(1, -1, 0, -1), back.outputMaps().get(0));
        assertTrue(back.comms().isEmpty());
    }

    @Test
    void aSplitThatDoesNotCarryIsGatheredAndLeavesTheOutputUnsplit() {
        // [B*S, H] = [16, 16] split (8, 1) -> [B, S, H] = [2, 8, 16]: 8 does not divide B = 2
        TensorType x = TensorType.of(DType.FLOAT32, 16, 16);
        TensorType y = TensorType.of(DType.FLOAT32, 2, 8, 16);
        OpSharding s = shard(Reshape.of(2, 8, 16), x, new int[] {8, 1}, 8);
        assertEquals(TensorMap.of(-1, -1, 0), s.outputMaps().get(0));
        assertArrayEquals(new long[] {2, 8, 16}, s.outputLayout(0, y).sliceShape());
        assertEquals(1, s.forward().size());
        OpComm c = s.forward().get(0);
        assertEquals(CollectiveKind.ALL_GATHER, c.kind());
        assertArrayEquals(new int[] {1}, c.axes());
        assertEquals("the input's splits of sizes [8] do not land on an outermost factor of an output dim of "
                + "Float32[2, 8, 16]; the slices are gathered over them before the local reshape", c.reason());
        assertTrue(s.backward().isEmpty());
        assertEquals(Optional.empty(), Reshape.carry(s.inputLayout(0, x), y.shape()));
        // only the split that cannot be carried is dropped: (4, 2) on [4, 16] -> [2, 2, 16] gathers the 4, keeps the 2
        OpSharding partial = shard(Reshape.of(2, 2, 16), TensorType.of(DType.FLOAT32, 4, 16), new int[] {4, 2}, 8);
        assertEquals(TensorMap.of(-1, -1, 0), partial.outputMaps().get(0));
        assertEquals(List.of("forward AllGather of output 0 over device dims [1]"), summaries(partial.forward()));
    }

    @Test
    void carryHandlesListEntriesAcrossOutputDims() {
        // [8] split over dev (2, 2) as the list [1, 0] -> [2, 4]: the outer device dim splits dim 0, the inner dim 1
        Layout in = new Layout(DeviceMatrix.of(2, 2), TensorMap.of(List.of(TensorMap.Entry.of(new int[] {1, 0}))),
                new long[] {8});
        assertEquals(Optional.of(Layout.of(new int[] {2, 2}, new int[] {1, 0}, 2, 4)), Reshape.carry(in, new long[] {2,
                4}));
        // and the reverse merge builds a list entry
        assertEquals(Optional.of(in), Reshape.carry(Layout.of(new int[] {2, 2}, new int[] {1, 0}, 2, 4),
                new long[] {8}));
        // a list in the other order [0, 1] carries too: the outer digit is now the inner device dim
        Layout swapped = new Layout(DeviceMatrix.of(2, 2), TensorMap.of(List.of(TensorMap.Entry.of(new int[] {0,
                1}))), new long[] {8});
        assertEquals(Optional.of(Layout.of(new int[] {2, 2}, new int[] {0, 1}, 2, 4)),
                Reshape.carry(swapped, new long[] {2, 4}));
        assertEquals(Optional.empty(), Reshape.carry(Layout.of(new int[] {4}, new int[] {0}, 8), new long[] {2, 4}));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> Reshape.carry(Layout.of(new int[] {4}, new int[] {0}, 8), new long[] {3, 3}));
        assertTrue(e.getMessage().contains("the element counts must be equal"), e.getMessage());
    }

    @Test
    void dataParallelAndErrors() {
        TensorType x = TensorType.of(DType.FLOAT32, 6, 10);
        assertEquals(Strategy.of(new int[] {2, 1}), Reshape.of(60).dataParallel(List.of(x), 8));
        OpSharding s = shard(Reshape.of(60), x, new int[] {2, 1}, 8);
        assertEquals(TensorMap.of(2), s.outputMaps().get(0), "dim 0 split 2; the repeated dim 4 is appended");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Reshape.of(-1, 4, -1));
        assertEquals("Reshape: shape [-1, 4, -1] has -1 at dims 0 and 2; at most one dim may be inferred",
                e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> Reshape.of(0, 4));
        assertTrue(e.getMessage().contains("has 0 at dim 0; expected a positive size or -1"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> Reshape.of(7, -1).outputs("rs", List.of(x)));
        assertEquals("Reshape 'rs': input 0 Float32[6, 10] has 60 elements, not a multiple of 7 (the product of shape "
                + "[7, -1] without -1); the -1 dim cannot be inferred", e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> Reshape.of(7, 8).outputs("rs", List.of(x)));
        assertEquals("Reshape 'rs': input 0 Float32[6, 10] has 60 elements but shape [7, 8] has 56; the element "
                + "counts must be equal", e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> Reshape.of(60).shard("rs", List.of(x),
                Strategy.of(new int[] {2, 1}), Strategy.of(new int[] {2}), 8));
        assertTrue(e.getMessage().contains("does not accept one"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> shard(Reshape.of(60), x, new int[] {4, 1}, 8));
        assertTrue(e.getMessage().startsWith("Reshape 'rs': input 0 dim 0 of size 6 is split 4 ways"),
                e.getMessage());
    }

    // ---- brute force -----------------------------------------------------------------------------------------

    /**
     * Random layouts and reshapes: when {@code carry} returns a layout, every rank's input slice is exactly, as flat
     * row-major indices, its slice of that layout; when it returns empty, no tensor map over the same device matrix
     * (every assignment and order of the split device dims to output dims) has that property.
     */
    @Test
    void carryAgreesWithBruteForce() {
        long seed = Long.getLong("tessera.seed", 20_250_604L);
        System.out.println("ReshapeTest.carryAgreesWithBruteForce seed " + seed + " (rerun with -Dtessera.seed="
                + seed + ")");
        Random rnd = new Random(seed);
        int carried = 0;
        int splitCarried = 0;
        int empty = 0;
        int cases = 0;
        while (cases < 800) {
            Layout in = randomLayout(rnd);
            if (in == null) {
                continue;
            }
            long[] outShape = randomReshape(rnd, in.shape());
            cases++;
            String what = "case " + cases + ": " + in + " -> " + Arrays.toString(outShape);
            long[][] inSets = flatSets(in);
            Optional<Layout> c = Reshape.carry(in, outShape);
            if (c.isPresent()) {
                carried++;
                splitCarried += in.sliceCount() > 1 ? 1 : 0;
                assertEquals(in.devMatrix(), c.get().devMatrix(), what);
                assertArrayEquals(outShape, c.get().shape(), what);
                long[][] outSets = flatSets(c.get());
                for (int r = 0; r < inSets.length; r++) {
                    assertArrayEquals(inSets[r], outSets[r], what + " -> " + c.get() + ", rank " + r);
                }
            } else {
                empty++;
                Layout match = anyMatchingMap(in, outShape, inSets);
                assertEquals(null, match, what + ": carry is empty but this layout carries");
            }
        }
        System.out.println("ReshapeTest.carryAgreesWithBruteForce: " + cases + " cases, " + carried + " carried, "
                + empty + " not carried, " + splitCarried + " carried with a split");
        assertTrue(splitCarried > 150 && empty > 80, "the generator must exercise both outcomes: " + splitCarried
                + "/" + empty);
    }

    private static final int[] SIZES = {1, 2, 3, 4, 6, 8};

    private static Layout randomLayout(Random rnd) {
        int rank = 1 + rnd.nextInt(4);
        long[] shape = new long[rank];
        long total = 1;
        for (int i = 0; i < rank; i++) {
            shape[i] = SIZES[rnd.nextInt(SIZES.length)];
            total *= shape[i];
        }
        if (total > 384) {
            return null;
        }
        int devRank = 1 + rnd.nextInt(3);
        int[] dev = new int[devRank];
        for (int d = 0; d < devRank; d++) {
            dev[d] = 1 + rnd.nextInt(4);
        }
        List<List<Integer>> perDim = new ArrayList<>();
        for (int i = 0; i < rank; i++) {
            perDim.add(new ArrayList<>());
        }
        for (int a = 0; a < devRank; a++) {
            int to = rnd.nextInt(rank + 1);
            if (to < rank) {
                List<Integer> l = perDim.get(to);
                l.add(rnd.nextInt(l.size() + 1), a);
            }
        }
        List<TensorMap.Entry> entries = new ArrayList<>();
        for (List<Integer> l : perDim) {
            entries.add(entry(l));
        }
        try {
            return new Layout(DeviceMatrix.of(dev), TensorMap.of(entries), shape);
        } catch (IllegalArgumentException notDivisible) {
            return null;
        }
    }

    private static TensorMap.Entry entry(List<Integer> axes) {
        if (axes.isEmpty()) {
            return TensorMap.notSplit();
        }
        if (axes.size() == 1) {
            return TensorMap.Entry.of(axes.get(0));
        }
        return TensorMap.Entry.of(axes.stream().mapToInt(Integer::intValue).toArray());
    }

    /** Half the time regroups the input's prime factors in order (boundaries mostly kept), else shuffles them. */
    private static long[] randomReshape(Random rnd, long[] shape) {
        List<Long> primes = new ArrayList<>();
        for (long d : shape) {
            long v = d;
            for (long p = 2; v > 1; p++) {
                while (v % p == 0) {
                    primes.add(p);
                    v /= p;
                }
            }
        }
        if (rnd.nextBoolean()) {
            Collections.shuffle(primes, rnd);
        }
        List<Long> out = new ArrayList<>();
        long cur = 1;
        for (long p : primes) {
            cur *= p;
            if (rnd.nextInt(3) > 0) {
                out.add(cur);
                cur = 1;
            }
            if (rnd.nextInt(8) == 0) {
                out.add(1L);
            }
        }
        if (cur > 1 || out.isEmpty()) {
            out.add(cur);
        }
        return out.stream().mapToLong(Long::longValue).toArray();
    }

    /** Each rank's slice as sorted flat row-major indices of the full tensor. */
    private static long[][] flatSets(Layout l) {
        long[] shape = l.shape();
        long[][] out = new long[l.deviceCount()][];
        for (int r = 0; r < out.length; r++) {
            Box b = l.sliceBox(r);
            long[] idx = new long[(int) b.volume()];
            long[] p = b.start();
            for (int k = 0; k < idx.length; k++) {
                long flat = 0;
                for (int i = 0; i < shape.length; i++) {
                    flat = flat * shape[i] + p[i];
                }
                idx[k] = flat;
                for (int i = shape.length - 1; i >= 0; i--) {
                    if (++p[i] < b.end(i)) {
                        break;
                    }
                    p[i] = b.start(i);
                }
            }
            out[r] = idx;
        }
        return out;
    }

    /**
     * Some tensor map over {@code in}'s device matrix whose slices equal {@code inSets}, trying every assignment and
     * order of the split device dims of size above 1 to the output dims; null when none does.
     */
    private static Layout anyMatchingMap(Layout in, long[] outShape, long[][] inSets) {
        DeviceMatrix dev = in.devMatrix();
        List<Integer> axes = new ArrayList<>();
        boolean[] used = in.usedDeviceDims();
        for (int d = 0; d < dev.rank(); d++) {
            if (used[d] && dev.dim(d) > 1) {
                axes.add(dev.rank() - 1 - d);
            }
        }
        List<List<Integer>> lists = new ArrayList<>();
        for (int j = 0; j < outShape.length; j++) {
            lists.add(new ArrayList<>());
        }
        return search(in, outShape, inSets, axes, 0, lists);
    }

    private static Layout search(Layout in, long[] outShape, long[][] inSets, List<Integer> axes, int next,
                                 List<List<Integer>> lists) {
        if (next == axes.size()) {
            List<TensorMap.Entry> entries = new ArrayList<>();
            for (List<Integer> l : lists) {
                entries.add(entry(l));
            }
            Layout candidate;
            try {
                candidate = new Layout(in.devMatrix(), TensorMap.of(entries), outShape);
            } catch (IllegalArgumentException notDivisible) {
                return null;
            }
            if (candidate.sliceVolume() != in.sliceVolume()) {
                return null;
            }
            long[][] sets = flatSets(candidate);
            for (int r = 0; r < sets.length; r++) {
                if (!Arrays.equals(sets[r], inSets[r])) {
                    return null;
                }
            }
            return candidate;
        }
        for (List<Integer> l : lists) {
            for (int pos = 0; pos <= l.size(); pos++) {
                l.add(pos, axes.get(next));
                Layout found = search(in, outShape, inSets, axes, next + 1, lists);
                l.remove(pos);
                if (found != null) {
                    return found;
                }
            }
        }
        return null;
    }

    @Test
    void bruteForceFindsKnownCarriesAndRejectsKnownNonCarries() {
        // the brute force must find a layout where one exists, so that "none found" above means something
        Layout in = Layout.of(new int[] {2, 4}, new int[] {1, 0}, 2, 16);
        long[] out = {2, 4, 4};
        assertEquals(Layout.of(new int[] {2, 4}, new int[] {1, 0, -1}, out), anyMatchingMap(in, out, flatSets(in)));
        assertEquals(Optional.of(Layout.of(new int[] {2, 4}, new int[] {1, 0, -1}, out)), Reshape.carry(in, out));
        // rows split 2 and columns split 4 of [4, 8] are not a box of [2, 16]: (rows 2c..2c+1, cols 2d..2d+1)
        Layout grid = Layout.of(new int[] {2, 4}, new int[] {1, 0}, 4, 8);
        assertEquals(null, anyMatchingMap(grid, new long[] {2, 16}, flatSets(grid)));
        assertEquals(Optional.empty(), Reshape.carry(grid, new long[] {2, 16}));
        assertEquals(Optional.empty(), Reshape.carry(grid, new long[] {32}));
    }

    private static List<String> summaries(List<OpComm> comms) {
        return comms.stream().map(c -> c.toString().substring(0, c.toString().indexOf(':'))).toList();
    }
}
