package io.tessera.simulator.numeric;

import io.tessera.layout.comm.CollectiveKind;
import io.tessera.layout.comm.Phase;
import io.tessera.planner.api.ParallelismExpansion;
import io.tessera.planner.api.StrategyPlans;
import io.tessera.planner.graph.Network;
import io.tessera.planner.handplan.LlamaPlans;
import io.tessera.planner.handplan.MlaPlans;
import io.tessera.planner.op.Strategy;
import io.tessera.planner.plan.Communication;
import io.tessera.planner.plan.PipelinePlan;
import io.tessera.planner.plan.PlanConfig;
import io.tessera.planner.strategy.OpStrategy;
import io.tessera.planner.strategy.StrategyFile;
import io.tessera.planner.strategy.StrategyFiles;
import io.tessera.planner.zoo.LlamaConfig;
import io.tessera.planner.zoo.MlaConfig;
import io.tessera.planner.zoo.Zoo;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A tiny DeepSeek-like decoder ({@link MlaTestNetwork}: 2 layers, hidden 64, 4 heads, q_lora_rank 32, kv_lora_rank
 * 16, qk_nope 16, qk_rope 8, v 16, seq 16, batch 2, a dense SwiGLU MLP of 128, vocab 128, float32) planned with
 * {@link LlamaPlans} and {@link MlaPlans} and trained with momentum as on one device (loss and parameters within
 * 1e-5): tensor 2 x data 2, tensor 4 (with and without sequence parallelism), tensor 2 x data 2 with sequence
 * parallelism, data 2, and tensor 2 x data 2 without the query compression (q_lora_rank 0) and with YaRN; and under
 * context parallelism (data 2 x context 2, context 2 x tensor 2; one sequence per data replica).
 */
class MlaSimulationTest {

    /** The plan of the degrees on the tiny MLA model (context 1). */
    static PipelinePlan plan(int data, int tensor, boolean sp, int qLora, boolean yarn) {
        return plan(data, tensor, 1, sp, qLora, yarn);
    }

    /** The plan of the degrees on the tiny MLA model; with {@code context > 1} one sequence per data replica. */
    static PipelinePlan plan(int data, int tensor, int context, boolean sp, int qLora, boolean yarn) {
        // batch 2 (context 1): one micro-batch of 2 / data sequences per data-parallel replica
        String section = String.format(Locale.ROOT, "'tensor': %d, 'data': %d, 'context': %d, 'micro_batch_size': %d%s",
                tensor, data, context, context > 1 ? 1 : 2 / data, sp ? ", 'sequence_parallel': true" : "");
        StrategyFile dense = StrategyFiles.parse(("{'network': {'zoo': 'llama', 'args': {'layers': 2, 'hidden': 64, "
                + "'heads': 4, 'kv_heads': 4, 'ffn': 128, 'seq': 16, 'vocab': 128}}, 'devices': "
                + data * tensor * context + ", 'parallel': {'optimizer': 'momentum'}, 'parallelism': {" + section
                + "}}").replace('\'', '"'), null);
        StrategyFile expanded = ParallelismExpansion.expand(dense);
        LlamaConfig c = Zoo.llamaConfig(((io.tessera.planner.strategy.NetworkRef.Zoo) expanded.network()).args());
        MlaConfig m = MlaConfig.of(qLora, 16, 16, 8, 16);
        if (yarn) {
            // a YaRN extension by 4 from 4 positions, mscale_all_dim 1: the frequencies blended and the scale raised
            io.tessera.planner.op.Rope.YarnScaling y = new io.tessera.planner.op.Rope.YarnScaling(4, 4, 32, 1, 1, 1);
            m = new MlaConfig(qLora, 16, 16, 8, 16, MlaConfig.softmaxScale(16, 8, y), y);
        }
        Network net = MlaTestNetwork.build(c, m);
        Map<String, Strategy> in = MlaPlans.replaceAttention(LlamaPlans.strategies(c, data, tensor, context, sp,
                false), net, data, context, tensor, false);
        Map<String, Strategy> out = LlamaPlans.outStrategies(c, data, tensor, context, sp);
        Map<String, OpStrategy> ops = new LinkedHashMap<>();
        in.forEach((op, s) -> ops.put(op, OpStrategy.of(s, out.get(op))));
        StrategyFile file = new StrategyFile(expanded.network(), expanded.devices(), expanded.parallel(), ops,
                expanded.parameters(), expanded.stages(), expanded.baseDir(), Optional.empty(), expanded.cluster());
        PlanConfig config = StrategyPlans.config(file, net);
        return PipelinePlan.plan(net, config, file.parallel().pipelineStages(), 1, file.parallel().microBatches(),
                file::stageFor);
    }

    @ParameterizedTest(name = "data {0} x tensor {1}, sp {2}, q_lora_rank {3}, yarn {4}")
    @CsvSource({"2, 2, false, 32, false", "1, 4, false, 32, false", "2, 2, true, 32, false", "1, 4, true, 32, false",
        "2, 1, false, 32, false",
        "2, 2, false, 0, true"})
    void latentAttentionInParallelEqualsOneDevice(int data, int tensor, boolean sp, int qLora, boolean yarn) {
        PipelinePlan pipe = plan(data, tensor, sp, qLora, yarn);
        List<Communication> comms = pipe.plan().comms();
        assertFalse(comms.stream().anyMatch(c -> c.kind() == CollectiveKind.ALL_TO_ALL),
                "no rank permutation inside the attention block");
        String a = "model.layers.0.self_attn.";
        // the shared rotary key's gradient is summed over the tensor group (its heads split after the broadcast)
        assertEquals(tensor > 1, comms.stream().anyMatch(c -> c.phase() == Phase.BACKWARD
                && c.kind() == CollectiveKind.ALL_REDUCE && (a + "k_pe_broadcast").equals(c.operator())),
                "k_pe's gradient AllReduced over the tensor group");
        SimulationReport r = Simulation.run(pipe, SimulationOptions.defaults().withSteps(2));
        System.out.printf(Locale.ROOT, "mla-tiny data %d x tensor %d, sp %b, q_lora %d, yarn %b: %d ranks, loss %.8f,"
                + " max rel err %.3e%n", data, tensor, sp, qLora, yarn, r.ranks(), r.steps().get(0).lossSingle(),
                r.maxRelError());
        assertTrue(r.passed(), r.summary());
        assertTrue(r.maxRelError() <= 1e-5, r.summary());
        List<String> params = qLora > 0
                ? List.of(a + "q_a_proj.weight", a + "q_a_layernorm.weight", a + "q_b_proj.weight")
                : List.of(a + "q_proj.weight");
        for (String p : params) {
            assertTrue(r.paramErrors().containsKey(p), p + " in " + r.paramErrors().keySet());
        }
        for (String p : List.of(a + "kv_a_proj_with_mqa.weight", a + "kv_a_layernorm.weight", a + "kv_b_proj.weight",
                "model.layers.1.self_attn.o_proj.weight", "lm_head.weight")) {
            assertTrue(r.paramErrors().containsKey(p), p + " in " + r.paramErrors().keySet());
        }
    }

    @ParameterizedTest(name = "data {0} x context {1} x tensor {2}")
    @CsvSource({"2, 2, 1", "1, 2, 2"})
    void contextParallelLatentAttentionEqualsOneDevice(int data, int context, int tensor) {
        // the sequence split over the context group (the all-gather form, Megatron's causal load balance); with the
        // heads split too, Split / Concat / BroadcastTo number their ranks heads-outside, so the planner permutes
        // some tensors between them and RoPE / the attention (correct, not free)
        PipelinePlan pipe = plan(data, tensor, context, false, 32, false);
        long allToAll = pipe.plan().comms().stream().filter(c -> c.kind() == CollectiveKind.ALL_TO_ALL).count();
        SimulationReport r = Simulation.run(pipe, SimulationOptions.defaults().withSteps(2));
        System.out.printf(Locale.ROOT, "mla-tiny data %d x context %d x tensor %d: %d ranks, %d AllToAlls, max rel err"
                + " %.3e%n", data, context, tensor, r.ranks(), allToAll, r.maxRelError());
        assertTrue(r.passed(), r.summary());
        assertTrue(r.maxRelError() <= 1e-5, r.summary());
        assertEquals(tensor > 1, allToAll > 0, "permutations only with heads and sequence both split");
    }
}
