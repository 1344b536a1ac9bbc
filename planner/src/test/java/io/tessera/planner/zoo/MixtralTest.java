package io.tessera.planner.zoo;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.tessera.layout.DType;
import io.tessera.planner.graph.Network;
import io.tessera.planner.op.Binary;
import io.tessera.planner.op.MatMul;
import io.tessera.planner.op.MoeAuxLoss;
import io.tessera.planner.op.MoeCombine;
import io.tessera.planner.op.MoeDispatch;
import io.tessera.planner.op.MoeRouter;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.Consumer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Mixtral ({@code model_type} {@code mixtral}): the shipped Mixtral-8x7B config has the published parameter count,
 * the sparse MLP has Hugging Face's names with stacked experts, the losses add up, the zoo arguments build it, and bad
 * settings are one-line errors.
 */
class MixtralTest {

    private static final Path MODELS = HfConfigTest.MODELS;
    private static final ObjectMapper MAPPER = new ObjectMapper();

    @TempDir
    Path tmp;

    private static long[] shape(Network n, String p) {
        return n.parameter(p).shape();
    }

    /**
     * 46,702,792,704 (mistralai/Mixtral-8x7B-v0.1, "46.7B"): embeddings and head 2 x 32000 x 4096, the final norm 4096,
     * and per layer 41,943,040 attention (q, o 4096 x 4096; k, v 1024 x 4096), 8,192 norms, 32,768 gate (8 x 4096)
     * and 8 x 3 x 14336 x 4096 = 1,409,286,144 experts.
     */
    @Test
    void mixtral8x7bHasThePublishedParameterCount() {
        long perLayer = 2L * 4096 * 4096 + 2L * 1024 * 4096 + 2 * 4096 + 8L * 4096 + 8L * 3 * 14336 * 4096;
        long byHand = 32 * perLayer + 2L * 32000 * 4096 + 4096;
        assertEquals(46_702_792_704L, byHand);
        long t0 = System.nanoTime();
        Network n = Zoo.fromHfConfig(MODELS.resolve("mixtral-8x7b.json"), Map.of());
        double seconds = (System.nanoTime() - t0) / 1e9;
        System.out.printf(Locale.ROOT, "mixtral-8x7b: %d parameters, %d operators, built in %.2f s%n",
                n.parameterCount(), n.nodes().size(), seconds);
        assertEquals(46_702_792_704L, n.parameterCount(), "mistralai/Mixtral-8x7B-v0.1");
        assertTrue(seconds < 10, "built in " + seconds + " s");
        String m = "model.layers.31.block_sparse_moe.";
        assertArrayEquals(new long[] {8, 4096}, shape(n, m + "gate.weight"));
        assertArrayEquals(new long[] {8, 14336, 4096}, shape(n, m + "experts.w1.weight"));
        assertArrayEquals(new long[] {8, 14336, 4096}, shape(n, m + "experts.w3.weight"));
        assertArrayEquals(new long[] {8, 4096, 14336}, shape(n, m + "experts.w2.weight"));
        assertArrayEquals(new long[] {1024, 4096}, shape(n, "model.layers.0.self_attn.v_proj.weight"));
        assertFalse(n.hasNode("model.layers.0.mlp.gate_proj"), "no dense MLP");
        assertEquals(DType.BFLOAT16, n.parameter(m + "gate.weight").dtype());
    }

    @Test
    void configValuesAreReadAsHuggingFaceReadsThem() {
        LlamaConfig c = Zoo.hfConfig(MODELS.resolve("mixtral-8x7b.json"), Map.of());
        assertEquals(new MoeConfig(8, 2, 0, 1, 0.02), c.moe());
        assertEquals(1e6, c.ropeTheta());
        assertEquals(1e-5, c.rmsEps());
        assertEquals(4096, c.seq(), "min(max_position_embeddings 32768, 4096)");
        LlamaConfig tiny = Zoo.hfConfig(MODELS.resolve("mixtral-tiny.json"),
                Map.of("capacity_factor", 1.25, "moe_groups", 4, "aux_loss", false, "seq", 16, "batch", 2));
        assertEquals(new MoeConfig(8, 2, 1.25, 4, 0), tiny.moe());
        assertEquals(new LlamaConfig(2, 64, 4, 2, 32, 16, 128, 2, DType.FLOAT32, 1e-5, 1e6, null, false, false, true,
                1, new MoeConfig(8, 2, 1.25, 4, 0)), tiny);
        assertEquals(MoeConfig.DENSE, Zoo.hfConfig(MODELS.resolve("llama-tiny.json"), Map.of()).moe());
    }

    @Test
    void theSparseBlockHasTheNamesShapesAndOperatorsOfTheContract() {
        // tiny: T = 2 x 16 = 32 tokens, G = 2, dropless C = 16, ffn 32, hidden 64
        Network n = Zoo.fromHfConfig(MODELS.resolve("mixtral-tiny.json"), Map.of("seq", 16, "batch", 2,
                "moe_groups", 2));
        String m = "model.layers.1.block_sparse_moe.";
        MoeDispatch dispatch = new MoeDispatch(8, 0, 2);
        assertEquals(MatMul.of(false, true), n.node(m + "gate").op());
        assertEquals(MoeRouter.softmax(2, true), n.node(m + "router").op());
        assertEquals(dispatch, n.node(m + "dispatch").op());
        assertEquals(MoeCombine.of(dispatch), n.node(m + "combine").op());
        assertEquals(MatMul.batched(false, true), n.node(m + "experts.w1").op());
        assertEquals(MatMul.batched(false, true), n.node(m + "experts.w3").op());
        assertEquals(MatMul.batched(false, true), n.node(m + "experts.w2").op());
        assertEquals(new MoeAuxLoss(2, 0.02), n.node(m + "aux_loss").op());
        assertEquals(List.of(m + "gate", m + "router:1"), n.node(m + "aux_loss").inputs());
        assertEquals(List.of("model.layers.1.post_attention_layernorm", m + "router:1"),
                n.node(m + "dispatch").inputs());
        assertEquals(List.of(m + "experts.w2", m + "router:1", m + "router"), n.node(m + "combine").inputs());
        assertArrayEquals(new long[] {32, 8}, n.tensor(m + "gate").shape());
        assertArrayEquals(new long[] {32, 2}, n.tensor(m + "router").shape());
        assertArrayEquals(new long[] {32, 2}, n.tensor(m + "router:1").shape());
        assertArrayEquals(new long[] {2, 8, 16, 64}, n.tensor(m + "dispatch").shape());
        assertEquals(List.of(m + "dispatch", m + "experts.w1.weight"), n.node(m + "experts.w1").inputs());
        assertArrayEquals(new long[] {2, 8, 16, 32}, n.tensor(m + "experts.w1").shape());
        assertArrayEquals(new long[] {2, 8, 16, 32}, n.tensor(m + "experts.mul").shape());
        assertArrayEquals(new long[] {2, 8, 16, 64}, n.tensor(m + "experts.w2").shape());
        assertFalse(n.hasNode(m + "to_experts"), "the weights broadcast over the groups: no transpose");
        assertArrayEquals(new long[] {32, 64}, n.tensor(m + "combine").shape());
        assertEquals(List.of("model.layers.1.residual1", m + "combine"), n.node("model.layers.1.residual2").inputs());
        // the loss: cross-entropy plus both layers' aux losses, scalars
        assertEquals(List.of("model.layers.0.block_sparse_moe.aux_loss", m + "aux_loss"),
                n.node("aux_sum.1").inputs());
        assertEquals(List.of("loss", "aux_sum.1"), n.node("loss_total").inputs());
        assertEquals(Binary.add(), n.node("loss_total").op());
        assertEquals("loss_total", n.loss());
        assertEquals(0, n.tensor("loss_total").shape().length);
        // a capacity factor sets C = ceil(1.25 * 16 * 2 / 8) = 5
        Network tight = Zoo.fromHfConfig(MODELS.resolve("mixtral-tiny.json"), Map.of("seq", 16, "batch", 2,
                "moe_groups", 2, "capacity_factor", 1.25, "aux_loss", false));
        assertArrayEquals(new long[] {2, 8, 5, 64}, tight.tensor(m + "dispatch").shape());
        assertArrayEquals(new long[] {2, 8, 5, 32}, tight.tensor(m + "experts.w3").shape());
        assertFalse(tight.hasNode(m + "aux_loss"));
        assertFalse(tight.hasNode("loss_total"));
        assertEquals("loss", tight.loss());
    }

    @Test
    void zooArgumentsBuildTheSameNetwork() {
        Network zoo = Zoo.build("llama", Map.of("experts", 8, "top_k", 2, "ffn", 32, "seq", 16, "rms_eps", 1e-5,
                "rope_theta", 1e6, "moe_groups", 2));
        Network hf = Zoo.fromHfConfig(MODELS.resolve("mixtral-tiny.json"), Map.of("seq", 16, "batch", 2,
                "moe_groups", 2));
        assertEquals(hf, zoo);
        assertEquals(Zoo.llama(LlamaConfig.defaults()), Zoo.build("llama", Map.of("experts", 0)), "dense");
        LlamaConfig one = Zoo.llamaConfig(Map.of("experts", 4, "top_k", 1, "aux_loss", "false", "layers", 1));
        assertEquals(new MoeConfig(4, 1, 0, 1, 0), one.moe());
        Network single = Zoo.llama(Zoo.llamaConfig(Map.of("experts", 4, "layers", 1)));
        assertEquals(List.of("loss", "model.layers.0.block_sparse_moe.aux_loss"),
                single.node("loss_total").inputs(), "one layer: no aux_sum");
    }

    private Path config(Consumer<ObjectNode> edit) throws IOException {
        ObjectNode o = (ObjectNode) MAPPER.readTree(MODELS.resolve("mixtral-tiny.json").toFile());
        edit.accept(o);
        Path p = tmp.resolve("config.json");
        Files.writeString(p, MAPPER.writeValueAsString(o));
        return p;
    }

    private static String error(Path p, Map<String, ?> args) {
        String m = assertThrows(IllegalArgumentException.class, () -> Zoo.fromHfConfig(p, args)).getMessage();
        assertFalse(m.contains("\n"), m);
        assertTrue(m.startsWith("hf_config " + p + ": "), m);
        return m.substring(("hf_config " + p + ": ").length());
    }

    @Test
    void badSettingsAreOneLineErrors() throws IOException {
        Path topK = config(o -> o.put("num_experts_per_tok", 9));
        assertEquals("num_experts_per_tok 9 exceeds num_local_experts 8; fix the config so that num_experts_per_tok"
                + " <= num_local_experts", error(topK, Map.of()));
        Path missing = config(o -> o.remove("num_local_experts"));
        assertEquals("missing required key 'num_local_experts'; add it as Hugging Face's config.json of the model "
                + "has it", error(missing, Map.of()));
        Path negative = config(o -> o.put("router_aux_loss_coef", -1));
        assertTrue(error(negative, Map.of()).startsWith("key 'router_aux_loss_coef' is -1; expected a finite"),
                error(negative, Map.of()));
        Path tiny = MODELS.resolve("mixtral-tiny.json");
        assertEquals("zoo model 'llama': moe_groups 3 does not divide the 32 tokens (batch 1 x seq 32); choose "
                + "moe_groups dividing batch x seq", error(tiny, Map.of("moe_groups", 3)));
        assertTrue(error(tiny, Map.of("capacity_factor", -1)).startsWith("argument 'capacity_factor' is -1; "),
                error(tiny, Map.of("capacity_factor", -1)));
        String zoo = assertThrows(IllegalArgumentException.class,
                () -> Zoo.build("llama", Map.of("experts", 4, "top_k", 5))).getMessage();
        assertEquals("zoo model 'llama': top_k is 5 with 4 experts; expected 1 <= top_k <= experts (HF "
                + "num_experts_per_tok <= num_local_experts)", zoo);
        String dense = assertThrows(IllegalArgumentException.class,
                () -> Zoo.build("llama", Map.of("moe_groups", 2))).getMessage();
        assertEquals("zoo model 'llama': argument 'moe_groups' is given without experts; set experts > 0 for a "
                + "mixture-of-experts MLP, or drop 'moe_groups'", dense);
        // a dense model type rejects the MoE arguments as unknown
        String llama = assertThrows(IllegalArgumentException.class, () -> Zoo.fromHfConfig(
                MODELS.resolve("llama-tiny.json"), Map.of("moe_groups", 2))).getMessage();
        assertTrue(llama.contains("unknown argument 'moe_groups'"), llama);
    }
}
