package io.tessera.planner.graph;

import io.tessera.planner.op.MatMul;
import io.tessera.planner.op.Operator;

import java.util.List;

/** Per operator kind: which inputs and outputs are differentiable and which forward tensors each gradient reads. */
final class GradRules {

    private GradRules() {
    }

    /** Whether input {@code i} of {@code op} has a gradient. */
    static boolean differentiableInput(Operator op, int i) {
        return true;
    }

    /** Whether the gradient of output {@code o} of {@code op} flows back to its inputs. */
    static boolean differentiableOutput(Operator op, int o) {
        return true;
    }

    /**
     * The forward tensors the gradient of input {@code i} of {@code n} is computed from (besides the gradients of
     * the outputs), following MindSpore's bprop definitions.
     */
    static List<String> reads(Node n, int i) {
        Operator op = n.op();
        if (op instanceof MatMul) {
            // dA = dC x B^T, dB = A^T x dC
            return List.of(n.input(1 - i));
        }
        throw new IllegalArgumentException("backward: no gradient rule for " + op.type() + " (node '" + n.name()
                + "'); expected an operator of the catalogue");
    }
}
