package io.tessera.simulator.cluster;

import io.tessera.layout.redistribution.Block;
import io.tessera.layout.redistribution.ReduceOp;
import io.tessera.layout.redistribution.Transfer;
import io.tessera.simulator.array.NDArray;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The collectives' exact semantics over named slots of the members' {@link RankState}s. Each factory returns a
 * {@link CollectiveFn} that reads slot {@code in} and writes slot {@code out}, on every member unless stated
 * otherwise; outputs are fresh arrays (never shared between members) and inputs are left untouched unless
 * {@code in} equals {@code out}. Reductions combine the members in group order, so results are deterministic.
 * A member whose input does not fit is named in a {@link MemberException}.
 */
public final class Collectives {

    private Collectives() {
    }

    /** Element-wise reduction of the members' equally shaped arrays; MEAN divides the sum by the group size. */
    public static CollectiveFn allReduce(String in, String out, ReduceOp op) {
        requireNames(in, out);
        requireOp(op);
        return members -> {
            List<NDArray> inputs = inputs(members, in);
            requireSameShape(members, inputs, in);
            double[] result = reduce(inputs, op);
            long[] shape = inputs.get(0).shape();
            for (RankState m : members) {
                m.put(out, NDArray.of(shape, result.clone()));
            }
        };
    }

    /**
     * Several AllReduces fused into one collective: each member's buffers are flattened and concatenated, reduced
     * as one, and split back into {@code outs[i]} with the shape of {@code ins[i]}. Equal, bit for bit, to
     * separate AllReduces.
     */
    public static CollectiveFn allReduce(List<String> ins, List<String> outs, ReduceOp op) {
        if (ins == null || outs == null || ins.isEmpty() || ins.size() != outs.size()) {
            throw new IllegalArgumentException("fused AllReduce: give as many output slots as input slots (at least"
                    + " one); got " + ins + " and " + outs);
        }
        ins.forEach(s -> requireNames(s, s));
        outs.forEach(s -> requireNames(s, s));
        requireOp(op);
        List<String> inSlots = List.copyOf(ins);
        List<String> outSlots = List.copyOf(outs);
        return members -> {
            int buffers = inSlots.size();
            long[][] shapes = new long[buffers][];
            int[] offsets = new int[buffers + 1];
            for (int b = 0; b < buffers; b++) {
                List<NDArray> inputs = inputs(members, inSlots.get(b));
                requireSameShape(members, inputs, inSlots.get(b));
                shapes[b] = inputs.get(0).shape();
                offsets[b + 1] = offsets[b] + inputs.get(0).size();
            }
            List<NDArray> flat = new ArrayList<>(members.size());
            for (RankState m : members) {
                double[] d = new double[offsets[buffers]];
                for (int b = 0; b < buffers; b++) {
                    NDArray a = m.get(inSlots.get(b));
                    System.arraycopy(a.data(), 0, d, offsets[b], a.size());
                }
                flat.add(NDArray.of(new long[] {d.length}, d));
            }
            double[] result = reduce(flat, op);
            for (RankState m : members) {
                for (int b = 0; b < buffers; b++) {
                    m.put(outSlots.get(b), NDArray.of(shapes[b],
                            Arrays.copyOfRange(result, offsets[b], offsets[b + 1])));
                }
            }
        };
    }

    /** Every member receives the members' arrays concatenated along {@code dim} in group order. */
    public static CollectiveFn allGather(String in, String out, int dim) {
        requireNames(in, out);
        return members -> {
            List<NDArray> inputs = inputs(members, in);
            NDArray gathered = concat(members, inputs, dim, in);
            for (RankState m : members) {
                m.put(out, gathered.copy());
            }
        };
    }

    /**
     * The element-wise reduction of the members' equally shaped arrays, split into as many equal parts along
     * {@code dim} as there are members: member j keeps part j.
     */
    public static CollectiveFn reduceScatter(String in, String out, int dim, ReduceOp op) {
        requireNames(in, out);
        requireOp(op);
        return members -> {
            List<NDArray> inputs = inputs(members, in);
            requireSameShape(members, inputs, in);
            NDArray reduced = NDArray.of(inputs.get(0).shape(), reduce(inputs, op));
            List<NDArray> parts = split(members.get(0).rank(), reduced, dim, members.size(), in);
            for (int j = 0; j < members.size(); j++) {
                members.get(j).put(out, parts.get(j));
            }
        };
    }

    /**
     * Member i splits its array into as many equal parts along {@code splitDim} as there are members and sends part
     * j to member j, which concatenates the parts it receives in member order along {@code concatDim}.
     */
    public static CollectiveFn allToAll(String in, String out, int splitDim, int concatDim) {
        requireNames(in, out);
        return members -> {
            int g = members.size();
            List<NDArray> inputs = inputs(members, in);
            List<List<NDArray>> parts = new ArrayList<>(g);
            for (int i = 0; i < g; i++) {
                parts.add(split(members.get(i).rank(), inputs.get(i), splitDim, g, in));
            }
            List<NDArray> results = new ArrayList<>(g);
            for (int j = 0; j < g; j++) {
                List<NDArray> received = new ArrayList<>(g);
                for (int i = 0; i < g; i++) {
                    received.add(parts.get(i).get(j));
                }
                results.add(concat(members, received, concatDim, in));
            }
            for (int j = 0; j < g; j++) {
                members.get(j).put(out, results.get(j));
            }
        };
    }

    /** Every member receives a copy of the array of the member at position {@code rootIndex} of the group. */
    public static CollectiveFn broadcast(String in, String out, int rootIndex) {
        requireNames(in, out);
        if (rootIndex < 0) {
            throw new IllegalArgumentException("Broadcast: root index " + rootIndex + " is negative");
        }
        return members -> {
            if (rootIndex >= members.size()) {
                throw new IllegalArgumentException("Broadcast: root index " + rootIndex + " is outside a group of "
                        + members.size());
            }
            NDArray root = members.get(rootIndex).get(in).copy();
            for (RankState m : members) {
                m.put(out, root.copy());
            }
        };
    }

    /**
     * Point-to-point: for each pair {@code (srcIndex, dstIndex)} (positions in the group), the destination receives
     * a copy of the source's array. Each destination receives at most once; members that receive nothing keep their
     * slot {@code out} as it was.
     */
    public static CollectiveFn permute(String in, String out, List<int[]> pairs) {
        requireNames(in, out);
        if (pairs == null) {
            throw new IllegalArgumentException("CollectivePermute: pairs are required");
        }
        List<int[]> ps = new ArrayList<>(pairs.size());
        Set<Integer> dsts = new HashSet<>();
        for (int[] p : pairs) {
            if (p == null || p.length != 2 || p[0] < 0 || p[1] < 0) {
                throw new IllegalArgumentException("CollectivePermute: pair " + Arrays.toString(p)
                        + " must be two non-negative group positions (src, dst)");
            }
            if (!dsts.add(p[1])) {
                throw new IllegalArgumentException("CollectivePermute: position " + p[1]
                        + " receives more than once");
            }
            ps.add(p.clone());
        }
        return members -> {
            List<NDArray> sent = new ArrayList<>(ps.size());
            for (int[] p : ps) {
                if (p[0] >= members.size() || p[1] >= members.size()) {
                    throw new IllegalArgumentException("CollectivePermute: pair " + Arrays.toString(p)
                            + " is outside a group of " + members.size());
                }
                sent.add(members.get(p[0]).get(in).copy());
            }
            for (int k = 0; k < ps.size(); k++) {
                members.get(ps.get(k)[1]).put(out, sent.get(k));
            }
        };
    }

    /**
     * SendRecv between a group of two, {@code [sender, receiver]}: the receiver gets a copy of the sender's array in
     * slot {@code out} (replacing what was there). The pipeline stage boundary in forward.
     */
    public static CollectiveFn send(String in, String out) {
        requireNames(in, out);
        return members -> {
            requirePair(members, "SendRecv");
            members.get(1).put(out, inputs(members.subList(0, 1), in).get(0).copy());
        };
    }

    /**
     * SendRecv that accumulates, between a group of two {@code [sender, receiver]}: the sender's array in {@code in}
     * is added element-wise to the receiver's slot {@code out} (a copy is stored when that slot is empty). A sender
     * without slot {@code in} sends nothing (a zero gradient). The pipeline stage boundary in backward: the gradient
     * of a tensor sent between stages returns to its producer's gradient sum.
     */
    public static CollectiveFn sendAdd(String in, String out) {
        requireNames(in, out);
        return members -> {
            requirePair(members, "SendRecv(add)");
            RankState src = members.get(0);
            RankState dst = members.get(1);
            if (!src.has(in)) {
                return;
            }
            NDArray g = src.get(in);
            if (!dst.has(out)) {
                dst.put(out, g.copy());
                return;
            }
            NDArray acc = dst.get(out);
            if (!Arrays.equals(acc.shape(), g.shape())) {
                throw new MemberException(src.rank(), "'" + in + "' of rank " + src.rank() + " has shape "
                        + Arrays.toString(g.shape()) + " but '" + out + "' of rank " + dst.rank() + " has "
                        + Arrays.toString(acc.shape()));
            }
            double[] a = acc.data();
            double[] b = g.data();
            for (int i = 0; i < a.length; i++) {
                a[i] += b[i];
            }
        };
    }

    private static void requirePair(List<RankState> members, String what) {
        if (members.size() != 2) {
            throw new IllegalArgumentException(what + ": found a group of " + members.size() + " ranks "
                    + ranksOf(members) + "; expected two, [sender, receiver]");
        }
    }

    /**
     * A redistribution exchange step over {@code List<Block>} object slots: for each transfer (global ranks, which
     * must be members), the receiver appends to its slot {@code out} a copy of the transfer's box, cut from the
     * first block in the sender's slot {@code in} that contains it. Every region is cut before anything is
     * appended, and appended in transfer order; slot {@code out} is replaced by a new list.
     */
    public static CollectiveFn exchange(List<Transfer> transfers, String in, String out) {
        requireNames(in, out);
        if (transfers == null) {
            throw new IllegalArgumentException("exchange: transfers are required");
        }
        List<Transfer> ts = List.copyOf(transfers);
        return members -> {
            Map<Integer, RankState> byRank = new HashMap<>();
            for (RankState m : members) {
                byRank.put(m.rank(), m);
            }
            List<Block> cut = new ArrayList<>(ts.size());
            for (Transfer t : ts) {
                RankState src = byRank.get(t.src());
                if (src == null || !byRank.containsKey(t.dst())) {
                    throw new IllegalArgumentException("exchange: transfer " + t.src() + " -> " + t.dst()
                            + " names a rank outside the group " + ranksOf(members));
                }
                Block holder = null;
                for (Block b : blocks(src, in)) {
                    if (b.box().rank() == t.box().rank() && b.box().contains(t.box())) {
                        holder = b;
                        break;
                    }
                }
                if (holder == null) {
                    throw new MemberException(t.src(), "exchange: rank " + t.src() + " is to send " + t.box()
                            + " to rank " + t.dst() + " but holds no block containing it in '" + in + "'");
                }
                cut.add(holder.region(t.box()));
            }
            Map<Integer, List<Block>> received = new HashMap<>();
            for (int k = 0; k < ts.size(); k++) {
                int dst = ts.get(k).dst();
                List<Block> list = received.get(dst);
                if (list == null) {
                    list = byRank.get(dst).hasObject(out) ? new ArrayList<>(blocks(byRank.get(dst), out))
                            : new ArrayList<>();
                    received.put(dst, list);
                }
                list.add(cut.get(k));
            }
            for (Map.Entry<Integer, List<Block>> e : received.entrySet()) {
                byRank.get(e.getKey()).putObject(out, e.getValue());
            }
        };
    }

    /** The element-wise reduction of equally sized arrays in list order (MEAN: the sum divided by the count). */
    static double[] reduce(List<NDArray> inputs, ReduceOp op) {
        double[] acc = inputs.get(0).data().clone();
        for (int k = 1; k < inputs.size(); k++) {
            double[] d = inputs.get(k).data();
            switch (op) {
                case SUM:
                case MEAN:
                    for (int j = 0; j < acc.length; j++) {
                        acc[j] += d[j];
                    }
                    break;
                case MAX:
                    for (int j = 0; j < acc.length; j++) {
                        acc[j] = Math.max(acc[j], d[j]);
                    }
                    break;
                case MIN:
                    for (int j = 0; j < acc.length; j++) {
                        acc[j] = Math.min(acc[j], d[j]);
                    }
                    break;
                default:
                    throw new IllegalArgumentException("unknown reduction " + op);
            }
        }
        if (op == ReduceOp.MEAN) {
            int g = inputs.size();
            for (int j = 0; j < acc.length; j++) {
                acc[j] /= g;
            }
        }
        return acc;
    }

    /** The parts' concatenation along {@code dim}; the parts must agree on every other dimension. */
    static NDArray concat(List<RankState> members, List<NDArray> parts, int dim, String slot) {
        NDArray first = parts.get(0);
        checkDim(members.get(0).rank(), first, dim, slot);
        long[] shape = first.shape();
        long total = 0;
        for (int k = 0; k < parts.size(); k++) {
            NDArray p = parts.get(k);
            long[] s = p.shape();
            boolean fits = s.length == shape.length;
            for (int i = 0; fits && i < s.length; i++) {
                fits = i == dim || s[i] == shape[i];
            }
            if (!fits) {
                int rank = members.get(Math.min(k, members.size() - 1)).rank();
                throw new MemberException(rank, "'" + slot + "': cannot concatenate " + Arrays.toString(s)
                        + " (rank " + rank + ") with " + Arrays.toString(shape) + " along dim " + dim);
            }
            total += s[dim];
        }
        long outer = 1;
        for (int i = 0; i < dim; i++) {
            outer *= shape[i];
        }
        long inner = 1;
        for (int i = dim + 1; i < shape.length; i++) {
            inner *= shape[i];
        }
        shape[dim] = total;
        NDArray result = NDArray.zeros(shape);
        double[] dst = result.data();
        int rowOut = Math.toIntExact(total * inner);
        int offset = 0;
        for (NDArray p : parts) {
            int run = Math.toIntExact(p.dim(dim) * inner);
            double[] src = p.data();
            for (int o = 0; o < outer; o++) {
                System.arraycopy(src, o * run, dst, o * rowOut + offset, run);
            }
            offset += run;
        }
        return result;
    }

    /** {@code a} split into {@code parts} equal parts along {@code dim} ({@code rank} is blamed when it cannot). */
    static List<NDArray> split(int rank, NDArray a, int dim, int parts, String slot) {
        checkDim(rank, a, dim, slot);
        long[] shape = a.shape();
        if (shape[dim] % parts != 0) {
            throw new MemberException(rank, "'" + slot + "' of rank " + rank + ": dim " + dim + " of "
                    + Arrays.toString(shape) + " does not split into " + parts + " equal parts");
        }
        long outer = 1;
        for (int i = 0; i < dim; i++) {
            outer *= shape[i];
        }
        long inner = 1;
        for (int i = dim + 1; i < shape.length; i++) {
            inner *= shape[i];
        }
        long[] partShape = shape.clone();
        partShape[dim] = shape[dim] / parts;
        int run = Math.toIntExact(partShape[dim] * inner);
        int row = Math.toIntExact(shape[dim] * inner);
        double[] src = a.data();
        List<NDArray> out = new ArrayList<>(parts);
        for (int j = 0; j < parts; j++) {
            NDArray p = NDArray.zeros(partShape);
            double[] dst = p.data();
            for (int o = 0; o < outer; o++) {
                System.arraycopy(src, o * row + j * run, dst, o * run, run);
            }
            out.add(p);
        }
        return out;
    }

    private static void checkDim(int rank, NDArray a, int dim, String slot) {
        if (dim < 0 || dim >= a.ndim()) {
            throw new MemberException(rank, "'" + slot + "' of rank " + rank + " has shape "
                    + Arrays.toString(a.shape()) + ", which has no dim " + dim);
        }
    }

    private static List<NDArray> inputs(List<RankState> members, String slot) {
        List<NDArray> out = new ArrayList<>(members.size());
        for (RankState m : members) {
            NDArray a;
            try {
                a = m.get(slot);
            } catch (IllegalStateException e) {
                throw new MemberException(m.rank(), e.getMessage());
            }
            out.add(a);
        }
        return out;
    }

    private static void requireSameShape(List<RankState> members, List<NDArray> inputs, String slot) {
        long[] shape = inputs.get(0).shape();
        for (int k = 1; k < inputs.size(); k++) {
            if (!Arrays.equals(shape, inputs.get(k).shape())) {
                int rank = members.get(k).rank();
                throw new MemberException(rank, "'" + slot + "' of rank " + rank + " has shape "
                        + Arrays.toString(inputs.get(k).shape()) + " but rank " + members.get(0).rank() + " has "
                        + Arrays.toString(shape));
            }
        }
    }

    @SuppressWarnings("unchecked")
    private static List<Block> blocks(RankState state, String slot) {
        Object o;
        try {
            o = state.getObject(slot);
        } catch (IllegalStateException e) {
            throw new MemberException(state.rank(), e.getMessage());
        }
        if (!(o instanceof List<?> list)) {
            throw new MemberException(state.rank(), "'" + slot + "' of rank " + state.rank()
                    + " holds " + o.getClass().getSimpleName() + ", not a list of blocks");
        }
        for (Object e : list) {
            if (!(e instanceof Block)) {
                throw new MemberException(state.rank(), "'" + slot + "' of rank " + state.rank()
                        + " holds a " + (e == null ? "null" : e.getClass().getSimpleName()) + ", not a block");
            }
        }
        return (List<Block>) list;
    }

    private static List<Integer> ranksOf(List<RankState> members) {
        List<Integer> r = new ArrayList<>(members.size());
        for (RankState m : members) {
            r.add(m.rank());
        }
        return r;
    }

    private static void requireNames(String in, String out) {
        if (in == null || out == null || in.isEmpty() || out.isEmpty()) {
            throw new IllegalArgumentException("collective: slot names are required; got '" + in + "', '" + out
                    + "'");
        }
    }

    private static void requireOp(ReduceOp op) {
        if (op == null) {
            throw new IllegalArgumentException("collective: a reduction (sum, mean, max, min) is required");
        }
    }
}
