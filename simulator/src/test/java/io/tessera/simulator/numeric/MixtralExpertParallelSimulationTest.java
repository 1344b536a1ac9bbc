package io.tessera.simulator.numeric;

import io.tessera.layout.comm.CollectiveKind;
import io.tessera.layout.comm.Phase;
import io.tessera.planner.api.ParallelismExpansion;
import io.tessera.planner.api.StrategyPlans;
import io.tessera.planner.graph.Network;
import io.tessera.planner.handplan.LlamaPlans;
import io.tessera.planner.handplan.MoePlans;
import io.tessera.planner.op.Strategy;
import io.tessera.planner.plan.Communication;
import io.tessera.planner.plan.PipelinePlan;
import io.tessera.planner.plan.PlanConfig;
import io.tessera.planner.strategy.OpStrategy;
import io.tessera.planner.strategy.Parallelism;
import io.tessera.planner.strategy.StrategyFile;
import io.tessera.planner.strategy.StrategyFiles;
import io.tessera.planner.zoo.LlamaConfig;
import io.tessera.planner.zoo.Zoo;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Collectors;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A tiny Mixtral (hidden 64, 2 layers, 4 heads, 2 KV heads, 8 experts top-2 of ffn 32, seq 32, vocab 128) planned from
 * a {@code parallelism} section with an {@code expert} degree and trained as on one device (float32, 1e-5): expert 2 x
 * data 2, expert 2 x tensor 2 x data 2 (with and without sequence parallelism), expert 4 x data 4, expert 2 x data 2 x
 * pipeline 2, expert 2 x tensor 2 x data 2 x pipeline 2 with sequence parallelism, the experts data parallel (expert
 * 1), expert 2 inside data 4 (with tensor 2, sequence parallelism, pipeline 2), and a tight capacity (factor 0.5:
 * tokens dropped, the loss moved by them, the same ones on every rank).
 *
 * <p>The network is {@link MixtralTestNetwork} (the zoo block's names, Xavier-initialised experts): the file is
 * expanded with the dense twin (same arguments) for the batch, stages, micro-batches, dataset and optimizer, and its
 * operator strategies are {@link LlamaPlans#strategies(LlamaConfig, int, int, int, boolean, boolean, int, Network)} on
 * the MoE network, exactly what the expansion computes for a zoo network with MoE layers.
 */
class MixtralExpertParallelSimulationTest {

    private static final int EXPERTS = 8;
    private static final int TOP_K = 2;

    /** The plan of the degrees on the tiny Mixtral; {@code capacity} 0 is dropless. */
    static PipelinePlan plan(int data, int tensor, int expert, int pipeline, boolean sp, double capacity) {
        return plan(data, tensor, expert, pipeline, sp, capacity, false);
    }

    /** As {@link #plan(int, int, int, int, boolean, double)}, with every layer's auxiliary loss when asked. */
    static PipelinePlan plan(int data, int tensor, int expert, int pipeline, boolean sp, double capacity,
                             boolean auxLoss) {
        String section = String.format(Locale.ROOT, "'tensor': %d, 'data': %d, 'pipeline': %d%s%s", tensor, data,
                pipeline, sp ? ", 'sequence_parallel': true" : "",
                pipeline > 1 ? ", 'global_batch_size': " + 2 * data : "");
        StrategyFile dense = StrategyFiles.parse(("{'network': {'zoo': 'llama', 'args': {'layers': 2, 'hidden': 64, "
                + "'heads': 4, 'kv_heads': 2, 'ffn': 32, 'seq': 32, 'vocab': 128}}, 'devices': "
                + data * tensor * pipeline + ", 'parallel': {'optimizer': 'momentum'}, 'parallelism': {" + section
                + "}}").replace('\'', '"'), null);
        Parallelism p = dense.parallelism().orElseThrow().toBuilder().expert(expert).build();
        StrategyFile expanded = ParallelismExpansion.expand(dense);
        LlamaConfig c = Zoo.llamaConfig(((io.tessera.planner.strategy.NetworkRef.Zoo) expanded.network()).args());
        int rows = data * p.context();
        Network net = MixtralTestNetwork.build(c, EXPERTS, TOP_K, capacity, rows, auxLoss);
        Map<String, Strategy> in = LlamaPlans.strategies(c, data, tensor, 1, sp, false, p.expert(), net);
        Map<String, Strategy> out = LlamaPlans.outStrategies(c, data, tensor, 1, sp, net);
        Map<String, OpStrategy> ops = new LinkedHashMap<>();
        in.forEach((op, s) -> ops.put(op, OpStrategy.of(s, out.get(op))));
        if (auxLoss) {
            // the scalar sums of the auxiliary losses, outside the plan's names
            net.nodes().stream().filter(n -> n.name().startsWith("model.aux_sum_") || n.name().equals("total_loss"))
                    .forEach(n -> ops.put(n.name(), OpStrategy.of(Strategy.of(new int[0], new int[0]), null)));
        }
        StrategyFile moe = new StrategyFile(expanded.network(), expanded.devices(), expanded.parallel(), ops,
                expanded.parameters(), expanded.stages(), expanded.baseDir(), Optional.empty(), expanded.cluster());
        PlanConfig config = StrategyPlans.config(moe, net);
        return PipelinePlan.plan(net, config, moe.parallel().pipelineStages(), 1, moe.parallel().microBatches(),
                moe::stageFor);
    }

    @ParameterizedTest(name = "data {0} x tensor {1}, expert {2}, pipeline {3}, sp {4}, capacity {5}")
    @CsvSource({"2, 1, 2, 1, false, 0", "2, 2, 2, 1, false, 0", "2, 2, 2, 1, true, 1.25", "4, 1, 4, 1, false, 0",
        "2, 1, 2, 2, false, 0", "2, 2, 2, 2, true, 0.5", "2, 2, 1, 1, false, 0", "4, 1, 4, 1, false, 0.5", "2, 2, 2, 1, false, 0.5", "4, 1, 2, 1, false, 0", "4, 2, 2, 1, false, 0.5", "4, 1, 2, 2, false, 0", "4, 2, 2, 1, true, 0"})
    void expertParallelEqualsOneDevice(int data, int tensor, int expert, int pipeline, boolean sp, double capacity) {
        PipelinePlan pipe = plan(data, tensor, expert, pipeline, sp, capacity);
        List<Communication> comms = pipe.plan().comms();
        long allToAll = comms.stream().filter(c -> c.kind() == CollectiveKind.ALL_TO_ALL).count();
        SimulationReport r = Simulation.run(pipe, SimulationOptions.defaults().withSteps(2));
        System.out.printf(Locale.ROOT, "mixtral-tiny data %d x tensor %d, expert %d, pipeline %d, sp %b, capacity %.2f:"
                + " %d ranks, %d AllToAlls in the stage plan, max rel err %.3e%n", data, tensor, expert, pipeline, sp,
                capacity, r.ranks(), allToAll, r.maxRelError());
        assertTrue(r.passed(), r.summary());
        assertTrue(r.maxRelError() <= 1e-5, r.summary());
        assertEquals(expert > 1, allToAll > 0, "AllToAll to and from the experts only under expert parallelism");
        for (String param : List.of("model.layers.0.block_sparse_moe.experts.w1.weight",
                "model.layers.1.block_sparse_moe.experts.w2.weight", "model.layers.1.block_sparse_moe.gate.weight",
                "model.layers.0.self_attn.q_proj.weight", "lm_head.weight")) {
            assertTrue(r.paramErrors().containsKey(param), param + " in " + r.paramErrors().keySet());
        }
    }

    @Test
    void aTightCapacityChangesTheModelTheSameWayOnEveryRank() {
        // capacity 0.5 keeps 4 of the 8 average slots per expert and group: dropped tokens change the loss on one
        // device, and the parallel run drops the same ones (its loss equals the single device's)
        SimulationReport dropless = Simulation.run(plan(4, 1, 4, 1, false, 0), SimulationOptions.defaults());
        SimulationReport tight = Simulation.run(plan(4, 1, 4, 1, false, 0.5), SimulationOptions.defaults());
        double a = dropless.steps().get(0).lossSingle();
        double b = tight.steps().get(0).lossSingle();
        System.out.printf(Locale.ROOT, "mixtral-tiny expert 4: loss dropless %.8f, capacity 0.5 %.8f (parallel %.8f)%n",
                a, b, tight.steps().get(0).lossParallel());
        assertTrue(Math.abs(a - b) > 1e-3 * Math.abs(a), "capacity 0.5 drops tokens: " + a + " vs " + b);
        assertEquals(b, tight.steps().get(0).lossParallel(), 1e-5 * Math.abs(b));
    }

    @ParameterizedTest(name = "auxiliary loss: data {0} x tensor {1}, expert {2}")
    @CsvSource({"2, 2, 2", "4, 1, 4", "2, 2, 1"})
    void theAuxiliaryLossTakesItsInputsWholeAndEqualsOneDevice(int data, int tensor, int expert) {
        PipelinePlan pipe = plan(data, tensor, expert, 1, false, 0.5, true);
        assertTrue(pipe.plan().comms(Phase.FORWARD).stream().anyMatch(c -> c.kind() == CollectiveKind.ALL_GATHER
                && "model.layers.0.block_sparse_moe.aux_loss".equals(c.operator())),
                "the token-split logits gathered for the loss over all tokens");
        SimulationReport r = Simulation.run(pipe, SimulationOptions.defaults().withSteps(2));
        System.out.printf(Locale.ROOT, "mixtral-tiny with aux loss, data %d x tensor %d, expert %d: max rel err %.3e%n",
                data, tensor, expert, r.maxRelError());
        assertTrue(r.passed(), r.summary());
        assertTrue(r.maxRelError() <= 1e-5, r.summary());
    }

    /** The gradient AllReduce groups of one parameter in a plan's backward. */
    private static Set<List<List<Integer>>> reduceGroups(PipelinePlan pipe, String param) {
        return pipe.plan().comms(Phase.BACKWARD).stream()
                .filter(c -> param.equals(c.parameter()) && c.kind() == CollectiveKind.ALL_REDUCE)
                .map(Communication::groups).collect(Collectors.toSet());
    }

    @Test
    void expertWeightsReduceOverADifferentGroupThanDenseWeights() {
        String m = "model.layers.0.block_sparse_moe.";
        // tensor 2 x data 2 (Megatron's order: rank = 2 x data rank + tensor rank); the data groups are {0, 2}, {1, 3}
        List<List<Integer>> dataGroups = List.of(List.of(0, 2), List.of(1, 3));
        PipelinePlan ep = plan(2, 2, 2, 1, false, 0);
        assertEquals(Set.of(dataGroups), reduceGroups(ep, m + "gate.weight"), "the gate is data parallel");
        assertEquals(Set.of(dataGroups), reduceGroups(ep, "model.layers.0.self_attn.q_proj.weight"));
        for (String w : List.of("w1", "w2", "w3")) {
            assertEquals(Set.of(), reduceGroups(ep, m + "experts." + w + ".weight"),
                    "expert = data x context: each expert's weights live on one data rank, nothing to reduce");
        }
        // the buffer goes to the experts and back over the data (= expert) groups
        List<Communication> a2a = ep.plan().comms(Phase.FORWARD).stream()
                .filter(c -> c.kind() == CollectiveKind.ALL_TO_ALL).toList();
        assertEquals(Set.of(m + "experts.w1", m + "combine", "model.layers.1.block_sparse_moe.experts.w1",
                "model.layers.1.block_sparse_moe.combine"),
                a2a.stream().map(Communication::operator).collect(Collectors.toCollection(TreeSet::new)),
                a2a.toString());
        a2a.forEach(c -> assertEquals(dataGroups, c.groups(), c.toString()));

        // expert 2 inside data 4 (tensor 2): the expert groups are the consecutive data-rank pairs {0, 1} and {2, 3},
        // i.e. ranks {0, 2}, {1, 3}, {4, 6}, {5, 7}; the expert weights reduce over the other pairs {0, 2}, {1, 3}
        PipelinePlan inner = plan(4, 2, 2, 1, false, 0);
        List<List<Integer>> expertGroups = List.of(List.of(0, 2), List.of(1, 3), List.of(4, 6), List.of(5, 7));
        List<List<Integer>> replicaGroups = List.of(List.of(0, 4), List.of(1, 5), List.of(2, 6), List.of(3, 7));
        inner.plan().comms(Phase.FORWARD).stream().filter(c -> c.kind() == CollectiveKind.ALL_TO_ALL)
                .forEach(c -> assertEquals(expertGroups, c.groups(), c.toString()));
        assertEquals(Set.of(replicaGroups), reduceGroups(inner, m + "experts.w1.weight"),
                "each expert's weights live on data ranks d and d + 2: reduced over those");
        assertEquals(Set.of(List.of(List.of(0, 2, 4, 6), List.of(1, 3, 5, 7))), reduceGroups(inner, m + "gate.weight"));

        PipelinePlan dp = plan(2, 2, 1, 1, false, 0);
        assertEquals(Set.of(dataGroups), reduceGroups(dp, m + "experts.w1.weight"),
                "expert 1: the experts are replicated over data and reduced as the dense weights");
        assertFalse(dp.plan().comms().stream().anyMatch(c -> c.kind() == CollectiveKind.ALL_TO_ALL));
    }

    @Test
    void badExpertDegreesAreOneLineErrors() {
        LlamaConfig c = Zoo.llamaConfig(Map.of("ffn", 32, "batch", 4));
        Network moe = MixtralTestNetwork.build(c, EXPERTS, TOP_K, 0, 4);
        Network dense = Zoo.llama(c);
        assertError("parallelism.expert: found 2 for a dense model", () -> MoePlans.strategies(dense, 4, 1, 2));
        assertError("parallelism.expert: found 8 with data x context = 4; expected a divisor of it",
                () -> MoePlans.strategies(MixtralTestNetwork.build(c, 16, TOP_K, 0, 4), 4, 1, 8));
        Network three = MixtralTestNetwork.build(c, 6, TOP_K, 0, 4);
        assertError("parallelism.expert: found 4 for the 6 experts of model.layers.0.block_sparse_moe.dispatch; "
                + "expected a divisor of the experts", () -> MoePlans.strategies(three, 4, 1, 4));
        assertError("moe_groups: found 4 in model.layers.0.block_sparse_moe.dispatch with data x context = 8",
                () -> MoePlans.strategies(moe, 8, 1, 1));
        assertError("parallelism.tensor: found 64 for the experts' ffn 32",
                () -> MoePlans.strategies(moe, 4, 64, 4));
        assertEquals(Map.of(), MoePlans.strategies(dense, 4, 2, 1), "dense, expert 1: nothing to add");
        assertEquals(Set.of("model.layers.0.", "model.layers.1."), MoePlans.blocks(moe).keySet());
        // the dense mlp entries are replaced in place
        Map<String, Strategy> s = LlamaPlans.strategies(c, 4, 1, 1, false, false, 4, moe);
        assertFalse(s.keySet().stream().anyMatch(k -> k.contains(".mlp.")), s.keySet().toString());
        List<String> keys = List.copyOf(s.keySet());
        assertEquals(keys.indexOf("model.layers.0.post_attention_layernorm") + 1,
                keys.indexOf("model.layers.0.block_sparse_moe.gate"));
        assertEquals(keys.indexOf("model.layers.0.block_sparse_moe.combine") + 1,
                keys.indexOf("model.layers.0.residual2"));
    }

    private static void assertError(String start, org.junit.jupiter.api.function.Executable call) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, call);
        assertTrue(e.getMessage().startsWith(start), e.getMessage());
        assertFalse(e.getMessage().contains("\n"), e.getMessage());
    }
}
