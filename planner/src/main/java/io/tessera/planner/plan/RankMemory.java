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

    /** The sum of every part. */
    public long total() {
        return params + gradients + optimizerState + masterCopies + gatheredWeights + recomputeBuffer + fusionBuffer;
    }
}
