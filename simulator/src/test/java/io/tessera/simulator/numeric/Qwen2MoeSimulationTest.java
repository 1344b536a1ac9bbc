package io.tessera.simulator.numeric;

import io.tessera.layout.comm.CollectiveKind;
import io.tessera.layout.comm.Phase;
import io.tessera.planner.api.StrategyPlans;
import io.tessera.planner.plan.Communication;
import io.tessera.planner.plan.Plan;
import io.tessera.planner.strategy.StrategyFile;
import io.tessera.planner.strategy.StrategyFiles;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.stream.Collectors;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A tiny Qwen2-MoE from the test resource {@code qwen2-moe/config.json} ({@code model_type qwen2_moe}: hidden 64, 3
 * layers of which layer 2 is dense ({@code mlp_only_layers}), 8 experts top-4 of width 32, not renormalised, a shared
 * expert of width 48 behind its sigmoid gate, q/k/v biases, the load-balancing loss), planned from a
 * {@code parallelism} section (expert 2 = data x context with tensor 2 and data 2, expert 4 = data 4, expert 2 inside data 4, and the experts
 * data parallel) and trained
 * with momentum exactly as on one device (float32 within 1e-5), dropless and with a tight capacity factor that drops
 * tokens (the same ones on every rank).
 */
class Qwen2MoeSimulationTest {

    private static final Path CONFIG = Path.of("src", "test", "resources", "qwen2-moe", "config.json")
            .toAbsolutePath();

    @TempDir
    Path tmp;

    @ParameterizedTest(name = "tensor {0} x data {1}, expert {2}, sp {3}, capacity factor {4}")
    @CsvSource({"2, 2, 2, false, 0", "2, 2, 2, false, 0.5", "2, 2, 2, true, 1.0", "2, 2, 1, false, 0",
        "1, 4, 4, false, 0.75", "1, 4, 2, false, 0.5"})
    void parallelStepsEqualOneDevice(int tensor, int data, int expert, boolean sp, double capacity)
            throws IOException {
        Path file = tmp.resolve("qwen-moe.json");
        Files.writeString(file, ("{'network': {'hf_config': '" + CONFIG.toString().replace("\\", "\\\\")
                + "', 'args': {'seq': 16, 'capacity_factor': " + capacity + "}}, 'devices': " + tensor * data
                + ", 'parallel': {'optimizer': 'momentum'}, 'parallelism': {'tensor': " + tensor + ", 'data': " + data
                + ", 'expert': " + expert + ", 'sequence_parallel': " + sp + ", 'micro_batch_size': 2}}")
                .replace('\'', '"'));
        StrategyFile f = StrategyFiles.read(file);
        Plan plan = StrategyPlans.plan(f);
        String m = "model.layers.0.mlp.";
        long tokens = 2L * data * 16;
        long[] buf = plan.network().tensor(m + "dispatch").shape();
        if (capacity > 0 && capacity < 1) {
            assertTrue(buf[0] * buf[1] * buf[2] < tokens * 4, "fewer slots than (token, choice) pairs: some are "
                    + "dropped, buffer " + java.util.Arrays.toString(buf));
        }
        assertEquals(data, buf[0], "one dispatch group per token split");
        assertFalse(plan.network().hasNode("model.layers.2.mlp.dispatch"), "mlp_only_layers [2]");
        assertTrue(plan.network().hasNode("model.layers.2.mlp.gate_proj"));
        List<Communication> a2a = plan.comms(Phase.FORWARD).stream()
                .filter(c -> c.kind() == CollectiveKind.ALL_TO_ALL).toList();
        Set<String> a2aOps = a2a.stream().map(Communication::operator).collect(Collectors.toSet());
        assertEquals(expert > 1 ? Set.of(m + "experts.gate_proj", m + "combine", "model.layers.1.mlp.experts.gate_proj",
                "model.layers.1.mlp.combine") : Set.of(), a2aOps, "AllToAll to and from the experts only");
        if (tensor > 1) {
            assertTrue(plan.comms(Phase.FORWARD).stream().anyMatch(c -> (m + "shared_expert.down_proj")
                    .equals(c.operator()) && c.kind() == CollectiveKind.ALL_REDUCE),
                    "the row-parallel shared expert's partial sums AllReduced over the tensor group");
        }
        SimulationReport r = Simulation.run(plan, SimulationOptions.defaults().withSteps(2));
        System.out.printf(Locale.ROOT, "qwen2-moe tiny tensor %d x data %d, expert %d, sp %b, capacity %.2f: %d ranks, "
                + "max rel err %.3e, loss %.6f%n", tensor, data, expert, sp, capacity, r.ranks(), r.maxRelError(),
                r.steps().get(0).lossSingle());
        assertTrue(r.passed(), r.summary());
        assertTrue(r.maxRelError() <= 1e-5, r.summary());
        for (String p : List.of(m + "gate.weight", m + "experts.gate_proj.weight", m + "experts.down_proj.weight",
                m + "shared_expert.up_proj.weight", m + "shared_expert_gate.weight",
                "model.layers.2.mlp.down_proj.weight", "model.layers.1.self_attn.k_proj.bias", "lm_head.weight")) {
            assertTrue(r.paramErrors().containsKey(p), p + " in " + r.paramErrors().keySet());
        }
    }
}
