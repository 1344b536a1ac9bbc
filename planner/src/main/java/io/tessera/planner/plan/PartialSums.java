package io.tessera.planner.plan;

import io.tessera.layout.comm.CollectiveKind;
import io.tessera.layout.redistribution.RedistributionPlan;
import io.tessera.layout.redistribution.ReduceOp;
import io.tessera.layout.redistribution.Step;
import io.tessera.layout.redistribution.Transfer;
import io.tessera.layout.redistribution.TransferList;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Sums the partial gradients of a tensor's consumers locally so that they are reduced once (AllReduce is linear).
 *
 * <p>Where several consumers of one tensor each leave a partial gradient to be AllReduced over the same groups, the
 * partials are summed and reduced by one communication, placed where the last of them was (in backward order, the
 * earliest consumer). Gradients that are complete on every rank are not merged into such a sum. A consumer whose
 * input was redistributed holds its partial in another layout: for an activation it keeps its own reduction (then
 * the transposed redistribution). For a trainable parameter used by several operators (e.g. a word table tied to the
 * vocabulary head) its partial is instead first carried back to the parameter's layout by the transposed
 * redistribution, still partial, and summed with the others, so that the parameter's gradient is reduced once per
 * step over its gradient group, as in MindSpore and Megatron; this is exact when every movement of that
 * redistribution stays among ranks holding the same share of the partial sum ({@link #commutes}), else (and when the
 * last contribution is itself a redistributed one) the consumer keeps its own reduction before the redistribution.
 * With pipeline stages only the partials of one stage are summed (each stage reduces its own over its own ranks
 * before the gradient returns to the producer's stage).
 */
final class PartialSums {

    private PartialSums() {
    }

    /** What makes two partial-gradient reductions one: stage, origin, tensor, groups and reduction. */
    private record SumKey(int stage, Communication.Origin origin, String tensor, List<List<Integer>> groups,
                          ReduceOp reduce) {
    }

    /**
     * The backward communications {@code comms} with the partial sums merged.
     *
     * @param comms          the backward communications, in plan order
     * @param redistributed  {@code operator#input} of every consumer whose input is redistributed in forward
     * @param backwardRoutes per {@code operator#input} the transposed redistribution returning the gradient
     * @param stageOf        pipeline stage by operator name (absent: stage 0)
     * @return the communications, merged reductions at the position of their last member, in plan order
     */
    static List<Communication> merge(List<Communication> comms, Set<String> redistributed,
                                     Map<String, RedistributionPlan> backwardRoutes, Map<String, Integer> stageOf) {
        Map<SumKey, List<Integer>> positions = new LinkedHashMap<>();
        Set<Integer> deferred = new HashSet<>();
        for (int i = 0; i < comms.size(); i++) {
            Communication c = comms.get(i);
            if (c.kind() != CollectiveKind.ALL_REDUCE || c.origin() == Communication.Origin.REDISTRIBUTION
                    || c.origin() == Communication.Origin.PARALLEL_OPTIMIZER) {
                continue;
            }
            String at = c.operator() + "#" + c.input();
            if (redistributed.contains(at)) {
                // a parameter's partial is summed after its transposed redistribution, where that is exact
                RedistributionPlan route = backwardRoutes.get(at);
                if (c.origin() != Communication.Origin.GRADIENT || route == null || !commutes(route, c.groups())) {
                    continue;
                }
                deferred.add(i);
            }
            int stage = c.operator() == null ? 0 : stageOf.getOrDefault(c.operator(), 0);
            positions.computeIfAbsent(new SumKey(stage, c.origin(), c.tensor(), c.groups(), c.reduce()),
                    k -> new ArrayList<>()).add(i);
        }
        Map<Integer, Communication> replace = new HashMap<>();
        Set<Integer> drop = new HashSet<>();
        for (List<Integer> all : positions.values()) {
            List<Integer> at = all;
            if (deferred.contains(at.get(at.size() - 1))) {
                // the sum would be reduced before the redistributed partial is back: each keeps its own reduction
                at = at.stream().filter(i -> !deferred.contains(i)).toList();
            }
            if (at.size() < 2) {
                continue;
            }
            List<String> ops = new ArrayList<>();
            List<String> moved = new ArrayList<>();
            for (int i : at) {
                ops.add(comms.get(i).operator());
                drop.add(i);
                if (deferred.contains(i)) {
                    moved.add(comms.get(i).operator());
                    returnPartial(comms, comms.get(i), replace);
                }
            }
            int last = at.get(at.size() - 1);
            Communication c = comms.get(last);
            java.util.Collections.reverse(ops);
            java.util.Collections.reverse(moved);
            String returned = moved.isEmpty() ? "" : " (the partials of " + moved + ", whose input was "
                    + "redistributed, first return to the parameter's layout)";
            replace.put(last, new Communication(c.kind(), c.origin(), c.phase(), c.operator(), c.input(), c.tensor(),
                    c.parameter(), c.reduce(), null, null, c.groups(), c.recvBytes(), "the partial gradients from "
                    + ops.size() + " consumers " + ops + " are summed locally, then reduced once" + returned + ": "
                    + c.reason()));
        }
        List<Communication> out = new ArrayList<>();
        for (int i = 0; i < comms.size(); i++) {
            if (replace.containsKey(i)) {
                out.add(replace.get(i));
            } else if (!drop.contains(i)) {
                out.add(comms.get(i));
            }
        }
        return out;
    }

    /** Notes on the transposed redistribution of deferred reduction {@code r} that it carries a partial gradient. */
    private static void returnPartial(List<Communication> comms, Communication r, Map<Integer, Communication> replace) {
        for (int k = 0; k < comms.size(); k++) {
            Communication c = comms.get(k);
            if (c.origin() == Communication.Origin.REDISTRIBUTION && c.phase() == r.phase()
                    && r.operator().equals(c.operator()) && c.input() == r.input()) {
                replace.put(k, c.withReason("still partial over the gradient group of parameter '" + r.parameter()
                        + "' (summed with its other consumers' partials, then reduced once): " + c.reason()));
            }
        }
    }

    /**
     * Whether redistributing a tensor that is partial over {@code groups} (each rank holds its share; the shares of
     * a group's members sum to the tensor) by {@code route} and then reducing over {@code groups} equals reducing
     * first: true when {@code route} has only local steps and point-to-point movements between ranks at the same
     * position in their groups (ranks computing the same share), so each share is redistributed on its own.
     */
    static boolean commutes(RedistributionPlan route, List<List<Integer>> groups) {
        // position in its group by rank, -1 for ranks in no group
        int size = route.ranks();
        for (List<Integer> g : groups) {
            for (int r : g) {
                size = Math.max(size, r + 1);
            }
        }
        int[] position = new int[size];
        java.util.Arrays.fill(position, -1);
        for (List<Integer> g : groups) {
            for (int k = 0; k < g.size(); k++) {
                position[g.get(k)] = k;
            }
        }
        for (Step s : route.steps()) {
            if (s instanceof Step.Exchange e && e.transfers() instanceof TransferList l) {
                // the ranks alone, without making a Transfer of each of up to a million pieces
                for (int k = 0; k < l.size(); k++) {
                    if (position[l.src(k)] < 0 || position[l.src(k)] != position[l.dst(k)]) {
                        return false;
                    }
                }
            } else if (s instanceof Step.Exchange e) {
                for (Transfer t : e.transfers()) {
                    if (position[t.src()] < 0 || position[t.src()] != position[t.dst()]) {
                        return false;
                    }
                }
            } else if (s.isCommunication()) {
                // a reduction inside the redistribution would mix the shares
                return false;
            }
        }
        return true;
    }
}
