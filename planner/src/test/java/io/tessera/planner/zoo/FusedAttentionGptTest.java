package io.tessera.planner.zoo;

import io.tessera.layout.DType;
import io.tessera.planner.cost.ActivationMemory;
import io.tessera.planner.cost.Recompute;
import io.tessera.planner.graph.Network;
import io.tessera.planner.graph.Node;
import io.tessera.planner.handplan.HandPlans;
import io.tessera.planner.op.FlashAttention;
import io.tessera.planner.op.Strategy;
import io.tessera.planner.op.TensorType;
import io.tessera.planner.plan.OpPlan;
import io.tessera.planner.plan.PipelinePlan;
import io.tessera.planner.plan.Plan;
import io.tessera.planner.plan.Planner;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The gpt switch fused_attention: argument, graph, Megatron plan, recompute and activation memory. */
class FusedAttentionGptTest {

    private static final GptConfig SMALL = new GptConfig(2, 32, 4, 64, 8, 64, 4, DType.FLOAT32);
    private static final List<String> CORE = List.of("scores", "scale_mul", "causal_mask", "softmax", "probs_dropout",
            "context");

    private static List<String> names(Network n) {
        return n.nodes().stream().map(Node::name).toList();
    }

    @Test
    void offByDefaultAndReadStrictly() {
        assertFalse(GptConfig.defaults().fusedAttention());
        assertEquals(false, Zoo.defaults("gpt").get("fused_attention"));
        assertEquals(Zoo.gpt(GptConfig.defaults()), Zoo.build("gpt", Map.of("fused_attention", "false")));
        assertTrue(Zoo.gptConfig(Map.of("fused_attention", "TRUE")).fusedAttention());
        assertTrue(Zoo.gptConfig(Map.of("fused_attention", true)).fusedAttention());
        for (Object bad : new Object[] {"yes", 1}) {
            String m = assertThrows(IllegalArgumentException.class,
                    () -> Zoo.build("gpt", Map.of("fused_attention", bad))).getMessage();
            assertTrue(m.startsWith("zoo model 'gpt': argument 'fused_attention' is ") && m.endsWith(
                    "; expected true or false"), m);
        }
        // the other switches keep it; asTrained does not turn it on
        GptConfig fused = SMALL.withFusedAttention(true);
        assertTrue(fused.withBias(true).withDropout(0.1).withCausalMask(true).withTiedEmbeddings(true).withLayers(3)
                .fusedAttention());
        assertTrue(fused.asTrained(0.1).fusedAttention());
        assertFalse(SMALL.asTrained(0.1).fusedAttention());
        assertEquals(SMALL, new GptConfig(2, 32, 4, 64, 8, 64, 4, DType.FLOAT32, false, 0, false, false));
    }

    @Test
    void oneFlashAttentionReplacesTheAttentionCore() {
        GptConfig c = SMALL.asTrained(0.25).withFusedAttention(true);
        Network n = Zoo.gpt(c);
        Network unfused = Zoo.gpt(SMALL.asTrained(0.25));
        for (int i = 0; i < c.layers(); i++) {
            String p = "layers." + i + ".attention.";
            for (String op : CORE) {
                assertFalse(names(n).contains(p + op), p + op);
                assertTrue(names(unfused).contains(p + op), p + op);
            }
            assertFalse(n.parameters().stream().anyMatch(x -> x.name().equals(p + "scale")));
            Node flash = n.node(p + "flash");
            assertEquals(FlashAttention.of(true, 0.75), flash.op());
            assertEquals(List.of(p + "q_heads", p + "k_heads", p + "v_heads"), flash.inputs());
            assertEquals(List.of(flash.output(0)), n.node(p + "merge_heads").inputs());
            assertEquals(TensorType.of(DType.FLOAT32, 4, 4, 8), n.tensor(flash.output(1)));
            assertTrue(n.consumers(flash.output(1)).isEmpty());
        }
        // the other parts are unchanged: same parameters but the constant scales, 5 fewer operators per layer
        assertEquals(unfused.parameters().size() - c.layers(), n.parameters().size());
        assertEquals(unfused.nodes().size() - 5 * c.layers(), n.nodes().size());
        // without the causal mask and dropout: a plain flash attention
        assertEquals(FlashAttention.of(), Zoo.gpt(SMALL.withFusedAttention(true)).node("layers.0.attention.flash")
                .op());
    }

    @Test
    void megatronSplitsBatchAndHeadsOfQkvWithoutCommunication() {
        GptConfig c = SMALL.asTrained(0.1).withFusedAttention(true);
        for (boolean sp : new boolean[] {false, true}) {
            Map<String, Strategy> s = HandPlans.megatronGpt(c, 2, 2, sp);
            int[] t = {2, 2, 1, 1};
            assertEquals(Strategy.of(t, t, t), s.get("layers.1.attention.flash"));
            assertFalse(s.keySet().stream().anyMatch(k -> k.endsWith(".softmax") || k.endsWith(".scores")),
                    s.keySet().toString());
            Plan plan = Planner.plan(Zoo.gpt(c), HandPlans.megatronGptConfig(c, 2, 2, sp));
            OpPlan flash = plan.op("layers.0.attention.flash");
            assertTrue(flash.sharding().comms().isEmpty(), flash.sharding().comms().toString());
            assertEquals(List.of(2L, 2L, 8L, 8L), box(flash.inputLayouts().get(0).sliceShape()));
            assertEquals(List.of(2L, 2L, 8L), box(flash.outputLayouts().get(1).sliceShape()));
        }
    }

    private static List<Long> box(long[] shape) {
        return java.util.Arrays.stream(shape).boxed().toList();
    }

    @Test
    void selectiveRecomputeHasNothingToRecomputeAndTheScoresAreNotKept() {
        GptConfig c = SMALL.asTrained(0.1);
        assertFalse(Recompute.selectiveOps(Zoo.gpt(c)).isEmpty());
        assertEquals(Set.of(), Recompute.selectiveOps(Zoo.gpt(c.withFusedAttention(true))));
        Plan unfused = Planner.plan(Zoo.gpt(c), HandPlans.megatronGptConfig(c, 2, 2, false));
        GptConfig f = c.withFusedAttention(true);
        Plan fused = Planner.plan(Zoo.gpt(f), HandPlans.megatronGptConfig(f, 2, 2, false));
        long keptUnfused = ActivationMemory.of(unfused).keptBytes(unfused.ops().stream().map(OpPlan::name).toList());
        long keptFused = ActivationMemory.of(fused).keptBytes(fused.ops().stream().map(OpPlan::name).toList());
        // per layer the unfused core keeps the probabilities, their dropout output and mask, [b, h, s, s] each on
        // 2 x 2 ranks; the fused one keeps its output and the log-sum-exp [b, h, s] (float32) instead
        long bhs = 4 / 2 * 4 / 2 * 8;
        assertTrue(keptFused < keptUnfused, keptFused + " vs " + keptUnfused);
        assertTrue(ActivationMemory.of(fused).keptBytes(List.of("layers.0.attention.flash")) >= bhs * 4,
                "the log-sum-exp is kept");
    }

    @Test
    void plansInPipelineStages() {
        GptConfig c = SMALL.asTrained(0.1).withLayers(4).withTiedEmbeddings(false).withFusedAttention(true);
        PipelinePlan pipe = PipelinePlan.plan(Zoo.gpt(c), HandPlans.megatronGptConfig(c, 2, 2), 2, 4,
                op -> Optional.empty());
        assertEquals(2, pipe.stages());
        assertEquals(0, pipe.stageOf("layers.1.attention.flash"));
        assertEquals(1, pipe.stageOf("layers.2.attention.flash"));
    }
}
