package io.tessera.simulator.numeric;

import io.tessera.layout.comm.CollectiveKind;
import io.tessera.layout.comm.Phase;
import io.tessera.layout.param.ParallelMode;
import io.tessera.layout.redistribution.ReduceOp;
import io.tessera.planner.graph.Network;
import io.tessera.planner.graph.Node;
import io.tessera.planner.op.BatchNorm;
import io.tessera.planner.op.OpComm;
import io.tessera.planner.plan.Communication;
import io.tessera.planner.plan.OpPlan;
import io.tessera.planner.plan.ParamPlan;
import io.tessera.planner.plan.Plan;

import java.util.HashMap;
import java.util.Map;

/**
 * The factors by which a plan's reduced parameter gradients differ from the one-device gradient, as in MindSpore; the
 * one-device reference applies them, so that it computes the step the plan's settings ask for.
 *
 * <p>In semi_auto / auto parallel MindSpore's backward leaves on the ranks shares of the exact gradient of the loss
 * (with {@code loss_repeated_mean}, the default, a scalar loss operator's {@code _VirtualDiv} divides the gradient of
 * its inputs by the device count, undoing the AllReduce(sum) backward of the loss's split ReduceMean), so a parameter's mirror AllReduce(sum) gives the one-device gradient; with
 * {@code gradients_mean} the mirror also multiplies by {@code 1 / dev_num}, the size of the parameter's mirror group
 * (not the device count: a parameter replicated over 2 of 8 devices gets half its gradient, a data-parallel one an
 * eighth). In {@code data_parallel} mode each rank's loss is its batch shard's mean, so the ranks' gradients sum to
 * {@code group size} times the one-device gradient, and {@code gradients_mean} brings it back to it.
 *
 * <p>So each contribution to a parameter's gradient (one consumer's gradient of the parameter) is scaled by the
 * product, over the reductions it goes through (the consumer's gradient AllReduce, or the parameter's
 * optimizer-parallel ReduceScatter and mirror AllReduce), of {@code 1 / group size} for a mean in semi_auto / auto
 * parallel and of {@code group size} for a sum in data_parallel mode; a contribution without a reduction (a split or
 * {@code layerwise_parallel} parameter) is not scaled.
 */
final class GradientScales {

    private GradientScales() {
    }

    /** The key of the contribution of operator {@code operator}'s input {@code input} (a parameter). */
    static String key(String operator, int input) {
        return "input/" + operator + "#" + input;
    }

    /** The key of every contribution to parameter {@code parameter} (reduced once, by optimizer parallel). */
    static String key(String parameter) {
        return "param/" + parameter;
    }

    /**
     * The factors of {@code plan}'s gradient contributions that are not 1, by {@link #key(String, int)} (a consumer's
     * gradient reduction, found from the operator's sharding as the execution finds it, since the planner merges the
     * reductions of consumers sharing a group into one communication) or {@link #key(String)} (an optimizer-parallel
     * parameter's reductions); every factor is 1 in semi_auto / auto parallel without {@code gradients_mean} and in
     * data_parallel mode with it.
     */
    static Map<String, Double> of(Plan plan) {
        boolean dataParallel = plan.config().mode() == ParallelMode.DATA_PARALLEL;
        boolean mean = plan.config().gradientsMean();
        Network net = plan.network();
        Map<String, Double> out = new HashMap<>();
        for (OpPlan op : plan.ops()) {
            Node node = net.node(op.name());
            Map<Integer, Integer> partial = new HashMap<>();
            for (OpComm c : op.sharding().backward()) {
                // BatchNorm's x: its statistics are reduced inside the kernel, not its gradient (as GradientRouter)
                if (!c.output() && !(node.op() instanceof BatchNorm && c.index() == 0)) {
                    partial.put(c.index(), c.groups(op.sharding().devMatrix()).get(0).size());
                }
            }
            for (Map.Entry<Integer, Integer> e : partial.entrySet()) {
                String t = node.inputs().get(e.getKey());
                ParamPlan p = net.isParameter(t) ? plan.param(t) : null;
                if (p == null || !p.trainable() || p.layerwiseParallel() || p.shard().sharded()) {
                    continue;
                }
                double f = factor(dataParallel, mean ? ReduceOp.MEAN : ReduceOp.SUM, e.getValue());
                if (f != 1) {
                    out.put(key(op.name(), e.getKey()), f);
                }
            }
        }
        for (Communication c : plan.comms()) {
            if (c.origin() == Communication.Origin.PARALLEL_OPTIMIZER && c.phase() == Phase.BACKWARD
                    && c.reduce() != null && c.kind() != CollectiveKind.ALL_GATHER) {
                double f = factor(dataParallel, c.reduce(), c.groups().get(0).size());
                if (f != 1) {
                    out.merge(key(c.parameter()), f, (a, b) -> a * b);
                }
            }
        }
        return out;
    }

    /** A reduction's factor: {@code 1 / size} for a mean in semi_auto / auto, {@code size} for a sum in data_parallel. */
    private static double factor(boolean dataParallel, ReduceOp reduce, int size) {
        if (dataParallel) {
            return reduce == ReduceOp.SUM ? size : 1;
        }
        return reduce == ReduceOp.MEAN ? 1.0 / size : 1;
    }

    /** The factor of the contribution of {@code operator}'s input {@code input}, parameter {@code parameter}. */
    static double contribution(Map<String, Double> scales, String operator, int input, String parameter) {
        return scales.getOrDefault(key(operator, input), 1.0) * scales.getOrDefault(key(parameter), 1.0);
    }
}
