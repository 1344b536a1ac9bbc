package io.tessera.simulator.timeline;

import io.tessera.layout.DType;
import io.tessera.planner.cost.ClusterSpec;
import io.tessera.planner.cost.CostModel;
import io.tessera.planner.graph.Network;
import io.tessera.planner.graph.Node;
import io.tessera.planner.plan.OpPlan;

import java.util.List;

/** The model FLOPs of a step and the peak they are measured against, for the timeline's MFU. */
final class StepFlops {

    private StepFlops() {
    }

    /**
     * The model's FLOPs of one step: per operator its slice's forward FLOPs times its distinct slices (the device
     * matrix without the repeated-calculation dimension), times 3 for forward and backward.
     */
    static double model(CostModel cost, Network network, List<OpPlan> ops) {
        double flops = 0;
        for (OpPlan op : ops) {
            int distinct = op.sharding().devMatrix().size() / Math.max(1, op.sharding().repeated());
            flops += (double) cost.forwardFlops(network, op) * distinct;
        }
        return 3 * flops;
    }

    /** The device's peak FLOP/s for the compute type (first floating input) of the operator with the most FLOPs. */
    static double peak(ClusterSpec cluster, CostModel cost, Network network, List<OpPlan> ops) {
        DType dtype = DType.FLOAT32;
        long most = -1;
        for (OpPlan op : ops) {
            long f = cost.forwardFlops(network, op);
            Node node = network.node(op.name());
            if (f > most && node != null) {
                most = f;
                dtype = network.tensor(node.output(0)).dtype();
                for (String in : node.inputs()) {
                    if (network.tensor(in).dtype().isFloating()) {
                        dtype = network.tensor(in).dtype();
                        break;
                    }
                }
            }
        }
        return cluster.device().peak(dtype);
    }
}
