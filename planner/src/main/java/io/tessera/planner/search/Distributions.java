package io.tessera.planner.search;

import io.tessera.layout.DType;
import io.tessera.layout.Layout;
import io.tessera.layout.comm.CollectiveKind;
import io.tessera.planner.cost.CostModel;
import io.tessera.planner.cost.Placement;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import java.util.stream.IntStream;

/**
 * Which rank holds which slice of every candidate layout, above {@link Search#EXACT_REDISTRIBUTION_DEVICES} devices:
 * the layouts' distributions with canonical ids (an estimate, like an exact plan, depends only on which rank holds
 * which slice), the estimated seconds of a redistribution ({@link #estimate}) and how many pieces its exact plan
 * would move ({@link #transfers}). Immutable apart from a thread-safe cache.
 */
final class Distributions {

    private final int devices;
    private final CostModel cost;
    private final List<Layout> layouts;
    /** The ranks whose receive the estimate takes the largest of ({@link #sample()}). */
    private final int[] sample;
    /**
     * Per layout id: each rank's slice box, flat as {@code [start..., end...]} of rank 0, then rank 1, ... (one array
     * per layout: millions of small arrays kept the collector busy).
     */
    private final long[][] boxes;
    /** Per layout id: the lowest rank holding each slice (slice ids row-major over the split grid). */
    private final int[][] holders;
    /** Per layout id: its distribution's canonical id (negative, apart from layout ids). */
    private final int[] canonicalOf;
    /** Per canonical id {@code c}: at {@code -1 - c}, the lowest layout id with that distribution. */
    private final int[] representative;
    /** The shape of {@link #sources} with rank 1 added to a group of fewer than two, by source layout and box. */
    private final Map<SourceKey, Placement> sourceCache = new ConcurrentHashMap<>();

    private record BoxesKey(long[] flat, int hash) {
        @Override
        public boolean equals(Object o) {
            return o instanceof BoxesKey b && hash == b.hash && Arrays.equals(flat, b.flat);
        }

        @Override
        public int hashCode() {
            return hash;
        }
    }

    /** A layout id and a box: the key of {@link #sources}. */
    private record SourceKey(int from, long[] box) {
        @Override
        public boolean equals(Object o) {
            return o instanceof SourceKey k && from == k.from && Arrays.equals(box, k.box);
        }

        @Override
        public int hashCode() {
            return 31 * from + Arrays.hashCode(box);
        }
    }

    /**
     * The distributions of {@code layouts} on {@code setup}'s devices: every layout's slice boxes and slice holders
     * (in parallel), then the canonical ids of their distributions in layout order.
     */
    Distributions(SearchSetup setup, List<Layout> layouts) {
        this.devices = setup.devices();
        this.cost = setup.cost();
        this.layouts = layouts;
        this.sample = sample();
        int count = layouts.size();
        boxes = Parallel.map(count, this::sliceBoxes).toArray(new long[0][]);
        holders = Parallel.map(count, this::sliceHolders).toArray(new int[0][]);
        canonicalOf = new int[count];
        Map<BoxesKey, Integer> ids = new HashMap<>();
        List<Integer> reps = new ArrayList<>();
        for (int id = 0; id < count; id++) {
            long[] flat = boxes[id];
            BoxesKey key = new BoxesKey(flat, Arrays.hashCode(flat));
            Integer c = ids.get(key);
            if (c == null) {
                c = -1 - reps.size();
                ids.put(key, c);
                reps.add(id);
            }
            canonicalOf[id] = c;
        }
        representative = reps.stream().mapToInt(Integer::intValue).toArray();
    }

    /** The canonical id (negative) of layout {@code id}'s distribution. */
    int canonical(int id) {
        return canonicalOf[id];
    }

    /** The lowest layout id with the distribution of canonical id {@code c} (negative). */
    int representative(int c) {
        return representative[-1 - c];
    }

    /** How many distinct distributions the layouts have. */
    int count() {
        return representative.length;
    }

    /**
     * The ranks whose receive the estimate takes the largest of: every rank up to {@link Search#SAMPLED_RANKS}, else
     * the first {@code SAMPLED_RANKS / 2}, every {@code devices / (SAMPLED_RANKS / 2)}-th and a fixed pseudo-random
     * selection (layouts slice on a grid of rank bits; the sample covers low, high and mixed bits).
     */
    private int[] sample() {
        if (devices <= Search.SAMPLED_RANKS) {
            return IntStream.range(0, devices).toArray();
        }
        TreeSet<Integer> out = new TreeSet<>();
        int half = Search.SAMPLED_RANKS / 2;
        for (int r = 0; r < half; r++) {
            out.add(r);
            out.add(r * (devices / half));
        }
        Random rnd = new Random(devices);
        for (int k = 0; k < half; k++) {
            out.add(rnd.nextInt(devices));
        }
        return out.stream().mapToInt(Integer::intValue).toArray();
    }

    /**
     * Every rank's slice box of layout {@code id} as {@code [rank][start..., end...]}: {@link Layout#sliceBox} of each
     * rank (slice coordinates: per tensor dimension the mixed-radix number of the rank's device coordinates along the
     * dimension's axes, times the slice shape), computed without a box per rank.
     */
    private long[] sliceBoxes(int id) {
        Layout l = layouts.get(id);
        int r = l.rank();
        int[] dims = l.devMatrix().dims();
        long[] slice = l.sliceShape();
        int[][] axes = new int[r][];
        for (int i = 0; i < r; i++) {
            int[] a = l.tensorMap().entry(i).axes();
            axes[i] = new int[a.length];
            for (int k = 0; k < a.length; k++) {
                axes[i][k] = l.deviceDimOf(a[k]);
            }
        }
        long[] out = new long[devices * 2 * r];
        int[] coord = new int[dims.length];
        for (int rank = 0; rank < devices; rank++) {
            int rest = rank;
            for (int d = dims.length - 1; d >= 0; d--) {
                coord[d] = rest % dims[d];
                rest /= dims[d];
            }
            int at = rank * 2 * r;
            for (int i = 0; i < r; i++) {
                long c = 0;
                for (int d : axes[i]) {
                    c = c * dims[d] + coord[d];
                }
                out[at + i] = c * slice[i];
                out[at + r + i] = out[at + i] + slice[i];
            }
        }
        return out;
    }

    /** The lowest rank holding each slice of layout {@code id}, by slice id (row-major over the split grid). */
    private int[] sliceHolders(int id) {
        Layout l = layouts.get(id);
        long[] f = boxes[id];
        long[] shape = l.shape();
        int r = shape.length;
        int w = 2 * r;
        int[] splits = new int[r];
        long[] extent = new long[r];
        for (int d = 0; d < r; d++) {
            splits[d] = l.splits(d);
            extent[d] = shape[d] / splits[d];
        }
        int[] out = new int[(int) l.sliceCount()];
        Arrays.fill(out, -1);
        for (int rank = 0; rank < devices; rank++) {
            // the slice id: row-major over the split grid of the box's start divided by the slice extent
            int s = 0;
            for (int d = 0; d < r; d++) {
                s = s * splits[d] + (int) (f[rank * w + d] / extent[d]);
            }
            if (out[s] < 0) {
                out[s] = rank;
            }
        }
        return out;
    }

    /** The elements common to the boxes at {@code at} of {@code a} and {@code b} (flat, {@code r} dimensions). */
    private static long overlap(long[] a, long[] b, int at, int r) {
        long v = 1;
        for (int d = 0; d < r; d++) {
            long lo = Math.max(a[at + d], b[at + d]);
            long hi = Math.min(a[at + r + d], b[at + r + d]);
            if (hi <= lo) {
                return 0;
            }
            v *= hi - lo;
        }
        return v;
    }

    /**
     * Estimated seconds of moving a tensor from layout {@code from} to {@code to} (above
     * {@link Search#EXACT_REDISTRIBUTION_DEVICES} devices, where planning every pair exactly is too slow): each rank
     * receives its target slice minus what its source slice already holds; the exchange is costed as an AllGather
     * whose per-rank receive is the largest of these (over the sampled ranks, {@link Search#SAMPLED_RANKS}), over
     * rank 0 and, per source slice overlapping rank 0's target slice, the lowest rank holding it.
     */
    double estimate(int from, int to, DType dtype) {
        long[] f = boxes[from];
        long[] t = boxes[to];
        int dims = layouts.get(to).rank();
        long target = layouts.get(to).sliceVolume();
        long most = 0;
        for (int r : sample) {
            most = Math.max(most, target - overlap(f, t, r * 2 * dims, dims));
            if (most == target) {
                break;
            }
        }
        if (most == 0) {
            return 0;
        }
        long[] box = Arrays.copyOf(t, 2 * dims);
        Placement group = sourceCache.computeIfAbsent(new SourceKey(from, box), k -> {
            List<Integer> g = sources(from, box);
            if (g.size() < 2) {
                g.add(1);
            }
            return cost.spec().placement(g);
        });
        int p = Math.max(2, group.ranks());
        long bytes = most * dtype.bytes();
        return cost.collectiveSeconds(CollectiveKind.ALL_GATHER, group, bytes * p / (p - 1));
    }

    /**
     * Rank 0 and, for each slice of layout {@code from} overlapping {@code box} (rank 0's target slice) that rank 0
     * does not hold, the lowest rank holding it, ascending: the group rank 0 gathers from.
     */
    private List<Integer> sources(int from, long[] box) {
        Layout l = layouts.get(from);
        long[] shape = l.shape();
        int r = shape.length;
        int[] lo = new int[r];
        int[] hi = new int[r];
        int[] splits = new int[r];
        for (int d = 0; d < r; d++) {
            splits[d] = l.splits(d);
            long extent = shape[d] / splits[d];
            lo[d] = (int) (box[d] / extent);
            hi[d] = (int) ((box[r + d] + extent - 1) / extent);
            if (hi[d] <= lo[d]) {
                return new ArrayList<>();
            }
        }
        int[] holder = holders[from];
        List<Integer> group = new ArrayList<>();
        int[] cur = lo.clone();
        while (true) {
            int id = 0;
            for (int d = 0; d < r; d++) {
                id = id * splits[d] + cur[d];
            }
            group.add(holder[id]);
            int d = r - 1;
            while (d >= 0 && ++cur[d] == hi[d]) {
                cur[d] = lo[d];
                d--;
            }
            if (d < 0) {
                break;
            }
        }
        group.sort(null);
        return group;
    }

    /**
     * How many pieces the exact redistribution from layout {@code from} to {@code to} moves
     * ({@code Redistribution.plan}: each rank receives every source slice overlapping its target slice, its own
     * apart, unless its source slice contains its target slice).
     */
    long transfers(int from, int to) {
        Layout l = layouts.get(from);
        long[] shape = l.shape();
        int r = shape.length;
        long[] extent = new long[r];
        for (int d = 0; d < r; d++) {
            extent[d] = shape[d] / l.splits(d);
        }
        long[] src = boxes[from];
        long[] dst = boxes[to];
        long total = 0;
        for (int rank = 0; rank < devices; rank++) {
            int at = rank * 2 * r;
            long pieces = 1;
            boolean contains = true;
            boolean ownInside = true;
            for (int d = 0; d < r; d++) {
                contains &= src[at + d] <= dst[at + d] && dst[at + r + d] <= src[at + r + d];
                long lo = dst[at + d] / extent[d];
                long hi = (dst[at + r + d] + extent[d] - 1) / extent[d];
                pieces *= hi - lo;
                long own = src[at + d] / extent[d];
                ownInside &= own >= lo && own < hi;
            }
            if (!contains) {
                total += pieces - (ownInside ? 1 : 0);
            }
        }
        return total;
    }
}
