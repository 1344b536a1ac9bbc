package io.tessera.simulator.timeline;

import io.tessera.planner.graph.Network;
import io.tessera.planner.plan.OpPlan;
import io.tessera.planner.plan.ParamPlan;
import io.tessera.planner.plan.Plan;

import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The prefetch limit of optimizer-parallel parameter AllGathers in a {@link Timeline} ({@link
 * TimelineOptions#prefetchLayers} {@code k >= 1}; ZeRO-3 as PyTorch FSDP runs it with forward / backward prefetch and
 * {@code limit_all_gathers}). The operators form units in program order: a transformer layer
 * ({@link Network#layerIndex}), or a run of consecutive operators outside the layers (the embedding; the final
 * LayerNorm, head and loss). An AllGather serving an operator of unit {@code u} starts no earlier than:
 * <ul>
 *   <li>forward: the forward compute of unit {@code u - k}'s first operator (0 for the first {@code k} units);</li>
 *   <li>backward (units in reverse): the backward compute of unit {@code u + k}'s last operator (its first backward;
 *       the end of the forward for the last {@code k} units).</li>
 * </ul>
 * The floors are per rank (ranks of one class of the class engine started together, so they share them). Not
 * thread-safe; one per simulation.
 */
final class PrefetchLimit {

    private final int layers;
    private final int[] unitOf;
    private final int[] unitFirst;
    private final int[] unitLast;
    private final Map<Integer, double[]> forwardStart = new HashMap<>();
    private final Map<Integer, double[]> backwardStart = new HashMap<>();

    /** The units of {@code ops} under a limit of {@code layers >= 1} units. */
    PrefetchLimit(List<OpPlan> ops, int layers) {
        this.layers = layers;
        unitOf = new int[ops.size()];
        int units = 0;
        for (int k = 0; k < ops.size(); k++) {
            boolean same = k > 0 && Network.layerIndex(ops.get(k).name()) == Network.layerIndex(ops.get(k - 1).name());
            unitOf[k] = same ? units - 1 : units++;
        }
        unitFirst = new int[units];
        unitLast = new int[units];
        for (int k = ops.size() - 1; k >= 0; k--) {
            unitFirst[unitOf[k]] = k;
        }
        for (int k = 0; k < ops.size(); k++) {
            unitLast[unitOf[k]] = k;
        }
    }

    /** Per rank, the earliest start of the AllGathers before operator {@code k}'s forward; null: 0 everywhere. */
    double[] forwardFloor(int k) {
        return forwardStart.get(unitOf[k] - layers);
    }

    /**
     * Per rank, the earliest start of the AllGathers before operator {@code k}'s backward; {@code forwardEnd} for the
     * last units.
     */
    double[] backwardFloor(int k, double[] forwardEnd) {
        int anchor = unitOf[k] + layers;
        return anchor < unitFirst.length ? backwardStart.get(anchor) : forwardEnd;
    }

    /** Whether operator {@code k}'s forward start is a floor: it is the first of its unit. */
    boolean anchorsForward(int k) {
        return unitFirst[unitOf[k]] == k;
    }

    /** Whether operator {@code k}'s backward start is a floor: it is the last of its unit (its first backward). */
    boolean anchorsBackward(int k) {
        return unitLast[unitOf[k]] == k;
    }

    /** Records per rank when operator {@code k}'s forward compute started. */
    void forwardStarted(int k, double[] start) {
        forwardStart.put(unitOf[k], start);
    }

    /** Records per rank when operator {@code k}'s backward compute started. */
    void backwardStarted(int k, double[] start) {
        backwardStart.put(unitOf[k], start);
    }

    /**
     * Bytes of gathered weights live beyond the plan's single largest re-gathered one: the most gathered bytes
     * (model-parallel slices of sharded trainable parameters gathered again in backward, by their consuming operator's
     * unit) of {@code k + 1} consecutive units, minus {@code RankMemory.recomputeBuffer} (which the plan's memory
     * counts already); at least 0. The same on every rank (slices are equal-sized).
     */
    long windowBytes(Plan plan) {
        if (plan.devices() == 0) {
            return 0;
        }
        Map<String, Integer> index = new HashMap<>();
        for (int k = 0; k < plan.ops().size(); k++) {
            index.put(plan.ops().get(k).name(), k);
        }
        long[] perUnit = new long[unitFirst.length];
        for (ParamPlan p : plan.params()) {
            Integer k = p.consumer() == null ? null : index.get(p.consumer());
            if (k != null && p.shard().sharded() && p.recompute() && p.trainable()) {
                perUnit[unitOf[k]] += p.sliceBytes();
            }
        }
        long most = 0;
        for (int u = 0; u < perUnit.length; u++) {
            long window = 0;
            for (int v = u; v <= Math.min(perUnit.length - 1, u + layers); v++) {
                window += perUnit[v];
            }
            most = Math.max(most, window);
        }
        return Math.max(0, most - plan.memory(0).recomputeBuffer());
    }
}
