package io.tessera.planner.zoo;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.tessera.layout.DType;
import io.tessera.planner.graph.Network;
import io.tessera.planner.op.RMSNorm;
import io.tessera.planner.op.Rope;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

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
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Hugging Face {@code config.json}s: the shipped configs in {@code strategies/models/} build networks whose parameter
 * counts equal the published ones, their values are read as Hugging Face reads them, and bad configs are one-line
 * errors naming the key and the file.
 */
class HfConfigTest {

    static final Path MODELS = Path.of("..", "strategies", "models");
    private static final ObjectMapper MAPPER = new ObjectMapper();

    @TempDir
    Path tmp;

    /**
     * The parameter count of each shipped config equals the count its model card publishes (the Hugging Face model
     * page's "Model size", the sum of the safetensors' element counts, every parameter trainable). Building even the
     * 126-layer 405B graph is fast: it has shapes, no data.
     */
    @ParameterizedTest(name = "{0}: {2}")
    @CsvSource({
        "llama-3-8b.json, 8030261248, meta-llama/Meta-Llama-3-8B",
        "llama-3-70b.json, 70553706496, meta-llama/Meta-Llama-3-70B",
        "llama-3.1-405b.json, 405853388800, meta-llama/Llama-3.1-405B",
        "mistral-7b-v0.1.json, 7241732096, mistralai/Mistral-7B-v0.1",
        "qwen2-7b.json, 7615616512, Qwen/Qwen2-7B"})
    void parameterCountsEqualThePublishedOnes(String file, long published, String modelCard) {
        long t0 = System.nanoTime();
        Network n = Zoo.fromHfConfig(MODELS.resolve(file), Map.of());
        double seconds = (System.nanoTime() - t0) / 1e9;
        System.out.printf(Locale.ROOT, "%s (%s): %d parameters, %d operators, built in %.2f s%n", file, modelCard,
                n.parameterCount(), n.nodes().size(), seconds);
        assertEquals(published, n.parameterCount(), modelCard);
        long trainable = n.trainableParams().stream().mapToLong(p -> {
            long e = 1;
            for (long d : p.shape()) {
                e *= d;
            }
            return e;
        }).sum();
        assertEquals(published, trainable, modelCard);
        assertTrue(seconds < 10, file + " took " + seconds + " s to build");
    }

    @Test
    void valuesAreReadAsHuggingFaceReadsThem() {
        LlamaConfig l8 = Zoo.hfConfig(MODELS.resolve("llama-3-8b.json"), Map.of());
        assertEquals(new LlamaConfig(32, 4096, 32, 8, 14336, 4096, 128256, 1, DType.BFLOAT16, 1e-5, 5e5, null, false,
                false, true, 1), l8);
        LlamaConfig l405 = Zoo.hfConfig(MODELS.resolve("llama-3.1-405b.json"), Map.of());
        assertEquals(new Rope.Llama3Scaling(8, 1, 4, 8192), l405.ropeScaling());
        assertEquals(126, l405.layers());
        assertEquals(4096, l405.seq(), "min(max_position_embeddings 131072, 4096)");
        LlamaConfig mistral = Zoo.hfConfig(MODELS.resolve("mistral-7b-v0.1.json"), Map.of());
        assertEquals(1e4, mistral.ropeTheta());
        assertFalse(mistral.attentionBias());
        LlamaConfig qwen = Zoo.hfConfig(MODELS.resolve("qwen2-7b.json"), Map.of());
        assertTrue(qwen.attentionBias());
        assertEquals(4, qwen.kvHeads());
        assertEquals(1e-6, qwen.rmsEps());
        LlamaConfig tiny = Zoo.hfConfig(MODELS.resolve("llama-tiny.json"), Map.of());
        assertEquals(LlamaConfig.defaults().withBatch(1), tiny);

        Network n = Zoo.fromHfConfig(MODELS.resolve("llama-3.1-405b.json"), Map.of("layers", 1, "seq", 8192));
        assertEquals(new Rope(5e5, new Rope.Llama3Scaling(8, 1, 4, 8192)),
                n.node("model.layers.0.self_attn.q_rope").op());
        assertEquals(new RMSNorm(1e-5), n.node("model.layers.0.input_layernorm").op());
        assertArrayEquals(new long[] {1, 8192}, n.tensor("input_ids").shape());
        assertArrayEquals(new long[] {1024, 16384}, n.parameter("model.layers.0.self_attn.k_proj.weight").shape());
        Network q = Zoo.fromHfConfig(MODELS.resolve("qwen2-7b.json"), Map.of("layers", 1, "seq", 16));
        assertArrayEquals(new long[] {3584}, q.parameter("model.layers.0.self_attn.q_proj.bias").shape());
        assertArrayEquals(new long[] {512}, q.parameter("model.layers.0.self_attn.v_proj.bias").shape());
        assertTrue(q.hasNode("model.layers.0.self_attn.v_proj_bias"));
    }

    @Test
    void argumentsOverrideSeqBatchLayersDtypeAndAttention() {
        Map<String, Object> args = Map.of("seq", 64, "batch", "4", "layers", 1, "dtype", "float32",
                "fused_attention", true, "load_balance", 2);
        LlamaConfig c = Zoo.hfConfig(MODELS.resolve("llama-3-8b.json"), args);
        assertEquals(new LlamaConfig(1, 4096, 32, 8, 14336, 64, 128256, 4, DType.FLOAT32, 1e-5, 5e5, null, false,
                false, true, 2), c);
        assertEquals(Zoo.llama(c), Zoo.fromHfConfig(MODELS.resolve("llama-3-8b.json"), args));
    }

    private Path config(String base, Consumer<ObjectNode> edit) throws IOException {
        ObjectNode o = (ObjectNode) MAPPER.readTree(MODELS.resolve(base).toFile());
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
    void unknownModelTypeListsTheSupportedOnes() throws IOException {
        Path p = config("llama-3-8b.json", o -> o.put("model_type", "gpt_neox"));
        assertEquals("model_type 'gpt_neox' is not supported; expected one of llama, mistral, qwen2, gpt2, mixtral, "
                + "qwen2_moe, deepseek_v3", error(p,
                Map.of()));
        assertThrows(IllegalArgumentException.class, () -> Zoo.hfConfig(p, Map.of()));
    }

    @Test
    void headsNotDividingHiddenNameTheKeys() throws IOException {
        Path p = config("llama-3-8b.json", o -> o.put("num_attention_heads", 30));
        assertTrue(error(p, Map.of()).startsWith("hidden_size 4096 is not a multiple of num_attention_heads 30; "));
    }

    @Test
    void kvHeadsNotDividingHeadsNameTheKeys() throws IOException {
        Path p = config("llama-3-8b.json", o -> o.put("num_key_value_heads", 5));
        assertTrue(error(p, Map.of()).startsWith("num_attention_heads 32 is not a multiple of num_key_value_heads 5; "));
    }

    @Test
    void missingKeysAreNamed() throws IOException {
        for (String key : List.of("intermediate_size", "hidden_size", "vocab_size", "model_type")) {
            Path p = config("mistral-7b-v0.1.json", o -> o.remove(key));
            assertEquals("missing required key '" + key + "'; add it as Hugging Face's config.json of the model has "
                    + "it", error(p, Map.of()));
        }
        // num_key_value_heads absent: multi-head attention, as Hugging Face defaults it
        Path mha = config("llama-tiny.json", o -> o.remove("num_key_value_heads"));
        assertEquals(4, Zoo.hfConfig(mha, Map.of()).kvHeads());
        Path missing = tmp.resolve("nope.json");
        assertTrue(error(missing, Map.of()).startsWith("cannot read the file"));
    }

    @Test
    void unknownArgumentsListTheAllowedOnes() {
        Path p = MODELS.resolve("llama-3-8b.json");
        assertEquals("unknown argument 'hidden'; valid arguments (with defaults): seq=4096, batch=1, layers=32, "
                + "dtype=bfloat16, fused_attention=true, load_balance=1", error(p, Map.of("hidden", 1024)));
        assertEquals("argument 'seq' is 0; expected a positive integer", error(p, Map.of("seq", 0)));
        assertTrue(error(p, Map.of("fused_attention", false)).startsWith("zoo model 'llama': fused_attention is "
                + "false with kv_heads 8 < heads 32"));
    }

    @Test
    void badValuesAreOneLineErrors() throws IOException {
        Path p = config("llama-3.1-405b.json", o -> ((ObjectNode) o.get("rope_scaling")).put("rope_type", "yarn"));
        assertTrue(error(p, Map.of()).startsWith("rope_scaling: rope_type is 'yarn'; expected \"llama3\""));
        p = config("llama-3.1-405b.json", o -> ((ObjectNode) o.get("rope_scaling")).remove("factor"));
        assertTrue(error(p, Map.of()).startsWith("rope_scaling: factor is missing; expected a number"));
        p = config("llama-3-8b.json", o -> o.put("hidden_size", "4096"));
        assertEquals("key 'hidden_size' is \"4096\"; expected a positive integer", error(p, Map.of()));
        p = config("llama-3-8b.json", o -> o.put("torch_dtype", "int8"));
        assertTrue(error(p, Map.of()).startsWith("key 'torch_dtype' is \"int8\"; expected \"bfloat16\""));
        p = config("llama-3-8b.json", o -> o.put("hidden_act", "gelu"));
        assertTrue(error(p, Map.of()).startsWith("key 'hidden_act' is \"gelu\"; expected \"silu\""));
        p = config("llama-3-8b.json", o -> o.put("head_dim", 64));
        assertTrue(error(p, Map.of()).startsWith("head_dim 64 differs from hidden_size / num_attention_heads = 128"));
        Path arr = tmp.resolve("array.json");
        Files.writeString(arr, "[1]");
        assertTrue(error(arr, Map.of()).startsWith("found array; expected a JSON object"));
        Files.writeString(arr, "{");
        assertTrue(error(arr, Map.of()).startsWith("not valid JSON"));
        // rope_scaling null and rope_type "default" mean none
        p = config("llama-3.1-405b.json", o -> ((ObjectNode) o.get("rope_scaling")).put("rope_type", "default"));
        assertNull(Zoo.hfConfig(p, Map.of()).ropeScaling());
    }
}
