package io.tessera.planner.graph;

import io.tessera.layout.UserText;
import io.tessera.planner.json.InputFiles;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.tessera.layout.DType;
import io.tessera.layout.Limits;
import io.tessera.layout.init.Constant;
import io.tessera.layout.init.Initializer;
import io.tessera.layout.init.Initializers;
import io.tessera.layout.init.LazyTensor;
import io.tessera.layout.param.Parameter;
import io.tessera.planner.json.CompactJsonPrinter;
import io.tessera.planner.op.Operator;
import io.tessera.planner.op.TensorType;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * The network JSON format (documented in {@code schemas/README.md}, JSON Schema {@code schemas/network.schema.json}):
 * <pre>
 * {"name": "mlp",
 *  "inputs": [{"name": "x", "shape": [8, 1024], "dtype": "float32"}],
 *  "parameters": [{"name": "layers.0.weight", "shape": [1024, 4096], "dtype": "float32", "init": "normal",
 *                  "requires_grad": true, "layerwise_parallel": false, "parallel_optimizer": true}],
 *  "ops": [{"name": "layers.0.dense", "type": "MatMul", "inputs": ["x", "layers.0.weight"],
 *           "attrs": {"transpose_a": false, "transpose_b": false}}],
 *  "loss": "loss"}
 * </pre>
 * Reading is strict: unknown keys are errors naming the valid keys, duplicate keys and trailing content are errors;
 * ops may be listed in any order that leaves the graph acyclic. Writing is deterministic: keys in the order above,
 * every attribute and flag written, arrays of numbers on one line, {@code \n} line ends, a final newline.
 */
public final class NetworkJson {

    private static final ObjectMapper MAPPER = InputFiles.mapperBuilder().build();
    private static final JsonNodeFactory F = JsonNodeFactory.instance;

    private static final List<String> TOP_KEYS = List.of("name", "inputs", "parameters", "ops", "loss");
    private static final List<String> INPUT_KEYS = List.of("name", "shape", "dtype");
    private static final List<String> PARAM_KEYS = List.of("name", "shape", "dtype", "init", "requires_grad",
            "layerwise_parallel", "parallel_optimizer");
    private static final List<String> OP_KEYS = List.of("name", "type", "inputs", "attrs");

    private NetworkJson() {
    }

    /**
     * Reads a network JSON file (UTF-8).
     *
     * @throws IllegalArgumentException when the file cannot be read or its content is invalid
     */
    public static Network read(Path file) {
        String text;
        try {
            text = InputFiles.readText(file, "network JSON file");
        } catch (InputFiles.InputFileException e) {
            throw new IllegalArgumentException("network JSON: cannot read '" + InputFiles.show(file) + "' ("
                    + e.problem() + "); " + e.advice(), e);
        }
        return parse(text);
    }

    /**
     * Parses a network from JSON text.
     *
     * @throws IllegalArgumentException naming the place and the rule broken when the text is not a valid network
     */
    public static Network parse(String json) {
        JsonNode root;
        try {
            root = MAPPER.readTree(json);
        } catch (JsonProcessingException e) {
            throw new IllegalArgumentException("network JSON: malformed" + InputFiles.jsonError(e)
                    + "; fix the JSON syntax", e);
        }
        return parse(root);
    }

    /** Builds a network from a parsed JSON tree; see {@link #parse(String)}. */
    public static Network parse(JsonNode root) {
        ObjectNode top = object("the top level", root, TOP_KEYS);
        String name = text("the top level", top, "name", null);
        Network.Builder b = Network.builder(name);
        ArrayNode inputs = array("the top level", top, "inputs");
        for (int i = 0; i < inputs.size(); i++) {
            String where = "inputs[" + i + "]";
            ObjectNode in = object(where, inputs.get(i), INPUT_KEYS);
            String n = text(where, in, "name", null);
            TensorType type;
            try {
                type = new TensorType(shape(where, in), dtype(where, in));
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("network JSON: " + where + " ('" + n + "'): " + e.getMessage(), e);
            }
            b.input(n, type);
        }
        ArrayNode params = array("the top level", top, "parameters");
        for (int i = 0; i < params.size(); i++) {
            String where = "parameters[" + i + "]";
            ObjectNode p = object(where, params.get(i), PARAM_KEYS);
            String n = text(where, p, "name", null);
            where += " ('" + n + "')";
            long[] shape = shape(where, p);
            DType dtype = dtype(where, p);
            Initializer init = init(where, p.get("init"));
            LazyTensor data;
            try {
                new TensorType(shape, dtype);
                data = b.initializer(init, shape, dtype);
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("network JSON: " + where + ": " + e.getMessage(), e);
            }
            b.parameter(Parameter.lazy(data, n, flag(where, p, "requires_grad", true),
                    flag(where, p, "layerwise_parallel", false), flag(where, p, "parallel_optimizer", true)));
        }
        ArrayNode ops = array("the top level", top, "ops");
        Limits.Limit.OPERATORS.check("network JSON: ops: operators", ops.size());
        List<PendingOp> pending = new ArrayList<>();
        for (int i = 0; i < ops.size(); i++) {
            String where = "ops[" + i + "]";
            ObjectNode o = object(where, ops.get(i), OP_KEYS);
            String n = text(where, o, "name", null);
            where += " ('" + n + "')";
            String type = text(where, o, "type", null);
            JsonNode ins = o.get("inputs");
            if (ins == null || !ins.isArray()) {
                throw new IllegalArgumentException("network JSON: " + where + ": \"inputs\" is " + ins
                        + "; expected a list of tensor names");
            }
            List<String> inNames = new ArrayList<>();
            for (JsonNode t : ins) {
                if (!t.isTextual()) {
                    throw new IllegalArgumentException("network JSON: " + where + ": \"inputs\" holds " + t
                            + "; expected tensor names (strings)");
                }
                inNames.add(t.textValue());
            }
            Operator op = OpCodec.parse(where, type, o.get("attrs"));
            pending.add(new PendingOp(n, op, inNames));
        }
        addInDependencyOrder(b, pending);
        JsonNode loss = top.get("loss");
        if (loss != null && !loss.isNull()) {
            if (!loss.isTextual()) {
                throw new IllegalArgumentException("network JSON: \"loss\" is " + loss
                        + "; expected the name of a tensor (a string) or null");
            }
            b.loss(loss.textValue());
        }
        return b.build();
    }

    private record PendingOp(String name, Operator op, List<String> inputs) {
    }

    /** Adds ops whose inputs exist, repeatedly; reports an unknown tensor or a cycle when none can be added. */
    private static void addInDependencyOrder(Network.Builder b, List<PendingOp> ops) {
        Set<String> known = new HashSet<>(b.build().tensors().keySet());
        List<PendingOp> left = new ArrayList<>(ops);
        while (!left.isEmpty()) {
            boolean progress = false;
            for (Iterator<PendingOp> it = left.iterator(); it.hasNext(); ) {
                PendingOp p = it.next();
                if (known.containsAll(p.inputs())) {
                    List<String> outs = b.opOutputs(p.name(), p.op(), p.inputs().toArray(new String[0]));
                    known.addAll(outs);
                    it.remove();
                    progress = true;
                }
            }
            if (progress) {
                continue;
            }
            Set<String> pendingNames = new HashSet<>();
            left.forEach(p -> pendingNames.add(p.name()));
            for (PendingOp p : left) {
                for (String in : p.inputs()) {
                    String producer = in.contains(":") ? in.substring(0, in.indexOf(':')) : in;
                    if (!known.contains(in) && !pendingNames.contains(producer)) {
                        // the builder names the unknown tensor and the close names
                        b.opOutputs(p.name(), p.op(), p.inputs().toArray(new String[0]));
                    }
                }
            }
            List<String> names = new ArrayList<>(pendingNames);
            names.sort(null);
            throw new IllegalArgumentException("network JSON: the ops " + names + " read each other's outputs in a "
                    + "cycle; a network must be acyclic: break the cycle");
        }
    }

    /** The network as JSON text; deterministic (see the class comment). */
    public static String write(Network network) {
        try {
            return MAPPER.writer(CompactJsonPrinter.topLevelFieldArrays()).writeValueAsString(toJson(network)) + "\n";
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("network JSON: cannot serialise '" + network.name() + "': "
                    + e.getOriginalMessage(), e);
        }
    }

    /**
     * Writes the network to {@code file} (UTF-8).
     *
     * @throws IllegalArgumentException when the file cannot be written
     */
    public static void write(Network network, Path file) {
        try {
            Files.writeString(file, write(network), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new IllegalArgumentException("network JSON: cannot write '" + file + "' ("
                    + e.getClass().getSimpleName() + ": " + e.getMessage() + "); check the path", e);
        }
    }

    /**
     * The network as a JSON tree.
     *
     * @throws IllegalArgumentException when a parameter holds explicit values or an initializer with non-default
     *                                  arguments (other than a constant), which the format cannot express
     */
    public static ObjectNode toJson(Network network) {
        ObjectNode root = F.objectNode();
        root.put("name", network.name());
        ArrayNode inputs = root.putArray("inputs");
        for (String in : network.inputs()) {
            TensorType t = network.tensor(in);
            ObjectNode o = inputs.addObject();
            o.put("name", in);
            o.set("shape", OpCodec.array(t.shape()));
            o.put("dtype", t.dtype().jsonName());
        }
        ArrayNode params = root.putArray("parameters");
        for (Map.Entry<String, Parameter> e : network.parametersAndNames()) {
            Parameter p = e.getValue();
            TensorType t = network.tensor(e.getKey());
            ObjectNode o = params.addObject();
            o.put("name", e.getKey());
            o.set("shape", OpCodec.array(t.shape()));
            o.put("dtype", t.dtype().jsonName());
            writeInit(o, e.getKey(), p);
            o.put("requires_grad", p.requiresGrad());
            o.put("layerwise_parallel", p.layerwiseParallel());
            o.put("parallel_optimizer", p.parallelOptimizer());
        }
        ArrayNode ops = root.putArray("ops");
        for (Node n : network.nodes()) {
            ObjectNode o = ops.addObject();
            o.put("name", n.name());
            o.put("type", n.type());
            ArrayNode ins = o.putArray("inputs");
            n.inputs().forEach(ins::add);
            o.set("attrs", OpCodec.write(n.op()));
        }
        if (network.loss() != null) {
            root.put("loss", network.loss());
        }
        return root;
    }

    /** The primitive names an op's {@code type} may take. */
    public static List<String> opTypes() {
        return OpCodec.types();
    }

    private static void writeInit(ObjectNode o, String name, Parameter p) {
        if (p.initMode().isEmpty()) {
            throw new IllegalArgumentException("network JSON: parameter '" + name + "' holds explicit values (a "
                    + "Tensor), which the network JSON cannot express; create it from an initializer name or a "
                    + "constant (Parameter.fromInitializer) to write the network");
        }
        Initializer init = p.initMode().get().init();
        if (init instanceof Constant c) {
            o.put("init", c.value());
            return;
        }
        String key = init.name().replaceAll("([a-z])([A-Z])", "$1_$2").toLowerCase(Locale.ROOT);
        key = key.equals("zero") ? "zeros" : key.equals("one") ? "ones" : key;
        Initializer byName;
        try {
            byName = Initializers.byName(key);
        } catch (IllegalArgumentException e) {
            byName = null;
        }
        if (!init.equals(byName)) {
            throw new IllegalArgumentException("network JSON: parameter '" + name + "' uses the initializer " + init
                    + ", whose arguments differ from the defaults of '" + key + "'; the network JSON holds an "
                    + "initializer name (default arguments) or a constant number: use one of those");
        }
        o.put("init", key);
    }

    private static Initializer init(String where, JsonNode v) {
        if (v == null) {
            return Initializers.byName("normal");
        }
        try {
            if (v.isNumber()) {
                return new Constant(v.doubleValue());
            }
            if (v.isTextual()) {
                return Initializers.byName(v.textValue());
            }
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("network JSON: " + where + ": " + e.getMessage(), e);
        }
        throw new IllegalArgumentException("network JSON: " + where + ": \"init\" is " + v
                + "; expected an initializer name such as \"normal\" or a constant number");
    }

    private static ObjectNode object(String where, JsonNode n, List<String> keys) {
        if (!(n instanceof ObjectNode o)) {
            throw new IllegalArgumentException("network JSON: " + where + " is " + (n == null ? "missing" : n)
                    + "; expected an object with the keys " + String.join(", ", keys));
        }
        Iterator<String> it = o.fieldNames();
        while (it.hasNext()) {
            String k = it.next();
            if (!keys.contains(k)) {
                throw new IllegalArgumentException("network JSON: " + where + ": unknown key " + UserText.quoted(k)
                        + Names.closeHint(k, keys) + "; valid keys: " + String.join(", ", keys));
            }
        }
        return o;
    }

    private static String text(String where, ObjectNode o, String key, String def) {
        JsonNode v = o.get(key);
        if (v == null || v.isNull()) {
            if (def != null) {
                return def;
            }
            throw new IllegalArgumentException("network JSON: " + where + ": \"" + key + "\" is missing; expected a "
                    + "string");
        }
        if (!v.isTextual()) {
            throw new IllegalArgumentException("network JSON: " + where + ": \"" + key + "\" is " + v
                    + "; expected a string");
        }
        return v.textValue();
    }

    private static ArrayNode array(String where, ObjectNode o, String key) {
        JsonNode v = o.get(key);
        if (v == null || v.isNull()) {
            return F.arrayNode();
        }
        if (!(v instanceof ArrayNode a)) {
            throw new IllegalArgumentException("network JSON: " + where + ": \"" + key + "\" is " + v
                    + "; expected a list");
        }
        return a;
    }

    private static long[] shape(String where, ObjectNode o) {
        JsonNode v = o.get("shape");
        String expected = "a list of positive integers such as [8, 1024] ([] for a scalar)";
        if (v == null || !v.isArray()) {
            throw new IllegalArgumentException("network JSON: " + where + ": \"shape\" is " + (v == null ? "missing"
                    : v) + "; expected " + expected);
        }
        long[] out = new long[v.size()];
        for (int i = 0; i < out.length; i++) {
            JsonNode e = v.get(i);
            if (!e.isIntegralNumber() || !e.canConvertToLong() || e.longValue() <= 0) {
                throw new IllegalArgumentException("network JSON: " + where + ": \"shape\" is " + v + "; expected "
                        + expected);
            }
            out[i] = e.longValue();
        }
        return out;
    }

    private static DType dtype(String where, ObjectNode o) {
        String d = text(where, o, "dtype", "float32");
        try {
            return DType.parse(d);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("network JSON: " + where + ": " + e.getMessage(), e);
        }
    }

    private static boolean flag(String where, ObjectNode o, String key, boolean def) {
        JsonNode v = o.get(key);
        if (v == null || v.isNull()) {
            return def;
        }
        if (!v.isBoolean()) {
            throw new IllegalArgumentException("network JSON: " + where + ": \"" + key + "\" is " + v
                    + "; expected true or false");
        }
        return v.booleanValue();
    }
}
