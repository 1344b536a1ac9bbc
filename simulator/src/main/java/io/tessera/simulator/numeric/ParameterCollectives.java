package io.tessera.simulator.numeric;

import io.tessera.layout.comm.CollectiveKind;
import io.tessera.planner.plan.Bucket;
import io.tessera.planner.plan.Communication;
import io.tessera.simulator.cluster.CollectiveFn;
import io.tessera.simulator.cluster.Collectives;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Emits the plan's collectives on parameters and their gradients, fused by the plan's buckets: optimizer-parallel
 * AllGathers (a fused bucket is gathered at its first member), and gradient reductions (AllReduce of the pending
 * partial sums, optimizer-parallel ReduceScatter and mirror AllReduce; a fused bucket is issued at its last member).
 */
final class ParameterCollectives {

    private final ExecutionContext cx;
    /** Index of each communication in the plan (by identity). */
    private final Map<Communication, Integer> commIndex = new IdentityHashMap<>();
    /** The fusion bucket of a communication's index, for buckets of two or more members. */
    private final Map<Integer, Bucket> bucketOf = new HashMap<>();
    /** Parameters whose forward (or recomputed) AllGather already ran in this micro-batch, in a fused bucket. */
    private final Set<String> gathered = new HashSet<>();

    ParameterCollectives(ExecutionContext cx) {
        this.cx = cx;
        // the fusion-bucket index: one pass over the plan's communications
        List<Communication> comms = cx.plan.comms();
        for (int i = 0; i < comms.size(); i++) {
            commIndex.put(comms.get(i), i);
        }
        for (Bucket b : cx.plan.buckets()) {
            if (b.comms().size() > 1) {
                b.comms().forEach(i -> bucketOf.put(i, b));
            }
        }
    }

    /** Starts a micro-batch: every parameter is gathered again. */
    void startMicroBatch() {
        gathered.clear();
    }

    private Bucket bucketOf(Communication c) {
        Integer at = commIndex.get(c);
        if (at == null) {
            throw new IllegalStateException("communication " + c + " is not one of the plan's communications; "
                    + "expected an operator's execution record to list the plan's own communication objects");
        }
        return bucketOf.get(at);
    }

    /**
     * Gathers a sharded parameter's slice by its AllGather {@code c}; when that is in a fused bucket, the whole
     * bucket is gathered as one collective at its first member and later members find their slice ready.
     */
    void gather(RankPrograms p, Communication c) {
        String param = c.parameter();
        if (gathered.contains(c.phase() + "/" + param)) {
            return;
        }
        Bucket bucket = bucketOf(c);
        List<String> members = new ArrayList<>();
        if (bucket == null) {
            members.add(param);
        } else {
            bucket.comms().forEach(i -> members.add(cx.plan.comms().get(i).parameter()));
        }
        members.forEach(m -> gathered.add(c.phase() + "/" + m));
        if (cx.plan.param(param).shard().shards() == 1) {
            p.compute("gather " + members, s -> members.forEach(m -> Slot.gathered(m).put(s,
                    Slot.param(m).get(s))));
            return;
        }
        List<CollectiveFn> fns = new ArrayList<>();
        for (String m : members) {
            fns.add(Collectives.allGather(Slot.param(m).key(), Slot.gathered(m).key(), 0));
        }
        p.collective((members.size() > 1 ? "fused AllGather " : "AllGather ") + members, c.groups(), group -> {
            for (CollectiveFn f : fns) {
                f.apply(group);
            }
        });
    }

    /**
     * Emits reduction {@code c}: alone, or, when it is in a fused bucket, the whole bucket once every member's data is
     * ready (at the bucket's last member; nothing at the others).
     */
    void reduce(RankPrograms p, Communication c) {
        Bucket bucket = bucketOf(c);
        if (bucket == null) {
            reduce(p, List.of(c));
        } else if (bucket.issuedAt() == commIndex.get(c)) {
            List<Communication> members = new ArrayList<>();
            bucket.comms().forEach(i -> members.add(cx.plan.comms().get(i)));
            reduce(p, members);
        }
    }

    /** The tensor whose gradient reduction {@code c} reduces (the planner names gradient tensors {@code grad/<t>}). */
    private static String gradientOf(Communication c) {
        String prefix = "grad/";
        if (!c.tensor().startsWith(prefix)) {
            throw new IllegalStateException("gradient reduction " + c + " moves tensor '" + c.tensor()
                    + "'; expected a gradient tensor named '" + prefix + "<tensor>'");
        }
        return c.tensor().substring(prefix.length());
    }

    /**
     * Runs the reductions {@code comms} (one, or the members of a fused bucket, which share kind, groups and
     * reduction) as one collective per group, and routes the results.
     */
    private void reduce(RankPrograms p, List<Communication> comms) {
        Communication first = comms.get(0);
        String label = (comms.size() > 1 ? "fused " : "") + first.kind() + "(" + first.reduce().jsonName() + ") "
                + (comms.size() > 1 ? comms.size() + " tensors" : first.tensor());
        if (first.kind() == CollectiveKind.REDUCE_SCATTER) {
            List<CollectiveFn> fns = new ArrayList<>();
            for (Communication c : comms) {
                fns.add(Collectives.reduceScatter(Slot.shardGradientSum(c.parameter()).key(),
                        Slot.shardGradient(c.parameter()).key(), 0, c.reduce()));
            }
            p.collective(label, first.groups(), group -> {
                for (CollectiveFn f : fns) {
                    f.apply(group);
                }
            });
            // the shards' gradients are also reduced over the mirror groups when the shard size is smaller than the
            // repeated group, fused per set of groups
            Map<List<List<Integer>>, List<String>> mirrors = new LinkedHashMap<>();
            for (Communication c : comms) {
                List<List<Integer>> g = cx.plan.param(c.parameter()).shard().mirrorGroups();
                if (!g.isEmpty()) {
                    mirrors.computeIfAbsent(g, k -> new ArrayList<>()).add(Slot.shardGradient(c.parameter()).key());
                }
            }
            for (Map.Entry<List<List<Integer>>, List<String>> m : mirrors.entrySet()) {
                p.collective("AllReduce(" + first.reduce().jsonName() + ") mirror " + m.getValue(), m.getKey(),
                        Collectives.allReduce(m.getValue(), m.getValue(), first.reduce()));
            }
            return;
        }
        List<Slot> slots = new ArrayList<>();
        List<Slot> targets = new ArrayList<>();
        for (Communication c : comms) {
            String t = gradientOf(c);
            slots.add(Slot.pending(t, c.groups()));
            targets.add(Slot.gradient(t));
        }
        List<String> keys = slots.stream().map(Slot::key).toList();
        p.collective(label, first.groups(), Collectives.allReduce(keys, keys, first.reduce()));
        p.compute("accumulate " + label, s -> {
            for (int k = 0; k < slots.size(); k++) {
                targets.get(k).add(s, slots.get(k).get(s));
                slots.get(k).remove(s);
            }
        });
    }
}
