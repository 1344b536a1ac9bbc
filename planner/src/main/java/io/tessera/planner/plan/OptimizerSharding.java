package io.tessera.planner.plan;

import io.tessera.layout.DType;
import io.tessera.layout.Layout;
import io.tessera.planner.op.OpComm;
import io.tessera.planner.strategy.ParallelOptimizerConfig;

import java.util.ArrayList;
import java.util.List;

/**
 * Decides optimizer parallelism for one parameter (spec §5). A parameter is sharded when the optimizer is parallel,
 * it is trainable, its {@code parallel_optimizer} is true, its full size is at least {@code
 * parallel_optimizer_threshold} KB, and its layout leaves repeated devices. The shard is along dimension 0 of the
 * model-parallel slice, split over the repeated group (or over contiguous chunks of {@code
 * optimizer_weight_shard_size} of it, whose gradients are then also AllReduced over the strided mirror groups); a
 * dimension 0 that does not divide is not sharded.
 */
public final class OptimizerSharding {

    private OptimizerSharding() {
    }

    /**
     * The decision for one parameter.
     *
     * @param enabled           {@code enable_parallel_optimizer}
     * @param config            threshold and shard size
     * @param trainable         whether the parameter requires a gradient
     * @param parallelOptimizer the parameter's {@code parallel_optimizer}
     * @param layout            the parameter's layout
     * @param dtype             its element type (for its size)
     */
    public static OptimizerShard decide(boolean enabled, ParallelOptimizerConfig config, boolean trainable,
                                        boolean parallelOptimizer, Layout layout, DType dtype) {
        int k = config.optimizerWeightShardSize();
        if (!enabled) {
            return OptimizerShard.none("enable_parallel_optimizer is false", k);
        }
        if (!trainable) {
            return OptimizerShard.none("not trainable (requires_grad is false)", k);
        }
        if (!parallelOptimizer) {
            return OptimizerShard.none("its parallel_optimizer is false", k);
        }
        long bytes = dtype.bytes();
        for (long d : layout.shape()) {
            bytes *= d;
        }
        if (bytes < config.thresholdBytes()) {
            return OptimizerShard.none(String.format(java.util.Locale.ROOT,
                    "its full size %.1f KB is below parallel_optimizer_threshold %d KB", bytes / 1024.0,
                    config.thresholdKb()), k);
        }
        int repeated = layout.repeatedCount();
        if (repeated == 1) {
            return OptimizerShard.none("no repeated devices: its layout already splits it over every device", k);
        }
        int shards = k == -1 ? repeated : k;
        if (repeated % shards != 0) {
            return OptimizerShard.none("optimizer_weight_shard_size " + k + " does not divide its repeated group of "
                    + repeated + " ranks", k);
        }
        if (layout.rank() == 0) {
            return OptimizerShard.none("a scalar has no dimension 0 to shard", k);
        }
        long dim0 = layout.shape()[0];
        long split = (long) layout.splits(0) * shards;
        if (dim0 % split != 0) {
            return OptimizerShard.none("dim 0 of size " + dim0 + " is split " + layout.splits(0) + " ways by the model "
                    + "and would be split " + split + " ways, which does not divide it", k);
        }
        // the repeated groups (ranks differing only in the device dims the layout does not use), each ascending,
        // cut into contiguous chunks of `shards`; mirrors take position j of each chunk
        boolean[] used = layout.usedDeviceDims();
        int devRank = layout.devMatrix().rank();
        List<Integer> unusedAxes = new ArrayList<>();
        for (int d = 0; d < devRank; d++) {
            if (!used[d]) {
                unusedAxes.add(devRank - 1 - d);
            }
        }
        List<List<Integer>> repeatedGroups = OpComm.groupsAlong(layout.devMatrix(),
                unusedAxes.stream().mapToInt(Integer::intValue).toArray());
        List<List<Integer>> groups = new ArrayList<>();
        List<List<Integer>> mirrors = new ArrayList<>();
        for (List<Integer> g : repeatedGroups) {
            for (int c = 0; c < g.size(); c += shards) {
                groups.add(g.subList(c, c + shards));
            }
            if (shards < g.size()) {
                for (int j = 0; j < shards; j++) {
                    List<Integer> m = new ArrayList<>();
                    for (int c = j; c < g.size(); c += shards) {
                        m.add(g.get(c));
                    }
                    mirrors.add(m);
                }
            }
        }
        groups.sort((a, b) -> Integer.compare(a.get(0), b.get(0)));
        mirrors.sort((a, b) -> Integer.compare(a.get(0), b.get(0)));
        int step = shards > 1 ? groups.get(0).get(1) - groups.get(0).get(0) : 0;
        return new OptimizerShard(true, null, shards, groups, mirrors, step, k);
    }

    /** The shape of one shard: the model-parallel slice with dimension 0 divided by the shard count. */
    public static long[] shardShape(Layout layout, OptimizerShard shard) {
        long[] s = layout.sliceShape();
        if (shard.sharded()) {
            s[0] /= shard.shards();
        }
        return s;
    }
}
