package io.tessera.planner.zoo;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.tessera.layout.DType;
import io.tessera.planner.graph.Network;
import io.tessera.planner.op.Activation;
import io.tessera.planner.op.Binary;
import io.tessera.planner.op.MatMul;
import io.tessera.planner.op.MoeAuxLoss;
import io.tessera.planner.op.MoeRouter;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.function.Consumer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Qwen2-MoE ({@code model_type} {@code qwen2_moe}) and the DeepSeek-V3 block options of {@link MoeConfig}: the
 * shipped Qwen configs have the published parameter counts, the block has Hugging Face's names with stacked experts
 * and a gated shared expert, the DeepSeek-V3 keys read into the router, shared experts and sparse layers they mean,
 * and bad values are one-line errors naming the key.
 */
class Qwen2MoeTest {

    private static final Path MODELS = HfConfigTest.MODELS;
    private static final ObjectMapper MAPPER = new ObjectMapper();

    @TempDir
    Path tmp;

    private static long[] shape(Network n, String p) {
        return n.parameter(p).shape();
    }

    /**
     * 14,315,784,192 (Qwen/Qwen1.5-MoE-A2.7B, "14.3B"): embeddings and head 2 x 151936 x 2048, the final norm 2048,
     * and per layer 16,783,360 attention (q, k, v, o 2048 x 2048, q/k/v biases 3 x 2048), 4,096 norms, 122,880 gate
     * (60 x 2048), 60 x 3 x 1408 x 2048 = 519,045,120 experts, 3 x 5632 x 2048 = 34,603,008 shared expert and 2,048
     * shared-expert gate.
     */
    @Test
    void qwen15MoeA27bHasThePublishedParameterCount() {
        long perLayer = 4L * 2048 * 2048 + 3 * 2048 + 2 * 2048 + 60L * 2048 + 60L * 3 * 1408 * 2048
                + 3L * 5632 * 2048 + 2048;
        long byHand = 24 * perLayer + 2L * 151936 * 2048 + 2048;
        assertEquals(14_315_784_192L, byHand);
        Network n = Zoo.fromHfConfig(MODELS.resolve("qwen1.5-moe-a2.7b.json"), Map.of());
        System.out.printf(Locale.ROOT, "qwen1.5-moe-a2.7b: %d parameters, %d operators%n", n.parameterCount(),
                n.nodes().size());
        assertEquals(14_315_784_192L, n.parameterCount(), "Qwen/Qwen1.5-MoE-A2.7B, 14.3B");
        String m = "model.layers.23.mlp.";
        assertArrayEquals(new long[] {60, 2048}, shape(n, m + "gate.weight"));
        assertArrayEquals(new long[] {60, 1408, 2048}, shape(n, m + "experts.gate_proj.weight"));
        assertArrayEquals(new long[] {60, 1408, 2048}, shape(n, m + "experts.up_proj.weight"));
        assertArrayEquals(new long[] {60, 2048, 1408}, shape(n, m + "experts.down_proj.weight"));
        assertArrayEquals(new long[] {5632, 2048}, shape(n, m + "shared_expert.gate_proj.weight"));
        assertArrayEquals(new long[] {2048, 5632}, shape(n, m + "shared_expert.down_proj.weight"));
        assertArrayEquals(new long[] {1, 2048}, shape(n, m + "shared_expert_gate.weight"));
        assertArrayEquals(new long[] {2048}, shape(n, "model.layers.0.self_attn.q_proj.bias"));
        assertEquals(DType.BFLOAT16, n.parameter(m + "gate.weight").dtype());
        assertEquals(new MoeAuxLoss(4, 0.001), n.node(m + "aux_loss").op());
    }

    /**
     * 57,408,658,944 (Qwen/Qwen2-57B-A14B, "57.4B"): embeddings and head 2 x 151936 x 3584, the final norm 3584, and
     * per layer 29,364,736 attention (q, o 3584 x 3584; k, v 512 x 3584; biases 3584 + 2 x 512), 7,168 norms, 229,376
     * gate, 64 x 3 x 2560 x 3584 = 1,761,607,680 experts, 3 x 20480 x 3584 = 220,200,960 shared expert, 3,584 gate.
     */
    @Test
    void qwen2_57bA14bHasThePublishedParameterCount() {
        long attention = 2L * 3584 * 3584 + 2L * 512 * 3584 + 3584 + 2 * 512;
        long perLayer = attention + 2 * 3584 + 64L * 3584 + 64L * 3 * 2560 * 3584 + 3L * 20480 * 3584 + 3584;
        long byHand = 28 * perLayer + 2L * 151936 * 3584 + 3584;
        assertEquals(57_408_658_944L, byHand);
        Network n = Zoo.fromHfConfig(MODELS.resolve("qwen2-57b-a14b.json"), Map.of());
        System.out.printf(Locale.ROOT, "qwen2-57b-a14b: %d parameters, %d operators%n", n.parameterCount(),
                n.nodes().size());
        assertEquals(57_408_658_944L, n.parameterCount(), "Qwen/Qwen2-57B-A14B, 57.4B");
        LlamaConfig c = Zoo.hfConfig(MODELS.resolve("qwen2-57b-a14b.json"), Map.of());
        assertEquals(new MoeConfig(64, 8, 0, 1, 0.001, MoeConfig.Routing.softmax(false), 2560,
                new MoeConfig.Shared(20480, true), new MoeConfig.SparseLayers(0, 1, 1, Set.of()),
                MoeConfig.Naming.QWEN2_MOE), c.moe());
        assertTrue(c.attentionBias());
        assertEquals(18944, c.ffn());
    }

    @Test
    void theBlockHasTheNamesShapesAndOperatorsOfTheContract() {
        // tiny: T = 2 x 16 = 32 tokens, G = 2, dropless C = 16 (top-4 of 8), expert ffn 32, shared 64, hidden 64
        Network n = Zoo.fromHfConfig(MODELS.resolve("qwen2-moe-tiny.json"), Map.of("seq", 16, "batch", 2,
                "moe_groups", 2));
        String m = "model.layers.1.mlp.";
        String x = "model.layers.1.post_attention_layernorm";
        assertEquals(MoeRouter.softmax(4, false), n.node(m + "router").op());
        assertEquals(List.of(m + "gate"), n.node(m + "router").inputs());
        for (String p : List.of("gate_proj", "up_proj", "down_proj")) {
            assertEquals(MatMul.batched(false, true), n.node(m + "experts." + p).op(), p);
            assertEquals(MatMul.of(false, true), n.node(m + "shared_expert." + p).op(), p);
        }
        assertEquals(List.of(m + "dispatch", m + "experts.gate_proj.weight"), n.node(m + "experts.gate_proj").inputs());
        assertArrayEquals(new long[] {2, 8, 16, 32}, n.tensor(m + "experts.gate_proj").shape());
        assertArrayEquals(new long[] {2, 8, 16, 64}, n.tensor(m + "experts.down_proj").shape());
        assertEquals(List.of(m + "experts.down_proj", m + "router:1", m + "router"), n.node(m + "combine").inputs());
        assertEquals(List.of(x, m + "shared_expert.gate_proj.weight"), n.node(m + "shared_expert.gate_proj").inputs());
        assertArrayEquals(new long[] {32, 64}, n.tensor(m + "shared_expert.gate_proj").shape());
        assertEquals(Activation.silu(), n.node(m + "shared_expert.act").op());
        assertEquals(List.of(x, m + "shared_expert_gate.weight"), n.node(m + "shared_expert_gate").inputs());
        assertArrayEquals(new long[] {32, 1}, n.tensor(m + "shared_expert_gate").shape());
        assertEquals(Activation.sigmoid(), n.node(m + "shared_expert_gate_act").op());
        assertEquals(List.of(m + "shared_expert.down_proj", m + "shared_expert_gate_act"),
                n.node(m + "shared_expert_scale").inputs());
        assertEquals(List.of(m + "combine", m + "shared_expert_scale"), n.node(m + "add_shared").inputs());
        assertEquals(Binary.add(), n.node(m + "add_shared").op());
        assertEquals(List.of("model.layers.1.residual1", m + "add_shared"), n.node("model.layers.1.residual2").inputs());
        assertFalse(n.hasNode("model.layers.0.block_sparse_moe.gate"));
        assertFalse(n.hasNode("model.layers.0.mlp.gate_proj"), "no dense MLP in a sparse layer");
        assertEquals("loss_total", n.loss());
    }

    @Test
    void mlpOnlyLayersAndTheSparseStepKeepDenseMlps() throws IOException {
        // decoder_sparse_step 2: layers 1 and 3 sparse ((i + 1) % 2 == 0), mlp_only_layers [3] makes 3 dense
        Path p = qwenConfig(o -> {
            o.put("num_hidden_layers", 4);
            o.put("decoder_sparse_step", 2);
            o.putArray("mlp_only_layers").add(3);
        });
        Network n = Zoo.fromHfConfig(p, Map.of("seq", 8));
        for (int i = 0; i < 4; i++) {
            String l = "model.layers." + i + ".mlp.";
            assertEquals(i == 1, n.hasNode(l + "dispatch"), "layer " + i);
            assertEquals(i != 1, n.hasNode(l + "gate_proj"), "layer " + i);
        }
        assertArrayEquals(new long[] {128, 64}, shape(n, "model.layers.0.mlp.gate_proj.weight"),
                "dense layers use intermediate_size");
        assertEquals(List.of("loss", "model.layers.1.mlp.aux_loss"), n.node("loss_total").inputs());
    }

    @Test
    void deepseekV3KeysReadIntoTheBlockOptions() {
        ObjectNode o = MAPPER.createObjectNode();
        o.put("n_routed_experts", 256).put("num_experts_per_tok", 8).put("moe_intermediate_size", 2048)
                .put("n_shared_experts", 1).put("first_k_dense_replace", 3).put("moe_layer_freq", 1)
                .put("routed_scaling_factor", 2.5).put("scoring_func", "sigmoid").put("topk_method", "noaux_tc")
                .put("n_group", 8).put("topk_group", 4).put("norm_topk_prob", true);
        MoeConfig ds = MoeConfig.fromHf(o, "deepseek_v3");
        assertEquals(new MoeConfig(256, 8, 0, 1, 0, MoeConfig.Routing.deepseek(2.5, 8, 4), 2048,
                new MoeConfig.Shared(2048, false), new MoeConfig.SparseLayers(3, 1, 0, Set.of()),
                MoeConfig.Naming.DEEPSEEK_V3), ds);
        assertEquals(MoeRouter.deepseek(8, 8, 4, 2.5), ds.routing().router(8));
        assertFalse(ds.sparse(2));
        assertTrue(ds.sparse(3));
        assertEquals("mlp", ds.naming().scope());
        assertEquals("shared_experts", ds.naming().sharedScope());
        o.put("topk_method", "greedy").put("scoring_func", "softmax").put("n_shared_experts", 2).put("moe_layer_freq", 2);
        MoeConfig greedy = MoeConfig.fromHf(o, "deepseek_v3");
        assertEquals(new MoeConfig.Routing(MoeRouter.Score.SOFTMAX, true, 2.5, false, 1, 1), greedy.routing());
        assertEquals(4096, greedy.shared().ffn(), "n_shared_experts x moe_intermediate_size");
        assertFalse(greedy.sparse(5));
        assertTrue(greedy.sparse(4));
        assertEquals(MoeConfig.DENSE, MoeConfig.fromHf(o, "llama"));
        // Mixtral's keys give exactly the 5-argument block
        ObjectNode mx = MAPPER.createObjectNode().put("num_local_experts", 8);
        assertEquals(new MoeConfig(8, 2, 0, 1, 0.02), MoeConfig.fromHf(mx, "mixtral"));
    }

    private static String hfError(JsonNode o, String type) {
        String m = assertThrows(IllegalArgumentException.class, () -> MoeConfig.fromHf(o, type)).getMessage();
        assertFalse(m.contains("\n"), m);
        return m;
    }

    @Test
    void badValuesAreOneLineErrorsNamingTheKey() throws IOException {
        ObjectNode ds = MAPPER.createObjectNode().put("n_routed_experts", 16).put("num_experts_per_tok", 4);
        assertEquals("key 'topk_method' is \"group_limited_greedy\"; expected \"noaux_tc\" (DeepSeek-V3: selection "
                + "bias and grouped top-k) or \"greedy\" (plain top-k); group_limited_greedy is not supported",
                hfError(ds.deepCopy().put("topk_method", "group_limited_greedy"), "deepseek_v3"));
        assertEquals("key 'scoring_func' is \"relu\"; expected \"sigmoid\" (DeepSeek-V3) or \"softmax\"",
                hfError(ds.deepCopy().put("scoring_func", "relu"), "deepseek_v3"));
        assertEquals("n_group 3 does not divide n_routed_experts 16; fix the config so that n_group divides "
                + "n_routed_experts", hfError(ds.deepCopy().put("n_group", 3), "deepseek_v3"));
        assertEquals("topk_group 5 exceeds n_group 4; fix the config so that topk_group <= n_group",
                hfError(ds.deepCopy().put("n_group", 4).put("topk_group", 5), "deepseek_v3"));
        assertTrue(hfError(ds.deepCopy().put("n_group", 4).put("topk_group", 1).put("num_experts_per_tok", 5),
                "deepseek_v3").startsWith("num_experts_per_tok 5 exceeds the 4 experts of topk_group 1"));
        assertEquals("key 'routed_scaling_factor' is 0; expected a positive finite number",
                hfError(ds.deepCopy().put("routed_scaling_factor", 0), "deepseek_v3"));
        assertEquals("key 'first_k_dense_replace' is -1; expected an integer at least 0",
                hfError(ds.deepCopy().put("first_k_dense_replace", -1), "deepseek_v3"));
        assertEquals("key 'output_router_logits' is \"yes\"; expected true or false",
                hfError(ds.deepCopy().put("output_router_logits", "yes"), "deepseek_v3"));

        Path list = qwenConfig(o -> o.put("mlp_only_layers", 3));
        assertEquals("hf_config " + list + ": key 'mlp_only_layers' is 3; expected a list of layer indices >= 0 such "
                + "as [] or [0, 1]", assertThrows(IllegalArgumentException.class,
                        () -> Zoo.fromHfConfig(list, Map.of())).getMessage());
        Path topK = qwenConfig(o -> o.put("num_experts_per_tok", 9));
        assertEquals("hf_config " + topK + ": num_experts_per_tok 9 exceeds num_experts 8; fix the config so that "
                + "num_experts_per_tok <= num_experts", assertThrows(IllegalArgumentException.class,
                        () -> Zoo.fromHfConfig(topK, Map.of())).getMessage());
        Path shared = qwenConfig(o -> o.put("shared_expert_intermediate_size", 0));
        assertEquals("hf_config " + shared + ": key 'shared_expert_intermediate_size' is 0; expected a positive "
                + "integer", assertThrows(IllegalArgumentException.class,
                        () -> Zoo.fromHfConfig(shared, Map.of())).getMessage());
        String gate = assertThrows(IllegalArgumentException.class, () -> new MoeConfig.Shared(0, true)).getMessage();
        assertTrue(gate.startsWith("zoo model 'llama': shared expert gate without a shared expert"), gate);
        String groups = assertThrows(IllegalArgumentException.class, () -> MoeConfig.of(6, 2, 0)
                .withRouting(MoeConfig.Routing.deepseek(1, 4, 2))).getMessage();
        assertTrue(groups.startsWith("zoo model 'llama': n_group 4 does not divide the 6 experts"), groups);
    }

    private Path qwenConfig(Consumer<ObjectNode> edit) throws IOException {
        ObjectNode o = (ObjectNode) MAPPER.readTree(Files.readString(MODELS.resolve("qwen2-moe-tiny.json")));
        edit.accept(o);
        Path p = tmp.resolve("config-" + System.nanoTime() + ".json");
        Files.writeString(p, MAPPER.writeValueAsString(o));
        return p;
    }
}
