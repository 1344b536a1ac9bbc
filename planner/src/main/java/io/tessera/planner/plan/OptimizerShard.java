package io.tessera.planner.plan;

import java.util.ArrayList;
import java.util.List;

/**
 * Whether a parameter's optimizer state is sharded (optimizer parallel, spec §5), over which groups, and why not when
 * it is not. The shard is along dimension 0 of the parameter's model-parallel slice. Immutable.
 *
 * @param sharded      whether the parameter is sharded
 * @param reason       why not (null when sharded)
 * @param shards       the number of shards of the model-parallel slice (1 when not sharded)
 * @param groups       the AllGather / ReduceScatter groups (each a contiguous chunk of a repeated-calculation group),
 *                     ascending; empty when not sharded
 * @param mirrorGroups the strided groups whose gradients are also AllReduced when {@code optimizer_weight_shard_size}
 *                     is smaller than the repeated group; empty otherwise
 * @param step         the rank stride inside a group ({@code opt_weight_shard_step}); 0 when not sharded
 * @param configured   the configured {@code optimizer_weight_shard_size} ({@code -1} = the whole repeated group)
 */
public record OptimizerShard(boolean sharded, String reason, int shards, List<List<Integer>> groups,
                             List<List<Integer>> mirrorGroups, int step, int configured) {

    /** Copies the lists. */
    public OptimizerShard {
        groups = copy(groups);
        mirrorGroups = copy(mirrorGroups);
    }

    /** A parameter that is not sharded, with the reason. */
    public static OptimizerShard none(String reason, int configured) {
        return new OptimizerShard(false, reason, 1, List.of(), List.of(), 0, configured);
    }

    /** The group holding {@code rank}, or null when not sharded or the rank is in none. */
    public List<Integer> groupOf(int rank) {
        for (List<Integer> g : groups) {
            if (g.contains(rank)) {
                return g;
            }
        }
        return null;
    }

    /** {@code opt_weight_shard_size} as a strategy checkpoint records it: the configured size, -1 when not set. */
    public int checkpointSize() {
        return sharded ? configured : -1;
    }

    private static List<List<Integer>> copy(List<List<Integer>> groups) {
        List<List<Integer>> out = new ArrayList<>(groups.size());
        for (List<Integer> g : groups) {
            out.add(List.copyOf(g));
        }
        return List.copyOf(out);
    }
}
