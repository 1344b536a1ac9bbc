package io.tessera.planner.zoo;

import io.tessera.planner.graph.Network;
import io.tessera.planner.op.MoeRouter;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.Locale;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * DeepSeek-V3 from its Hugging Face {@code config.json} ({@code model_type deepseek_v3}): multi-head latent attention,
 * three dense layers, then 58 sparse blocks of 256 routed experts (sigmoid scores, selection bias, grouped top-8,
 * scaling 2.5) and one shared expert; the parameter count from the shapes, and the names as published.
 */
class DeepseekV3Test {

    private static final Path MODELS = Path.of("..", "strategies", "models");

    @Test
    void deepseekV3HasThePublishedParameterCount() {
        long embed = 129_280L * 7168;
        long mla = 1536L * 7168 + 1536 + 128L * 192 * 1536 + 576L * 7168 + 512 + 128L * 256 * 512 + 7168L * 128 * 128;
        long layer = mla + 2 * 7168;
        long dense = 3L * 7168 * 18432;
        long bias = 256;
        long moe = 256L * 3 * 7168 * 2048 + 3L * 7168 * 2048 + 256L * 7168 + bias;
        long byHand = 2 * embed + 7168 + 61 * layer + 3 * dense + 58 * moe;
        assertEquals(671_026_419_200L, byHand, "the model card's 671B (without the 14B multi-token prediction module)");
        Network n = Zoo.fromHfConfig(MODELS.resolve("deepseek-v3.json"), Map.of());
        System.out.printf(Locale.ROOT, "deepseek-v3: %,d parameters (%,d trained), %d operators%n", n.parameterCount(),
                n.trainableElements(), n.nodes().size());
        assertEquals(byHand, n.parameterCount());
        assertEquals(byHand - 58 * bias, n.trainableElements(), "the selection biases are not trained");
        assertArrayEquals(new long[] {18432, 7168}, n.tensor("model.layers.2.mlp.gate_proj.weight").shape());
        assertFalse(n.hasTensor("model.layers.3.mlp.gate_proj.weight"), "layer 3 is sparse");
        String m = "model.layers.60.mlp.";
        assertArrayEquals(new long[] {256, 7168}, n.tensor(m + "gate.weight").shape());
        assertArrayEquals(new long[] {256}, n.tensor(m + "gate.e_score_correction_bias").shape());
        assertArrayEquals(new long[] {256, 2048, 7168}, n.tensor(m + "experts.gate_proj.weight").shape());
        assertArrayEquals(new long[] {256, 7168, 2048}, n.tensor(m + "experts.down_proj.weight").shape());
        assertArrayEquals(new long[] {2048, 7168}, n.tensor(m + "shared_experts.up_proj.weight").shape());
        assertArrayEquals(new long[] {576, 7168},
                n.tensor("model.layers.60.self_attn.kv_a_proj_with_mqa.weight").shape());
        assertArrayEquals(new long[] {128 * 192, 1536}, n.tensor("model.layers.0.self_attn.q_b_proj.weight").shape());
        MoeRouter router = (MoeRouter) n.node(m + "router").op();
        assertEquals(8, router.topK());
        assertEquals(8, router.nGroup());
        assertEquals(2.5, router.routedScalingFactor());
    }

    @Test
    void theTinyConfigBuildsLatentAttentionDenseFirstLayerAndSharedExperts() {
        Network n = Zoo.fromHfConfig(MODELS.resolve("deepseek-v3-tiny.json"), Map.of("seq", 16, "batch", 2));
        assertTrue(n.hasNode("model.layers.0.mlp.down_proj"), "first_k_dense_replace 1");
        assertTrue(n.hasNode("model.layers.1.mlp.dispatch"));
        assertTrue(n.hasNode("model.layers.3.mlp.shared_experts.down_proj"));
        assertTrue(n.hasNode("model.layers.0.self_attn.kv_a_proj_with_mqa"));
        assertFalse(n.hasNode("model.layers.0.self_attn.k_proj"));
        MoeRouter router = (MoeRouter) n.node("model.layers.2.mlp.router").op();
        assertEquals(MoeRouter.Score.SIGMOID, router.score());
        assertEquals(4, router.nGroup());
        assertEquals(2.5, router.routedScalingFactor());
        assertEquals(2, n.node("model.layers.2.mlp.router").inputs().size(), "logits and the selection bias");
    }
}
