package io.tessera.planner.zoo;

import io.tessera.layout.DType;
import io.tessera.layout.param.Parameter;
import io.tessera.planner.graph.Network;
import io.tessera.planner.graph.Node;
import io.tessera.planner.op.FlashAttention;
import io.tessera.planner.op.MatMul;
import io.tessera.planner.op.RMSNorm;
import io.tessera.planner.op.Rope;
import io.tessera.planner.op.TensorType;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The zoo's {@code llama}: LlamaConfig validation, the graph's Hugging Face names and shapes, the zoo arguments. */
class LlamaZooTest {

    private static List<String> ops(Network n, String prefix) {
        List<String> out = new ArrayList<>();
        for (Node node : n.nodes()) {
            if (node.name().startsWith(prefix)) {
                out.add(node.name().substring(prefix.length()));
            }
        }
        return out;
    }

    private static long[] shape(Network n, String param) {
        return n.parameter(param).shape();
    }

    @Test
    void namesShapesAndOperatorsAreHuggingFaces() {
        Network n = Zoo.llama(LlamaConfig.defaults());
        assertEquals("llama", n.name());
        assertEquals(List.of("input_ids", "labels"), n.inputs());
        assertEquals(TensorType.of(DType.INT32, 2, 32), n.tensor("input_ids"));
        assertEquals(TensorType.of(DType.FLOAT32, 64, 128), n.tensor("labels"));
        // hidden 64, 4 heads of 16, 2 KV heads, ffn 128, vocab 128
        assertArrayEquals(new long[] {128, 64}, shape(n, "model.embed_tokens.weight"));
        assertArrayEquals(new long[] {64}, shape(n, "model.layers.0.input_layernorm.weight"));
        assertArrayEquals(new long[] {64, 64}, shape(n, "model.layers.0.self_attn.q_proj.weight"));
        assertArrayEquals(new long[] {32, 64}, shape(n, "model.layers.1.self_attn.k_proj.weight"));
        assertArrayEquals(new long[] {32, 64}, shape(n, "model.layers.1.self_attn.v_proj.weight"));
        assertArrayEquals(new long[] {64, 64}, shape(n, "model.layers.1.self_attn.o_proj.weight"));
        assertArrayEquals(new long[] {64}, shape(n, "model.layers.1.post_attention_layernorm.weight"));
        assertArrayEquals(new long[] {128, 64}, shape(n, "model.layers.0.mlp.gate_proj.weight"));
        assertArrayEquals(new long[] {128, 64}, shape(n, "model.layers.0.mlp.up_proj.weight"));
        assertArrayEquals(new long[] {64, 128}, shape(n, "model.layers.0.mlp.down_proj.weight"));
        assertArrayEquals(new long[] {64}, shape(n, "model.norm.weight"));
        assertArrayEquals(new long[] {128, 64}, shape(n, "lm_head.weight"));
        assertEquals(2 + 2 * 9 + 1, n.parameters().size());
        assertTrue(n.parameters().stream().allMatch(Parameter::requiresGrad));
        assertEquals(List.of("input_layernorm", "self_attn.q_proj", "self_attn.q_split", "self_attn.q_heads",
                "self_attn.q_rope", "self_attn.k_proj", "self_attn.k_split", "self_attn.k_heads", "self_attn.k_rope",
                "self_attn.v_proj", "self_attn.v_split", "self_attn.v_heads", "self_attn.attention",
                "self_attn.merge_heads", "self_attn.flatten", "self_attn.o_proj", "residual1",
                "post_attention_layernorm", "mlp.gate_proj", "mlp.up_proj", "mlp.act", "mlp.mul", "mlp.down_proj",
                "residual2"), ops(n, "model.layers.0."));
        List<String> top = new ArrayList<>();
        n.nodes().stream().map(Node::name).filter(s -> !s.startsWith("model.layers.")).forEach(top::add);
        assertEquals(List.of("model.embed_tokens", "model.embed_flatten", "model.norm", "lm_head", "loss_fn", "loss"),
                top);
        assertEquals("loss", n.loss());

        Node q = n.node("model.layers.0.self_attn.q_proj");
        assertEquals(MatMul.of(false, true), q.op());
        assertEquals(List.of("model.layers.0.input_layernorm", "model.layers.0.self_attn.q_proj.weight"), q.inputs());
        assertEquals(new RMSNorm(1e-6), n.node("model.layers.0.input_layernorm").op());
        assertEquals(Rope.of(10000), n.node("model.layers.1.self_attn.k_rope").op());
        Node attention = n.node("model.layers.1.self_attn.attention");
        assertEquals(FlashAttention.of(true, 1), attention.op());
        assertEquals(List.of("model.layers.1.self_attn.q_rope", "model.layers.1.self_attn.k_rope",
                "model.layers.1.self_attn.v_heads"), attention.inputs());
        assertEquals(TensorType.of(DType.FLOAT32, 2, 2, 32, 16), n.tensor("model.layers.1.self_attn.k_rope"));
        assertEquals(List.of("model.layers.1.self_attn.attention"),
                n.node("model.layers.1.self_attn.merge_heads").inputs());
        assertEquals(List.of("model.layers.0.mlp.act", "model.layers.0.mlp.up_proj"),
                n.node("model.layers.0.mlp.mul").inputs());
        assertEquals(List.of("model.norm", "lm_head.weight"), n.node("lm_head").inputs());
    }

    @Test
    void tiedEmbeddingsDropTheHeadWeightAndMultiplyByTheTable() {
        LlamaConfig c = LlamaConfig.defaults();
        Network untied = Zoo.llama(c);
        Network tied = Zoo.llama(c.withTiedEmbeddings(true));
        assertFalse(tied.parameters().stream().anyMatch(p -> p.name().equals("lm_head.weight")));
        assertEquals(List.of("model.norm", "model.embed_tokens.weight"), tied.node("lm_head").inputs());
        assertEquals(MatMul.of(false, true), tied.node("lm_head").op());
        assertEquals(untied.parameterCount() - 128L * 64, tied.parameterCount());
    }

    @Test
    void attentionBiasesAreQwen2s() {
        Network n = Zoo.llama(LlamaConfig.defaults().withAttentionBias(true));
        assertArrayEquals(new long[] {64}, shape(n, "model.layers.0.self_attn.q_proj.bias"));
        assertArrayEquals(new long[] {32}, shape(n, "model.layers.0.self_attn.k_proj.bias"));
        assertArrayEquals(new long[] {32}, shape(n, "model.layers.1.self_attn.v_proj.bias"));
        assertFalse(n.parameters().stream().anyMatch(p -> p.name().endsWith("o_proj.bias")));
        assertEquals(List.of("model.layers.0.self_attn.k_proj", "model.layers.0.self_attn.k_proj.bias"),
                n.node("model.layers.0.self_attn.k_proj_bias").inputs());
        assertEquals(List.of("model.layers.0.self_attn.k_proj_bias"),
                n.node("model.layers.0.self_attn.k_split").inputs());
        assertEquals(Zoo.llama(LlamaConfig.defaults()).parameterCount() + 2 * (64 + 32 + 32), n.parameterCount());
    }

    @Test
    void unfusedAttentionIsMultiHeadWithAConstantScale() {
        LlamaConfig c = LlamaConfig.defaults().withKvHeads(4).withFusedAttention(false);
        Network n = Zoo.llama(c);
        assertEquals(List.of("self_attn.scores", "self_attn.scale_mul", "self_attn.causal_mask", "self_attn.softmax",
                "self_attn.context"), ops(n, "model.layers.0.").subList(12, 17));
        Parameter scale = n.parameter("model.layers.0.self_attn.scale");
        assertFalse(scale.requiresGrad());
        assertArrayEquals(new long[] {1}, scale.shape());
        assertEquals(List.of("model.layers.0.self_attn.context"), n.node("model.layers.0.self_attn.merge_heads")
                .inputs());
        String m = assertThrows(IllegalArgumentException.class,
                () -> LlamaConfig.defaults().withFusedAttention(false)).getMessage();
        assertEquals("zoo model 'llama': fused_attention is false with kv_heads 2 < heads 4; the unfused attention "
                + "has no grouped-query form: set fused_attention true", m);
    }

    @Test
    void configValidationNamesTheValue() {
        LlamaConfig d = LlamaConfig.defaults();
        assertEquals(16, d.headDim());
        Map<String, Runnable> bad = new LinkedHashMap<>();
        bad.put("zoo model 'llama': hidden 64 is not a multiple of heads 5", () -> new LlamaConfig(2, 64, 5, 5, 128,
                32, 128, 2, DType.FLOAT32, 1e-6, 1e4, null, false, false, true, 1));
        bad.put("zoo model 'llama': heads 4 is not a multiple of kv_heads 3", () -> d.withKvHeads(3));
        bad.put("zoo model 'llama': layers is 0; expected a positive size", () -> d.withLayers(0));
        bad.put("zoo model 'llama': dtype is float8_e4m3fn", () -> d.withDtype(DType.FLOAT8_E4M3FN));
        bad.put("zoo model 'llama': dtype is int32", () -> d.withDtype(DType.INT32));
        bad.put("zoo model 'llama': load_balance is 0", () -> d.withLoadBalance(0));
        bad.put("zoo model 'llama': load_balance 3 needs seq divisible by 6", () -> d.withLoadBalance(3));
        bad.put("zoo model 'llama': load_balance 2 with fused_attention false", () -> d.withKvHeads(4)
                .withLoadBalance(2).withFusedAttention(false));
        bad.put("zoo model 'llama': rms_eps is 0.0", () -> new LlamaConfig(2, 64, 4, 2, 128, 32, 128, 2,
                DType.FLOAT32, 0, 1e4, null, false, false, true, 1));
        bad.put("zoo model 'llama': rope_theta is -1.0", () -> new LlamaConfig(2, 64, 4, 2, 128, 32, 128, 2,
                DType.FLOAT32, 1e-6, -1, null, false, false, true, 1));
        bad.forEach((start, r) -> {
            String m = assertThrows(IllegalArgumentException.class, r::run).getMessage();
            assertTrue(m.startsWith(start) && !m.contains("\n"), m);
        });
        assertEquals(4, d.withLoadBalance(4).loadBalance());
    }

    @Test
    void zooArgumentsAreReadStrictly() {
        assertEquals(Zoo.llama(LlamaConfig.defaults()), Zoo.build("llama", Map.of()));
        assertEquals(List.of("layers", "hidden", "heads", "kv_heads", "ffn", "seq", "vocab", "batch", "dtype",
                "rms_eps", "rope_theta", "rope_scaling", "tied_embeddings", "attention_bias", "fused_attention",
                "load_balance", "experts", "top_k", "capacity_factor", "moe_groups", "aux_loss"),
                List.copyOf(Zoo.defaults("llama").keySet()));
        Map<String, Object> args = new LinkedHashMap<>();
        args.put("layers", 3);
        args.put("kv_heads", 1);
        args.put("seq", "16");
        args.put("dtype", "bfloat16");
        args.put("rms_eps", 1e-5);
        args.put("rope_theta", "500000");
        args.put("rope_scaling", Map.of("rope_type", "llama3", "factor", 8, "low_freq_factor", 1,
                "high_freq_factor", 4.0, "original_max_position_embeddings", 8192));
        args.put("tied_embeddings", true);
        args.put("attention_bias", "true");
        args.put("load_balance", 2);
        Rope.Llama3Scaling s = new Rope.Llama3Scaling(8, 1, 4, 8192);
        LlamaConfig expected = new LlamaConfig(3, 64, 4, 1, 128, 16, 128, 2, DType.BFLOAT16, 1e-5, 5e5, s, true, true,
                true, 2);
        assertEquals(Zoo.llama(expected), Zoo.build("llama", args));
        assertEquals(new Rope(5e5, s).withLoadBalance(2),
                Zoo.build("llama", args).node("model.layers.2.self_attn.q_rope").op());
        assertEquals(new RMSNorm(1e-5), Zoo.build("llama", args).node("model.norm").op());

        String m = assertThrows(IllegalArgumentException.class, () -> Zoo.build("llama", Map.of("kv_head", 2)))
                .getMessage();
        assertTrue(m.startsWith("zoo model 'llama': unknown argument 'kv_head'; valid arguments (with defaults): "
                + "layers=2, hidden=64, heads=4, kv_heads=2,"), m);
        m = assertThrows(IllegalArgumentException.class, () -> Zoo.build("llama", Map.of("rms_eps", "tiny")))
                .getMessage();
        assertEquals("zoo model 'llama': argument 'rms_eps' is 'tiny'; expected a positive number such as 1e-5", m);
        m = assertThrows(IllegalArgumentException.class, () -> Zoo.build("llama", Map.of("rope_scaling",
                Map.of("rope_type", "yarn", "factor", 4)))).getMessage();
        assertTrue(m.startsWith("zoo model 'llama': argument 'rope_scaling': rope_type is 'yarn'; expected "
                + "\"llama3\""), m);
    }
}
