package io.tessera.simulator.validation;

import java.util.List;
import java.util.Locale;

/**
 * One published, measured training run of a GPT model, as Tessera expresses it: the model, the parallel
 * configuration, the cluster preset and the measured iteration time. Immutable.
 *
 * @param table                the source table's id, e.g. {@code narayanan2021_table1}
 * @param model                the row's model name, e.g. {@code GPT 1.7B}
 * @param cluster              the cluster preset the run maps to, e.g. {@code a100-80gb-dgx}
 * @param layers               transformer layers
 * @param hidden               model width
 * @param heads                attention heads
 * @param ffn                  feed-forward width
 * @param seq                  sequence length, tokens
 * @param vocab                vocabulary size
 * @param tensor               tensor-parallel degree
 * @param pipeline             pipeline-parallel degree
 * @param data                 data-parallel degree
 * @param virtualPipeline      model chunks per pipeline device (1: no interleaving)
 * @param microBatchSize       sequences per micro-batch per data-parallel replica
 * @param globalBatchSize      sequences per iteration
 * @param recompute            {@code none}, {@code selective} or {@code full}
 * @param sequenceParallel     Megatron sequence parallelism
 * @param distributedOptimizer Megatron's distributed optimizer
 * @param overlapGradReduce    whether the data-parallel gradient reduction overlaps the backward
 * @param tpCommOverlap        Megatron-Core's {@code --tp-comm-overlap}
 * @param fusedAttention       whether attention runs as one fused (FlashAttention) kernel
 * @param precision            {@code fp16}, {@code bf16} or {@code fp8}
 * @param zeroStage            ZeRO stage: 3 shards every weight over the data-parallel group (DeepSpeed ZeRO-3,
 *                             FSDP); 0 otherwise (1 and 2 are the distributed optimizer)
 * @param measuredSeconds      the measured iteration time, seconds
 * @param assumptions          what the source does not state and Tessera assumes, one phrase each
 */
public record PublishedRun(String table, String model, String cluster, int layers, int hidden, int heads, int ffn,
                           int seq, int vocab, int tensor, int pipeline, int data, int virtualPipeline,
                           int microBatchSize, int globalBatchSize, String recompute, boolean sequenceParallel,
                           boolean distributedOptimizer, boolean overlapGradReduce, boolean tpCommOverlap,
                           boolean fusedAttention, String precision, int zeroStage,
                           double measuredSeconds, List<String> assumptions) {

    /** Validates positive sizes and degrees and copies the assumptions. */
    public PublishedRun {
        int[] v = {layers, hidden, heads, ffn, seq, vocab, tensor, pipeline, data, virtualPipeline, microBatchSize,
            globalBatchSize};
        for (int x : v) {
            if (x < 1) {
                throw new IllegalArgumentException("published run '" + model + "': a size or degree is " + x
                        + "; expected every size and degree >= 1");
            }
        }
        if (!(measuredSeconds > 0)) {
            throw new IllegalArgumentException("published run '" + model + "': measured iteration time is "
                    + measuredSeconds + " s; expected a positive time");
        }
        assumptions = List.copyOf(assumptions);
    }

    /** Devices: {@code tensor * pipeline * data}. */
    public int devices() {
        return tensor * pipeline * data;
    }

    /**
     * The strategy file that reproduces this run with {@code tessera simulate}: the zoo {@code gpt} as Megatron-LM
     * trains it (biases, dropout 0.1, causal mask; tied embeddings without pipeline stages, where the embedding
     * and the head share a stage: Megatron's copies in the first and last stage and their gradient AllReduce are not
     * modelled), the {@code parallelism} degrees and the
     * {@code cluster} preset.
     */
    public String strategyJson() {
        return String.format(Locale.ROOT, """
                {
                  "network": {"zoo": "gpt", "args": {"layers": %d, "hidden": %d, "heads": %d, "ffn": %d, \
                "seq": %d, "vocab": %d, "bias": true, "dropout": 0.1, "causal_mask": true, \
                "tied_embeddings": %b, "fused_attention": %b}},
                  "devices": %d,
                  "cluster": "%s",
                  "parallelism": {"tensor": %d, "sequence_parallel": %b, "pipeline": %d, "virtual_pipeline": %d, \
                "data": %d, "micro_batch_size": %d, "global_batch_size": %d, "recompute": "%s", \
                "distributed_optimizer": %b, "overlap_grad_reduce": %b, "tp_comm_overlap": %b, \
                "precision": "%s"%s}
                }
                """, layers, hidden, heads, ffn, seq, vocab, pipeline == 1, fusedAttention, devices(), cluster, tensor, sequenceParallel, pipeline,
                virtualPipeline, data, microBatchSize, globalBatchSize, recompute, distributedOptimizer,
                overlapGradReduce, tpCommOverlap, precision, zeroStage == 3 ? ", \"zero_stage\": 3" : "");
    }

    /** {@code tp 8 x pp 4 (v 3) x dp 32, mb 2, gbs 1792, full} */
    public String configuration() {
        return "tp " + tensor + " x pp " + pipeline + (virtualPipeline > 1 ? " (v " + virtualPipeline + ")" : "")
                + " x dp " + data + ", mb " + microBatchSize + ", gbs " + globalBatchSize + ", " + recompute
                + (sequenceParallel ? ", sp" : "") + (fusedAttention ? ", flash" : "") + (distributedOptimizer ? ", dist-opt" : "")
                + (zeroStage == 3 ? ", zero-3" : "") + ", " + precision;
    }
}
