package io.tessera.planner.zoo;

import io.tessera.layout.DType;
import io.tessera.layout.param.Parameter;
import io.tessera.planner.graph.Network;
import io.tessera.planner.graph.Node;
import io.tessera.planner.op.BatchNorm;
import io.tessera.planner.op.LayerNorm;
import io.tessera.planner.op.MatMul;
import io.tessera.planner.op.TensorType;
import org.junit.jupiter.api.Test;

import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The zoo: names of ops and parameters, shapes, parameter counts against hand-computed numbers, argument errors. */
class ZooTest {

    private static List<String> nodeNames(Network n) {
        return n.nodes().stream().map(Node::name).collect(Collectors.toList());
    }

    private static List<String> paramNames(Network n) {
        return n.parametersAndNames().stream().map(Map.Entry::getKey).collect(Collectors.toList());
    }

    private static long trainableCount(Network n) {
        long c = 0;
        for (Parameter p : n.trainableParams()) {
            long e = 1;
            for (long d : p.shape()) {
                e *= d;
            }
            c += e;
        }
        return c;
    }

    @Test
    void mlpDefaults() {
        Network n = Zoo.build("mlp", null);
        assertEquals(List.of("layers.0.dense", "layers.0.bias_add", "layers.0.relu", "layers.1.dense",
                "layers.1.bias_add", "loss_fn", "loss"), nodeNames(n));
        assertEquals(List.of("layers.0.weight", "layers.0.bias", "layers.1.weight", "layers.1.bias"), paramNames(n));
        assertEquals(List.of("x", "labels"), n.inputs());
        assertEquals(TensorType.of(DType.FLOAT32, 8, 1024), n.tensor("x"));
        assertEquals(TensorType.of(DType.FLOAT32, 8, 1024), n.tensor("labels"));
        assertEquals(TensorType.of(DType.FLOAT32, 8, 1024), n.tensor("layers.1.bias_add"));
        assertEquals(TensorType.of(DType.FLOAT32), n.tensor("loss"));
        assertEquals("loss", n.loss());
        // 1024 x 4096 + 4096 + 4096 x 1024 + 1024
        assertEquals(8_393_728L, n.parameterCount());
        assertEquals(n.parameterCount(), trainableCount(n));
        assertEquals(List.of(n.parameter("layers.1.weight"), n.parameter("layers.1.bias")),
                n.trainableParams("layers.1"));
    }

    @Test
    void mlpLayersAndWidths() {
        Network w = Zoo.build("mlp", Map.of("widths", List.of(32, 64, 16, 8), "batch", 2, "dtype", "float16"));
        assertEquals(3, w.nodes().stream().filter(x -> x.type().equals("MatMul")).count());
        assertEquals(2, w.nodes().stream().filter(x -> x.type().equals("ReLU")).count());
        assertEquals(TensorType.of(DType.FLOAT16, 64, 16), w.tensor("layers.1.weight"));
        assertEquals(TensorType.of(DType.FLOAT16, 2, 8), w.tensor("labels"));
        assertEquals(32L * 64 + 64 + 64 * 16 + 16 + 16 * 8 + 8, w.parameterCount());
        Network l = Zoo.build("mlp", Map.of("layers", 3));
        assertEquals(List.of(1024L, 4096L, 1024L, 4096L), List.of(l.tensor("layers.0.weight").dim(0),
                l.tensor("layers.1.weight").dim(0), l.tensor("layers.2.weight").dim(0),
                l.tensor("layers.2.weight").dim(1)));
        Network both = Zoo.build("mlp", Map.of("layers", 1, "widths", List.of(4, 2)));
        assertEquals(List.of("layers.0.dense", "layers.0.bias_add", "loss_fn", "loss"), nodeNames(both));
        assertEquals(Zoo.mlp(MlpConfig.of(null, new long[] {4, 2}, 8, DType.FLOAT32)), both);
        String e = assertThrows(IllegalArgumentException.class,
                () -> Zoo.build("mlp", Map.of("layers", 3, "widths", List.of(4, 8, 2)))).getMessage();
        assertTrue(e.contains("layers is 3 but widths [4, 8, 2] describe 2 layers"), e);
        assertThrows(IllegalArgumentException.class, () -> Zoo.build("mlp", Map.of("widths", List.of(4))));
        assertThrows(IllegalArgumentException.class, () -> Zoo.build("mlp", Map.of("widths", List.of(4, 0))));
        assertThrows(IllegalArgumentException.class, () -> Zoo.build("mlp", Map.of("widths", 4)));
    }

    @Test
    void gptNamesShapesAndCount() {
        Network n = Zoo.build("gpt", Map.of());
        List<String> nodes = nodeNames(n);
        assertEquals(List.of("embedding.lookup", "embedding.add_position", "embedding.flatten"), nodes.subList(0, 3));
        List<String> layer0 = nodes.stream().filter(s -> s.startsWith("layers.0.")).map(s -> s.substring(9))
                .collect(Collectors.toList());
        assertEquals(List.of("ln1", "attention.q", "attention.q_split", "attention.q_heads", "attention.k",
                "attention.k_split", "attention.k_heads", "attention.v", "attention.v_split", "attention.v_heads",
                "attention.scores", "attention.scale_mul", "attention.softmax", "attention.context",
                "attention.merge_heads", "attention.flatten", "attention.out", "residual1", "ln2", "ffn.fc1",
                "ffn.gelu", "ffn.fc2", "residual2"), layer0);
        assertEquals(List.of("final_ln", "head", "loss_fn", "loss"), nodes.subList(nodes.size() - 4, nodes.size()));
        assertEquals(3 + 2 * 23 + 4, nodes.size());
        List<String> params = paramNames(n);
        assertEquals(List.of("embedding.word_table", "embedding.position", "layers.0.ln1.gamma", "layers.0.ln1.beta",
                "layers.0.attention.wq", "layers.0.attention.wk", "layers.0.attention.wv", "layers.0.attention.scale",
                "layers.0.attention.wo", "layers.0.ln2.gamma", "layers.0.ln2.beta", "layers.0.ffn.w1",
                "layers.0.ffn.w2"), params.subList(0, 13));
        assertEquals(List.of("final_ln.gamma", "final_ln.beta", "head.weight"),
                params.subList(params.size() - 3, params.size()));
        assertEquals(TensorType.of(DType.INT32, 4, 16), n.tensor("tokens"));
        assertEquals(TensorType.of(DType.FLOAT32, 64, 128), n.tensor("labels"));
        assertEquals(TensorType.of(DType.FLOAT32, 4, 16, 64), n.tensor("embedding.lookup"));
        assertEquals(TensorType.of(DType.FLOAT32, 4, 4, 16, 16), n.tensor("layers.0.attention.q_heads"));
        assertEquals(TensorType.of(DType.FLOAT32, 4, 4, 16, 16), n.tensor("layers.0.attention.scores"));
        assertEquals(TensorType.of(DType.FLOAT32, 64, 256), n.tensor("layers.1.ffn.fc1"));
        assertEquals(TensorType.of(DType.FLOAT32, 64, 128), n.tensor("head"));
        assertEquals(MatMul.batched(false, true), n.node("layers.0.attention.scores").op());
        Parameter scale = n.parameter("layers.1.attention.scale");
        assertFalse(scale.requiresGrad());
        assertEquals(0.25, scale.initData().tensor().getDouble(0), 1e-7);
        // V*H + S*H + L*(2H + 3H^2 + 1 + H^2 + 2H + 2*H*F) + 2H + H*V with V=128, S=16, H=64, F=256, L=2
        long perLayer = 128 + 3 * 4096 + 1 + 4096 + 128 + 2 * 64 * 256;
        assertEquals(49_409L, perLayer);
        assertEquals(128 * 64 + 16 * 64 + 2 * perLayer + 128 + 64 * 128, n.parameterCount());
        assertEquals(116_354L, n.parameterCount());
        assertEquals(116_352L, trainableCount(n));
        assertEquals(11 - 1, n.trainableParams("layers.1").size());
    }

    @Test
    void gptArguments() {
        Network n = Zoo.build("gpt", Map.of("layers", 3, "hidden", 32, "heads", 8, "ffn", 48, "seq", 8, "vocab", 50,
                "batch", 2, "dtype", "bfloat16"));
        assertEquals(TensorType.of(DType.BFLOAT16, 2, 8, 8, 4), n.tensor("layers.2.attention.v_split"));
        assertEquals(TensorType.of(DType.BFLOAT16, 32, 48), n.tensor("layers.2.ffn.w1"));
        long perLayer = 2 * 32 + 4 * 32 * 32 + 1 + 2 * 32 + 2 * 32 * 48;
        assertEquals(50 * 32 + 8 * 32 + 3 * perLayer + 2 * 32 + 32 * 50, n.parameterCount());
        assertEquals(Zoo.gpt(new GptConfig(3, 32, 8, 48, 8, 50, 2, DType.BFLOAT16)), n);
        assertEquals(TensorType.of(DType.FLOAT32, 64, 16),
                Zoo.build("gpt", Map.of("hidden", 16, "heads", 2)).tensor("layers.0.ffn.w2"));
        String e = assertThrows(IllegalArgumentException.class,
                () -> Zoo.build("gpt", Map.of("hidden", 30, "heads", 4))).getMessage();
        assertTrue(e.contains("hidden 30 is not a multiple of heads 4"), e);
        assertEquals(Zoo.gpt(GptConfig.defaults().withLayers(1)), Zoo.build("gpt", Map.of("layers", 1)));
    }

    @Test
    void resnetBatchNorm() {
        Network n = Zoo.build("resnet", Map.of());
        List<String> nodes = nodeNames(n);
        assertEquals(List.of("stem.conv", "stem.norm", "stem.relu", "blocks.0.conv1", "blocks.0.norm1",
                "blocks.0.relu1", "blocks.0.conv2", "blocks.0.norm2", "blocks.0.residual", "blocks.0.relu"),
                nodes.subList(0, 10));
        assertEquals(List.of("pool", "head", "loss_fn", "loss"), nodes.subList(nodes.size() - 4, nodes.size()));
        assertEquals(List.of("stem.conv.weight", "stem.norm.scale", "stem.norm.bias", "stem.norm.mean",
                "stem.norm.variance", "blocks.0.conv1.weight", "blocks.0.norm1.scale", "blocks.0.norm1.bias",
                "blocks.0.norm1.mean", "blocks.0.norm1.variance"), paramNames(n).subList(0, 10));
        assertEquals(BatchNorm.of(), n.node("stem.norm").op());
        assertFalse(n.parameter("blocks.1.norm2.mean").requiresGrad());
        assertTrue(n.parameter("blocks.1.norm2.scale").requiresGrad());
        assertEquals(TensorType.of(DType.FLOAT32, 8, 3, 32, 32), n.tensor("images"));
        assertEquals(TensorType.of(DType.FLOAT32, 8, 16, 32, 32), n.tensor("blocks.1.relu"));
        assertEquals(TensorType.of(DType.FLOAT32, 8, 16), n.tensor("pool"));
        assertEquals(TensorType.of(DType.FLOAT32, 8, 10), n.tensor("labels"));
        // stem 16*3*9 + 4*16; per block 2*16*16*9 + 2*4*16; head 16*10
        assertEquals(432 + 64 + 2 * (4608 + 128) + 160, n.parameterCount());
        assertEquals(10_128L, n.parameterCount());
        assertEquals(10_128L - 5 * 2 * 16, trainableCount(n));
        assertEquals(6, n.trainableParams("blocks.0").size());
    }

    @Test
    void resnetLayerNorm() {
        Network n = Zoo.resnet(new ResNetConfig(2, 8, 1, 8, 5, ResNetConfig.Norm.LAYERNORM, DType.FLOAT32));
        assertEquals(new LayerNorm(1, 1, 1e-7), n.node("blocks.0.norm1").op());
        assertEquals(TensorType.of(DType.FLOAT32, 8, 8, 8), n.tensor("blocks.0.norm1.gamma"));
        assertEquals(List.of("stem.conv.weight", "stem.norm.gamma", "stem.norm.beta", "blocks.0.conv1.weight",
                "blocks.0.norm1.gamma", "blocks.0.norm1.beta", "blocks.0.conv2.weight", "blocks.0.norm2.gamma",
                "blocks.0.norm2.beta", "head.weight"), paramNames(n));
        // stem 8*3*9 + 2*8*8*8; block 2*8*8*9 + 4*8*8*8; head 8*5
        assertEquals(216 + 1024 + 1152 + 2048 + 40, n.parameterCount());
        assertEquals(n.parameterCount(), trainableCount(n));
        assertEquals(Zoo.build("resnet", Map.of("batch", 2, "channels", 8, "blocks", 1, "image", 8, "classes", 5,
                "norm", "LayerNorm")), n);
        Network big = Zoo.build("resnet", Map.of("norm", "layernorm"));
        assertEquals(173_648L, big.parameterCount());
    }

    @Test
    void unknownModelsAndArgumentsListTheValidOnes() {
        String model = assertThrows(IllegalArgumentException.class, () -> Zoo.build("bert", Map.of())).getMessage();
        assertEquals("zoo: unknown model 'bert'; expected one of mlp, gpt, resnet, llama", model);
        String arg = assertThrows(IllegalArgumentException.class,
                () -> Zoo.build("gpt", Map.of("hiden", 32))).getMessage();
        assertEquals("zoo model 'gpt': unknown argument 'hiden'; valid arguments (with defaults): layers=2, hidden=64,"
                + " heads=4, ffn=4*hidden, seq=16, vocab=128, batch=4, dtype=float32, bias=false, dropout=0.0,"
                + " causal_mask=false, tied_embeddings=false, fused_attention=false, fp8=false", arg);
        String mlp = assertThrows(IllegalArgumentException.class,
                () -> Zoo.build("mlp", Map.of("depth", 2))).getMessage();
        assertTrue(mlp.contains("layers=2, widths=[1024, 4096, 1024], batch=8, dtype=float32"), mlp);
        String res = assertThrows(IllegalArgumentException.class,
                () -> Zoo.build("resnet", Map.of("layers", 2))).getMessage();
        assertTrue(res.contains("batch=8, channels=16, blocks=2, image=32, classes=10, norm=batchnorm, dtype=float32"),
                res);
    }

    @Test
    void argumentValuesAreChecked() {
        assertTrue(assertThrows(IllegalArgumentException.class, () -> Zoo.build("gpt", Map.of("layers", 0)))
                .getMessage().contains("argument 'layers' is 0; expected a positive integer"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> Zoo.build("gpt", Map.of("layers", "two")))
                .getMessage().contains("argument 'layers' is 'two'"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> Zoo.build("gpt", Map.of("layers", 1.5)))
                .getMessage().contains("argument 'layers' is 1.5"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> Zoo.build("gpt", Map.of("dtype", "int32")))
                .getMessage().contains("expected a floating dtype"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> Zoo.build("gpt", Map.of("dtype", "f99")))
                .getMessage().contains("argument 'dtype'"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> Zoo.build("resnet", Map.of("norm", "group")))
                .getMessage().contains("expected batchnorm or layernorm"));
        // integral numbers of any type and decimal strings are accepted (JSON readers produce them)
        Map<String, Object> args = new HashMap<>();
        args.put("layers", 1L);
        args.put("hidden", 16.0);
        args.put("heads", "2");
        args.put("dtype", DType.FLOAT16);
        Network n = Zoo.build("GPT", args);
        assertEquals(TensorType.of(DType.FLOAT16, 16, 16), n.tensor("layers.0.attention.wq"));
    }

    @Test
    void defaultsAreListedPerModel() {
        assertEquals(List.of("layers", "widths", "batch", "dtype"), List.copyOf(Zoo.defaults("mlp").keySet()));
        assertEquals(List.of("layers", "hidden", "heads", "ffn", "seq", "vocab", "batch", "dtype", "bias", "dropout",
                "causal_mask", "tied_embeddings", "fused_attention", "fp8"), List.copyOf(Zoo.defaults("gpt").keySet()));
        assertEquals(List.of("batch", "channels", "blocks", "image", "classes", "norm", "dtype"),
                List.copyOf(Zoo.defaults("resnet").keySet()));
        assertThrows(IllegalArgumentException.class, () -> Zoo.defaults("vgg"));
    }

    @Test
    void typedFactoriesValidate() {
        assertThrows(IllegalArgumentException.class,
                () -> new GptConfig(0, 64, 4, 256, 16, 128, 4, DType.FLOAT32));
        assertThrows(IllegalArgumentException.class,
                () -> new ResNetConfig(8, 16, 2, 32, 10, null, DType.FLOAT32));
        assertThrows(IllegalArgumentException.class,
                () -> new MlpConfig(new long[] {4, 4}, 2, DType.INT8));
        MlpConfig c = MlpConfig.defaults();
        long[] w = c.widths();
        w[0] = 1;
        assertEquals(1024L, c.widths()[0], "widths are copied out");
        assertEquals(2, c.layers());
        assertEquals(16, GptConfig.defaults().headDim());
    }

    /**
     * A network's parameter values depend on its description only, not on the initializers the program created
     * before (a user's suite builds many networks in one JVM): each network draws its seeds from its own sequence.
     */
    @Test
    void parameterValuesDoNotDependOnEarlierInitializers() {
        Map<String, io.tessera.layout.tensor.Tensor> first = values(Zoo.gpt(GptConfig.defaults()));
        for (int k = 0; k < 5; k++) {
            io.tessera.layout.init.Initializers.initializer("normal", new long[] {3}, DType.FLOAT32);
        }
        Zoo.mlp(MlpConfig.defaults());
        Map<String, io.tessera.layout.tensor.Tensor> again = values(Zoo.gpt(GptConfig.defaults()));
        assertEquals(first.keySet(), again.keySet());
        for (String name : first.keySet()) {
            assertEquals(first.get(name), again.get(name), "parameter '" + name + "'");
        }
        // two random parameters of one network still differ
        assertFalse(first.get("layers.0.attention.wq").equals(first.get("layers.0.attention.wk")));
    }

    private static Map<String, io.tessera.layout.tensor.Tensor> values(Network n) {
        Map<String, io.tessera.layout.tensor.Tensor> out = new java.util.LinkedHashMap<>();
        for (Parameter p : n.parameters()) {
            out.put(p.name(), p.clone().initData().tensor());
        }
        return out;
    }
}
