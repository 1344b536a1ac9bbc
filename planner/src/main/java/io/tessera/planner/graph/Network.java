package io.tessera.planner.graph;

import io.tessera.layout.DType;
import io.tessera.layout.Limits;
import io.tessera.layout.init.Initializer;
import io.tessera.layout.init.Initializers;
import io.tessera.layout.init.LazyTensor;
import io.tessera.layout.param.Parameter;
import io.tessera.planner.op.Operator;
import io.tessera.planner.op.TensorType;
import org.jgrapht.Graph;
import org.jgrapht.graph.AsUnmodifiableGraph;
import org.jgrapht.graph.DirectedAcyclicGraph;
import org.jgrapht.graph.DirectedMultigraph;
import org.jgrapht.nio.Attribute;
import org.jgrapht.nio.DefaultAttribute;
import org.jgrapht.nio.dot.DOTExporter;
import org.jgrapht.traverse.TopologicalOrderIterator;

import java.io.StringWriter;
import java.util.AbstractMap;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.stream.Collectors;

/**
 * A neural network as a directed acyclic graph of operators over named tensors, in the spirit of MindSpore's
 * {@code Cell}: data inputs, parameters (as {@link Parameter} objects, hierarchical names such as
 * {@code layers.3.attention.wq}), operator nodes and an optional loss tensor. Built with {@link #builder(String)}.
 *
 * <p>The structure is immutable; the {@link Parameter} objects it holds are MindSpore-like mutable objects, so
 * {@link #trainableParams()} reflects their current {@code requires_grad} flag. Two networks are {@link #equals
 * equal} when they have the same name, inputs, tensors, nodes, loss and parameters of the same names, shapes,
 * dtypes, flags and initializers (parameter values and seeds are not compared).
 */
public final class Network {

    private final String name;
    private final List<Node> nodes;
    private final Map<String, Node> nodeByName;
    private final Map<String, TensorType> tensors;
    private final List<String> inputs;
    private final List<Map.Entry<String, Parameter>> params;
    private final Map<String, Parameter> paramByName;
    private final Map<String, Node> producers;
    private final Map<String, List<Node>> consumers;
    private final String loss;
    private final Graph<Node, Edge> graph;

    private Network(State s) {
        this.name = s.name;
        DirectedAcyclicGraph<Node, Edge> dag = new DirectedAcyclicGraph<>(null, null, false, true);
        Map<String, Integer> order = new HashMap<>();
        Map<String, Node> producedBy = new HashMap<>();
        for (Node n : s.nodes) {
            order.put(n.name(), order.size());
            dag.addVertex(n);
            for (String out : n.outputs()) {
                producedBy.put(out, n);
            }
        }
        for (Node n : s.nodes) {
            for (int i = 0; i < n.inputs().size(); i++) {
                Node p = producedBy.get(n.input(i));
                if (p != null) {
                    dag.addEdge(p, n, new Edge(n.input(i), p.name(), n.name(), i));
                }
            }
        }
        List<Node> topo = new ArrayList<>();
        new TopologicalOrderIterator<>(dag, Comparator.comparingInt((Node n) -> order.get(n.name())))
                .forEachRemaining(topo::add);
        this.nodes = List.copyOf(topo);
        this.graph = new AsUnmodifiableGraph<>(dag);
        Map<String, Node> byName = new LinkedHashMap<>();
        topo.forEach(n -> byName.put(n.name(), n));
        this.nodeByName = Collections.unmodifiableMap(byName);

        Map<String, TensorType> t = new LinkedHashMap<>();
        for (String in : s.inputs) {
            t.put(in, s.tensors.get(in));
        }
        List<Map.Entry<String, Parameter>> ps = new ArrayList<>();
        Map<String, Parameter> pByName = new LinkedHashMap<>();
        for (Map.Entry<String, Parameter> e : s.params) {
            t.put(e.getKey(), s.tensors.get(e.getKey()));
            ps.add(new AbstractMap.SimpleImmutableEntry<>(e.getKey(), e.getValue()));
            pByName.put(e.getKey(), e.getValue());
        }
        Map<String, List<Node>> cons = new LinkedHashMap<>();
        for (Node n : topo) {
            for (String out : n.outputs()) {
                t.put(out, s.tensors.get(out));
            }
        }
        for (String name : t.keySet()) {
            cons.put(name, new ArrayList<>());
        }
        for (Node n : topo) {
            for (String in : n.inputs().stream().distinct().collect(Collectors.toList())) {
                cons.get(in).add(n);
            }
        }
        cons.replaceAll((k, v) -> List.copyOf(v));
        this.tensors = Collections.unmodifiableMap(t);
        this.inputs = List.copyOf(s.inputs);
        this.params = List.copyOf(ps);
        this.paramByName = Collections.unmodifiableMap(pByName);
        Map<String, Node> prod = new LinkedHashMap<>();
        for (Node n : topo) {
            for (String out : n.outputs()) {
                prod.put(out, n);
            }
        }
        this.producers = Collections.unmodifiableMap(prod);
        this.consumers = Collections.unmodifiableMap(cons);
        this.loss = s.loss;
    }

    /** A builder of a network called {@code name} (non-blank). */
    public static Builder builder(String name) {
        if (name == null || name.isBlank()) {
            throw new IllegalArgumentException("network: found the name '" + name + "'; expected a non-blank name");
        }
        return new Builder(new State(name.trim()), "");
    }

    /**
     * The scopes under which transformers number their layers: the zoo's {@code layers.<i>.}, Hugging Face Llama's
     * {@code model.layers.<i>.} and GPT-2's {@code transformer.h.<i>.}.
     */
    public static final List<String> LAYER_SCOPES = List.of("layers.", "model.layers.", "transformer.h.");

    /**
     * The layer {@code i} of an operator or parameter named {@code <scope><i>.<rest>} for one of the
     * {@link #LAYER_SCOPES} (how the zoo's and Hugging Face's transformers name their layers), else -1.
     */
    public static int layerIndex(String op) {
        for (String scope : LAYER_SCOPES) {
            if (op.startsWith(scope)) {
                int start = scope.length();
                int dot = op.indexOf('.', start);
                if (dot <= start) {
                    return -1;
                }
                int v = 0;
                for (int i = start; i < dot; i++) {
                    char ch = op.charAt(i);
                    if (ch < '0' || ch > '9' || v > 100_000_000) {
                        return -1;
                    }
                    v = v * 10 + (ch - '0');
                }
                return v;
            }
        }
        return -1;
    }

    /**
     * The layer prefix {@code <scope><i>.} of a name inside a layer ({@link #layerIndex} {@code >= 0}), e.g.
     * {@code "model.layers.3."}; null outside the layers.
     */
    public static String layerPrefix(String name) {
        if (layerIndex(name) < 0) {
            return null;
        }
        for (String scope : LAYER_SCOPES) {
            if (name.startsWith(scope)) {
                return name.substring(0, name.indexOf('.', scope.length()) + 1);
            }
        }
        return null;
    }

    /** The network's name. */
    public String name() {
        return name;
    }

    /** The operator nodes in topological order; among nodes ready at once, in insertion order. */
    public List<Node> nodes() {
        return nodes;
    }

    /**
     * The node called {@code name}.
     *
     * @throws IllegalArgumentException naming close names when there is none
     */
    public Node node(String name) {
        Node n = nodeByName.get(name);
        if (n == null) {
            throw new IllegalArgumentException("network '" + this.name + "': no node named '" + name + "'"
                    + Names.closeHint(name, nodeByName.keySet()) + "; use one of the names of nodes()");
        }
        return n;
    }

    /** Whether a node called {@code name} exists. */
    public boolean hasNode(String name) {
        return nodeByName.containsKey(name);
    }

    /** Every tensor (data inputs, then parameters, then node outputs in node order) with its type. Unmodifiable. */
    public Map<String, TensorType> tensors() {
        return tensors;
    }

    /**
     * The type of tensor {@code name}.
     *
     * @throws IllegalArgumentException naming close names when there is no such tensor
     */
    public TensorType tensor(String name) {
        checkTensor(name);
        return tensors.get(name);
    }

    /** Whether a tensor called {@code name} exists. */
    public boolean hasTensor(String name) {
        return tensors.containsKey(name);
    }

    /** The data input names (not parameters), in declaration order. */
    public List<String> inputs() {
        return inputs;
    }

    /**
     * The node producing {@code tensor}, or null for a data input or a parameter.
     *
     * @throws IllegalArgumentException when there is no such tensor
     */
    public Node producer(String tensor) {
        checkTensor(tensor);
        return producers.get(tensor);
    }

    /**
     * The nodes reading {@code tensor}, in node order, each once (empty for an unused tensor).
     *
     * @throws IllegalArgumentException when there is no such tensor
     */
    public List<Node> consumers(String tensor) {
        checkTensor(tensor);
        return consumers.get(tensor);
    }

    /** The parameters in declaration order. */
    public List<Parameter> parameters() {
        return params.stream().map(Map.Entry::getValue).collect(Collectors.toUnmodifiableList());
    }

    /** The parameter registered as {@code name}, or null. */
    public Parameter parameter(String name) {
        return paramByName.get(name);
    }

    /** Whether {@code tensor} is a parameter. */
    public boolean isParameter(String tensor) {
        return paramByName.containsKey(tensor);
    }

    /** The number of trainable elements: the product of each trainable parameter's shape, summed (exact). */
    public long trainableElements() {
        long total = 0;
        for (Parameter p : trainableParams()) {
            long n = 1;
            for (long d : p.shape()) {
                n = Math.multiplyExact(n, d);
            }
            total = Math.addExact(total, n);
        }
        return total;
    }

    /** The parameters whose {@code requires_grad} is currently true, in declaration order. */
    public List<Parameter> trainableParams() {
        return parameters().stream().filter(Parameter::requiresGrad).collect(Collectors.toUnmodifiableList());
    }

    /**
     * The trainable parameters of the sub-network {@code scopePrefix} (e.g. {@code "layers.3"}): those named
     * {@code scopePrefix} or starting with {@code scopePrefix + "."}, in declaration order. An empty prefix means
     * the whole network.
     */
    public List<Parameter> trainableParams(String scopePrefix) {
        if (scopePrefix == null) {
            throw new IllegalArgumentException("network '" + name + "': trainableParams found a null scope prefix; "
                    + "give a prefix such as \"layers.3\" (\"\" for the whole network)");
        }
        String p = scopePrefix.endsWith(".") ? scopePrefix.substring(0, scopePrefix.length() - 1) : scopePrefix;
        List<Parameter> out = new ArrayList<>();
        for (Map.Entry<String, Parameter> e : params) {
            String n = e.getKey();
            if (e.getValue().requiresGrad() && (p.isEmpty() || n.equals(p) || n.startsWith(p + "."))) {
                out.add(e.getValue());
            }
        }
        return List.copyOf(out);
    }

    /** The parameters with the names they were registered under, in declaration order. */
    public List<Map.Entry<String, Parameter>> parametersAndNames() {
        return params;
    }

    /** The loss tensor's name, or null when none was set. */
    public String loss() {
        return loss;
    }

    /**
     * The operator graph: one vertex per node, one {@link Edge} per (tensor, consumer input) whose tensor is produced
     * by a node (data inputs and parameters are not vertices). Unmodifiable.
     */
    public Graph<Node, Edge> graph() {
        return graph;
    }

    /** The backward graph of this network's loss; see {@link BackwardGraph}. */
    public BackwardGraph backward() {
        return BackwardGraph.of(this);
    }

    /** The number of elements of all parameters. */
    public long parameterCount() {
        long n = 0;
        for (Map.Entry<String, Parameter> e : params) {
            n += tensors.get(e.getKey()).elements();
        }
        return n;
    }

    /**
     * The network in Graphviz DOT (via JGraphT's exporter): data inputs as ellipses, parameters as notes, operators
     * as boxes labelled with name and type, edges labelled with the tensor type.
     */
    public String toDot() {
        DirectedMultigraph<String, Edge> g = new DirectedMultigraph<>(null, null, false);
        Map<String, String> ids = new HashMap<>();
        Map<String, Map<String, Attribute>> attrs = new HashMap<>();
        for (String in : inputs) {
            g.addVertex(in);
            attrs.put(in, vertexAttrs(in + "\\n" + tensors.get(in), "ellipse"));
        }
        for (Map.Entry<String, Parameter> e : params) {
            g.addVertex(e.getKey());
            attrs.put(e.getKey(), vertexAttrs(e.getKey() + "\\n" + tensors.get(e.getKey()), "note"));
        }
        for (Node n : nodes) {
            g.addVertex(n.name());
            attrs.put(n.name(), vertexAttrs(n.name() + "\\n" + n.type(), "box"));
        }
        for (String v : g.vertexSet()) {
            ids.put(v, "v" + ids.size());
        }
        for (Node n : nodes) {
            for (int i = 0; i < n.inputs().size(); i++) {
                String t = n.input(i);
                Node p = producers.get(t);
                g.addEdge(p == null ? t : p.name(), n.name(), new Edge(t, p == null ? t : p.name(), n.name(), i));
            }
        }
        DOTExporter<String, Edge> ex = new DOTExporter<>(ids::get);
        ex.setVertexAttributeProvider(attrs::get);
        ex.setEdgeAttributeProvider(e -> {
            Map<String, Attribute> m = new LinkedHashMap<>();
            String label = e.tensor().equals(e.source()) || producers.get(e.tensor()) == null
                    || e.tensor().equals(producers.get(e.tensor()).name())
                    ? tensors.get(e.tensor()).toString() : e.tensor() + " " + tensors.get(e.tensor());
            m.put("label", DefaultAttribute.createAttribute(label));
            return m;
        });
        ex.setGraphAttributeProvider(() -> {
            Map<String, Attribute> m = new LinkedHashMap<>();
            m.put("label", DefaultAttribute.createAttribute(name));
            m.put("rankdir", DefaultAttribute.createAttribute("TB"));
            return m;
        });
        StringWriter w = new StringWriter();
        ex.exportGraph(g, w);
        return w.toString();
    }

    private static Map<String, Attribute> vertexAttrs(String label, String shape) {
        Map<String, Attribute> m = new LinkedHashMap<>();
        m.put("label", DefaultAttribute.createAttribute(label));
        m.put("shape", DefaultAttribute.createAttribute(shape));
        return m;
    }

    private void checkTensor(String tensor) {
        if (!tensors.containsKey(tensor)) {
            throw new IllegalArgumentException("network '" + name + "': no tensor named '" + tensor + "'"
                    + Names.closeHint(tensor, tensors.keySet())
                    + "; use a data input, a parameter or a node output name");
        }
    }

    /** Structural equality; see the class comment. */
    @Override
    public boolean equals(Object o) {
        if (this == o) {
            return true;
        }
        if (!(o instanceof Network n)) {
            return false;
        }
        if (!name.equals(n.name) || !inputs.equals(n.inputs) || !tensors.equals(n.tensors)
                || !nodes.equals(n.nodes) || !Objects.equals(loss, n.loss) || params.size() != n.params.size()) {
            return false;
        }
        for (int i = 0; i < params.size(); i++) {
            if (!params.get(i).getKey().equals(n.params.get(i).getKey())
                    || !sameParameter(params.get(i).getValue(), n.params.get(i).getValue())) {
                return false;
            }
        }
        return true;
    }

    private static boolean sameParameter(Parameter a, Parameter b) {
        return a.dtype() == b.dtype() && java.util.Arrays.equals(a.shape(), b.shape())
                && a.requiresGrad() == b.requiresGrad() && a.layerwiseParallel() == b.layerwiseParallel()
                && a.parallelOptimizer() == b.parallelOptimizer()
                && Objects.equals(initializerOf(a), initializerOf(b));
    }

    private static Initializer initializerOf(Parameter p) {
        return p.initMode().map(l -> l.init()).orElse(null);
    }

    @Override
    public int hashCode() {
        return Objects.hash(name, inputs, nodes);
    }

    /** Prints as {@code Network mlp (7 nodes, 4 parameters, loss loss)}. */
    @Override
    public String toString() {
        return "Network " + name + " (" + nodes.size() + " nodes, " + params.size() + " parameters"
                + (loss == null ? "" : ", loss " + loss) + ")";
    }

    /** The mutable state shared by a builder and its scope views. */
    private static final class State {
        final String name;
        final Map<String, TensorType> tensors = new LinkedHashMap<>();
        final List<String> inputs = new ArrayList<>();
        final List<Map.Entry<String, Parameter>> params = new ArrayList<>();
        final Map<String, Parameter> paramByName = new HashMap<>();
        final Map<Parameter, String> registered = new IdentityHashMap<>();
        final List<Node> nodes = new ArrayList<>();
        String loss;
        /** Seeds of the parameters' random initializers: this network's own sequence. */
        final Initializers.SeedSequence seeds = Initializers.seedSequence();

        State(String name) {
            this.name = name;
        }
    }

    /**
     * Builds a {@link Network}. Every input, parameter and operator name given to a builder obtained from
     * {@link #scope(String)} is prefixed with the scope (like the parameters of a MindSpore sub-cell); tensors given
     * as operator inputs are always referenced by their full names (see {@link #qualify(String)}). A scope view
     * shares its state with the builder it came from; any of them can {@link #build()} the whole network.
     * Not thread-safe.
     */
    public static final class Builder {
        private final State s;
        private final String prefix;

        private Builder(State s, String prefix) {
            this.s = s;
            this.prefix = prefix;
        }

        /** The scope prefix of this view, without the trailing dot ({@code ""} at the root). */
        public String prefix() {
            return prefix.isEmpty() ? "" : prefix.substring(0, prefix.length() - 1);
        }

        /** The full name of {@code local} in this scope: {@code prefix + "." + local}, or {@code local} at the root. */
        public String qualify(String local) {
            return prefix + local;
        }

        /**
         * A view of this builder adding names under {@code prefix + "."} (nested scopes compose:
         * {@code scope("layers").scope("0")} prefixes with {@code layers.0.}).
         *
         * @throws IllegalArgumentException when the prefix is blank, has blanks or ':', or starts or ends with '.'
         */
        public Builder scope(String prefix) {
            Names.check("scope prefix", prefix);
            if (prefix.startsWith(".") || prefix.endsWith(".")) {
                throw new IllegalArgumentException("network '" + s.name + "': the scope prefix '" + prefix
                        + "' starts or ends with '.'; give it without dots at the ends, e.g. 'layers.0'");
            }
            return new Builder(s, this.prefix + prefix + ".");
        }

        /**
         * Declares a data input (e.g. a batch of images or token ids).
         *
         * @return the input's full name
         * @throws IllegalArgumentException when the name is invalid or already used
         */
        public String input(String name, TensorType type) {
            String full = prefix + Names.check("input name", name);
            if (type == null) {
                throw new IllegalArgumentException("network '" + s.name + "': input '" + full
                        + "' has no type; give a TensorType such as TensorType.of(DType.FLOAT32, 8, 1024)");
            }
            checkFree(full, "input");
            s.tensors.put(full, type);
            s.inputs.add(full);
            return full;
        }

        /**
         * Registers a parameter; its name, shape and dtype make a tensor of the network. In a scope the parameter is
         * renamed to {@code prefix + "." + name} (as MindSpore prefixes a sub-cell's parameters). Registering the same
         * object again returns its name and changes nothing (shared weights).
         *
         * @return the parameter's full name
         * @throws IllegalArgumentException when another parameter has the name ("its name 'x' already exists ...")
         *                                  or a non-parameter tensor has it
         */
        public String parameter(Parameter p) {
            if (p == null) {
                throw new IllegalArgumentException("network '" + s.name + "': found a null parameter; expected a "
                        + "Parameter, e.g. Parameter.fromInitializer(\"normal\", shape, DType.FLOAT32, \"weight\")");
            }
            String known = s.registered.get(p);
            if (known != null) {
                return known;
            }
            String full = prefix + Names.check("parameter name", p.name());
            if (s.paramByName.containsKey(full)) {
                throw new IllegalArgumentException("The value " + p + " , its name '" + full
                        + "' already exists. Please set a unique name for the parameter.");
            }
            checkFree(full, "parameter");
            TensorType type;
            try {
                type = new TensorType(p.shape(), p.dtype());
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("network '" + s.name + "': parameter '" + full + "' "
                        + e.getMessage(), e);
            }
            if (!full.equals(p.name())) {
                p.setName(full);
            }
            s.tensors.put(full, type);
            s.params.add(new AbstractMap.SimpleImmutableEntry<>(full, p));
            s.paramByName.put(full, p);
            s.registered.put(p, full);
            return full;
        }

        /**
         * Creates and registers a trainable parameter initialised lazily, whatever the parallel mode
         * ({@code Parameter.lazy}), by the initializer called {@code init} (e.g. {@code "normal"}, {@code "zeros"},
         * {@code "ones"}; see {@code Initializers.byName}).
         *
         * @return the parameter's full name
         */
        public String parameter(String name, String init, DType dtype, long... shape) {
            return parameter(Parameter.lazy(initializer(Initializers.byName(init), shape, dtype), name));
        }

        /**
         * A lazy tensor of {@code init} whose seed comes from this network's own seed sequence (see
         * {@link Initializers#seedSequence()}): the same description gives the same values in any program state.
         */
        public LazyTensor initializer(Initializer init, long[] shape, DType dtype) {
            return s.seeds.initializer(init, shape, dtype);
        }

        /**
         * Adds an operator node reading {@code inputs} (full tensor names) and returns the name of its first output
         * (the node's full name). Output types are inferred by the operator.
         *
         * @throws IllegalArgumentException for a duplicate name, an unknown input (naming close names), a wrong
         *                                  number of inputs, or input types the operator rejects (its own message)
         */
        public String op(String name, Operator op, String... inputs) {
            return opOutputs(name, op, inputs).get(0);
        }

        /** As {@link #op}, returning the names of all outputs ({@code name}, {@code name:1}, ...). */
        public List<String> opOutputs(String name, Operator op, String... inputs) {
            String full = prefix + Names.check("op name", name);
            if (op == null) {
                throw new IllegalArgumentException("network '" + s.name + "': op '" + full
                        + "' has no operator; give an Operator such as MatMul.of(false, false)");
            }
            checkFree(full, "op");
            if (inputs == null) {
                throw new IllegalArgumentException("network '" + s.name + "': op '" + full + "' (" + op.type()
                        + ") has null inputs; give " + op.inputCount() + " tensor names");
            }
            List<TensorType> types = new ArrayList<>();
            for (int i = 0; i < inputs.length; i++) {
                String in = inputs[i];
                TensorType t = in == null ? null : s.tensors.get(in);
                if (t == null) {
                    throw new IllegalArgumentException("network '" + s.name + "': op '" + full + "' (" + op.type()
                            + ") input " + i + " is '" + in + "', which is not a tensor of the network"
                            + Names.closeHint(in == null ? "" : in, s.tensors.keySet())
                            + "; declare it first with input(...) or parameter(...), or add the op producing it"
                            + " before this one (inputs are referenced by their full names)");
                }
                types.add(t);
            }
            if (inputs.length != op.inputCount()) {
                throw new IllegalArgumentException("network '" + s.name + "': op '" + full + "' (" + op.type()
                        + ") has " + inputs.length + " input" + (inputs.length == 1 ? "" : "s") + " "
                        + List.of(inputs) + "; expected " + op.inputCount());
            }
            Limits.Limit.OPERATORS.check("network '" + s.name + "': operators", s.nodes.size() + 1L);
            List<TensorType> outs;
            try {
                outs = op.outputs(full, types);
            } catch (ArithmeticException e) {
                throw new IllegalArgumentException("network '" + s.name + "': op '" + full + "' (" + op.type()
                        + ") output: a size overflows a 64-bit integer; use smaller sizes", e);
            } catch (IllegalArgumentException e) {
                if (String.valueOf(e.getMessage()).startsWith("tensor type ")) {
                    throw new IllegalArgumentException("network '" + s.name + "': op '" + full + "' (" + op.type()
                            + ") output " + e.getMessage(), e);
                }
                throw e;
            }
            if (outs == null || outs.isEmpty()) {
                throw new IllegalArgumentException("network '" + s.name + "': op '" + full + "' (" + op.type()
                        + ") produced no output types; an operator must have at least one output");
            }
            List<String> outNames = new ArrayList<>();
            for (int i = 0; i < outs.size(); i++) {
                String out = Node.outputName(full, i);
                if (i > 0) {
                    checkFree(out, "op output");
                }
                outNames.add(out);
            }
            Node node = new Node(full, op, List.of(inputs), outNames);
            for (int i = 0; i < outs.size(); i++) {
                s.tensors.put(outNames.get(i), outs.get(i));
            }
            s.nodes.add(node);
            return List.copyOf(outNames);
        }

        /**
         * Sets the loss tensor (full name); checked when the network is built.
         *
         * @return this builder
         */
        public Builder loss(String tensor) {
            s.loss = tensor;
            return this;
        }

        /**
         * Builds the network (of the whole builder, whichever view it is called on).
         *
         * @throws IllegalArgumentException when the loss names no tensor, or a data input or parameter (no operator
         *                                  output: no backward pass)
         */
        public Network build() {
            if (s.loss != null && !s.tensors.containsKey(s.loss)) {
                throw new IllegalArgumentException("network '" + s.name + "': the loss '" + s.loss
                        + "' is not a tensor of the network" + Names.closeHint(s.loss, s.tensors.keySet())
                        + "; give the full name of a node output");
            }
            if (s.loss != null && (s.inputs.contains(s.loss) || s.paramByName.containsKey(s.loss))) {
                throw new IllegalArgumentException("network '" + s.name + "': the loss '" + s.loss + "' is "
                        + (s.inputs.contains(s.loss) ? "a data input" : "a parameter") + ", not an operator output, "
                        + "so training has no backward pass; give the full name of a node output (e.g. of a "
                        + "ReduceMean)");
            }
            return new Network(s);
        }

        private void checkFree(String full, String what) {
            if (s.tensors.containsKey(full)) {
                String kind = s.inputs.contains(full) ? "a data input"
                        : s.paramByName.containsKey(full) ? "a parameter" : "an op output";
                throw new IllegalArgumentException("network '" + s.name + "': the " + what + " name '" + full
                        + "' is already used by " + kind + "; choose a unique name");
            }
        }
    }
}
