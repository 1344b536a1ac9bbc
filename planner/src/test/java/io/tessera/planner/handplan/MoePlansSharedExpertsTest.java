package io.tessera.planner.handplan;

import io.tessera.planner.graph.Network;
import io.tessera.planner.op.Strategy;
import io.tessera.planner.zoo.LlamaConfig;
import io.tessera.planner.zoo.MoeConfig;
import io.tessera.planner.zoo.Zoo;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@link MoePlans} on blocks scoped {@code mlp} (Qwen2-MoE, DeepSeek-V3): found by their dispatch, the stacked
 * experts' {@code gate_proj / up_proj / down_proj} planned as Mixtral's {@code w1 / w3 / w2}, the shared experts
 * tensor parallel as the dense MLP, the shared gate and the add token-split, dense layers left to {@link LlamaPlans}.
 */
class MoePlansSharedExpertsTest {

    private static int[] t(int... v) {
        return v;
    }

    /** 3 layers, layer 0 dense; 8 experts of width 32, top-2; shared ffn {@code shared}; 4 dispatch groups. */
    private static LlamaConfig config(MoeConfig.Naming naming, int shared, boolean gate) {
        MoeConfig moe = new MoeConfig(8, 2, 0, 4, 0.001, MoeConfig.Routing.softmax(false), 32,
                new MoeConfig.Shared(shared, gate), new MoeConfig.SparseLayers(1, 1, 0, Set.of()), naming);
        return Zoo.llamaConfig(Map.of("layers", 3, "batch", 4, "seq", 8)).withMoe(moe);
    }

    @Test
    void sharedExpertsAreTensorParallelAsTheDenseMlp() {
        LlamaConfig c = config(MoeConfig.Naming.QWEN2_MOE, 48, true);
        Network n = Zoo.llama(c);
        assertEquals(Set.of("model.layers.1.", "model.layers.2."), MoePlans.blocks(n).keySet());
        assertEquals(Map.of("model.layers.1.", "model.layers.1.mlp.", "model.layers.2.", "model.layers.2.mlp."),
                MoePlans.blockPrefixes(n));
        Map<String, Strategy> s = MoePlans.strategies(n, 4, 2, 4);
        String m = "model.layers.1.mlp.";
        assertEquals(Strategy.of(t(1, 4, 1, 1), t(4, 2, 1)), s.get(m + "experts.gate_proj"));
        assertEquals(Strategy.of(t(1, 4, 1, 1), t(4, 2, 1)), s.get(m + "experts.up_proj"));
        assertEquals(Strategy.of(t(1, 4, 1, 2), t(4, 1, 2)), s.get(m + "experts.down_proj"));
        assertEquals(Strategy.of(t(4, 1), t(2, 1)), s.get(m + "shared_expert.gate_proj"));
        assertEquals(Strategy.of(t(4, 1), t(2, 1)), s.get(m + "shared_expert.up_proj"));
        assertEquals(Strategy.of(t(4, 2)), s.get(m + "shared_expert.act"));
        assertEquals(Strategy.of(t(4, 2), t(4, 2)), s.get(m + "shared_expert.mul"));
        assertEquals(Strategy.of(t(4, 2), t(1, 2)), s.get(m + "shared_expert.down_proj"));
        assertEquals(Strategy.of(t(4, 1), t(1, 1)), s.get(m + "shared_expert_gate"));
        assertEquals(Strategy.of(t(4, 1)), s.get(m + "shared_expert_gate_act"));
        assertEquals(Strategy.of(t(4, 1), t(4, 1)), s.get(m + "shared_expert_scale"));
        assertEquals(Strategy.of(t(4, 1), t(4, 1)), s.get(m + "add_shared"));
        // every operator of a block has its entry
        n.nodes().stream().map(x -> x.name()).filter(x -> x.startsWith(m))
                .forEach(x -> assertTrue(s.containsKey(x), x + " planned"));

        Map<String, Strategy> all = LlamaPlans.strategies(c, 4, 2, 1, false, false, 4, n);
        List<String> keys = List.copyOf(all.keySet());
        assertTrue(all.containsKey("model.layers.0.mlp.gate_proj"), "layer 0 keeps the dense MLP");
        assertFalse(all.containsKey(m + "gate_proj"), "no dense entries in a sparse layer");
        assertEquals(keys.indexOf("model.layers.1.post_attention_layernorm") + 1, keys.indexOf(m + "gate"));
        assertEquals(keys.indexOf(m + "add_shared") + 1, keys.indexOf("model.layers.1.residual2"));
        n.nodes().forEach(x -> assertTrue(all.containsKey(x.name()) || x.name().startsWith("aux_sum")
                || x.name().equals("loss_total"), x.name() + " planned"));
    }

    @Test
    void deepseekSharedExpertsAndTheBiasedRouter() {
        LlamaConfig c = config(MoeConfig.Naming.DEEPSEEK_V3, 32, false)
                .withMoe(config(MoeConfig.Naming.DEEPSEEK_V3, 32, false).moe()
                        .withRouting(MoeConfig.Routing.deepseek(2.5, 4, 2)));
        Network n = Zoo.llama(c);
        Map<String, Strategy> s = MoePlans.strategies(n, 4, 2, 1);
        String m = "model.layers.2.mlp.";
        assertEquals(Strategy.of(t(4, 1), t(1)), s.get(m + "router"), "the bias whole");
        assertEquals(Strategy.of(t(4, 1, 1, 1), t(1, 2, 1)), s.get(m + "experts.gate_proj"), "expert 1: groups split");
        assertEquals(Strategy.of(t(4, 2), t(1, 2)), s.get(m + "shared_experts.down_proj"));
        assertEquals(Strategy.of(t(4, 1), t(4, 1)), s.get(m + "add_shared"));
        assertFalse(s.containsKey(m + "shared_expert_gate"));
    }

    @Test
    void aTensorDegreeNotDividingTheSharedFfnIsAOneLineError() {
        Network n = Zoo.llama(config(MoeConfig.Naming.QWEN2_MOE, 48, true));
        String e = assertThrows(IllegalArgumentException.class, () -> MoePlans.strategies(n, 4, 32, 4)).getMessage();
        assertEquals("parallelism.tensor: found 32 for the shared experts' ffn 48 "
                + "(model.layers.1.mlp.shared_expert.gate_proj.weight); expected a divisor of it (tensor parallelism "
                + "splits the shared experts' ffn as the dense MLP's)", e);
        String f = assertThrows(IllegalArgumentException.class, () -> MoePlans.strategies(n, 4, 64, 4)).getMessage();
        assertTrue(f.startsWith("parallelism.tensor: found 64 for the experts' ffn 32 "
                + "(model.layers.1.mlp.experts.gate_proj.weight)"), f);
        String g = assertThrows(IllegalArgumentException.class, () -> MoePlans.strategies(n, 4, 1, 3)).getMessage();
        assertTrue(g.startsWith("parallelism.expert: found 3 for the 8 experts of model.layers.1.mlp.dispatch"), g);
    }
}
