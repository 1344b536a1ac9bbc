package io.tessera.simulator.numeric;

import io.tessera.layout.comm.CollectiveKind;
import io.tessera.layout.comm.Phase;
import io.tessera.planner.api.ParallelismExpansion;
import io.tessera.planner.api.StrategyPlans;
import io.tessera.planner.graph.Network;
import io.tessera.planner.handplan.LlamaPlans;
import io.tessera.planner.handplan.MoePlans;
import io.tessera.planner.op.MoeRouter;
import io.tessera.planner.op.Strategy;
import io.tessera.planner.plan.Communication;
import io.tessera.planner.plan.PipelinePlan;
import io.tessera.planner.plan.PlanConfig;
import io.tessera.planner.strategy.NetworkRef;
import io.tessera.planner.strategy.OpStrategy;
import io.tessera.planner.strategy.StrategyFile;
import io.tessera.planner.strategy.StrategyFiles;
import io.tessera.planner.zoo.LlamaConfig;
import io.tessera.planner.zoo.MoeConfig;
import io.tessera.planner.zoo.Zoo;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.stream.Collectors;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A tiny DeepSeek-V3-style mixture of experts built through {@link MoeConfig} on the zoo llama's attention (the
 * multi-head latent attention is not wired here): 3 layers, the first dense ({@code first_k_dense_replace 1}), then
 * 8 routed experts of width 32, top-2 by sigmoid scores corrected by the non-trained {@code e_score_correction_bias},
 * grouped top-k (4 groups, 2 kept), weights normalised and scaled by 2.5, one shared expert of width 32, named as
 * DeepSeek-V3 ({@code mlp.gate}, {@code mlp.experts.gate_proj}, {@code mlp.shared_experts.*}). Planned with the
 * {@code parallelism} expansion's strategies ({@link LlamaPlans} with {@link MoePlans}) on expert x tensor x data and
 * trained with momentum exactly as on one device (float32 within 1e-5).
 */
class DeepseekMoeSimulationTest {

    /** The DeepSeek-V3-style block over {@code groups} dispatch groups. */
    static MoeConfig block(int groups, double capacity) {
        return new MoeConfig(8, 2, capacity, groups, 0, MoeConfig.Routing.deepseek(2.5, 4, 2), 32,
                new MoeConfig.Shared(32, false), new MoeConfig.SparseLayers(1, 1, 0, Set.of()),
                MoeConfig.Naming.DEEPSEEK_V3);
    }

    static PipelinePlan plan(int data, int tensor, int expert, boolean sp, double capacity) {
        String section = String.format(Locale.ROOT, "'tensor': %d, 'data': %d%s", tensor, data,
                sp ? ", 'sequence_parallel': true" : "");
        StrategyFile dense = StrategyFiles.parse(("{'network': {'zoo': 'llama', 'args': {'layers': 3, 'hidden': 64, "
                + "'heads': 4, 'kv_heads': 2, 'ffn': 64, 'seq': 16, 'vocab': 128}}, 'devices': " + data * tensor
                + ", 'parallel': {'optimizer': 'momentum'}, 'parallelism': {" + section + "}}").replace('\'', '"'),
                null);
        StrategyFile expanded = ParallelismExpansion.expand(dense);
        LlamaConfig c = Zoo.llamaConfig(((NetworkRef.Zoo) expanded.network()).args()).withMoe(block(data, capacity));
        Network net = Zoo.llama(c);
        Map<String, Strategy> in = LlamaPlans.strategies(c, data, tensor, 1, sp, false, expert, net);
        Map<String, Strategy> out = LlamaPlans.outStrategies(c, data, tensor, 1, sp, net);
        Map<String, OpStrategy> ops = new LinkedHashMap<>();
        in.forEach((op, s) -> ops.put(op, OpStrategy.of(s, out.get(op))));
        StrategyFile moe = new StrategyFile(expanded.network(), expanded.devices(), expanded.parallel(), ops,
                expanded.parameters(), expanded.stages(), expanded.baseDir(), Optional.empty(), expanded.cluster());
        PlanConfig config = StrategyPlans.config(moe, net);
        return PipelinePlan.plan(net, config, 1, 1, moe.parallel().microBatches(), moe::stageFor);
    }

    @ParameterizedTest(name = "data {0} x tensor {1}, expert {2}, sp {3}, capacity {4}")
    @CsvSource({"2, 2, 2, false, 0", "2, 2, 2, true, 0", "2, 2, 2, false, 0.5", "4, 1, 4, false, 0",
        "2, 2, 1, false, 0", "4, 1, 2, false, 0.5"})
    void expertTensorDataEqualsOneDevice(int data, int tensor, int expert, boolean sp, double capacity) {
        PipelinePlan pipe = plan(data, tensor, expert, sp, capacity);
        Network n = pipe.plan().network();
        String m = "model.layers.1.mlp.";
        assertEquals(MoeRouter.deepseek(2, 4, 2, 2.5), n.node(m + "router").op());
        assertEquals(List.of(m + "gate", m + "gate.e_score_correction_bias"), n.node(m + "router").inputs());
        assertFalse(n.parameter(m + "gate.e_score_correction_bias").requiresGrad(), "the bias is not trained");
        assertArrayEquals(new long[] {8, 32, 64}, n.parameter(m + "experts.gate_proj.weight").shape());
        assertArrayEquals(new long[] {32, 64}, n.parameter(m + "shared_experts.gate_proj.weight").shape());
        assertArrayEquals(new long[] {64, 64}, n.parameter("model.layers.0.mlp.gate_proj.weight").shape(),
                "the first layer is dense, of intermediate_size");
        assertFalse(n.hasNode("model.layers.0.mlp.dispatch"));
        assertEquals(List.of(m + "combine", m + "shared_experts.down_proj"), n.node(m + "add_shared").inputs());
        Set<String> a2a = pipe.plan().comms(Phase.FORWARD).stream().filter(c -> c.kind() == CollectiveKind.ALL_TO_ALL)
                .map(Communication::operator).collect(Collectors.toSet());
        assertEquals(expert > 1 ? Set.of(m + "experts.gate_proj", m + "combine", "model.layers.2.mlp.experts.gate_proj",
                "model.layers.2.mlp.combine") : Set.of(), a2a);
        SimulationReport r = Simulation.run(pipe, SimulationOptions.defaults().withSteps(2));
        System.out.printf(Locale.ROOT, "deepseek-style tiny data %d x tensor %d, expert %d, sp %b, capacity %.2f: "
                + "%d ranks, max rel err %.3e%n", data, tensor, expert, sp, capacity, r.ranks(), r.maxRelError());
        assertTrue(r.passed(), r.summary());
        assertTrue(r.maxRelError() <= 1e-5, r.summary());
        for (String p : List.of(m + "gate.weight", m + "experts.up_proj.weight", m + "experts.down_proj.weight",
                m + "shared_experts.down_proj.weight", "model.layers.0.mlp.up_proj.weight", "lm_head.weight")) {
            assertTrue(r.paramErrors().containsKey(p), p + " in " + r.paramErrors().keySet());
        }
        assertFalse(r.paramErrors().containsKey(m + "gate.e_score_correction_bias"), "not trained");
    }
}
