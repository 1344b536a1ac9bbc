package io.tessera.simulator.timeline;

import io.tessera.planner.api.StrategyPlans;
import io.tessera.planner.cost.ClusterSpec;
import io.tessera.planner.plan.PipelinePlan;
import io.tessera.planner.strategy.ParallelOptimizerConfig;
import io.tessera.planner.strategy.StrategyFile;
import io.tessera.planner.strategy.StrategyFiles;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code gradient_accumulation_shard} (set by {@code zero_stage 3}): a sharded parameter keeps only its gradient
 * shard, so its ReduceScatter runs after every micro-batch, as DeepSpeed ZeRO-3 and FSDP do, instead of once per step.
 */
class GradientAccumulationShardTest {

    private static final String ZERO3 = """
            {"network": {"zoo": "gpt", "args": {"layers": 2, "hidden": 256, "heads": 4, "seq": 128, "vocab": 512}},
             "devices": 16, "cluster": {"preset": "a100-80gb-dgx", "inter_node": {"bandwidth": 1e9}},
             "parallel": {"optimizer": "adam"%s},
             "parallelism": {"tensor": 2, "data": 8, "micro_batch_size": 1, "global_batch_size": 32,
                             "zero_stage": 3}}
            """;

    private static StrategyFile file(String parallel) {
        return StrategyFiles.parse(String.format(ZERO3, parallel), Path.of("."));
    }

    @Test
    void zeroStage3ReduceScattersEveryMicroBatchAndKeepsGradientShards() {
        StrategyFile perMicro = file("");
        // the same sharding with the gradient accumulated whole and ReduceScattered once per step
        StrategyFile once = file(", \"parallel_optimizer_config\": {\"parallel_optimizer_threshold\": 0, "
                + "\"optimizer_weight_shard_size\": 8}");
        assertTrue(StrategyPlans.plan(perMicro).config().optimizerConfig().gradientAccumulationShard());
        assertFalse(StrategyPlans.plan(once).config().optimizerConfig().gradientAccumulationShard());

        PipelinePlan a = StrategyPlans.pipelinePlan(perMicro, null);
        PipelinePlan b = StrategyPlans.pipelinePlan(once, null);
        assertEquals(a.plan().comms().size(), b.plan().comms().size());
        // the gradient kept between micro-batches is the shard: 1/8 of the slice
        assertEquals(b.memory(0).gradients(), 8 * a.memory(0).gradients());

        ClusterSpec cluster = StrategyPlans.cluster(perMicro, a.devices()).orElseThrow();
        double stepA = StrategyStep.run(perMicro, a, cluster, null, null, true).stepSeconds();
        double stepB = StrategyStep.run(once, b, cluster, null, null, true).stepSeconds();
        System.out.printf("ReduceScatter per micro-batch %.3f ms, once per step %.3f ms%n", stepA * 1e3, stepB * 1e3);
        // four micro-batches: three more rounds of ReduceScatters over a slow inter-node link
        assertTrue(stepA > stepB, stepA + " vs " + stepB);
    }

    @Test
    void theOptionIsReadAndWritten() {
        StrategyFile f = file(", \"parallel_optimizer_config\": {\"gradient_accumulation_shard\": true}");
        ParallelOptimizerConfig c = f.parallel().parallelOptimizerConfig();
        assertTrue(c.gradientAccumulationShard());
        assertEquals(ParallelOptimizerConfig.defaults().withGradientAccumulationShard(true), c);
        String written = StrategyFiles.write(f);
        assertTrue(written.contains("\"gradient_accumulation_shard\": true"), written);
        assertEquals(f, StrategyFiles.parse(written, Path.of(".")));
    }
}
