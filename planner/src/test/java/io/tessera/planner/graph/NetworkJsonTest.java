package io.tessera.planner.graph;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.tessera.layout.DType;
import io.tessera.layout.init.Constant;
import io.tessera.layout.init.Initializers;
import io.tessera.layout.init.Normal;
import io.tessera.layout.param.Parameter;
import io.tessera.layout.tensor.Tensor;
import io.tessera.planner.op.Activation;
import io.tessera.planner.op.BatchNorm;
import io.tessera.planner.op.Binary;
import io.tessera.planner.op.Cast;
import io.tessera.planner.op.Conv2D;
import io.tessera.planner.op.Dropout;
import io.tessera.planner.op.Gather;
import io.tessera.planner.op.LayerNorm;
import io.tessera.planner.op.MatMul;
import io.tessera.planner.op.Operator;
import io.tessera.planner.op.Reduce;
import io.tessera.planner.op.Reshape;
import io.tessera.planner.op.Softmax;
import io.tessera.planner.op.TensorType;
import io.tessera.planner.op.Transpose;
import io.tessera.planner.zoo.Zoo;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.io.InputStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The network JSON format: round trips, defaults, strictness, messages, and agreement with the JSON Schema. */
class NetworkJsonTest {

    static Stream<Network> zooModels() {
        return Stream.of(Zoo.build("mlp", Map.of()), Zoo.build("mlp", Map.of("layers", 3, "batch", 2)),
                Zoo.build("gpt", Map.of()), Zoo.build("gpt", Map.of("layers", 3, "dtype", "float16")),
                Zoo.build("gpt", Map.of("dtype", "bfloat16", "fp8", true)),
                Zoo.build("resnet", Map.of()), Zoo.build("resnet", Map.of("norm", "layernorm", "image", 8)));
    }

    @ParameterizedTest
    @MethodSource("zooModels")
    void everyZooModelRoundTrips(Network n) {
        String json = NetworkJson.write(n);
        Network back = NetworkJson.parse(json);
        assertEquals(n, back);
        assertEquals(n.nodes(), back.nodes());
        assertEquals(n.tensors(), back.tensors());
        assertEquals(n.loss(), back.loss());
        for (int i = 0; i < n.parameters().size(); i++) {
            Parameter a = n.parameters().get(i);
            Parameter b = back.parameters().get(i);
            assertEquals(a.name(), b.name());
            assertEquals(a.requiresGrad(), b.requiresGrad(), a.name());
            assertEquals(a.initMode().get().init(), b.initMode().get().init(), a.name());
        }
        assertEquals(json, NetworkJson.write(back), "writing is deterministic");
        assertTrue(json.endsWith("}\n"));
    }

    @Test
    void everyOperatorKindRoundTrips() {
        Network.Builder b = Network.builder("all_ops");
        String img = b.input("img", TensorType.of(DType.FLOAT32, 2, 4, 6, 6));
        String ids = b.input("ids", TensorType.of(DType.INT64, 2, 3));
        String w = b.parameter("w", "normal", DType.FLOAT32, 8, 4, 3, 3);
        String table = b.parameter("table", "xavier_uniform", DType.FLOAT32, 10, 6);
        String c = b.op("conv", new Conv2D(8, new int[] {3, 3}, new int[] {1, 1}, new int[] {1, 1, 0, 2},
                new int[] {1, 1}, 1), img, w);
        String bnS = b.parameter("bn.scale", "ones", DType.FLOAT32, 8);
        String bnB = b.parameter("bn.bias", "zeros", DType.FLOAT32, 8);
        Parameter m = Parameter.lazy(Initializers.initializer("zeros", new long[] {8}, DType.FLOAT32), "bn.mean",
                false, true, false);
        String bnM = b.parameter(m);
        String bnV = b.parameter(Parameter.lazy(Initializers.initializer(new Constant(0.5), new long[] {8},
                DType.FLOAT32), "bn.var", false));
        String y = b.op("bn", new BatchNorm(1e-3, 0.9), c, bnS, bnB, bnM, bnV);
        y = b.op("tanh", Activation.tanh(), y);
        y = b.op("sig", Activation.sigmoid(), y);
        y = b.op("drop", new Dropout(0.8), y);
        y = b.op("half", new Cast(DType.FLOAT16), y);
        y = b.op("full", new Cast(DType.FLOAT32), y);
        y = b.op("pool", Reduce.max(true, 2, -1), y);
        y = b.op("flat", Reshape.of(2, -1), y);
        y = b.op("tr", Transpose.of(1, 0), y);
        String e = b.op("emb", Gather.of(0), table, ids);
        e = b.op("emb_sum", Reduce.sum(false, 1), e);
        e = b.op("emb_min", Reduce.min(false), e);
        String lsm = b.op("lsm", Softmax.log(0), y);
        String d = b.op("div", Binary.div(), lsm, e);
        String s = b.op("sub", Binary.sub(), d, e);
        List<String> ln = b.opOutputs("ln", new LayerNorm(0, 1, 1e-5),
                s, b.parameter("ln.g", "ones", DType.FLOAT32, 2), b.parameter("ln.b", "zeros", DType.FLOAT32, 2));
        String loss = b.op("loss", Reduce.mean(false), ln.get(0));
        Network n = b.loss(loss).build();
        String json = NetworkJson.write(n);
        Network back = NetworkJson.parse(json);
        assertEquals(n, back);
        assertEquals(json, NetworkJson.write(back));
        assertTrue(json.contains("\"pad\": [1, 1, 0, 2]"), json);
        assertTrue(json.contains("\"dst_type\": \"float16\""), json);
        assertTrue(json.contains("\"init\": 0.5"), json);
        assertTrue(json.contains("\"init\": \"xavier_uniform\""), json);
        assertFalse(back.parameter("bn.mean").parallelOptimizer());
        assertTrue(back.parameter("bn.mean").layerwiseParallel());
        List<String> types = new ArrayList<>();
        n.nodes().forEach(node -> types.add(node.type()));
        assertTrue(types.containsAll(List.of("Conv2D", "BatchNorm", "Tanh", "Sigmoid", "Dropout", "Cast",
                "ReduceMax", "Reshape", "Transpose", "Gather", "ReduceSum", "ReduceMin", "LogSoftmax", "Div", "Sub",
                "LayerNorm", "ReduceMean")), types.toString());
    }

    @Test
    void defaultsAndAnyOpOrder() {
        String json = "{\"name\": \"tiny\","
                + " \"inputs\": [{\"name\": \"x\", \"shape\": [2, 3]}],"
                + " \"parameters\": [{\"name\": \"w\", \"shape\": [3, 4]}],"
                + " \"ops\": [{\"name\": \"loss\", \"type\": \"ReduceMean\", \"inputs\": [\"y\"]},"
                + "           {\"name\": \"y\", \"type\": \"MatMul\", \"inputs\": [\"x\", \"w\"]}],"
                + " \"loss\": \"loss\"}";
        Network n = NetworkJson.parse(json);
        assertEquals(List.of("y", "loss"), n.nodes().stream().map(Node::name).toList());
        Parameter w = n.parameter("w");
        assertEquals(DType.FLOAT32, w.dtype());
        assertTrue(w.requiresGrad());
        assertFalse(w.layerwiseParallel());
        assertTrue(w.parallelOptimizer());
        assertEquals(new Normal(), w.initMode().get().init());
        assertEquals(MatMul.of(false, false), n.node("y").op());
        assertEquals(TensorType.of(DType.FLOAT32), n.tensor("loss"));
        Network noLoss = NetworkJson.parse("{\"name\": \"n\", \"ops\": []}");
        assertEquals(null, noLoss.loss());
        assertEquals(0, noLoss.nodes().size());
    }

    @Test
    void softmaxAxisMayBeATupleAndConvSizesSingleInts() {
        Network n = NetworkJson.parse("{\"name\": \"n\", \"inputs\": [{\"name\": \"x\", \"shape\": [1, 2, 8, 8]},"
                + " {\"name\": \"w\", \"shape\": [4, 2, 3, 3]}], \"ops\": ["
                + "{\"name\": \"c\", \"type\": \"Conv2D\", \"inputs\": [\"x\", \"w\"],"
                + " \"attrs\": {\"out_channel\": 4, \"kernel_size\": 3, \"pad\": 1, \"stride\": 1}},"
                + "{\"name\": \"s\", \"type\": \"Softmax\", \"inputs\": [\"c\"], \"attrs\": {\"axis\": [1]}},"
                + "{\"name\": \"r\", \"type\": \"ReduceSum\", \"inputs\": [\"s\"], \"attrs\": {\"axis\": 1}}]}");
        assertEquals(Conv2D.of(4, new int[] {3, 3}, new int[] {1}, new int[] {1, 1, 1, 1}), n.node("c").op());
        assertEquals(Softmax.of(1), n.node("s").op());
        assertEquals(Reduce.sum(false, 1), n.node("r").op());
        assertEquals(TensorType.of(DType.FLOAT32, 1, 8, 8), n.tensor("r"));
    }

    private static String error(String json) {
        return assertThrows(IllegalArgumentException.class, () -> NetworkJson.parse(json)).getMessage();
    }

    @Test
    void unknownKeysNameTheValidKeys() {
        String top = error("{\"name\": \"n\", \"opps\": []}");
        assertTrue(top.contains("unknown key 'opps'") && top.contains("close names: ops")
                && top.contains("valid keys: name, inputs, parameters, ops, loss"), top);
        String param = error("{\"name\": \"n\", \"parameters\": [{\"name\": \"w\", \"shape\": [2], \"requiresGrad\":"
                + " false}]}");
        assertTrue(param.contains("parameters[0]: unknown key 'requiresGrad'")
                && param.contains("requires_grad, layerwise_parallel, parallel_optimizer"), param);
        String op = error("{\"name\": \"n\", \"inputs\": [{\"name\": \"x\", \"shape\": [2, 2]}], \"ops\": "
                + "[{\"name\": \"y\", \"type\": \"MatMul\", \"inputs\": [\"x\", \"x\"], \"attrs\": {\"transposeB\":"
                + " true}}]}");
        assertTrue(op.contains("ops[0] ('y'): unknown attribute 'transposeB' of MatMul")
                && op.contains("valid attributes: transpose_a, transpose_b"), op);
        String relu = error("{\"name\": \"n\", \"inputs\": [{\"name\": \"x\", \"shape\": [2]}], \"ops\": "
                + "[{\"name\": \"y\", \"type\": \"ReLU\", \"inputs\": [\"x\"], \"attrs\": {\"axis\": 0}}]}");
        assertTrue(relu.contains("valid attributes: none"), relu);
        String input = error("{\"name\": \"n\", \"inputs\": [{\"name\": \"x\", \"shape\": [2], \"type\": \"f\"}]}");
        assertTrue(input.contains("inputs[0]: unknown key 'type'") && input.contains("name, shape, dtype"), input);
    }

    @Test
    void unknownOpTypesListTheValidTypes() {
        String e = error("{\"name\": \"n\", \"inputs\": [{\"name\": \"x\", \"shape\": [2]}], \"ops\": "
                + "[{\"name\": \"y\", \"type\": \"Relu\", \"inputs\": [\"x\"]}]}");
        assertTrue(e.contains("unknown op type 'Relu'") && e.contains("close names: ReLU")
                && e.contains("MatMul, BatchMatMul, Add"), e);
    }

    @Test
    void valueErrorsNameThePlace() {
        assertTrue(error("{\"name\": \"n\", \"inputs\": [{\"name\": \"x\", \"shape\": [2, 0]}]}")
                .contains("inputs[0]: \"shape\" is [2,0]; expected a list of positive integers"));
        assertTrue(error("{\"name\": \"n\", \"inputs\": [{\"name\": \"x\", \"shape\": [2], \"dtype\": \"f33\"}]}")
                .contains("inputs[0]: dtype"));
        assertTrue(error("{\"name\": \"n\", \"parameters\": [{\"name\": \"w\", \"shape\": [2], \"init\": \"nrmal\"}]}")
                .contains("parameters[0] ('w'): initializer: unknown name 'nrmal'"));
        assertTrue(error("{\"name\": \"n\", \"parameters\": [{\"name\": \"w\", \"shape\": [2], \"requires_grad\":"
                + " \"yes\"}]}").contains("\"requires_grad\" is \"yes\"; expected true or false"));
        assertTrue(error("{\"name\": \"n\", \"inputs\": [{\"name\": \"x\", \"shape\": [2, 2]}], \"ops\": [{\"name\":"
                + " \"y\", \"type\": \"MatMul\", \"inputs\": [\"x\", \"x\"], \"attrs\": {\"transpose_b\": 1}}]}")
                .contains("attribute 'transpose_b' is 1; expected true or false"));
        assertTrue(error("{\"name\": \"n\", \"inputs\": [{\"name\": \"x\", \"shape\": [2, 2]}], \"ops\": [{\"name\":"
                + " \"y\", \"type\": \"Reshape\", \"inputs\": [\"x\"]}]}")
                .contains("attribute 'shape' is missing"));
        assertTrue(error("{\"name\": \"n\", \"inputs\": [{\"name\": \"x\", \"shape\": [2, 2]}], \"ops\": [{\"name\":"
                + " \"y\", \"type\": \"Dropout\", \"inputs\": [\"x\"], \"attrs\": {\"keep_prob\": 2}}]}")
                .contains("ops[0] ('y'): Dropout: keep_prob is 2.0"));
        assertTrue(error("{\"ops\": []}").contains("\"name\" is missing"));
        assertTrue(error("{\"name\": \"n\", \"loss\": 3}").contains("\"loss\" is 3"));
        assertTrue(error("[1, 2]").contains("the top level is [1,2]; expected an object"));
    }

    @Test
    void malformedDuplicateAndTrailingJsonAreErrors() {
        String malformed = error("{\"name\": \"n\",");
        assertTrue(malformed.startsWith("network JSON: malformed at line 1"), malformed);
        assertFalse(malformed.contains("\n"), malformed);
        assertTrue(error("{\"name\": \"n\", \"name\": \"m\"}").contains("Duplicate field 'name'"));
        assertTrue(error("{\"name\": \"n\"} {}").contains("malformed"));
    }

    @Test
    void graphErrorsFromJson() {
        String unknown = error("{\"name\": \"n\", \"inputs\": [{\"name\": \"x\", \"shape\": [2, 2]}], \"ops\": "
                + "[{\"name\": \"y\", \"type\": \"MatMul\", \"inputs\": [\"x\", \"wx\"]}]}");
        assertTrue(unknown.contains("input 1 is 'wx', which is not a tensor") && unknown.contains("close names: x"),
                unknown);
        String cycle = error("{\"name\": \"n\", \"inputs\": [{\"name\": \"x\", \"shape\": [2, 2]}], \"ops\": ["
                + "{\"name\": \"a\", \"type\": \"Add\", \"inputs\": [\"x\", \"b\"]},"
                + "{\"name\": \"b\", \"type\": \"Add\", \"inputs\": [\"x\", \"a\"]}]}");
        assertTrue(cycle.contains("the ops [a, b] read each other's outputs in a cycle"), cycle);
        String dup = error("{\"name\": \"n\", \"inputs\": [{\"name\": \"x\", \"shape\": [2, 2]}], \"ops\": ["
                + "{\"name\": \"a\", \"type\": \"ReLU\", \"inputs\": [\"x\"]},"
                + "{\"name\": \"a\", \"type\": \"ReLU\", \"inputs\": [\"x\"]}]}");
        assertTrue(dup.contains("'a' is already used by an op output"), dup);
        String dupParam = error("{\"name\": \"n\", \"parameters\": [{\"name\": \"w\", \"shape\": [2]},"
                + " {\"name\": \"w\", \"shape\": [2]}]}");
        assertTrue(dupParam.contains("its name 'w' already exists"), dupParam);
        String shapes = error("{\"name\": \"n\", \"inputs\": [{\"name\": \"x\", \"shape\": [2, 3]}], \"ops\": "
                + "[{\"name\": \"y\", \"type\": \"MatMul\", \"inputs\": [\"x\", \"x\"]}]}");
        assertTrue(shapes.startsWith("MatMul 'y'"), shapes);
        String badLoss = error("{\"name\": \"n\", \"loss\": \"l\"}");
        assertTrue(badLoss.contains("the loss 'l' is not a tensor"), badLoss);
    }

    @Test
    void parametersTheFormatCannotExpressAreRefusedOnWrite() {
        Network.Builder b = Network.builder("n");
        b.parameter(Parameter.of(Tensor.of(DType.FLOAT32, new long[] {2}, new double[] {1, 2}), "explicit"));
        Network n = b.build();
        String e = assertThrows(IllegalArgumentException.class, () -> NetworkJson.write(n)).getMessage();
        assertTrue(e.contains("parameter 'explicit' holds explicit values"), e);
        Network.Builder c = Network.builder("n");
        c.parameter(Parameter.fromInitializer(new Normal(0.5), new long[] {2}, DType.FLOAT32, "wide"));
        Network m = c.build();
        String e2 = assertThrows(IllegalArgumentException.class, () -> NetworkJson.write(m)).getMessage();
        assertTrue(e2.contains("parameter 'wide' uses the initializer") && e2.contains("'normal'"), e2);
    }

    @Test
    void filesReadAndWrite(@TempDir Path dir) {
        Network n = Zoo.build("mlp", Map.of("widths", List.of(4, 8, 2)));
        Path f = dir.resolve("mlp.json");
        NetworkJson.write(n, f);
        assertEquals(n, NetworkJson.read(f));
        String e = assertThrows(IllegalArgumentException.class, () -> NetworkJson.read(dir.resolve("none.json")))
                .getMessage();
        assertTrue(e.contains("cannot read") && e.contains("none.json"), e);
    }

    /** The schema file is valid JSON and names exactly the keys and op types the reader accepts. */
    @Test
    void schemaAgreesWithTheReader() throws Exception {
        JsonNode schema;
        try (InputStream in = NetworkJson.class.getResourceAsStream("/schemas/network.schema.json")) {
            assertNotNull(in, "schemas/network.schema.json on the class path");
            schema = new ObjectMapper().readTree(in);
        }
        assertEquals("https://json-schema.org/draft/2020-12/schema", schema.get("$schema").asText());
        assertEquals(List.of("name", "inputs", "parameters", "ops", "loss"), names(schema.get("properties")));
        assertFalse(schema.get("additionalProperties").asBoolean());
        JsonNode defs = schema.get("$defs");
        assertEquals(List.of("name", "shape", "dtype"), names(defs.get("input").get("properties")));
        assertEquals(List.of("name", "shape", "dtype", "init", "requires_grad", "layerwise_parallel",
                "parallel_optimizer"), names(defs.get("parameter").get("properties")));
        assertEquals(List.of("name", "type", "inputs", "attrs"), names(defs.get("op").get("properties")));
        List<String> types = new ArrayList<>();
        defs.get("op").get("properties").get("type").get("enum").forEach(t -> types.add(t.asText()));
        assertEquals(NetworkJson.opTypes(), types);
        // one if/then per type lists exactly that type's attributes
        int checked = 0;
        for (JsonNode rule : defs.get("op").get("allOf")) {
            JsonNode typeConst = rule.get("if").get("properties").get("type");
            List<String> ruleTypes = new ArrayList<>();
            if (typeConst.has("const")) {
                ruleTypes.add(typeConst.get("const").asText());
            } else {
                typeConst.get("enum").forEach(t -> ruleTypes.add(t.asText()));
            }
            List<String> attrs = names(rule.get("then").get("properties").get("attrs").get("properties"));
            for (String t : ruleTypes) {
                assertEquals(OpCodec.attrNames(t), attrs, t);
                checked++;
            }
        }
        assertEquals(NetworkJson.opTypes().size(), checked, "every op type has its attribute rule");
    }

    /** The example of schemas/README.md parses, and its graph is the documented one. */
    @Test
    void readmeExampleParses() throws Exception {
        String readme;
        try (InputStream in = NetworkJson.class.getResourceAsStream("/schemas/README.md")) {
            assertNotNull(in, "schemas/README.md on the class path");
            readme = new String(in.readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
        }
        int start = readme.indexOf("```json\n") + "```json\n".length();
        Network n = NetworkJson.parse(readme.substring(start, readme.indexOf("```", start)));
        assertEquals("tiny_mlp", n.name());
        assertEquals(List.of("layers.0.dense", "layers.0.bias_add", "loss_fn", "loss"),
                n.nodes().stream().map(Node::name).toList());
        assertEquals(TensorType.of(DType.FLOAT32, 8, 4), n.tensor("layers.0.bias_add"));
        assertEquals(Map.of("layers.0.weight", "grad/layers.0.weight", "layers.0.bias", "grad/layers.0.bias"),
                n.backward().parameterGradients());
    }

    private static List<String> names(JsonNode object) {
        List<String> out = new ArrayList<>();
        Iterator<String> it = object == null ? List.<String>of().iterator() : object.fieldNames();
        it.forEachRemaining(out::add);
        return out;
    }

    @Test
    void writtenAttributesAreTheValidOnes() {
        for (Network n : zooModels().toList()) {
            for (Node node : n.nodes()) {
                Operator op = node.op();
                List<String> valid = new ArrayList<>(OpCodec.attrNames(op.type()));
                if (op instanceof io.tessera.planner.op.MatMul m && m.gemmDtype() == null) {
                    valid.remove("gemm_dtype"); // written only when set
                }
                if (op instanceof io.tessera.planner.op.Transpose t && !t.outputDeviceOrder()) {
                    valid.remove("output_device_order"); // written only when true
                }
                if (op instanceof io.tessera.planner.op.Rope r && r.loadBalance() == 1) {
                    valid.remove("load_balance"); // written only when not 1
                }
                if (op instanceof io.tessera.planner.op.FlashAttention f && f.loadBalance() == 1) {
                    valid.remove("load_balance");
                }
                assertEquals(valid, names(OpCodec.write(op)), op.type());
            }
        }
    }
}
