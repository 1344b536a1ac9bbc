package io.tessera.layout.redistribution;

import io.tessera.layout.Box;
import io.tessera.layout.DType;
import io.tessera.layout.Layout;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Plans byte-minimal redistributions between two layouts of one tensor.
 *
 * <p>Each rank receives exactly the elements of its target slice that lie outside its source slice, each once,
 * directly from a rank holding them: the physical minimum. Where a source slice is replicated, the sender is the
 * replica whose replica index equals the receiver's own, which spreads the sends and keeps the groups regular. The
 * movements are then split into connected groups of ranks and each group is named by its pattern:
 * {@link Step.AllGather} (every member sends one box to all others and all end with the same slice),
 * {@link Step.AllToAll} (every member sends to every other), {@link Step.CollectivePermute} (each rank sends to and
 * receives from at most one rank), or else {@link Step.SendRecv}. Groups of one pattern form one step, so a plan
 * has at most one step per pattern, followed by a local {@link Step.Concat} (or a lone {@link Step.Slice} when no
 * data moves). Identical layouts give an empty plan.
 */
public final class Redistribution {

    private Redistribution() {
    }

    /**
     * Plans the redistribution of a tensor from layout {@code from} to layout {@code to}.
     *
     * @param from  the source layout
     * @param to    the target layout; same shape and same device count (the device matrices may differ)
     * @param dtype the element type, for byte counts
     * @throws IllegalArgumentException when the shapes or device counts differ
     */
    public static RedistributionPlan plan(Layout from, Layout to, DType dtype) {
        checkCompatible(from, to);
        if (from.equals(to) || from.normalized().equals(to.normalized())) {
            // the same slices on every rank: nothing to do, without looking at each rank
            return new RedistributionPlan(from, to, dtype, List.of());
        }
        int n = from.deviceCount();
        // every rank by (source slice, replica): the inverse of (sliceCoordinates, replicaIndex), looked up per piece
        int replicas = from.repeatedCount();
        int[] splits = new int[from.rank()];
        int blocks = 1;
        for (int i = 0; i < splits.length; i++) {
            splits[i] = from.splits(i);
            blocks *= splits[i];
        }
        int[] holder = new int[n];
        long[][] own = new long[n][];
        int[] replica = new int[n];
        List<Box> sources = new ArrayList<>(n);
        List<Box> targets = new ArrayList<>(n);
        long[] fromSlice = from.sliceShape();
        long[] toSlice = to.sliceShape();
        for (int r = 0; r < n; r++) {
            own[r] = from.sliceCoordinates(r);
            replica[r] = from.replicaIndex(r);
            holder[(int) sliceIndex(splits, own[r]) * replicas + replica[r]] = r;
            // Layout.sliceBox of each rank, from the coordinates at hand
            sources.add(box(own[r], fromSlice));
            targets.add(box(to.sliceCoordinates(r), toSlice));
        }
        List<Transfer> transfers = new ArrayList<>();
        long[] slice = from.sliceShape();
        // a source block moved whole is one immutable box, shared by every transfer of it
        Box[] whole = new Box[blocks];
        for (int r = 0; r < n; r++) {
            collectTransfers(splits, slice, own[r], replica[r], holder, replicas, r, sources.get(r), targets.get(r),
                    whole, transfers);
        }
        List<Step> steps = new ArrayList<>();
        if (transfers.isEmpty()) {
            if (!sources.equals(targets)) {
                steps.add(new Step.Slice(targets));
            }
            return new RedistributionPlan(from, to, dtype, steps);
        }
        steps.addAll(classify(n, transfers, sources, targets));
        steps.add(new Step.Concat(targets));
        return new RedistributionPlan(from, to, dtype, steps);
    }

    static void checkCompatible(Layout from, Layout to) {
        if (from == null || to == null) {
            throw new IllegalArgumentException("redistribution: source and target layouts are required");
        }
        if (!Arrays.equals(from.shape(), to.shape())) {
            throw new IllegalArgumentException("redistribution: the source shape " + Arrays.toString(from.shape())
                    + " differs from the target shape " + Arrays.toString(to.shape())
                    + "; a redistribution keeps the tensor's shape, so give both layouts the same shape");
        }
        if (from.deviceCount() != to.deviceCount()) {
            throw new IllegalArgumentException("redistribution: the source dev_matrix " + from.devMatrix() + " has "
                    + from.deviceCount() + " devices but the target dev_matrix " + to.devMatrix() + " has "
                    + to.deviceCount() + "; both must arrange the same devices");
        }
    }

    /** The box of the slice at slice coordinates {@code c} of slices of shape {@code slice} ({@link Layout#sliceBox}). */
    private static Box box(long[] c, long[] slice) {
        long[] start = new long[c.length];
        long[] end = new long[c.length];
        for (int i = 0; i < c.length; i++) {
            start[i] = c[i] * slice[i];
            end[i] = start[i] + slice[i];
        }
        return Box.of(start, end);
    }

    /** The row-major index of slice coordinates {@code c} over the split counts {@code splits}. */
    private static long sliceIndex(int[] splits, long[] c) {
        long id = 0;
        for (int i = 0; i < c.length; i++) {
            id = id * splits[i] + c[i];
        }
        return id;
    }

    /**
     * Adds, for receiver {@code r} (source slice coordinates {@code own}, replica index {@code replica}), one transfer
     * per source block (other than its own) overlapping its target, sent by the block's holder of the same replica
     * index ({@code holder}: rank by slice index times {@code replicas} plus replica). A block that lies inside the
     * target is moved as one box per block ({@code whole}, by slice index, filled on first use).
     */
    private static void collectTransfers(int[] splits, long[] slice, long[] own, int replica, int[] holder,
                                         int replicas, int r, Box source, Box target, Box[] whole,
                                         List<Transfer> out) {
        if (source.contains(target)) {
            return;
        }
        int dims = target.rank();
        long[] lo = new long[dims];
        long[] hi = new long[dims];
        for (int i = 0; i < dims; i++) {
            lo[i] = target.start(i) / slice[i];
            hi[i] = (target.end(i) - 1) / slice[i];
        }
        long[] c = lo.clone();
        // the piece's corners: the block's intersection with the target (the box copies them)
        long[] s = new long[dims];
        long[] e = new long[dims];
        while (true) {
            if (!Arrays.equals(c, own)) {
                boolean all = true;
                for (int i = 0; i < dims; i++) {
                    long bs = c[i] * slice[i];
                    long be = bs + slice[i];
                    s[i] = Math.max(bs, target.start(i));
                    e[i] = Math.max(s[i], Math.min(be, target.end(i)));
                    all &= s[i] == bs && e[i] == be;
                }
                int id = (int) sliceIndex(splits, c);
                Box piece;
                if (all) {
                    piece = whole[id];
                    if (piece == null) {
                        piece = Box.of(s, e);
                        whole[id] = piece;
                    }
                } else {
                    piece = Box.of(s, e);
                }
                out.add(new Transfer(holder[id * replicas + replica], r, piece));
            }
            int i = dims - 1;
            while (i >= 0 && c[i] == hi[i]) {
                c[i] = lo[i];
                i--;
            }
            if (i < 0) {
                break;
            }
            c[i]++;
        }
    }

    private enum Pattern { ALL_GATHER, ALL_TO_ALL, COLLECTIVE_PERMUTE, SEND_RECV }

    @SuppressWarnings("unchecked")
    private static List<Step> classify(int n, List<Transfer> transfers, List<Box> sources, List<Box> targets) {
        int[] parent = new int[n];
        for (int i = 0; i < n; i++) {
            parent[i] = i;
        }
        boolean[] involved = new boolean[n];
        for (Transfer t : transfers) {
            int a = find(parent, t.src());
            int b = find(parent, t.dst());
            if (a != b) {
                parent[Math.max(a, b)] = Math.min(a, b);
            }
            involved[t.src()] = true;
            involved[t.dst()] = true;
        }
        // components keyed by their smallest member, which is the root; members ascending, transfers in order
        List<Integer>[] members = new List[n];
        List<Transfer>[] byComponent = new List[n];
        int[] root = new int[n];
        for (int r = 0; r < n; r++) {
            if (involved[r]) {
                root[r] = find(parent, r);
                if (members[root[r]] == null) {
                    members[root[r]] = new ArrayList<>();
                    byComponent[root[r]] = new ArrayList<>();
                }
                members[root[r]].add(r);
            }
        }
        for (Transfer t : transfers) {
            byComponent[root[t.dst()]].add(t);
        }
        Map<Pattern, List<Integer>> roots = new LinkedHashMap<>();
        for (Pattern p : Pattern.values()) {
            roots.put(p, new ArrayList<>());
        }
        int[] sent = new int[n];
        int[] received = new int[n];
        Box[] firstBox = new Box[n];
        boolean[] mixed = new boolean[n];
        for (int r = 0; r < n; r++) {
            if (members[r] != null) {
                roots.get(pattern(members[r], byComponent[r], targets, sent, received, firstBox, mixed)).add(r);
            }
        }
        List<Step> steps = new ArrayList<>();
        for (Map.Entry<Pattern, List<Integer>> e : roots.entrySet()) {
            if (e.getValue().isEmpty()) {
                continue;
            }
            List<List<Integer>> groups = new ArrayList<>();
            int size = 0;
            for (int r : e.getValue()) {
                size += byComponent[r].size();
            }
            List<Transfer> moved = new ArrayList<>(size);
            for (int r : e.getValue()) {
                groups.add(members[r]);
                moved.addAll(byComponent[r]);
            }
            if (!byReceiverThenSender(moved)) {
                moved.sort((a, b) -> a.dst() != b.dst() ? Integer.compare(a.dst(), b.dst())
                        : Integer.compare(a.src(), b.src()));
            }
            int[] split = cutDims(moved, sources, true);
            int[] concat = cutDims(moved, targets, false);
            switch (e.getKey()) {
                case ALL_GATHER -> steps.add(new Step.AllGather(groups, moved, concat));
                case ALL_TO_ALL -> steps.add(new Step.AllToAll(groups, moved, split, concat));
                case COLLECTIVE_PERMUTE -> {
                    List<List<Integer>> pairs = new ArrayList<>();
                    for (Transfer t : moved) {
                        pairs.add(List.of(t.src(), t.dst()));
                    }
                    pairs.sort((a, b) -> Integer.compare(a.get(0), b.get(0)));
                    steps.add(new Step.CollectivePermute(pairs, moved));
                }
                case SEND_RECV -> steps.add(new Step.SendRecv(groups, moved));
                default -> throw new AssertionError(e.getKey());
            }
        }
        return steps;
    }

    /** True when {@code moved} is already ordered by receiving rank, then sending rank (no pair repeats). */
    private static boolean byReceiverThenSender(List<Transfer> moved) {
        for (int k = 1; k < moved.size(); k++) {
            Transfer a = moved.get(k - 1);
            Transfer b = moved.get(k);
            if (a.dst() > b.dst() || (a.dst() == b.dst() && a.src() > b.src())) {
                return false;
            }
        }
        return true;
    }

    /**
     * The pattern of one connected group. Each receiver gets at most one piece from each sender (the pieces of one
     * receiver come from distinct source slices, each held by a distinct rank), so counting transfers per sender and
     * per receiver counts distinct partners. The arrays are indexed by rank, zero on entry and left zero.
     */
    private static Pattern pattern(List<Integer> group, List<Transfer> transfers, List<Box> targets, int[] sent,
                                   int[] received, Box[] firstBox, boolean[] mixed) {
        int g = group.size();
        for (Transfer t : transfers) {
            int s = t.src();
            if (sent[s]++ == 0) {
                firstBox[s] = t.box();
            } else if (!mixed[s] && !firstBox[s].equals(t.box())) {
                mixed[s] = true;
            }
            received[t.dst()]++;
        }
        boolean complete = true;
        boolean sameBox = true;
        for (int s : group) {
            if (sent[s] != g - 1) {
                complete = false;
                break;
            }
            sameBox &= !mixed[s];
        }
        Pattern out;
        if (complete) {
            boolean sameTarget = true;
            Box first = targets.get(group.get(0));
            for (int r : group) {
                sameTarget &= targets.get(r).equals(first);
            }
            out = sameBox && sameTarget ? Pattern.ALL_GATHER : Pattern.ALL_TO_ALL;
        } else {
            boolean permute = true;
            for (Transfer t : transfers) {
                permute &= sent[t.src()] <= 1 && received[t.dst()] <= 1;
            }
            out = permute ? Pattern.COLLECTIVE_PERMUTE : Pattern.SEND_RECV;
        }
        for (Transfer t : transfers) {
            sent[t.src()] = 0;
            received[t.dst()] = 0;
            firstBox[t.src()] = null;
            mixed[t.src()] = false;
        }
        return out;
    }

    /** Dimensions in which some moved box is narrower than the sender's source (or the receiver's target) box. */
    private static int[] cutDims(List<Transfer> moved, List<Box> boxes, boolean bySender) {
        int dims = moved.get(0).box().rank();
        boolean[] cut = new boolean[dims];
        for (Transfer t : moved) {
            Box whole = boxes.get(bySender ? t.src() : t.dst());
            for (int i = 0; i < dims; i++) {
                cut[i] |= t.box().extent(i) < whole.extent(i);
            }
        }
        int[] out = new int[dims];
        int k = 0;
        for (int i = 0; i < dims; i++) {
            if (cut[i]) {
                out[k++] = i;
            }
        }
        return Arrays.copyOf(out, k);
    }

    private static int find(int[] parent, int x) {
        while (parent[x] != x) {
            parent[x] = parent[parent[x]];
            x = parent[x];
        }
        return x;
    }
}
