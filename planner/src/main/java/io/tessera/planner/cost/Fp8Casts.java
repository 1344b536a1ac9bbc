package io.tessera.planner.cost;

import io.tessera.layout.DType;
import io.tessera.planner.graph.Network;
import io.tessera.planner.graph.Node;
import io.tessera.planner.op.Flops;
import io.tessera.planner.op.MatMul;
import io.tessera.planner.plan.OpPlan;
import io.tessera.planner.plan.ParamPlan;

import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * The casts Transformer Engine adds around an FP8 linear layer (a {@link MatMul} with a {@code gemm_dtype}), as
 * memory-bound streaming kernels costed by their bytes. Each cast reads the 16-bit tensor once and writes its FP8
 * copy twice, row-wise and transposed (Hopper's FP8 GEMMs take both operands K-major, so the forward product reads
 * one copy and a backward product the other): {@code elements * (dtypeBytes + 2 * 1)} bytes.
 * <ul>
 *   <li>Forward: the activation input (an input that is not a parameter), cast once per tensor: on the first FP8
 *       consumer of the tensor in network order (q, k and v share one cast of the LayerNorm output, as Megatron's
 *       fused QKV layer does).</li>
 *   <li>Backward: the output gradient (E5M2), once per FP8 product.</li>
 *   <li>Weights: once per step (TE keeps the FP8 copy across a step's micro-batches), so not in the per-operator
 *       seconds but in {@link CostModel#fp8WeightCastSeconds}, which the timeline adds to the optimizer step.</li>
 * </ul>
 * Stateless.
 */
public final class Fp8Casts {

    /** Bytes of one FP8 element. */
    private static final int FP8_BYTES = 1;

    private Fp8Casts() {
    }

    /** The FP8 format of a node's product, or null when it is not an FP8 linear layer. */
    public static DType gemmDtype(Node node) {
        return node.op() instanceof MatMul m ? m.gemmDtype() : null;
    }

    /**
     * Bytes the casts of one rank's slice of an FP8 product stream, forward or backward (see the class comment); 0
     * for any other operator.
     */
    public static double castBytes(Network net, OpPlan op, boolean backward) {
        Node node = net.node(op.name());
        if (gemmDtype(node) == null) {
            return 0;
        }
        if (backward) {
            long[] out = Flops.sliceShapes(op.outputLayouts()).get(0);
            return elements(out) * (net.tensor(node.output(0)).dtype().bytes() + 2.0 * FP8_BYTES);
        }
        List<long[]> in = Flops.sliceShapes(op.inputLayouts());
        double bytes = 0;
        for (int i = 0; i < node.inputs().size(); i++) {
            String t = node.input(i);
            if (net.isParameter(t) || firstFp8Consumer(net, t) != node) {
                continue;
            }
            bytes += elements(in.get(i)) * (net.tensor(t).dtype().bytes() + 2.0 * FP8_BYTES);
        }
        return bytes;
    }

    /** The first consumer of {@code tensor} in network order that is an FP8 product, or null. */
    private static Node firstFp8Consumer(Network net, String tensor) {
        for (Node c : net.consumers(tensor)) {
            if (gemmDtype(c) != null) {
                return c;
            }
        }
        return null;
    }

    /** Names of the parameters an FP8 product reads (its weights). */
    public static Set<String> fp8Weights(Network net) {
        Set<String> out = new HashSet<>();
        for (Node n : net.nodes()) {
            if (gemmDtype(n) != null) {
                for (String t : n.inputs()) {
                    if (net.isParameter(t)) {
                        out.add(t);
                    }
                }
            }
        }
        return out;
    }

    /** Bytes of the once-per-step cast of a weight's slice: {@code elements * (dtypeBytes + 2)}. */
    public static double weightCastBytes(ParamPlan p) {
        int b = p.dtype().bytes();
        return (double) p.sliceBytes() / b * (b + 2.0 * FP8_BYTES);
    }

    private static double elements(long[] shape) {
        double n = 1;
        for (long d : shape) {
            n *= d;
        }
        return n;
    }
}
