package io.tessera.layout.redistribution;

import io.tessera.layout.Box;
import io.tessera.layout.Layout;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.function.ToDoubleFunction;

/**
 * Runs redistribution steps on real data over N in-process ranks. Each rank holds a list of blocks; exchange steps
 * copy boxes from the sender's blocks to the receiver, reductions combine the group's blocks element-wise, and the
 * local steps cut or assemble each rank's block. Deterministic: the same input gives bit-identical output.
 */
public final class RedistributionExecutor {

    private RedistributionExecutor() {
    }

    /**
     * Runs {@code plan} on {@code inputs} (index = rank, each the rank's source slice) and returns each rank's
     * resulting block.
     *
     * @throws IllegalArgumentException when the inputs do not match the plan's source slices
     * @throws IllegalStateException    naming the step, the operation and the rank when a step cannot run
     */
    public static List<Block> run(RedistributionPlan plan, List<Block> inputs) {
        if (inputs.size() != plan.ranks()) {
            throw new IllegalArgumentException("redistribution: " + inputs.size() + " input blocks for a plan over "
                    + plan.ranks() + " ranks; give one block per rank");
        }
        for (int r = 0; r < inputs.size(); r++) {
            Box expected = plan.from().sliceBox(r);
            if (!inputs.get(r).box().equals(expected)) {
                throw new IllegalArgumentException("redistribution: rank " + r + " holds " + inputs.get(r).box()
                        + " but the source layout gives it " + expected);
            }
        }
        return run(plan.steps(), inputs);
    }

    /**
     * Runs {@code steps} on per-rank blocks (index = rank) and returns each rank's single resulting block.
     *
     * @throws IllegalStateException naming the step, the operation and the rank when a step cannot run, or when a
     *                               rank ends holding more than one block
     */
    public static List<Block> run(List<Step> steps, List<Block> inputs) {
        int n = inputs.size();
        List<List<Block>> held = new ArrayList<>(n);
        for (Block b : inputs) {
            held.add(new ArrayList<>(List.of(b)));
        }
        for (int i = 0; i < steps.size(); i++) {
            Step s = steps.get(i);
            String where = "step " + i + " (" + s.op() + ")";
            if (s instanceof Step.Exchange e) {
                exchange(where, e, held);
            } else if (s instanceof Step.AllReduce a) {
                for (List<Integer> g : a.groups()) {
                    Block sum = reduce(where, g, a.reduce(), held);
                    g.forEach(r -> held.set(r, new ArrayList<>(List.of(sum))));
                }
            } else if (s instanceof Step.ReduceScatter rs) {
                for (List<Integer> g : rs.groups()) {
                    Block sum = reduce(where, g, rs.reduce(), held);
                    for (int r : g) {
                        Box keep = rs.results().get(r);
                        if (keep == null || !sum.box().contains(keep)) {
                            throw new IllegalStateException(where + ": rank " + r + " is to keep " + keep
                                    + ", which is not inside the reduced block " + sum.box());
                        }
                        held.set(r, new ArrayList<>(List.of(sum.region(keep))));
                    }
                }
            } else if (s instanceof Step.Slice sl) {
                for (int r = 0; r < n; r++) {
                    Box keep = sl.boxes().get(r);
                    Block from = holder(held.get(r), keep);
                    if (from == null) {
                        throw new IllegalStateException(where + ": rank " + r + " is to keep " + keep
                                + " but holds no block containing it");
                    }
                    held.set(r, new ArrayList<>(List.of(from.region(keep))));
                }
            } else if (s instanceof Step.Concat c) {
                for (int r = 0; r < n; r++) {
                    try {
                        held.set(r, new ArrayList<>(List.of(Block.assemble(c.boxes().get(r), held.get(r)))));
                    } catch (IllegalStateException ex) {
                        throw new IllegalStateException(where + ": rank " + r + " " + ex.getMessage(), ex);
                    }
                }
            } else {
                throw new IllegalStateException(where + ": unknown step " + s);
            }
        }
        List<Block> out = new ArrayList<>(n);
        for (int r = 0; r < n; r++) {
            if (held.get(r).size() != 1) {
                throw new IllegalStateException("rank " + r + " ends holding " + held.get(r).size()
                        + " blocks; a plan must end with one block per rank (add a Concat step)");
            }
            out.add(held.get(r).get(0));
        }
        return out;
    }

    private static void exchange(String where, Step.Exchange e, List<List<Block>> held) {
        List<List<Block>> incoming = new ArrayList<>(held.size());
        for (int r = 0; r < held.size(); r++) {
            incoming.add(new ArrayList<>());
        }
        for (Transfer t : e.transfers()) {
            if (t.src() >= held.size() || t.dst() >= held.size()) {
                throw new IllegalStateException(where + ": transfer " + t.src() + " -> " + t.dst()
                        + " names a rank outside 0.." + (held.size() - 1));
            }
            Block from = holder(held.get(t.src()), t.box());
            if (from == null) {
                throw new IllegalStateException(where + ": rank " + t.src() + " is to send " + t.box() + " to rank "
                        + t.dst() + " but holds no block containing it");
            }
            incoming.get(t.dst()).add(from.region(t.box()));
        }
        for (int r = 0; r < held.size(); r++) {
            held.get(r).addAll(incoming.get(r));
        }
    }

    private static Block reduce(String where, List<Integer> group, ReduceOp op, List<List<Block>> held) {
        Block first = single(where, group.get(0), held);
        double[] acc = first.data();
        for (int k = 1; k < group.size(); k++) {
            Block b = single(where, group.get(k), held);
            if (!b.box().equals(first.box())) {
                throw new IllegalStateException(where + ": rank " + group.get(k) + " holds " + b.box() + " but rank "
                        + group.get(0) + " holds " + first.box() + "; a reduction needs the same box on every member");
            }
            double[] d = b.data();
            for (int j = 0; j < acc.length; j++) {
                acc[j] = switch (op) {
                    case SUM, MEAN -> acc[j] + d[j];
                    case MAX -> Math.max(acc[j], d[j]);
                    case MIN -> Math.min(acc[j], d[j]);
                };
            }
        }
        if (op == ReduceOp.MEAN) {
            for (int j = 0; j < acc.length; j++) {
                acc[j] /= group.size();
            }
        }
        return Block.of(first.box(), acc);
    }

    private static Block single(String where, int rank, List<List<Block>> held) {
        if (held.get(rank).size() != 1) {
            throw new IllegalStateException(where + ": rank " + rank + " holds " + held.get(rank).size()
                    + " blocks; a reduction needs exactly one");
        }
        return held.get(rank).get(0);
    }

    private static Block holder(List<Block> blocks, Box box) {
        for (Block b : blocks) {
            if (b.box().contains(box)) {
                return b;
            }
        }
        return null;
    }

    /** Each rank's slice of a tensor in {@code layout} whose element at global index {@code idx} is {@code f(idx)}. */
    public static List<Block> sourceBlocks(Layout layout, ToDoubleFunction<long[]> values) {
        List<Block> out = new ArrayList<>(layout.deviceCount());
        for (int r = 0; r < layout.deviceCount(); r++) {
            out.add(Block.fill(layout.sliceBox(r), values));
        }
        return out;
    }

    /**
     * Executes {@code plan} on distinct values (each element's row-major global index plus one) and reports whether
     * every rank ended with exactly its target slice.
     */
    public static boolean verify(RedistributionPlan plan) {
        long[] shape = plan.from().shape();
        ToDoubleFunction<long[]> value = idx -> {
            double v = 0;
            for (int i = 0; i < idx.length; i++) {
                v = v * shape[i] + idx[i];
            }
            return v + 1;
        };
        List<Block> result;
        try {
            result = run(plan, sourceBlocks(plan.from(), value));
        } catch (IllegalStateException e) {
            return false;
        }
        List<Block> expected = sourceBlocks(plan.to(), value);
        for (int r = 0; r < expected.size(); r++) {
            if (!expected.get(r).box().equals(result.get(r).box())
                    || !Arrays.equals(expected.get(r).data(), result.get(r).data())) {
                return false;
            }
        }
        return true;
    }
}
