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
        // the movements as arrays: a redistribution over 1,024 ranks can move a million pieces
        long[] slice = from.sliceShape();
        long pieces = 0;
        for (int r = 0; r < n; r++) {
            pieces += pieces(slice, own[r], sources.get(r), targets.get(r));
        }
        TransferList.Builder transfers = new TransferList.Builder(from.rank(), (int) Math.min(pieces, 1 << 24));
        for (int r = 0; r < n; r++) {
            collectTransfers(splits, slice, own[r], replica[r], holder, replicas, r, sources.get(r), targets.get(r),
                    transfers);
        }
        List<Step> steps = new ArrayList<>();
        if (transfers.size() == 0) {
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
     * How many transfers {@link #collectTransfers} adds for a receiver: the source blocks (of shape {@code slice})
     * overlapping its target other than its own ({@code own}: its block's coordinates), none when its source holds
     * the target.
     */
    private static long pieces(long[] slice, long[] own, Box source, Box target) {
        if (source.contains(target)) {
            return 0;
        }
        long count = 1;
        boolean mine = true;
        for (int i = 0; i < slice.length; i++) {
            long lo = target.start(i) / slice[i];
            long hi = (target.end(i) - 1) / slice[i];
            count *= hi - lo + 1;
            mine &= own[i] >= lo && own[i] <= hi;
        }
        return mine ? count - 1 : count;
    }

    /**
     * Adds, for receiver {@code r} (source slice coordinates {@code own}, replica index {@code replica}), one transfer
     * per source block (other than its own) overlapping its target, sent by the block's holder of the same replica
     * index ({@code holder}: rank by slice index times {@code replicas} plus replica).
     */
    private static void collectTransfers(int[] splits, long[] slice, long[] own, int replica, int[] holder,
                                         int replicas, int r, Box source, Box target, TransferList.Builder out) {
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
        // the piece's corners: the block's intersection with the target (the builder copies them)
        long[] s = new long[dims];
        long[] e = new long[dims];
        while (true) {
            if (!Arrays.equals(c, own)) {
                for (int i = 0; i < dims; i++) {
                    long bs = c[i] * slice[i];
                    long be = bs + slice[i];
                    s[i] = Math.max(bs, target.start(i));
                    e[i] = Math.max(s[i], Math.min(be, target.end(i)));
                }
                int id = (int) sliceIndex(splits, c);
                out.add(holder[id * replicas + replica], r, s, e);
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
    private static List<Step> classify(int n, TransferList.Builder transfers, List<Box> sources, List<Box> targets) {
        int[] parent = new int[n];
        for (int i = 0; i < n; i++) {
            parent[i] = i;
        }
        int count = transfers.size();
        boolean[] involved = new boolean[n];
        for (int k = 0; k < count; k++) {
            int a = find(parent, transfers.src(k));
            int b = find(parent, transfers.dst(k));
            if (a != b) {
                parent[Math.max(a, b)] = Math.min(a, b);
            }
            involved[transfers.src(k)] = true;
            involved[transfers.dst(k)] = true;
        }
        // components keyed by their smallest member, which is the root; members ascending, transfers in order
        List<Integer>[] members = new List[n];
        int[] root = new int[n];
        for (int r = 0; r < n; r++) {
            if (involved[r]) {
                root[r] = find(parent, r);
                if (members[root[r]] == null) {
                    members[root[r]] = new ArrayList<>();
                }
                members[root[r]].add(r);
            }
        }
        // each component's transfer indices, in order: start[root] .. start[root + 1] of byComponent
        int[] start = new int[n + 1];
        for (int k = 0; k < count; k++) {
            start[root[transfers.dst(k)] + 1]++;
        }
        for (int r = 0; r < n; r++) {
            start[r + 1] += start[r];
        }
        int[] byComponent = new int[count];
        int[] fill = Arrays.copyOf(start, n);
        for (int k = 0; k < count; k++) {
            byComponent[fill[root[transfers.dst(k)]]++] = k;
        }
        Map<Pattern, List<Integer>> roots = new LinkedHashMap<>();
        for (Pattern p : Pattern.values()) {
            roots.put(p, new ArrayList<>());
        }
        int[] sent = new int[n];
        int[] received = new int[n];
        int[] firstBox = new int[n];
        boolean[] mixed = new boolean[n];
        for (int r = 0; r < n; r++) {
            if (members[r] != null) {
                roots.get(pattern(members[r], transfers, byComponent, start[r], start[r + 1], targets, sent,
                        received, firstBox, mixed)).add(r);
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
                size += start[r + 1] - start[r];
            }
            int[] order = new int[size];
            int at = 0;
            for (int r : e.getValue()) {
                groups.add(members[r]);
                int length = start[r + 1] - start[r];
                System.arraycopy(byComponent, start[r], order, at, length);
                at += length;
            }
            byReceiverThenSender(transfers, order, n);
            List<Transfer> moved = transfers.list(order);
            int[] split = cutDims(transfers, order, sources, true);
            int[] concat = cutDims(transfers, order, targets, false);
            switch (e.getKey()) {
                case ALL_GATHER -> steps.add(new Step.AllGather(groups, moved, concat));
                case ALL_TO_ALL -> steps.add(new Step.AllToAll(groups, moved, split, concat));
                case COLLECTIVE_PERMUTE -> {
                    List<List<Integer>> pairs = new ArrayList<>();
                    for (int k : order) {
                        pairs.add(List.of(transfers.src(k), transfers.dst(k)));
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

    /**
     * Orders the transfer indices {@code order} by receiving rank, then sending rank, keeping the order of equal
     * pairs (a stable sort; none when already ordered). {@code n}: the number of ranks.
     */
    private static void byReceiverThenSender(TransferList.Builder transfers, int[] order, int n) {
        boolean sorted = true;
        for (int k = 1; k < order.length && sorted; k++) {
            long a = (long) transfers.dst(order[k - 1]) * n + transfers.src(order[k - 1]);
            long b = (long) transfers.dst(order[k]) * n + transfers.src(order[k]);
            sorted = a <= b;
        }
        if (sorted) {
            return;
        }
        // key (receiver * n + sender) above the position: distinct keys, so a plain sort is stable
        long[] keys = new long[order.length];
        int bits = 64 - Long.numberOfLeadingZeros(Math.max(1, order.length - 1));
        if ((long) n * n > (Long.MAX_VALUE >>> bits)) {
            Integer[] boxed = new Integer[order.length];
            for (int k = 0; k < order.length; k++) {
                boxed[k] = order[k];
            }
            Arrays.sort(boxed, (x, y) -> transfers.dst(x) != transfers.dst(y)
                    ? Integer.compare(transfers.dst(x), transfers.dst(y))
                    : Integer.compare(transfers.src(x), transfers.src(y)));
            for (int k = 0; k < order.length; k++) {
                order[k] = boxed[k];
            }
            return;
        }
        for (int k = 0; k < order.length; k++) {
            long pair = (long) transfers.dst(order[k]) * n + transfers.src(order[k]);
            keys[k] = (pair << bits) | k;
        }
        Arrays.sort(keys);
        int[] was = order.clone();
        long mask = (1L << bits) - 1;
        for (int k = 0; k < order.length; k++) {
            order[k] = was[(int) (keys[k] & mask)];
        }
    }

    /**
     * The pattern of one connected group: its transfers are {@code byComponent[from .. to)}. Each receiver gets at
     * most one piece from each sender (the pieces of one receiver come from distinct source slices, each held by a
     * distinct rank), so counting transfers per sender and per receiver counts distinct partners. The arrays are
     * indexed by rank, zero on entry and left zero ({@code firstBox}: the index of a sender's first transfer).
     */
    private static Pattern pattern(List<Integer> group, TransferList.Builder transfers, int[] byComponent, int from,
                                   int to, List<Box> targets, int[] sent, int[] received, int[] firstBox,
                                   boolean[] mixed) {
        int g = group.size();
        for (int k = from; k < to; k++) {
            int t = byComponent[k];
            int s = transfers.src(t);
            if (sent[s]++ == 0) {
                firstBox[s] = t;
            } else if (!mixed[s] && !transfers.sameBox(firstBox[s], t)) {
                mixed[s] = true;
            }
            received[transfers.dst(t)]++;
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
            for (int k = from; k < to; k++) {
                int t = byComponent[k];
                permute &= sent[transfers.src(t)] <= 1 && received[transfers.dst(t)] <= 1;
            }
            out = permute ? Pattern.COLLECTIVE_PERMUTE : Pattern.SEND_RECV;
        }
        for (int k = from; k < to; k++) {
            int t = byComponent[k];
            sent[transfers.src(t)] = 0;
            received[transfers.dst(t)] = 0;
            firstBox[transfers.src(t)] = 0;
            mixed[transfers.src(t)] = false;
        }
        return out;
    }

    /**
     * Dimensions in which some moved box ({@code order}'s transfers) is narrower than the sender's source (or the
     * receiver's target) box.
     */
    private static int[] cutDims(TransferList.Builder transfers, int[] order, List<Box> boxes, boolean bySender) {
        int dims = boxes.get(0).rank();
        boolean[] cut = new boolean[dims];
        for (int t : order) {
            Box whole = boxes.get(bySender ? transfers.src(t) : transfers.dst(t));
            for (int i = 0; i < dims; i++) {
                cut[i] |= transfers.extent(t, i) < whole.extent(i);
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
