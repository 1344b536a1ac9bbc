package io.tessera.planner.graph;

import io.tessera.layout.DType;
import io.tessera.layout.param.Parameter;
import io.tessera.planner.op.MatMul;
import io.tessera.planner.op.TensorType;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The network builder: names, scopes, parameters, topological order, lookups, errors and DOT export. */
class NetworkTest {

    private static final MatMul MM = MatMul.of(false, false);

    private static Parameter param(String name, long... shape) {
        return Parameter.fromInitializer("normal", shape, DType.FLOAT32, name);
    }

    /** x -> a = x w1 -> b = a w2 ; c = a w3 ; d = b c^T-ish chain, built with two scopes. */
    private static Network twoLayers() {
        Network.Builder b = Network.builder("two");
        String x = b.input("x", TensorType.of(DType.FLOAT32, 4, 8));
        Network.Builder l0 = b.scope("layers").scope("0");
        String w0 = l0.parameter(param("weight", 8, 16));
        String h0 = l0.op("dense", MM, x, w0);
        Network.Builder l1 = b.scope("layers.1");
        String w1 = l1.parameter(param("weight", 16, 2));
        String h1 = l1.op("dense", MM, h0, w1);
        return b.loss(h1).build();
    }

    @Test
    void scopesPrefixHierarchicalNames() {
        Network n = twoLayers();
        assertEquals(List.of("layers.0.dense", "layers.1.dense"),
                n.nodes().stream().map(Node::name).collect(Collectors.toList()));
        assertEquals(List.of("x", "layers.0.weight", "layers.1.weight", "layers.0.dense", "layers.1.dense"),
                List.copyOf(n.tensors().keySet()));
        assertEquals("layers.0.weight", n.parameters().get(0).name());
        assertEquals(TensorType.of(DType.FLOAT32, 4, 2), n.tensor("layers.1.dense"));
        assertEquals(List.of("layers.0.dense", "layers.1.weight"), n.node("layers.1.dense").inputs());
        assertEquals("layers.1.dense", n.loss());
        assertEquals(List.of("x"), n.inputs());
    }

    @Test
    void qualifyAndPrefixOfScopes() {
        Network.Builder b = Network.builder("n");
        Network.Builder s = b.scope("a").scope("b.c");
        assertEquals("a.b.c", s.prefix());
        assertEquals("a.b.c.w", s.qualify("w"));
        assertEquals("", b.prefix());
        assertEquals("w", b.qualify("w"));
        assertThrows(IllegalArgumentException.class, () -> b.scope(".a"));
        assertThrows(IllegalArgumentException.class, () -> b.scope("a."));
        assertThrows(IllegalArgumentException.class, () -> b.scope(" "));
        assertThrows(IllegalArgumentException.class, () -> b.scope("a:b"));
    }

    @Test
    void producersConsumersAndParameters() {
        Network n = twoLayers();
        assertNull(n.producer("x"));
        assertNull(n.producer("layers.0.weight"));
        assertEquals("layers.0.dense", n.producer("layers.0.dense").name());
        assertEquals(List.of(n.node("layers.0.dense")), n.consumers("x"));
        assertEquals(List.of(), n.consumers("layers.1.dense"));
        assertTrue(n.isParameter("layers.1.weight"));
        assertFalse(n.isParameter("x"));
        assertNull(n.parameter("nope"));
        assertSame(n.parameters().get(1), n.parameter("layers.1.weight"));
        assertEquals(List.of("layers.0.weight", "layers.1.weight"),
                n.parametersAndNames().stream().map(Map.Entry::getKey).collect(Collectors.toList()));
        assertEquals(8 * 16 + 16 * 2, n.parameterCount());
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> n.tensor("layers.0.wieght"));
        assertTrue(e.getMessage().contains("layers.0.weight"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> n.node("x"));
        assertThrows(IllegalArgumentException.class, () -> n.consumers("nope"));
    }

    @Test
    void trainableParamsOfASubNetwork() {
        Network n = twoLayers();
        assertEquals(2, n.trainableParams().size());
        assertEquals(List.of(n.parameter("layers.1.weight")), n.trainableParams("layers.1"));
        assertEquals(List.of(n.parameter("layers.1.weight")), n.trainableParams("layers.1."));
        assertEquals(2, n.trainableParams("layers").size());
        assertEquals(2, n.trainableParams("").size());
        assertEquals(List.of(), n.trainableParams("layers.10"));
        assertEquals(List.of(), n.trainableParams("layer"));
        n.parameter("layers.0.weight").setRequiresGrad(false);
        assertEquals(List.of(n.parameter("layers.1.weight")), n.trainableParams());
        assertEquals(List.of(), n.trainableParams("layers.0"));
    }

    @Test
    void duplicateParameterNamesAreRejected() {
        Network.Builder b = Network.builder("n");
        b.parameter(param("w", 2, 2));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> b.parameter(param("w", 2, 2)));
        assertTrue(e.getMessage().contains("its name 'w' already exists. Please set a unique name for the parameter."),
                e.getMessage());
        Network.Builder s = b.scope("s");
        s.parameter(param("w", 2, 2));
        IllegalArgumentException e2 = assertThrows(IllegalArgumentException.class,
                () -> s.parameter(param("w", 2, 2)));
        assertTrue(e2.getMessage().contains("its name 's.w' already exists"), e2.getMessage());
    }

    @Test
    void sameParameterObjectTwiceIsShared() {
        Network.Builder b = Network.builder("tied");
        Parameter w = param("w", 4, 4);
        String x = b.input("x", TensorType.of(DType.FLOAT32, 2, 4));
        assertEquals("w", b.parameter(w));
        assertEquals("w", b.scope("inner").parameter(w));
        String h = b.op("a", MM, x, "w");
        String y = b.op("b", MM, h, "w");
        Network n = b.loss(y).build();
        assertEquals(1, n.parameters().size());
        assertEquals(2, n.consumers("w").size());
    }

    @Test
    void duplicateNodeAndTensorNamesAreRejected() {
        Network.Builder b = Network.builder("n");
        String x = b.input("x", TensorType.of(DType.FLOAT32, 2, 2));
        b.parameter(param("w", 2, 2));
        b.op("y", MM, x, "w");
        assertTrue(assertThrows(IllegalArgumentException.class, () -> b.op("y", MM, x, "w")).getMessage()
                .contains("'y' is already used by an op output"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> b.op("x", MM, x, "w")).getMessage()
                .contains("already used by a data input"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> b.op("w", MM, x, "w")).getMessage()
                .contains("already used by a parameter"));
        assertThrows(IllegalArgumentException.class, () -> b.input("y", TensorType.of(DType.FLOAT32, 2)));
        assertThrows(IllegalArgumentException.class, () -> b.parameter(param("x", 2)));
        assertThrows(IllegalArgumentException.class, () -> b.input("bad:name", TensorType.of(DType.FLOAT32, 2)));
    }

    @Test
    void unknownInputNamesCloseNames() {
        Network.Builder b = Network.builder("n");
        String x = b.input("x", TensorType.of(DType.FLOAT32, 2, 2));
        Network.Builder s = b.scope("layers.0");
        s.parameter(param("weight", 2, 2));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> s.op("dense", MM, x, "weight"));
        assertTrue(e.getMessage().contains("op 'layers.0.dense' (MatMul) input 1 is 'weight'"), e.getMessage());
        assertTrue(e.getMessage().contains("close names: layers.0.weight"), e.getMessage());
    }

    @Test
    void wrongInputCountAndTypesAreTheOpsMessage() {
        Network.Builder b = Network.builder("n");
        String x = b.input("x", TensorType.of(DType.FLOAT32, 2, 3));
        String w = b.parameter(param("w", 4, 5));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> b.op("y", MM, x));
        assertTrue(e.getMessage().contains("has 1 input [x]; expected 2"), e.getMessage());
        IllegalArgumentException e2 = assertThrows(IllegalArgumentException.class, () -> b.op("y", MM, x, w));
        assertTrue(e2.getMessage().startsWith("MatMul 'y': input 0"), e2.getMessage());
    }

    @Test
    void lossMustBeATensor() {
        Network.Builder b = Network.builder("n");
        b.input("x", TensorType.of(DType.FLOAT32, 2, 3));
        b.loss("lost");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, b::build);
        assertTrue(e.getMessage().contains("the loss 'lost'"), e.getMessage());
    }

    @Test
    void lossMustBeAnOperatorOutputNotAnInputOrParameter() {
        Network.Builder b = Network.builder("n");
        String x = b.input("x", TensorType.of(DType.FLOAT32, 2, 3));
        String w = b.parameter("w", "normal", DType.FLOAT32, 3, 4);
        b.op("y", MM, x, w);
        b.loss(x);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, b::build);
        assertEquals("network 'n': the loss 'x' is a data input, not an operator output, so training has no backward "
                + "pass; give the full name of a node output (e.g. of a ReduceMean)", e.getMessage());
        b.loss(w);
        e = assertThrows(IllegalArgumentException.class, b::build);
        assertTrue(e.getMessage().startsWith("network 'n': the loss 'w' is a parameter, not an operator output"),
                e.getMessage());
        b.loss("y");
        assertEquals("y", b.build().loss());
    }

    @Test
    void topologicalOrderKeepsInsertionOrderAmongReadyNodes() {
        Network.Builder b = Network.builder("diamond");
        String x = b.input("x", TensorType.of(DType.FLOAT32, 4, 4));
        String w = b.parameter(param("w", 4, 4));
        String c = b.op("c", MM, x, w);
        String a = b.op("a", MM, x, w);
        String d = b.op("d", MM, a, c);
        String bb = b.op("b", MM, c, w);
        b.op("e", MM, d, bb);
        Network n = b.build();
        List<String> order = n.nodes().stream().map(Node::name).collect(Collectors.toList());
        assertEquals(List.of("c", "a", "d", "b", "e"), order);
        for (Node node : n.nodes()) {
            for (String in : node.inputs()) {
                Node p = n.producer(in);
                if (p != null) {
                    assertTrue(order.indexOf(p.name()) < order.indexOf(node.name()), node + " before " + p);
                }
            }
        }
        assertEquals(5, n.graph().vertexSet().size());
        // edges between nodes only: a->d, c->d, c->b, d->e, b->e
        assertEquals(5, n.graph().edgeSet().size());
        assertThrows(UnsupportedOperationException.class, () -> n.graph().removeVertex(n.node("a")));
    }

    @Test
    void nodeReadingOneTensorTwiceHasTwoEdges() {
        Network.Builder b = Network.builder("sq");
        String x = b.input("x", TensorType.of(DType.FLOAT32, 4, 4));
        String w = b.parameter(param("w", 4, 4));
        String h = b.op("h", MM, x, w);
        b.op("sq", MM, h, h);
        Network n = b.build();
        assertEquals(2, n.graph().getAllEdges(n.node("h"), n.node("sq")).size());
        assertEquals(List.of(n.node("sq")), n.consumers("h"));
    }

    @Test
    void dotExportContainsEveryNode() {
        Network n = twoLayers();
        String dot = n.toDot();
        assertTrue(dot.startsWith("strict digraph") || dot.startsWith("digraph"), dot);
        for (String t : n.tensors().keySet()) {
            assertTrue(dot.contains("label=\"" + t + "\\n") || dot.contains("label=\"" + t + "\n"), t + " in " + dot);
        }
        assertTrue(dot.contains("MatMul"), dot);
        assertTrue(dot.contains("Float32[4, 16]"), dot);
    }

    @Test
    void nodeValidatesOutputsAndInputCount() {
        assertThrows(IllegalArgumentException.class, () -> new Node("n", MM, List.of("a"), List.of("n")));
        assertThrows(IllegalArgumentException.class, () -> new Node("n", MM, List.of("a", "b"), List.of("m")));
        assertThrows(IllegalArgumentException.class, () -> new Node("n", MM, List.of("a", "b"), List.of("n", "n:2")));
        assertEquals("n:1", Node.outputName("n", 1));
        assertEquals("n", Node.outputName("n", 0));
    }

    @Test
    void structuralEquality() {
        assertEquals(twoLayers(), twoLayers());
        Network a = twoLayers();
        Network b = twoLayers();
        b.parameter("layers.0.weight").setRequiresGrad(false);
        assertNotEquals(a, b);
    }
}
