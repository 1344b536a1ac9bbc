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
 * @param fp8Weights      Transformer Engine's cached FP8 copies of the weights FP8 products read
 *                        ({@code MatMul gemm_dtype}): 2 bytes per element of the weight's slice (the row-wise and the
 *                        transposed 1-byte copy, both kept across a step's micro-batches); 0 without FP8
 */
public record RankMemory(int rank, long params, long gradients, long optimizerState, long masterCopies,
                         long gatheredWeights, long recomputeBuffer, long fusionBuffer, long fp8Weights) {

    /** The memory of a network without FP8 products ({@code fp8Weights} 0). */
    public RankMemory(int rank, long params, long gradients, long optimizerState, long masterCopies,
                      long gatheredWeights, long recomputeBuffer, long fusionBuffer) {
        this(rank, params, gradients, optimizerState, masterCopies, gatheredWeights, recomputeBuffer, fusionBuffer,
                0);
    }

    /**
     * The record's form, {@code RankMemory[rank=0, params=..., fusionBuffer=...]}, with {@code fp8Weights} only when
     * above 0.
     */
    @Override
    public String toString() {
        return "RankMemory[rank=" + rank + ", params=" + params + ", gradients=" + gradients + ", optimizerState="
                + optimizerState + ", masterCopies=" + masterCopies + ", gatheredWeights=" + gatheredWeights
                + ", recomputeBuffer=" + recomputeBuffer + ", fusionBuffer=" + fusionBuffer
                + (fp8Weights > 0 ? ", fp8Weights=" + fp8Weights : "") + "]";
    }

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
                gatheredWeights, recomputeBuffer, fusionBuffer, fp8Weights);
    }

    private static long ceilDiv(long a, long b) {
        return (a + b - 1) / b;
    }

    /** The sum of every part. */
    public long total() {
        return params + gradients + optimizerState + masterCopies + gatheredWeights + recomputeBuffer + fusionBuffer
                + fp8Weights;
    }
}
