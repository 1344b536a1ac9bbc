package io.tessera.planner.plan;

/**
 * The memory one rank needs for parameters and their training state, in bytes. Immutable.
 *
 * @param rank            the rank
 * @param params          parameters held between steps: optimizer shards of sharded parameters, whole slices of others
 * @param gradients       gradients of trainable parameters (the whole model-parallel slice, before any ReduceScatter)
 * @param optimizerState  optimizer state in float32: 0 (SGD), 1 (Momentum) or 2 (Adam) values per shard element
 * @param masterCopies    float32 master copies of float16 / bfloat16 trainable parameters (per shard element)
 * @param gatheredWeights gathered slices of sharded parameters without recompute, kept from forward to backward
 * @param recomputeBuffer the largest gathered slice of a recomputed parameter (gathered, used and freed one at a time)
 * @param fusionBuffer    the largest fusion bucket (one buffer, reused bucket after bucket)
 */
public record RankMemory(int rank, long params, long gradients, long optimizerState, long masterCopies,
                         long gatheredWeights, long recomputeBuffer, long fusionBuffer) {

    /**
     * This memory with the optimizer state and the master copies split over {@code shards} ranks (rounded up), as
     * Megatron's distributed optimizer (ZeRO stage 1) keeps them: each data-parallel rank holds the float32 state and
     * master weights of its {@code 1 / shards} share; parameters and gradients stay whole. {@code shards} 1 returns
     * this memory.
     *
     * @throws IllegalArgumentException when {@code shards < 1}
     */
    public RankMemory withOptimizerShards(int shards) {
        if (shards < 1) {
            throw new IllegalArgumentException("rank " + rank + " memory: optimizer shards " + shards
                    + "; expected at least 1 (the data-parallel degree with the distributed optimizer)");
        }
        if (shards == 1) {
            return this;
        }
        return new RankMemory(rank, params, gradients, ceilDiv(optimizerState, shards), ceilDiv(masterCopies, shards),
                gatheredWeights, recomputeBuffer, fusionBuffer);
    }

    private static long ceilDiv(long a, long b) {
        return (a + b - 1) / b;
    }

    /** The sum of every part. */
    public long total() {
        return params + gradients + optimizerState + masterCopies + gatheredWeights + recomputeBuffer + fusionBuffer;
    }
}
