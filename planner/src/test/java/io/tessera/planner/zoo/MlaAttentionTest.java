package io.tessera.planner.zoo;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.tessera.layout.DType;
import io.tessera.layout.param.Parameter;
import io.tessera.planner.graph.Network;
import io.tessera.planner.graph.Node;
import io.tessera.planner.handplan.LlamaPlans;
import io.tessera.planner.handplan.MlaPlans;
import io.tessera.planner.op.FlashAttention;
import io.tessera.planner.op.Reduce;
import io.tessera.planner.op.Rope;
import io.tessera.planner.op.Strategy;
import io.tessera.planner.op.TensorType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@link MlaConfig}, {@link MlaAttention} and {@link MlaPlans}: names, shapes, counts, Hugging Face keys, errors. */
class MlaAttentionTest {

    private static final ObjectMapper JSON = new ObjectMapper();

    /** One latent-attention layer under {@code model.layers.0.self_attn} of {@code c}, its output summed as loss. */
    private static Network layer(LlamaConfig c, MlaConfig m) {
        Network.Builder b = Network.builder("mla");
        String x = b.input("x", TensorType.of(c.dtype(), (long) c.batch() * c.seq(), c.hidden()));
        String out = MlaAttention.build(b.scope("model.layers.0.self_attn"), x, c, m);
        return b.loss(b.op("loss", Reduce.mean(false), out)).build();
    }

    private static LlamaConfig tiny() {
        return new LlamaConfig(1, 64, 4, 4, 128, 16, 128, 2, DType.FLOAT32, 1e-6, 10000, null, false, false, true, 1);
    }

    @Test
    void deepseekV3LayerHasThePublishedParameterCount() {
        // hidden 7168, 128 heads: q_a 1536 x 7168 + 1536 + q_b 128*192 x 1536 + kv_a (512+64) x 7168 + 512
        // + kv_b 128*(128+128) x 512 + o 7168 x 128*128
        long hand = 1536L * 7168 + 1536 + 128L * 192 * 1536 + 576L * 7168 + 512 + 128L * 256 * 512 + 7168L * 128 * 128;
        assertEquals(187_107_328L, hand);
        LlamaConfig c = new LlamaConfig(1, 7168, 128, 128, 18432, 2, 129280, 1, DType.BFLOAT16, 1e-6, 10000, null,
                false, false, true, 1);
        Network n = layer(c, MlaConfig.deepseekV3());
        assertEquals(hand, n.parameterCount());
        Map<String, long[]> shapes = new LinkedHashMap<>();
        n.parameters().forEach(p -> shapes.put(p.name(), p.shape()));
        String a = "model.layers.0.self_attn.";
        assertEquals(List.of(a + "q_a_proj.weight", a + "q_a_layernorm.weight", a + "q_b_proj.weight",
                a + "kv_a_proj_with_mqa.weight", a + "kv_a_layernorm.weight", a + "kv_b_proj.weight",
                a + "o_proj.weight"), List.copyOf(shapes.keySet()));
        assertArrayEquals(new long[] {1536, 7168}, shapes.get(a + "q_a_proj.weight"));
        assertArrayEquals(new long[] {1536}, shapes.get(a + "q_a_layernorm.weight"));
        assertArrayEquals(new long[] {128 * 192, 1536}, shapes.get(a + "q_b_proj.weight"));
        assertArrayEquals(new long[] {576, 7168}, shapes.get(a + "kv_a_proj_with_mqa.weight"));
        assertArrayEquals(new long[] {512}, shapes.get(a + "kv_a_layernorm.weight"));
        assertArrayEquals(new long[] {128 * 256, 512}, shapes.get(a + "kv_b_proj.weight"));
        assertArrayEquals(new long[] {7168, 128 * 128}, shapes.get(a + "o_proj.weight"));
    }

    @Test
    void theGraphHasTheDocumentedNodesAndShapes() {
        Network n = layer(tiny(), MlaConfig.of(32, 16, 16, 8, 16));
        String a = "model.layers.0.self_attn.";
        List<String> names = n.nodes().stream().map(Node::name).filter(s -> s.startsWith(a))
                .map(s -> s.substring(a.length())).toList();
        assertEquals(List.of("q_a_proj", "q_a_layernorm", "q_b_proj", "q_split", "q_heads", "q_nope_pe", "q_rope",
                "q_concat", "kv_a_proj_with_mqa", "kv_split", "kv_a_layernorm", "kv_b_proj", "kv_b_split", "kv_heads",
                "kv_nope_v", "k_pe_heads", "k_rope", "k_pe_broadcast", "k_concat", "attention", "merge_heads",
                "flatten", "o_proj"), names);
        assertArrayEquals(new long[] {2, 4, 16, 24}, n.tensor(a + "q_concat").shape());
        assertArrayEquals(new long[] {2, 4, 16, 8}, n.tensor(a + "q_nope_pe:1").shape());
        assertArrayEquals(new long[] {32, 16}, n.tensor(a + "kv_split").shape());
        assertArrayEquals(new long[] {32, 8}, n.tensor(a + "kv_split:1").shape());
        assertArrayEquals(new long[] {2, 1, 16, 8}, n.tensor(a + "k_rope").shape());
        assertArrayEquals(new long[] {2, 4, 16, 24}, n.tensor(a + "k_concat").shape());
        assertArrayEquals(new long[] {2, 4, 16, 16}, n.tensor(a + "kv_nope_v:1").shape());
        assertArrayEquals(new long[] {2, 4, 16, 16}, n.tensor(a + "attention").shape());
        assertArrayEquals(new long[] {32, 64}, n.tensor(a + "o_proj").shape());
        assertEquals(new Rope(10000, null, 1, true), n.node(a + "q_rope").op());
        assertEquals(new Rope(10000, null, 1, true), n.node(a + "k_rope").op());
        FlashAttention fa = (FlashAttention) n.node(a + "attention").op();
        assertEquals(1 / Math.sqrt(24), fa.scale(), 1e-15);
        assertTrue(fa.causal());
        // without the query compression: a plain q_proj [H*(n+r), hidden]
        Network plain = layer(tiny(), MlaConfig.of(0, 16, 16, 8, 16));
        assertTrue(plain.hasNode(a + "q_proj"));
        assertFalse(plain.hasNode(a + "q_a_proj"));
        assertArrayEquals(new long[] {96, 64}, plain.parameter(a + "q_proj.weight").shape());
    }

    @Test
    void yarnSetsTheRopeAndTheSoftmaxScaleAsDeepSeek() throws Exception {
        JsonNode v3 = JSON.readTree(("{'q_lora_rank': 1536, 'kv_lora_rank': 512, 'qk_nope_head_dim': 128, "
                + "'qk_rope_head_dim': 64, 'v_head_dim': 128, 'rope_scaling': {'beta_fast': 32, 'beta_slow': 1, "
                + "'factor': 40, 'mscale': 1.0, 'mscale_all_dim': 1.0, 'original_max_position_embeddings': 4096, "
                + "'type': 'yarn'}}").replace('\'', '"'));
        MlaConfig m = MlaConfig.fromHf(v3, 128);
        // by hand: mscale = 0.1 * 1 * ln 40 + 1 = 1.36888794541139...; scale = 192^-0.5 * mscale^2
        double mscale = 0.1 * Math.log(40) + 1;
        assertEquals(1.3688879454113936, mscale, 1e-15);
        assertEquals(0.1352337788608801, m.softmaxScale(), 1e-12);
        assertEquals(mscale * mscale / Math.sqrt(192), m.softmaxScale(), 1e-15);
        assertEquals(new Rope.YarnScaling(40, 4096, 32, 1, 1, 1), m.ropeScaling());
        assertEquals(1, m.ropeScaling().attentionFactor(), 0, "mscale = mscale_all_dim: cos and sin unscaled");
        assertEquals(new MlaConfig(1536, 512, 128, 64, 128, m.softmaxScale(), m.ropeScaling()), m);
        // the rope part's frequencies (head dim 64, base 10000): low = floor(10.47...) = 10, high = ceil(22.51...)
        // = 23; below 10 kept, from 23 divided by 40, between blended by the linear ramp
        double[] f = new Rope(10000, m.ropeScaling()).invFreq(64);
        double[] base = Rope.of(10000).invFreq(64);
        assertEquals(base[9], f[9], 0);
        assertEquals(base[23] / 40, f[23], 1e-20);
        double ramp = (16 - 10) / 13.0;
        assertEquals(base[16] / 40 * ramp + base[16] * (1 - ramp), f[16], 1e-18);
        // no rope_scaling: 192^-0.5, plain rope; V2-Lite's null q_lora_rank is no compression
        JsonNode lite = JSON.readTree(("{'q_lora_rank': null, 'kv_lora_rank': 512, 'qk_nope_head_dim': 128, "
                + "'qk_rope_head_dim': 64, 'v_head_dim': 128, 'rope_scaling': null}").replace('\'', '"'));
        MlaConfig l = MlaConfig.fromHf(lite, 16);
        assertEquals(0, l.qLoraRank());
        assertEquals(1 / Math.sqrt(192), l.softmaxScale(), 1e-15);
        assertNull(l.ropeScaling());
        // rope_type spelling, and an attention factor when mscale differs from mscale_all_dim
        JsonNode typed = JSON.readTree(("{'kv_lora_rank': 8, 'qk_nope_head_dim': 4, 'qk_rope_head_dim': 4, "
                + "'v_head_dim': 4, 'rope_scaling': {'rope_type': 'yarn', 'factor': 4, 'mscale': 2}}")
                .replace('\'', '"'));
        MlaConfig t = MlaConfig.fromHf(typed, 2);
        assertEquals(1 / Math.sqrt(8), t.softmaxScale(), 1e-15, "mscale_all_dim 0: no change of the scale");
        assertEquals(0.2 * Math.log(4) + 1, t.ropeScaling().attentionFactor(), 1e-15);
        assertTrue(t.ropeInterleave(), "rope_interleave defaults to true, as DeepSeek's code");
        JsonNode halves = JSON.readTree(("{'kv_lora_rank': 8, 'qk_nope_head_dim': 4, 'qk_rope_head_dim': 4, "
                + "'v_head_dim': 4, 'rope_interleave': false}").replace('\'', '"'));
        assertFalse(MlaConfig.fromHf(halves, 2).ropeInterleave());
    }

    @Test
    void badConfigsAreOneLineErrorsNamingTheKey() throws Exception {
        String ok = "'q_lora_rank': 32, 'kv_lora_rank': 16, 'qk_nope_head_dim': 16, 'qk_rope_head_dim': 8, "
                + "'v_head_dim': 16";
        assertError("multi-head latent attention: kv_lora_rank is missing; expected an integer such as 512",
                () -> MlaConfig.fromHf(json("{'qk_nope_head_dim': 16, 'qk_rope_head_dim': 8, 'v_head_dim': 16}"), 4));
        assertError("multi-head latent attention: q_lora_rank is -1; expected 0",
                () -> MlaConfig.fromHf(json("{" + ok.replace("32", "-1") + "}"), 4));
        assertError("multi-head latent attention: kv_lora_rank is 0; expected a positive size",
                () -> MlaConfig.fromHf(json("{" + ok.replace("'kv_lora_rank': 16", "'kv_lora_rank': 0") + "}"), 4));
        assertError("multi-head latent attention: qk_nope_head_dim is \"x\"; expected an integer",
                () -> MlaConfig.fromHf(json("{" + ok.replace("'qk_nope_head_dim': 16", "'qk_nope_head_dim': 'x'")
                        + "}"), 4));
        assertError("multi-head latent attention: qk_rope_head_dim is 7, which is odd",
                () -> MlaConfig.fromHf(json("{" + ok.replace("'qk_rope_head_dim': 8", "'qk_rope_head_dim': 7")
                        + "}"), 4));
        assertError("multi-head latent attention: v_head_dim is -4; expected a positive size",
                () -> MlaConfig.fromHf(json("{" + ok.replace("'v_head_dim': 16", "'v_head_dim': -4") + "}"), 4));
        assertError("multi-head latent attention: rope_scaling type is 'linear'; expected \"yarn\"",
                () -> MlaConfig.fromHf(json("{" + ok + ", 'rope_scaling': {'type': 'linear', 'factor': 2}}"), 4));
        assertError("multi-head latent attention: rope_scaling factor is missing",
                () -> MlaConfig.fromHf(json("{" + ok + ", 'rope_scaling': {'type': 'yarn'}}"), 4));
        assertError("multi-head latent attention: rope_scaling: RotaryPositionEmbedding: yarn rope_scaling factor is"
                + " 0.5", () -> MlaConfig.fromHf(json("{" + ok + ", 'rope_scaling': {'type': 'yarn', 'factor': 0.5}}"),
                4));
        assertError("multi-head latent attention: num_attention_heads is 0",
                () -> MlaConfig.fromHf(json("{" + ok + "}"), 0));
        assertError("multi-head latent attention: rope_interleave is \"yes\"; expected true or false",
                () -> MlaConfig.fromHf(json("{" + ok + ", 'rope_interleave': 'yes'}"), 4));
        assertError("multi-head latent attention: softmax_scale is NaN",
                () -> new MlaConfig(0, 16, 16, 8, 16, Double.NaN));
    }

    @Test
    void thePlanSplitsHeadsAndReplicatesTheCompressions() {
        LlamaConfig c = tiny();
        Network n = layer(c, MlaConfig.of(32, 16, 16, 8, 16));
        String a = "model.layers.0.self_attn.";
        Map<String, Strategy> s = MlaPlans.strategies(n, "model.layers.0.", 2, 1, 2, false);
        assertEquals(Strategy.of(new int[] {2, 1}, new int[] {1, 1}), s.get(a + "q_a_proj"));
        assertEquals(Strategy.of(new int[] {2, 1}, new int[] {1, 1}), s.get(a + "kv_a_proj_with_mqa"));
        assertEquals(Strategy.of(new int[] {2, 1}, new int[] {2, 1}), s.get(a + "kv_b_proj"));
        assertEquals(Strategy.of(new int[] {2, 2}, new int[] {1, 2}), s.get(a + "o_proj"));
        assertEquals(Strategy.of(new int[] {2, 2, 1, 1}), s.get(a + "k_pe_broadcast"));
        assertEquals(Strategy.of(new int[] {2, 1, 1, 1}), s.get(a + "k_rope"));
        // every node of the attention has a strategy, and nothing else
        assertEquals(n.nodes().stream().map(Node::name).filter(x -> x.startsWith(a)).toList(), List.copyOf(s.keySet()));
        assertError("MLA plan: tensor = 3 does not divide num_attention_heads = 4",
                () -> MlaPlans.strategies(n, "model.layers.0.", 2, 1, 3, false));
        assertError("MLA plan: mla has no latent attention under 'model.layers.1.self_attn.'",
                () -> MlaPlans.strategies(n, "model.layers.1.", 2, 1, 2, false));
        // Llama's self_attn entries replaced in place
        Map<String, Strategy> llama = LlamaPlans.strategies(c, 2, 2, 1, false, false);
        Map<String, Strategy> r = MlaPlans.replaceAttention(llama, n, 2, 1, 2, false);
        List<String> keys = List.copyOf(r.keySet());
        assertFalse(r.containsKey(a + "k_proj"));
        assertEquals(keys.indexOf("model.layers.0.input_layernorm") + 1, keys.indexOf(a + "q_a_proj"));
        assertEquals(keys.indexOf(a + "o_proj") + 1, keys.indexOf("model.layers.0.residual1"));
    }

    private static JsonNode json(String s) throws Exception {
        return JSON.readTree(s.replace('\'', '"'));
    }

    private static void assertError(String start, Executable call) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, call);
        assertTrue(e.getMessage().startsWith(start), e.getMessage());
        assertFalse(e.getMessage().contains("\n"), e.getMessage());
    }
}
