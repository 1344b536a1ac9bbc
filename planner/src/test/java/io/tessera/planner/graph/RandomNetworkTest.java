package io.tessera.planner.graph;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.tessera.layout.DType;
import io.tessera.layout.param.Parameter;
import io.tessera.planner.op.Activation;
import io.tessera.planner.op.Binary;
import io.tessera.planner.op.MatMul;
import io.tessera.planner.op.Operator;
import io.tessera.planner.op.Reduce;
import io.tessera.planner.op.TensorType;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Random DAGs (seeded; the seed is printed): topological order, the backward graph against a brute-force definition
 * of "needs a gradient", and JSON round trips with the ops shuffled.
 */
class RandomNetworkTest {

    private static final long SEED = Long.getLong("tessera.seed", 20260611L);
    private static final int CASES = 150;

    private static Network randomNetwork(Random rnd, int index) {
        Network.Builder b = Network.builder("random" + index);
        TensorType t = TensorType.of(DType.FLOAT32, 4, 4);
        List<String> tensors = new ArrayList<>();
        int inputs = 1 + rnd.nextInt(2);
        for (int i = 0; i < inputs; i++) {
            tensors.add(b.input("x" + i, t));
        }
        int params = 1 + rnd.nextInt(3);
        for (int i = 0; i < params; i++) {
            Parameter p = Parameter.fromInitializer("normal", new long[] {4, 4}, DType.FLOAT32, "w" + i);
            p.setRequiresGrad(rnd.nextInt(4) != 0);
            tensors.add(b.scope("p").parameter(p));
        }
        int nodes = 1 + rnd.nextInt(12);
        for (int i = 0; i < nodes; i++) {
            Operator op;
            switch (rnd.nextInt(5)) {
                case 0: op = Binary.add(); break;
                case 1: op = Binary.mul(); break;
                case 2: op = MatMul.of(rnd.nextBoolean(), rnd.nextBoolean()); break;
                case 3: op = Activation.relu(); break;
                default: op = Activation.tanh(); break;
            }
            String[] ins = new String[op.inputCount()];
            for (int k = 0; k < ins.length; k++) {
                // prefer recent tensors so that chains form, but reach back at random
                int from = rnd.nextInt(3) == 0 ? 0 : Math.max(0, tensors.size() - 4);
                ins[k] = tensors.get(from + rnd.nextInt(tensors.size() - from));
            }
            Network.Builder s = rnd.nextBoolean() ? b : b.scope("blk" + rnd.nextInt(3));
            tensors.add(s.op("n" + i, op, ins));
        }
        String lossOf = tensors.get(tensors.size() - 1 - rnd.nextInt(Math.min(3, nodes)));
        String loss = b.op("loss", Reduce.sum(false), lossOf);
        return b.loss(loss).build();
    }

    /** Tensors reachable forward from {@code from} (inclusive) through node inputs to outputs. */
    private static Set<String> descendants(Network n, String from) {
        Set<String> seen = new HashSet<>();
        List<String> stack = new ArrayList<>(List.of(from));
        while (!stack.isEmpty()) {
            String t = stack.remove(stack.size() - 1);
            if (seen.add(t)) {
                for (Node c : n.consumers(t)) {
                    stack.addAll(c.outputs());
                }
            }
        }
        return seen;
    }

    @Test
    void randomNetworks() {
        System.out.println("RandomNetworkTest seed=" + SEED + " cases=" + CASES
                + " (rerun with -Dtessera.seed=" + SEED + ")");
        Random rnd = new Random(SEED);
        int accumulates = 0;
        for (int c = 0; c < CASES; c++) {
            Network n = randomNetwork(rnd, c);
            String where = "case " + c + " seed " + SEED + ": ";
            // topological: producers first; here insertion order is already topological and must be kept
            Map<String, Integer> pos = new HashMap<>();
            for (Node node : n.nodes()) {
                for (String in : node.inputs()) {
                    Node p = n.producer(in);
                    assertTrue(p == null || pos.containsKey(p.name()), where + node);
                }
                pos.put(node.name(), pos.size());
            }
            // brute force: needs(t) = reachable from a trainable parameter and the loss reachable from t
            Set<String> fromTrainable = new HashSet<>();
            for (Map.Entry<String, Parameter> e : n.parametersAndNames()) {
                if (e.getValue().requiresGrad()) {
                    fromTrainable.addAll(descendants(n, e.getKey()));
                }
            }
            BackwardGraph g = n.backward();
            BackwardGraphTest.assertValidSchedule(g);
            for (String t : n.tensors().keySet()) {
                boolean expected = fromTrainable.contains(t) && descendants(n, t).contains(n.loss());
                assertEquals(expected, g.needsGradient(t), where + t);
            }
            for (BackwardStep s : g.steps()) {
                if (s instanceof Accumulate) {
                    accumulates++;
                }
            }
            // JSON with the ops shuffled reads back to the same graph
            ObjectNode json = NetworkJson.toJson(n);
            List<Object> ops = new ArrayList<>();
            ((ArrayNode) json.get("ops")).forEach(ops::add);
            Collections.shuffle(ops, rnd);
            ArrayNode shuffled = json.putArray("ops");
            ops.forEach(o -> shuffled.add((ObjectNode) o));
            Network back = NetworkJson.parse(json);
            assertEquals(new HashSet<>(n.nodes()), new HashSet<>(back.nodes()), where);
            assertEquals(n.tensors(), back.tensors(), where);
            assertEquals(g.parameterGradients(), back.backward().parameterGradients(), where);
            assertEquals(n, NetworkJson.parse(NetworkJson.write(n)), where);
        }
        assertTrue(accumulates > 0, "the generator makes tensors with several consumers");
    }
}
