package io.tessera.simulator.numeric;

import io.tessera.layout.comm.CollectiveKind;
import io.tessera.planner.api.StrategyPlans;
import io.tessera.planner.plan.PipelinePlan;
import io.tessera.planner.strategy.StrategyFiles;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.nio.file.Path;
import java.util.Locale;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The shipped tiny DeepSeek-V3 config ({@code strategies/models/deepseek-v3-tiny.json}: multi-head latent attention
 * with YaRN RoPE, a dense first layer, then 8 routed experts with sigmoid scores, the selection bias, grouped top-2
 * and scaling 2.5, and one shared expert) planned from {@code parallelism} sections over expert x tensor (sequence
 * parallel) x data x pipeline, with and without dropped tokens: two training steps equal one device (float32, 1e-5).
 */
class DeepseekV3SimulationTest {

    private static final Path TINY = Path.of("..", "strategies", "models", "deepseek-v3-tiny.json").toAbsolutePath();

    @ParameterizedTest(name = "tensor {0}, expert {1}, data {2}, pipeline {3}, capacity factor {4}")
    @CsvSource({"2, 2, 2, 1, 0", "1, 4, 4, 1, 1.25", "2, 2, 4, 1, 0.5", "1, 2, 2, 2, 0", "2, 1, 2, 1, 0"})
    void trainsAsOnOneDevice(int tensor, int expert, int data, int pipeline, double capacity) {
        String file = String.format(Locale.ROOT, "{\"network\": {\"hf_config\": \"%s\", \"args\": {\"seq\": 16, "
                + "\"capacity_factor\": %s}}, \"devices\": %d, \"parallel\": {\"optimizer\": \"momentum\"}, "
                + "\"parallelism\": {\"tensor\": %d, \"sequence_parallel\": %b, \"expert\": %d, \"data\": %d, "
                + "\"pipeline\": %d, \"micro_batch_size\": 1, \"global_batch_size\": %d}}",
                TINY.toString().replace("\\", "\\\\"), capacity, tensor * data * pipeline, tensor, tensor > 1, expert,
                data, pipeline, 2 * data);
        PipelinePlan pipe = StrategyPlans.pipelinePlan(StrategyFiles.parse(file, Path.of("")), null);
        long allToAll = pipe.plan().comms().stream().filter(c -> c.kind() == CollectiveKind.ALL_TO_ALL).count();
        SimulationReport r = Simulation.run(pipe, SimulationOptions.defaults().withSteps(2));
        System.out.printf(Locale.ROOT, "deepseek-v3-tiny tensor %d, expert %d, data %d, pipeline %d, capacity %s: "
                + "%d AllToAlls, max rel err %.3e%n", tensor, expert, data, pipeline, capacity, allToAll,
                r.maxRelError());
        assertTrue(r.passed(), r.summary());
        assertTrue(r.maxRelError() <= 1e-5, r.summary());
        assertEquals(expert > 1, allToAll > 0, "AllToAlls to and from the experts only with expert parallelism");
        for (String p : new String[] {"model.layers.0.self_attn.kv_a_proj_with_mqa.weight",
            "model.layers.0.mlp.down_proj.weight", "model.layers.3.mlp.experts.up_proj.weight",
            "model.layers.3.mlp.shared_experts.gate_proj.weight", "model.layers.2.mlp.gate.weight"}) {
            assertTrue(r.paramErrors().containsKey(p), p + " in " + r.paramErrors().keySet());
        }
    }
}
