package io.tessera.simulator.numeric;

import io.tessera.layout.DType;
import io.tessera.planner.api.StrategyPlans;
import io.tessera.planner.plan.Plan;
import io.tessera.planner.strategy.StrategyFile;
import io.tessera.planner.strategy.StrategyFiles;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The tiny Llama of the shipped {@code strategies/models/llama-tiny.json} (hidden 64, 2 layers, 4 heads, 2 KV heads:
 * grouped-query FlashAttention, RoPE, SwiGLU, RMSNorm), named by a strategy file's {@code hf_config}, trains on 2
 * and 4 data-parallel ranks exactly as on one device (float32 within 1e-5, float64 within 1e-12).
 */
class LlamaHfConfigSimulationTest {

    private static final Path TINY = Path.of("..", "strategies", "models", "llama-tiny.json").toAbsolutePath();

    @TempDir
    Path tmp;

    @ParameterizedTest(name = "data parallel {0}, {1}")
    @CsvSource({"2, float32", "2, float64", "4, float32"})
    void dataParallelStepsEqualOneDevice(int dp, String dtype) throws IOException {
        Path file = tmp.resolve("llama-dp.json");
        Files.writeString(file, "{\"network\": {\"hf_config\": \"" + TINY.toString().replace("\\", "\\\\")
                + "\", \"args\": {\"batch\": 4, \"seq\": 16}}, \"devices\": " + dp
                + ", \"parallel\": {\"parallel_mode\": \"data_parallel\"}}");
        StrategyFile f = StrategyFiles.read(file);
        Plan plan = StrategyPlans.plan(f);
        assertEquals("llama", plan.network().name());
        assertTrue(plan.network().hasNode("model.layers.1.self_attn.attention"));
        DType d = DType.parse(dtype);
        SimulationOptions options = SimulationOptions.defaults().withSteps(2).withDtype(d);
        SimulationReport r = Simulation.run(plan, options);
        System.out.printf(Locale.ROOT, "llama-tiny data parallel %d %s: max rel err %.3e%n", dp, dtype,
                r.maxRelError());
        assertTrue(r.passed(), r.summary());
        assertEquals(2, r.steps().size());
        assertTrue(r.maxRelError() <= (d == DType.FLOAT64 ? 1e-12 : 1e-5), r.summary());
        for (SimulationReport.Step s : r.steps()) {
            assertTrue(Double.isFinite(s.lossSingle()) && s.lossSingle() > 0, r.summary());
        }
        for (String p : new String[] {"model.embed_tokens.weight", "model.layers.0.self_attn.k_proj.weight",
            "model.layers.1.mlp.down_proj.weight", "model.layers.1.input_layernorm.weight", "lm_head.weight"}) {
            assertTrue(r.paramErrors().containsKey(p), p + " in " + r.paramErrors().keySet());
        }
    }
}
