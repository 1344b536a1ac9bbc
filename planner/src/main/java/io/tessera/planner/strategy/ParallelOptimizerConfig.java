package io.tessera.planner.strategy;

/**
 * {@code parallel.parallel_optimizer_config}: when optimizer parallel shards a parameter, and over how many devices.
 *
 * @param thresholdKb              {@code parallel_optimizer_threshold}: parameters whose full size in KB (1024
 *                                 bytes) is below this are not sharded; >= 0, default 64
 * @param optimizerWeightShardSize {@code optimizer_weight_shard_size}: the shard group size, -1 (default) for the
 *                                 whole repeated-calculation group, else >= 1
 * @param gradientAccumulationShard {@code gradient_accumulation_shard}: a sharded parameter keeps only its shard of
 *                                 the accumulated gradient, so its ReduceScatter runs after every micro-batch
 *                                 instead of once per step (MindSpore's option; DeepSpeed ZeRO-3 and FSDP without
 *                                 {@code no_sync} do the same); default false
 */
public record ParallelOptimizerConfig(long thresholdKb, int optimizerWeightShardSize,
                                      boolean gradientAccumulationShard) {

    /** MindSpore's default threshold, 64 KB. */
    public static final long DEFAULT_THRESHOLD_KB = 64;

    /** MindSpore's default shard size, -1: the whole repeated-calculation group. */
    public static final int DEFAULT_SHARD_SIZE = -1;

    /** Validates the values. */
    public ParallelOptimizerConfig {
        if (thresholdKb < 0 || thresholdKb > Long.MAX_VALUE / 1024) {
            throw new IllegalArgumentException("parallel.parallel_optimizer_config.parallel_optimizer_threshold: "
                    + "found " + thresholdKb + "; expected a size in KB >= 0 (default 64) and < 2^53");
        }
        if (optimizerWeightShardSize != -1 && optimizerWeightShardSize < 1) {
            throw new IllegalArgumentException("parallel.parallel_optimizer_config.optimizer_weight_shard_size: "
                    + "found " + optimizerWeightShardSize
                    + "; expected -1 (the whole repeated group, the default) or a group size >= 1");
        }
    }

    /** A configuration without {@code gradient_accumulation_shard}. */
    public ParallelOptimizerConfig(long thresholdKb, int optimizerWeightShardSize) {
        this(thresholdKb, optimizerWeightShardSize, false);
    }

    /** The defaults: 64 KB, shard size -1, no gradient accumulation shard. */
    public static ParallelOptimizerConfig defaults() {
        return new ParallelOptimizerConfig(DEFAULT_THRESHOLD_KB, DEFAULT_SHARD_SIZE);
    }

    /** A configuration with the given threshold (KB) and shard size (-1 for the whole group). */
    public static ParallelOptimizerConfig of(long thresholdKb, int optimizerWeightShardSize) {
        return new ParallelOptimizerConfig(thresholdKb, optimizerWeightShardSize);
    }

    /** A copy with {@code gradient_accumulation_shard} set to {@code on}. */
    public ParallelOptimizerConfig withGradientAccumulationShard(boolean on) {
        return new ParallelOptimizerConfig(thresholdKb, optimizerWeightShardSize, on);
    }

    /** The threshold in bytes ({@code thresholdKb * 1024}). */
    public long thresholdBytes() {
        return thresholdKb * 1024;
    }
}
