package io.tessera.planner.graph;

import io.tessera.planner.op.Activation;
import io.tessera.planner.op.BatchNorm;
import io.tessera.planner.op.BiasAdd;
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
import io.tessera.planner.op.SoftmaxCrossEntropyWithLogits;
import io.tessera.planner.op.Transpose;

import java.util.List;

/**
 * Per operator kind: which inputs and outputs are differentiable and which forward tensors each input's gradient
 * reads, following MindSpore's bprop definitions.
 */
final class GradRules {

    private GradRules() {
    }

    /** Whether input {@code i} of {@code op} has a gradient. */
    static boolean differentiableInput(Operator op, int i) {
        if (op instanceof BatchNorm) {
            return i < 3; // the moving mean and variance have none
        }
        if (op instanceof SoftmaxCrossEntropyWithLogits) {
            return i == 0; // MindSpore's bprop returns zeros for the labels
        }
        if (op instanceof Gather) {
            return i == 0; // indices are integers
        }
        return true;
    }

    /** Whether the gradient of output {@code o} of {@code op} flows back to its inputs. */
    static boolean differentiableOutput(Operator op, int o) {
        if (op instanceof LayerNorm) {
            return o == 0; // mean and variance are saved statistics
        }
        return true;
    }

    /**
     * The forward tensors the gradient of input {@code i} of {@code n} is computed from, besides the gradients of the
     * node's outputs.
     */
    static List<String> reads(Node n, int i) {
        Operator op = n.op();
        if (op instanceof MatMul) {
            return List.of(n.input(1 - i)); // dA = dC x B^T, dB = A^T x dC (transposes aside)
        }
        if (op instanceof Binary b) {
            switch (b.kind()) {
                case ADD:
                case SUB:
                    return List.of();
                case MUL:
                    return List.of(n.input(1 - i));
                case DIV:
                    // dx = dout / y; dy = -dout * out / y
                    return i == 0 ? List.of(n.input(1)) : List.of(n.input(1), n.output(0));
                default:
                    throw new IllegalStateException("unreachable: " + b.kind());
            }
        }
        if (op instanceof BiasAdd || op instanceof Cast || op instanceof Dropout) {
            return List.of(); // Dropout's mask is kept by the operator
        }
        if (op instanceof Activation a) {
            return a.kind() == Activation.Kind.GELU ? List.of(n.input(0), n.output(0)) : List.of(n.output(0));
        }
        if (op instanceof Softmax) {
            return List.of(n.output(0));
        }
        if (op instanceof LayerNorm) {
            // LayerNormGrad(x, dy, variance, mean, gamma): dx and dgamma need the statistics; dbeta sums dy
            if (i == 0) {
                return List.of(n.input(0), n.input(1), n.output(1), n.output(2));
            }
            return i == 1 ? List.of(n.input(0), n.output(1), n.output(2)) : List.of();
        }
        if (op instanceof BatchNorm) {
            // batch statistics are recomputed from x; dbias sums dy
            return i == 0 ? List.of(n.input(0), n.input(1)) : i == 1 ? List.of(n.input(0)) : List.of();
        }
        if (op instanceof SoftmaxCrossEntropyWithLogits) {
            return List.of(n.input(0), n.input(1));
        }
        if (op instanceof Reshape || op instanceof Transpose) {
            return List.of(); // shapes and permutations are static
        }
        if (op instanceof Reduce r) {
            // sum and mean broadcast dout back; max and min route it to the arg-extreme elements
            return r.kind() == Reduce.Kind.SUM || r.kind() == Reduce.Kind.MEAN ? List.of()
                    : List.of(n.input(0), n.output(0));
        }
        if (op instanceof Gather) {
            return List.of(n.input(1)); // a scatter-add of dout into the rows named by the indices
        }
        if (op instanceof Conv2D) {
            return List.of(n.input(1 - i)); // dx = conv_transpose(dout, w), dw = conv_filter_grad(x, dout)
        }
        throw new IllegalArgumentException("backward: no gradient rule for " + op.type() + " (node '" + n.name()
                + "'); expected an operator of the catalogue");
    }
}
