package io.tessera.planner.zoo;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.tessera.layout.DType;
import io.tessera.layout.param.Parameter;
import io.tessera.planner.graph.Network;
import io.tessera.planner.graph.NetworkJson;
import io.tessera.planner.op.FlashAttention;
import io.tessera.planner.op.LayerNorm;
import io.tessera.planner.op.Split;
import io.tessera.planner.op.TensorType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;

import java.io.IOException;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * GPT-2 from Hugging Face's config.json: the parameter counts of the shipped configs equal the published ones, the
 * names and shapes are Hugging Face's, bad configs and arguments are one-line errors naming the key.
 */
class HfGpt2Test {

    private static final Path MODELS = Path.of("..", "strategies", "models");
    private static final ObjectMapper JSON = new ObjectMapper();

    private static JsonNode config(String file) throws IOException {
        return JSON.readTree(MODELS.resolve(file).toFile());
    }

    private static long[] shape(Network n, String param) {
        return n.parameter(param).shape();
    }

    /**
     * The published sizes: openai-community/gpt2 ("124M parameters") and openai-community/gpt2-medium ("355M")
     * model cards; the exact counts are {@code GPT2LMHeadModel.num_parameters()} of those checkpoints (tied head,
     * wpe of n_positions 1024 rows), which the shapes give: wte 50257 x h + wpe 1024 x h + layers x (4 h (two
     * LayerNorms) + h x 3h + 3h + h x h + h + h x 4h + 4h + 4h x h + h) + 2 h (ln_f).
     */
    @Test
    void parameterCountsEqualThePublishedOnes() throws IOException {
        HfGpt2.Config small = HfGpt2.fromJson(config("gpt2.json"), null);
        assertEquals(new HfGpt2.Config(12, 768, 12, 3072, 1024, 50257, 1, DType.FLOAT32, 1e-5, true, 1024, true),
                small);
        assertEquals(124_439_808L, HfGpt2.network(small).parameterCount());
        HfGpt2.Config medium = HfGpt2.fromJson(config("gpt2-medium.json"), Map.of("seq", 128));
        assertEquals(24, medium.layers());
        assertEquals(1024, medium.hidden());
        assertEquals(16, medium.heads());
        // the position table keeps its 1024 rows whatever the sequence
        assertEquals(354_823_168L, HfGpt2.network(medium).parameterCount());
        for (long h : new long[] {768, 1024}) {
            long layers = h == 768 ? 12 : 24;
            long perLayer = 4 * h + h * 3 * h + 3 * h + h * h + h + h * 4 * h + 4 * h + 4 * h * h + h;
            long expected = 50257 * h + 1024 * h + layers * perLayer + 2 * h;
            assertEquals(h == 768 ? 124_439_808L : 354_823_168L, expected);
        }
        // an untied head adds its own [vocab, hidden]
        ObjectNode untied = ((ObjectNode) config("gpt2.json")).put("tie_word_embeddings", false);
        Network n = HfGpt2.network(HfGpt2.fromJson(untied, Map.of("seq", 64, "layers", 1)));
        assertArrayEquals(new long[] {50257, 768}, shape(n, "lm_head.weight"));
    }

    @Test
    void namesAndShapesAreHuggingFaces() throws IOException {
        Network n = HfGpt2.network(HfGpt2.fromJson(config("gpt2.json"), Map.of("seq", "256", "batch", 2)));
        assertArrayEquals(new long[] {50257, 768}, shape(n, "transformer.wte.weight"));
        assertArrayEquals(new long[] {1024, 768}, shape(n, "transformer.wpe.weight"));
        assertArrayEquals(new long[] {768}, shape(n, "transformer.h.0.ln_1.weight"));
        assertArrayEquals(new long[] {768}, shape(n, "transformer.h.0.ln_1.bias"));
        assertArrayEquals(new long[] {768, 2304}, shape(n, "transformer.h.3.attn.c_attn.weight"));
        assertArrayEquals(new long[] {2304}, shape(n, "transformer.h.3.attn.c_attn.bias"));
        assertArrayEquals(new long[] {768, 768}, shape(n, "transformer.h.11.attn.c_proj.weight"));
        assertArrayEquals(new long[] {768}, shape(n, "transformer.h.11.attn.c_proj.bias"));
        assertArrayEquals(new long[] {768}, shape(n, "transformer.h.5.ln_2.weight"));
        assertArrayEquals(new long[] {768, 3072}, shape(n, "transformer.h.7.mlp.c_fc.weight"));
        assertArrayEquals(new long[] {3072}, shape(n, "transformer.h.7.mlp.c_fc.bias"));
        assertArrayEquals(new long[] {3072, 768}, shape(n, "transformer.h.7.mlp.c_proj.weight"));
        assertArrayEquals(new long[] {768}, shape(n, "transformer.h.7.mlp.c_proj.bias"));
        assertArrayEquals(new long[] {768}, shape(n, "transformer.ln_f.bias"));
        // 2 + 12 x 12 + 2 parameters, all trainable, none named lm_head (tied to wte)
        assertEquals(2 + 12 * 12 + 2, n.parameters().size());
        assertEquals(n.parameters().size(), n.trainableParams().size());
        assertFalse(n.isParameter("lm_head.weight"));
        assertEquals(List.of("transformer.ln_f", "transformer.wte.weight"), n.node("lm_head").inputs());
        assertEquals(TensorType.of(DType.INT32, 2, 256), n.tensor("input_ids"));
        assertEquals(TensorType.of(DType.INT32, 2, 256), n.tensor("position_ids"));
        assertEquals(TensorType.of(DType.FLOAT32, 512, 50257), n.tensor("labels"));
        // the fused projection split into q, k and v; causal fused attention; LayerNorm epsilon from the config
        assertEquals(Split.of(-1, 3), n.node("transformer.h.0.attn.split_qkv").op());
        assertEquals(List.of("transformer.h.0.attn.split_qkv", "transformer.h.0.attn.split_qkv:1",
                "transformer.h.0.attn.split_qkv:2"), n.node("transformer.h.0.attn.split_qkv").outputs());
        assertEquals(TensorType.of(DType.FLOAT32, 512, 768), n.tensor("transformer.h.0.attn.split_qkv:2"));
        assertEquals(FlashAttention.of(true, 1), n.node("transformer.h.0.attn.flash").op());
        assertEquals(new LayerNorm(-1, -1, 1e-5), n.node("transformer.h.0.ln_1").op());
        assertEquals(List.of("transformer.h.0.attn.split_qkv:1"), n.node("transformer.h.0.attn.k_split").inputs());
    }

    @Test
    void unfusedAttentionMasksCausallyWithAFrozenScale() throws IOException {
        HfGpt2.Config c = HfGpt2.fromJson(config("gpt2.json"), Map.of("seq", 32, "layers", "2",
                "fused_attention", "false", "dtype", "bfloat16"));
        assertFalse(c.fusedAttention());
        assertEquals(DType.BFLOAT16, c.dtype());
        Network n = HfGpt2.network(c);
        assertTrue(n.hasNode("transformer.h.1.attn.causal_mask"));
        assertFalse(n.hasNode("transformer.h.1.attn.flash"));
        Parameter scale = n.parameter("transformer.h.1.attn.scale");
        assertFalse(scale.requiresGrad());
        // the two frozen scalars are the only parameters beyond Hugging Face's
        HfGpt2.Config fused = c.withFusedAttention(true);
        assertEquals(HfGpt2.network(fused).parameterCount() + 2, n.parameterCount());
    }

    @Test
    void theNetworkRoundTripsThroughNetworkJson() {
        HfGpt2.Config tiny = new HfGpt2.Config(2, 32, 4, 128, 16, 64, 2, DType.FLOAT32, 1e-5, false);
        Network n = HfGpt2.network(tiny);
        assertEquals(n, NetworkJson.parse(NetworkJson.toJson(n)));
        assertEquals(n.parameterCount(), HfGpt2.network(tiny.withFusedAttention(false)).parameterCount() - 2);
        assertEquals(16, tiny.positions());
        assertEquals(8, tiny.headDim());
    }

    @Test
    void argumentsDefaultAndOverride() throws IOException {
        JsonNode cfg = config("gpt2.json");
        HfGpt2.Config d = HfGpt2.fromJson(cfg, Map.of());
        assertEquals(1024, d.seq());
        assertEquals(1, d.batch());
        assertTrue(d.fusedAttention());
        assertTrue(d.tiedEmbeddings());
        ObjectNode shortCtx = ((ObjectNode) cfg.deepCopy()).put("n_positions", 512).put("n_inner", 1000)
                .put("torch_dtype", "float16");
        HfGpt2.Config s = HfGpt2.fromJson(shortCtx, Map.of("batch", 8L, "layers", 3, "dtype", DType.FLOAT64));
        assertEquals(512, s.seq());
        assertEquals(1000, s.ffn());
        assertEquals(8, s.batch());
        assertEquals(3, s.layers());
        assertEquals(DType.FLOAT64, s.dtype());
        assertEquals(DType.FLOAT16, HfGpt2.fromJson(shortCtx, null).dtype());
        ObjectNode nullInner = ((ObjectNode) cfg.deepCopy()).putNull("n_inner");
        assertEquals(3072, HfGpt2.fromJson(nullInner, null).ffn());
    }

    private static String error(Executable call) {
        String m = assertThrows(IllegalArgumentException.class, call).getMessage();
        assertFalse(m.contains("\n"), "one line: " + m);
        return m;
    }

    private static JsonNode with(String key, Object value) throws IOException {
        ObjectNode o = (ObjectNode) config("gpt2.json");
        o.set(key, JSON.valueToTree(value));
        return o;
    }

    @Test
    void badConfigsAndArgumentsAreOneLineErrorsNamingTheKey() throws IOException {
        assertEquals("gpt2 config: n_embd 770 is not a multiple of n_head 12; choose n_head dividing n_embd",
                error(() -> HfGpt2.fromJson(with("n_embd", 770), null)));
        ObjectNode missing = (ObjectNode) config("gpt2.json");
        missing.remove("n_head");
        assertEquals("gpt2 config.json: missing key 'n_head'; a GPT-2 config.json gives n_layer, n_embd, n_head,"
                + " n_positions and vocab_size", error(() -> HfGpt2.fromJson(missing, null)));
        assertTrue(error(() -> HfGpt2.fromJson(with("vocab_size", "50257"), null))
                .startsWith("gpt2 config.json: vocab_size is \"50257\"; expected a positive integer"));
        assertTrue(error(() -> HfGpt2.fromJson(with("n_layer", 0), null))
                .startsWith("gpt2 config.json: n_layer is 0"));
        assertTrue(error(() -> HfGpt2.fromJson(with("model_type", "llama"), null))
                .startsWith("gpt2 config.json: model_type is \"llama\"; expected \"gpt2\""));
        assertTrue(error(() -> HfGpt2.fromJson(with("activation_function", "relu"), null))
                .contains("activation_function is \"relu\"; expected one of gelu_new"));
        assertTrue(error(() -> HfGpt2.fromJson(with("scale_attn_by_inverse_layer_idx", true), null))
                .startsWith("gpt2 config.json: scale_attn_by_inverse_layer_idx is true; only false"));
        assertTrue(error(() -> HfGpt2.fromJson(with("layer_norm_epsilon", 0), null))
                .startsWith("gpt2 config: layer_norm_epsilon is 0.0"));
        assertTrue(error(() -> HfGpt2.fromJson(with("torch_dtype", "int8"), null))
                .startsWith("gpt2 config.json: torch_dtype is 'int8'; expected a floating dtype"));
        JsonNode cfg = config("gpt2.json");
        assertEquals("gpt2 args: unknown argument 'hidden'; valid arguments: seq, batch, layers, dtype,"
                + " fused_attention", error(() -> HfGpt2.fromJson(cfg, Map.of("hidden", 64))));
        assertEquals("gpt2 config: argument seq 2048 exceeds n_positions 1024 (the rows of transformer.wpe.weight);"
                + " give seq <= 1024", error(() -> HfGpt2.fromJson(cfg, Map.of("seq", 2048))));
        assertEquals("gpt2 args: batch is 'two'; expected a positive integer",
                error(() -> HfGpt2.fromJson(cfg, Map.of("batch", "two"))));
        assertEquals("gpt2 args: seq is 1.5; expected a positive integer",
                error(() -> HfGpt2.fromJson(cfg, Map.of("seq", 1.5))));
        assertEquals("gpt2 args: fused_attention is 'yes'; expected true or false",
                error(() -> HfGpt2.fromJson(cfg, Map.of("fused_attention", "yes"))));
        assertTrue(error(() -> HfGpt2.fromJson(cfg, Map.of("dtype", "int32")))
                .startsWith("gpt2 args: dtype is 'int32'; expected a floating dtype"));
        Map<String, Object> nullArg = new HashMap<>();
        nullArg.put("seq", null);
        assertEquals(1024, HfGpt2.fromJson(cfg, nullArg).seq());
        assertTrue(error(() -> HfGpt2.fromJson(JSON.readTree("[1]"), null))
                .startsWith("gpt2 config.json: found array; expected a JSON object"));
        assertTrue(error(() -> new HfGpt2.Config(2, 32, 4, 0, 16, 64, 2, DType.FLOAT32, 1e-5, true))
                .startsWith("gpt2 config: n_inner is 0"));
    }
}
