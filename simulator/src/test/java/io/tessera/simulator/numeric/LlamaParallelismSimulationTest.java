package io.tessera.simulator.numeric;

import io.tessera.layout.DType;
import io.tessera.layout.comm.CollectiveKind;
import io.tessera.planner.api.StrategyPlans;
import io.tessera.planner.plan.Communication;
import io.tessera.planner.plan.PipelinePlan;
import io.tessera.planner.strategy.StrategyFile;
import io.tessera.planner.strategy.StrategyFiles;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.nio.file.Path;
import java.util.List;
import java.util.Locale;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The shipped tiny-Llama strategy files (hidden 64, 2 layers, 4 heads, 2 KV heads, seq 32, from
 * {@code strategies/models/llama-tiny.json}) expanded from their {@code parallelism} sections onto 16 ranks and trained
 * as on one device (float32 within 1e-5, float64 within 1e-12): tensor 2 x context 2 x data 2 x pipeline 2 in the
 * all-gather and the ring form (RoPE and the causal mask at the load-balanced global positions), and tensor 4 over
 * the 2 KV heads x data 2 x pipeline 2 (each KV head computed by the two ranks whose query heads use it). The plans
 * move nothing between the attention block's operators beyond what the form needs: no AllToAll anywhere, K/V gathered
 * over the context group in the all-gather form and never in the ring form.
 */
class LlamaParallelismSimulationTest {

    private static final Path STRATEGIES = Path.of("..", "strategies");

    @ParameterizedTest(name = "{0}, {1}")
    @CsvSource({"llama-tiny-tp2-cp2-dp2-pp2.json, float32", "llama-tiny-tp2-cp2-dp2-pp2.json, float64",
        "llama-tiny-ring-tp2-cp2-dp2-pp2.json, float32", "llama-tiny-ring-tp2-cp2-dp2-pp2.json, float64",
        "llama-tiny-gqa-tp4-dp2-pp2.json, float32", "llama-tiny-gqa-tp4-dp2-pp2.json, float64"})
    void sixteenRanksEqualOneDevice(String name, String dtype) {
        StrategyFile f = StrategyFiles.read(STRATEGIES.resolve(name));
        PipelinePlan pipe = StrategyPlans.pipelinePlan(f, null);
        assertEquals(16, pipe.devices());
        assertEquals(2, pipe.stages());
        assertEquals(2, pipe.microBatches());
        List<Communication> comms = pipe.plan().comms();
        assertFalse(comms.stream().anyMatch(c -> c.kind() == CollectiveKind.ALL_TO_ALL),
                "no rank permutation inside the attention block");
        boolean kvGathered = comms.stream().anyMatch(c -> c.kind() == CollectiveKind.ALL_GATHER
                && c.tensor().equals("model.layers.0.self_attn.k_rope"));
        assertEquals(name.contains("-cp2-") && !name.contains("ring"), kvGathered, "K gathered over the context group");

        DType d = DType.parse(dtype);
        SimulationReport r = Simulation.run(pipe, SimulationOptions.defaults().withSteps(2).withDtype(d));
        System.out.printf(Locale.ROOT, "%s %s: %d ranks, max rel err %.3e%n", name, dtype, r.ranks(),
                r.maxRelError());
        assertTrue(r.passed(), r.summary());
        assertTrue(r.maxRelError() <= (d == DType.FLOAT64 ? 1e-12 : 1e-5), r.summary());
        for (String p : new String[] {"model.layers.0.self_attn.k_proj.weight", "model.layers.1.self_attn.q_proj.weight",
            "model.layers.1.mlp.down_proj.weight", "model.embed_tokens.weight", "lm_head.weight"}) {
            assertTrue(r.paramErrors().containsKey(p), p + " in " + r.paramErrors().keySet());
        }
    }

    @Test
    void interleavedPipelineChunksEqualOneDevice() {
        StrategyFile f = StrategyFiles.parse(("{'network': {'zoo': 'llama', 'args': {'layers': 4, 'hidden': 64, "
                + "'heads': 4, 'kv_heads': 2, 'ffn': 128, 'seq': 32, 'vocab': 128}}, 'devices': 8, "
                + "'parallel': {'optimizer': 'momentum'}, 'parallelism': {'tensor': 2, 'pipeline': 2, "
                + "'virtual_pipeline': 2, 'data': 2, 'sequence_parallel': true, 'global_batch_size': 8}}")
                .replace('\'', '"'), null);
        PipelinePlan pipe = StrategyPlans.pipelinePlan(f, null);
        assertEquals(2, pipe.stages());
        assertEquals(2, pipe.virtualStages());
        // one layer per chunk, chunk c on stage c % 2: layers 0 and 2 on stage 0, layers 1 and 3 on stage 1
        assertEquals(0, pipe.opStages().get("model.layers.2.mlp.down_proj"));
        assertEquals(1, pipe.opStages().get("model.layers.1.mlp.down_proj"));
        SimulationReport r = Simulation.run(pipe, SimulationOptions.defaults().withSteps(2));
        System.out.printf(Locale.ROOT, "llama interleaved 2 x 2 chunks, tp 2 x dp 2: max rel err %.3e%n",
                r.maxRelError());
        assertTrue(r.passed(), r.summary());
    }
}
