package io.tessera.planner.zoo;

import io.tessera.layout.DType;
import io.tessera.layout.param.Parameter;
import io.tessera.planner.graph.Network;
import io.tessera.planner.graph.Node;
import io.tessera.planner.handplan.HandPlans;
import io.tessera.planner.op.CausalMask;
import io.tessera.planner.op.Dropout;
import io.tessera.planner.op.MatMul;
import io.tessera.planner.op.Strategy;
import io.tessera.planner.op.TensorType;
import io.tessera.planner.plan.PipelinePlan;
import io.tessera.planner.plan.Plan;
import io.tessera.planner.plan.Planner;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The gpt switches bias, dropout, causal_mask, tied_embeddings: arguments, graphs, defaults and Megatron plans. */
class GptSwitchesTest {

    private static final GptConfig SMALL = new GptConfig(1, 32, 4, 64, 8, 64, 4, DType.FLOAT32);

    private static List<String> names(Network n) {
        return n.nodes().stream().map(Node::name).toList();
    }

    private static String error(Map<String, ?> args) {
        return assertThrows(IllegalArgumentException.class, () -> Zoo.build("gpt", args)).getMessage();
    }

    @Test
    void switchesOffBuildExactlyTheOldNetwork() {
        Network old = Zoo.gpt(new GptConfig(2, 64, 4, 256, 16, 128, 4, DType.FLOAT32));
        Network off = Zoo.build("gpt", Map.of("bias", false, "dropout", 0, "causal_mask", "false",
                "tied_embeddings", "FALSE"));
        assertEquals(old, off);
        assertEquals(names(old), names(off));
        assertEquals(names(old), names(Zoo.build("gpt", null)));
        List<String> params = new ArrayList<>();
        for (Parameter p : old.parameters()) {
            params.add(p.name());
            assertEquals(p.clone().initData().tensor(), off.parameter(p.name()).clone().initData().tensor(),
                    p.name());
        }
        assertEquals(params, off.parameters().stream().map(Parameter::name).toList());
        assertEquals(GptConfig.defaults(), Zoo.gptConfig(Map.of()));
    }

    @Test
    void argumentsAreReadStrictly() {
        GptConfig c = Zoo.gptConfig(Map.of("bias", true, "dropout", "0.1", "causal_mask", "True",
                "tied_embeddings", true));
        assertEquals(GptConfig.defaults().asTrained(0.1), c);
        assertEquals(0.25, Zoo.gptConfig(Map.of("dropout", 0.25f)).dropout());
        assertEquals("zoo model 'gpt': argument 'bias' is 'yes'; expected true or false",
                error(Map.of("bias", "yes")));
        assertEquals("zoo model 'gpt': argument 'causal_mask' is 1; expected true or false",
                error(Map.of("causal_mask", 1)));
        assertEquals("zoo model 'gpt': argument 'dropout' is 1.0; expected a probability in [0, 1) such as 0.1 "
                + "(0 adds no dropout)", error(Map.of("dropout", 1.0)));
        assertEquals("zoo model 'gpt': argument 'dropout' is -0.1; expected a probability in [0, 1) such as 0.1 "
                + "(0 adds no dropout)", error(Map.of("dropout", -0.1)));
        assertEquals("zoo model 'gpt': argument 'dropout' is 'ten percent'; expected a probability in [0, 1) such "
                + "as 0.1", error(Map.of("dropout", "ten percent")));
        assertEquals("zoo model 'gpt': argument 'tied_embeddings' is [true]; expected true or false",
                error(Map.of("tied_embeddings", List.of(true))));
        assertTrue(error(Map.of("dropout", Double.NaN)).contains("argument 'dropout' is NaN"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> SMALL.withDropout(1)).getMessage()
                .startsWith("zoo model 'gpt': dropout is 1.0; expected a drop probability in [0, 1)"));
    }

    @Test
    void biasesFollowEveryBlockMatMul() {
        Network n = Zoo.gpt(SMALL.withBias(true));
        List<String> ops = names(n);
        for (String[] mm : new String[][] {{"attention.q", "attention.q_bias", "attention.bq"},
            {"attention.k", "attention.k_bias", "attention.bk"}, {"attention.v", "attention.v_bias", "attention.bv"},
            {"attention.out", "attention.out_bias", "attention.bo"}, {"ffn.fc1", "ffn.fc1_bias", "ffn.b1"},
            {"ffn.fc2", "ffn.fc2_bias", "ffn.b2"}}) {
            String op = "layers.0." + mm[1];
            assertEquals(ops.indexOf("layers.0." + mm[0]) + 1, ops.indexOf(op), op);
            assertEquals(List.of("layers.0." + mm[0], "layers.0." + mm[2]), n.node(op).inputs());
            assertTrue(n.parameter("layers.0." + mm[2]).initMode().orElseThrow().toString().contains("init=Zero"),
                    mm[2]);
        }
        assertEquals(TensorType.of(DType.FLOAT32, 64), n.tensor("layers.0.ffn.b1"));
        assertEquals(TensorType.of(DType.FLOAT32, 32), n.tensor("layers.0.ffn.b2"));
        // 4 x hidden + ffn + hidden more parameters than without; the LayerNorms already had gamma and beta
        assertEquals(Zoo.gpt(SMALL).parameterCount() + 4 * 32 + 64 + 32, n.parameterCount());
        assertEquals(List.of("layers.0.ln1.gamma", "layers.0.ln1.beta"), List.of(n.node("layers.0.ln1").inputs()
                .get(1), n.node("layers.0.ln1").inputs().get(2)));
        assertFalse(n.isParameter("head.bias"), "the LM head has no bias");
        assertEquals(2, n.node("head").inputs().size());
    }

    @Test
    void dropoutsAndTheCausalMaskSitWhereMegatronHasThem() {
        Network n = Zoo.gpt(SMALL.withDropout(0.1).withCausalMask(true));
        List<String> ops = names(n);
        assertEquals(List.of("embedding.flatten"), n.node("embedding.dropout").inputs());
        assertEquals(List.of("embedding.dropout"), n.node("layers.0.ln1").inputs().subList(0, 1));
        assertEquals(List.of("layers.0.attention.scale_mul"), n.node("layers.0.attention.causal_mask").inputs());
        assertEquals(List.of("layers.0.attention.causal_mask"), n.node("layers.0.attention.softmax").inputs());
        assertEquals(List.of("layers.0.attention.softmax"), n.node("layers.0.attention.probs_dropout").inputs());
        assertEquals("layers.0.attention.probs_dropout", n.node("layers.0.attention.context").inputs().get(0));
        assertEquals(List.of("layers.0.attention.out"), n.node("layers.0.attention.dropout").inputs());
        assertEquals(List.of("embedding.dropout", "layers.0.attention.dropout"), n.node("layers.0.residual1").inputs());
        assertEquals(List.of("layers.0.ffn.fc2"), n.node("layers.0.ffn.dropout").inputs());
        assertEquals(List.of("layers.0.residual1", "layers.0.ffn.dropout"), n.node("layers.0.residual2").inputs());
        assertEquals(4, ops.stream().filter(o -> n.node(o).op() instanceof Dropout d && d.keepProb() == 0.9).count());
        assertEquals(CausalMask.of(), n.node("layers.0.attention.causal_mask").op());
        assertEquals(Zoo.gpt(SMALL).parameterCount(), n.parameterCount(), "no parameter: the mask is computed");
    }

    @Test
    void tiedEmbeddingsShareTheWordTable() {
        Network n = Zoo.gpt(SMALL.withTiedEmbeddings(true));
        assertFalse(n.isParameter("head.weight"));
        assertEquals(List.of("final_ln", "embedding.word_table"), n.node("head").inputs());
        assertEquals(MatMul.of(false, true), n.node("head").op());
        assertEquals(TensorType.of(DType.FLOAT32, 32, 64), n.tensor("head"));
        assertEquals(Zoo.gpt(SMALL).parameterCount() - 32 * 64, n.parameterCount());
        assertEquals(2, n.consumers("embedding.word_table").size());
    }

    @Test
    void megatronPlansCoverEveryNewOperator() {
        GptConfig c = SMALL.asTrained(0.1);
        Network n = Zoo.gpt(c);
        for (boolean sp : new boolean[] {false, true}) {
            Map<String, Strategy> s = HandPlans.megatronGpt(c, 2, 4, sp);
            assertEquals(names(n), List.copyOf(s.keySet()), "one strategy per operator, in network order");
            int rows = sp ? 8 : 2;
            assertEquals(Strategy.of(new int[] {2, 4}, new int[] {4}), s.get("layers.0.attention.q_bias"));
            assertEquals(Strategy.of(new int[] {2, 4}, new int[] {4}), s.get("layers.0.ffn.fc1_bias"));
            assertEquals(Strategy.of(new int[] {rows, 1}, new int[] {1}), s.get("layers.0.attention.out_bias"));
            assertEquals(Strategy.of(new int[] {rows, 1}, new int[] {1}), s.get("layers.0.ffn.fc2_bias"));
            assertEquals(Strategy.of(new int[] {rows, 1}), s.get("layers.0.ffn.dropout"));
            assertEquals(Strategy.of(new int[] {2, 4, 1, 1}), s.get("layers.0.attention.causal_mask"));
            assertEquals(Strategy.of(new int[] {2, 4, 1, 1}), s.get("layers.0.attention.probs_dropout"));
            assertEquals(Strategy.of(new int[] {2, 1}, new int[] {4, 1}), s.get("head"));
            Plan plan = Planner.plan(n, HandPlans.megatronGptConfig(c, 2, 4, sp));
            // the row-parallel biases follow the reduction: no communication of their own in forward
            assertTrue(plan.op("layers.0.attention.out_bias").requireExecution().forward().isEmpty());
            assertTrue(plan.op("layers.0.attention.causal_mask").requireExecution().forward().isEmpty());
        }
    }

    @Test
    void tiedEmbeddingsAcrossPipelineStagesAreRefusedNamingTheTable() {
        GptConfig c = SMALL.withLayers(2).withTiedEmbeddings(true);
        String e = assertThrows(IllegalArgumentException.class, () -> PipelinePlan.plan(Zoo.gpt(c),
                HandPlans.megatronGptConfig(c, 1, 2), 2, 2, op -> Optional.empty())).getMessage();
        assertTrue(e.startsWith("parameter 'embedding.word_table' is used in stage 0 (operator 'embedding.lookup') "
                + "and stage 1 (operator 'head')"), e);
        assertTrue(e.endsWith("zoo gpt tied_embeddings false)"), e);
    }
}
