package io.tessera.planner.graph;

import io.tessera.layout.DType;
import io.tessera.layout.param.Parameter;
import io.tessera.planner.op.Binary;
import io.tessera.planner.op.LayerNorm;
import io.tessera.planner.op.MatMul;
import io.tessera.planner.op.Reduce;
import io.tessera.planner.op.TensorType;
import io.tessera.planner.zoo.Zoo;
import org.junit.jupiter.api.Test;

import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The backward graph: which tensors get gradients, partial sums, step order and the forward tensors read. */
class BackwardGraphTest {

    /**
     * Checks that the steps are a valid schedule: every step's inputs (the gradients of its forward node's outputs,
     * or the parts of a sum) exist before it, each gradient tensor is written once, reads are forward tensors, and
     * every tensor needing a gradient gets its final one.
     */
    static void assertValidSchedule(BackwardGraph g) {
        Network n = g.network();
        Set<String> available = new HashSet<>();
        if (g.seed() != null) {
            available.add(g.seed());
        }
        for (BackwardStep s : g.steps()) {
            if (s instanceof GradStep step) {
                boolean anyOutputGrad = false;
                for (String out : step.forward().outputs()) {
                    String dOut = g.gradientOf(out);
                    if (dOut != null) {
                        assertTrue(available.contains(dOut), step + " runs before " + dOut + " exists");
                        anyOutputGrad = true;
                    }
                }
                assertTrue(anyOutputGrad, step + " has no output gradient to start from");
                for (String r : step.reads()) {
                    assertTrue(n.hasTensor(r), step + " reads unknown " + r);
                }
                assertTrue(g.needsGradient(step.inputTensor()), step.inputTensor());
            } else {
                Accumulate acc = (Accumulate) s;
                for (String p : acc.parts()) {
                    assertTrue(available.contains(p), acc + " runs before its part " + p);
                }
            }
            assertTrue(available.add(s.gradTensor()), s.gradTensor() + " written twice");
        }
        for (String t : n.tensors().keySet()) {
            String grad = g.gradientOf(t);
            if (grad != null) {
                assertTrue(available.contains(grad), "no final gradient for " + t);
                assertEquals(n.tensor(t), g.gradTensors().get(grad));
            }
        }
        assertEquals(available, g.gradTensors().keySet());
    }

    @Test
    void mlpParametersAndActivationsGetGradientsInputsDoNot() {
        Network n = Zoo.build("mlp", Map.of("widths", List.of(16, 32, 8), "batch", 4));
        BackwardGraph g = n.backward();
        assertValidSchedule(g);
        assertEquals("grad/loss", g.seed());
        for (String p : List.of("layers.0.weight", "layers.0.bias", "layers.1.weight", "layers.1.bias",
                "layers.0.dense", "layers.0.relu", "layers.1.bias_add", "loss_fn")) {
            assertEquals("grad/" + p, g.gradientOf(p), p);
        }
        assertNull(g.gradientOf("x"));
        assertNull(g.gradientOf("labels"));
        assertEquals(List.of("layers.0.weight", "layers.0.bias", "layers.1.weight", "layers.1.bias"),
                List.copyOf(g.parameterGradients().keySet()));
        // no tensor of an MLP has two consumers: no partial sums
        assertTrue(g.steps().stream().noneMatch(s -> s instanceof Accumulate));
        // the first step differentiates the loss, the last one the first layer's weight (x needs no gradient)
        GradStep first = g.gradSteps().get(0);
        assertEquals("loss", first.forward().name());
        assertEquals("grad/loss_fn", first.gradTensor());
        GradStep last = g.gradSteps().get(g.gradSteps().size() - 1);
        assertEquals("layers.0.dense/grad1", last.name());
        assertEquals("grad/layers.0.weight", last.gradTensor());
        assertEquals(List.of("x"), last.reads());
        assertTrue(g.gradSteps().stream().noneMatch(s -> s.inputTensor().equals("x")));
        assertTrue(g.gradSteps().stream().noneMatch(s -> s.inputTensor().equals("labels")));
        // dW of layer 1 reads the forward activation; ReLU's gradient reads its output
        GradStep dW1 = (GradStep) g.producer("grad/layers.1.weight");
        assertEquals(List.of("layers.0.relu"), dW1.reads());
        assertEquals(List.of("layers.0.relu"), ((GradStep) g.producer("grad/layers.0.bias_add")).reads());
        // 7 nodes: loss 1, loss_fn 1, 2 x bias_add 2, dense 2 + 1, relu 1 = 10 steps
        assertEquals(10, g.steps().size());
    }

    @Test
    void frozenParametersCutGradients() {
        Network n = Zoo.build("mlp", Map.of("widths", List.of(16, 32, 8), "batch", 4));
        n.parameter("layers.0.weight").setRequiresGrad(false);
        BackwardGraph g = n.backward();
        assertValidSchedule(g);
        assertNull(g.gradientOf("layers.0.weight"));
        assertNull(g.gradientOf("layers.0.dense"), "x w0 with w0 frozen depends on no trainable parameter");
        assertEquals("grad/layers.0.bias_add", g.gradientOf("layers.0.bias_add"));
        assertFalse(g.parameterGradients().containsKey("layers.0.weight"));
    }

    @Test
    void gptResidualsAndQkvAccumulate() {
        Network n = Zoo.build("gpt", Map.of("layers", 1, "hidden", 16, "heads", 2, "seq", 4, "vocab", 8, "batch",
                2));
        BackwardGraph g = n.backward();
        assertValidSchedule(g);
        Accumulate flat = (Accumulate) g.producer("grad/embedding.flatten");
        assertEquals(List.of("grad/embedding.flatten@layers.0.residual1", "grad/embedding.flatten@layers.0.ln1"),
                flat.parts());
        Accumulate ln1 = (Accumulate) g.producer("grad/layers.0.ln1");
        assertEquals(3, ln1.parts().size());
        assertEquals(Set.of("grad/layers.0.ln1@layers.0.attention.q", "grad/layers.0.ln1@layers.0.attention.k",
                "grad/layers.0.ln1@layers.0.attention.v"), Set.copyOf(ln1.parts()));
        Accumulate r1 = (Accumulate) g.producer("grad/layers.0.residual1");
        assertEquals(2, r1.parts().size());
        // the frozen scale, the integer tokens and the labels get no gradient; the embedding table does
        assertNull(g.gradientOf("layers.0.attention.scale"));
        assertNull(g.gradientOf("tokens"));
        assertNull(g.gradientOf("labels"));
        assertEquals("grad/embedding.word_table", g.gradientOf("embedding.word_table"));
        assertEquals(List.of("tokens"), ((GradStep) g.producer("grad/embedding.word_table")).reads());
        // LayerNorm's mean and variance outputs get no gradient but are read by its backward
        assertNull(g.gradientOf("layers.0.ln1:1"));
        GradStep dx = (GradStep) g.producer("grad/embedding.flatten@layers.0.ln1");
        assertEquals(List.of("embedding.flatten", "layers.0.ln1.gamma", "layers.0.ln1:1", "layers.0.ln1:2"),
                dx.reads());
        // every trainable parameter gets a gradient
        Set<String> trainable = n.parametersAndNames().stream().filter(e -> e.getValue().requiresGrad())
                .map(Map.Entry::getKey).collect(Collectors.toSet());
        assertEquals(trainable, g.parameterGradients().keySet());
        assertEquals(n.parameters().size() - 1, trainable.size());
    }

    @Test
    void resnetResidualAccumulatesAndBatchNormStatisticsHaveNoGradient() {
        Network n = Zoo.build("resnet", Map.of("batch", 2, "channels", 4, "blocks", 2, "image", 8, "classes", 3));
        BackwardGraph g = n.backward();
        assertValidSchedule(g);
        Accumulate stem = (Accumulate) g.producer("grad/stem.relu");
        assertEquals(List.of("grad/stem.relu@blocks.0.residual", "grad/stem.relu@blocks.0.conv1"), stem.parts());
        assertNotNull(g.producer("grad/blocks.0.relu"));
        assertTrue(g.producer("grad/blocks.0.relu") instanceof Accumulate);
        assertNull(g.gradientOf("stem.norm.mean"));
        assertNull(g.gradientOf("stem.norm.variance"));
        assertNull(g.gradientOf("images"));
        assertEquals("grad/stem.norm.scale", g.gradientOf("stem.norm.scale"));
        assertEquals("grad/stem.conv.weight", g.gradientOf("stem.conv.weight"));
        // the stem conv's input is data: only its weight gets a step
        assertTrue(g.gradSteps().stream().noneMatch(s -> s.forward().name().equals("stem.conv") && s.input() == 0));
        Network ln = Zoo.build("resnet", Map.of("norm", "layernorm", "batch", 2, "channels", 4, "image", 8));
        assertValidSchedule(ln.backward());
    }

    @Test
    void sharedWeightAndRepeatedInputMakePartials() {
        Network.Builder b = Network.builder("tied");
        String x = b.input("x", TensorType.of(DType.FLOAT32, 4, 4));
        String w = b.parameter(Parameter.fromInitializer("normal", new long[] {4, 4}, DType.FLOAT32, "w"));
        String h = b.op("a", MatMul.of(false, false), x, w);
        String y = b.op("b", MatMul.of(false, false), h, w);
        String sq = b.op("sq", Binary.mul(), y, y);
        String loss = b.op("loss", Reduce.sum(false), sq);
        BackwardGraph g = b.loss(loss).build().backward();
        assertValidSchedule(g);
        assertEquals(new Accumulate("grad/b", List.of("grad/b@sq#0", "grad/b@sq#1")), g.producer("grad/b"));
        assertEquals(new Accumulate("grad/w", List.of("grad/w@b", "grad/w@a")), g.producer("grad/w"));
        assertEquals(List.of("b"), ((GradStep) g.producer("grad/b@sq#0")).reads());
    }

    @Test
    void branchNotReachingTheLossContributesNothing() {
        Network.Builder b = Network.builder("side");
        String x = b.input("x", TensorType.of(DType.FLOAT32, 4, 4));
        String w = b.parameter(Parameter.fromInitializer("normal", new long[] {4, 4}, DType.FLOAT32, "w"));
        String h = b.op("h", MatMul.of(false, false), x, w);
        b.op("side", MatMul.of(false, false), h, w);
        String loss = b.op("loss", Reduce.mean(false), h);
        BackwardGraph g = b.loss(loss).build().backward();
        assertValidSchedule(g);
        assertNull(g.gradientOf("side"));
        // w has two consumers but only one contributes: no partial, no sum
        assertTrue(g.producer("grad/w") instanceof GradStep);
        assertEquals(2, g.steps().size());
    }

    @Test
    void lossWithoutTrainableParametersHasNoSteps() {
        Network.Builder b = Network.builder("const");
        String x = b.input("x", TensorType.of(DType.FLOAT32, 2, 4));
        Parameter gamma = Parameter.fromInitializer("ones", new long[] {4}, DType.FLOAT32, "gamma");
        gamma.setRequiresGrad(false);
        String gm = b.parameter(gamma);
        String beta = b.parameter("beta", "zeros", DType.FLOAT32, 4);
        b.parameter(Parameter.fromInitializer("zeros", new long[] {4}, DType.FLOAT32, "unused"));
        String y = b.op("ln", LayerNorm.of(-1), x, gm, beta);
        Network n = b.loss(y).build();
        BackwardGraph g = n.backward();
        assertValidSchedule(g);
        assertEquals(List.of("beta"), List.copyOf(g.parameterGradients().keySet()));
        assertEquals(1, g.steps().size());
        assertEquals(List.of(), ((GradStep) g.steps().get(0)).reads());

        Network.Builder c = Network.builder("frozen");
        String x2 = c.input("x", TensorType.of(DType.FLOAT32, 2, 4));
        String l2 = c.op("loss", Reduce.mean(false), x2);
        BackwardGraph none = c.loss(l2).build().backward();
        assertNull(none.seed());
        assertEquals(List.of(), none.steps());
    }

    @Test
    void networkWithoutLossCannotBeDifferentiated() {
        Network.Builder b = Network.builder("noloss");
        b.input("x", TensorType.of(DType.FLOAT32, 2, 4));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> b.build().backward());
        assertTrue(e.getMessage().contains("found no loss tensor"), e.getMessage());
    }
}
