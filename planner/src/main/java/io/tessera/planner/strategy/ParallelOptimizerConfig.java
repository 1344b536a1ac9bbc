package io.tessera.planner.strategy;

/**
 * {@code parallel.parallel_optimizer_config}: when optimizer parallel shards a parameter, and over how many devices.
 *
 * @param thresholdKb              {@code parallel_optimizer_threshold}: parameters whose full size in KB (1024
 *                                 bytes) is below this are not sharded; >= 0, default 64
 * @param optimizerWeightShardSize {@code optimizer_weight_shard_size}: the shard group size, -1 (default) for the
 *                                 whole repeated-calculation group, else >= 1
 */
public record ParallelOptimizerConfig(long thresholdKb, int optimizerWeightShardSize) {

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

    /** The defaults: 64 KB, shard size -1. */
    public static ParallelOptimizerConfig defaults() {
        return new ParallelOptimizerConfig(DEFAULT_THRESHOLD_KB, DEFAULT_SHARD_SIZE);
    }

    /** A configuration with the given threshold (KB) and shard size (-1 for the whole group). */
    public static ParallelOptimizerConfig of(long thresholdKb, int optimizerWeightShardSize) {
        return new ParallelOptimizerConfig(thresholdKb, optimizerWeightShardSize);
    }

    /** The threshold in bytes ({@code thresholdKb * 1024}). */
    public long thresholdBytes() {
        return thresholdKb * 1024;
    }
}
