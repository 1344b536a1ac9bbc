package io.tessera.simulator.numeric;

import io.tessera.layout.Layout;
import io.tessera.layout.comm.CollectiveKind;
import io.tessera.layout.param.ParallelMode;
import io.tessera.layout.redistribution.RedistributionPlan;
import io.tessera.layout.redistribution.ReduceOp;
import io.tessera.planner.graph.Node;
import io.tessera.planner.op.BatchNorm;
import io.tessera.planner.op.OpComm;
import io.tessera.planner.plan.Communication;
import io.tessera.planner.plan.OpExecution;
import io.tessera.planner.plan.OpPlan;
import io.tessera.planner.plan.ParamPlan;
import io.tessera.simulator.array.NDArray;
import io.tessera.simulator.cluster.Collectives;
import io.tessera.simulator.cluster.RankState;

import java.util.List;

/**
 * Routes the gradient of an operator's input to where the plan reduces it: a sharded parameter's gradient sum (for
 * its ReduceScatter), the owner of a shared redistribution, the backward ReduceScatter or the reduction and the
 * transposed redistribution back into the producer's layout, a pending partial sum (reduced once; a parameter's
 * redistributed partial joins it after the transposed redistribution when the planner merged their reductions), or
 * the tensor's gradient directly. In the one-device reference a parameter's contribution is first scaled by the
 * factor its reductions apply in the parallel plan ({@link GradientScales}).
 */
final class GradientRouter {

    private final ExecutionContext cx;
    /** False in data_parallel mode: operators run on their batch shard alone. */
    private final boolean operatorComms;

    GradientRouter(ExecutionContext cx) {
        this.cx = cx;
        this.operatorComms = cx.plan.config().mode() != ParallelMode.DATA_PARALLEL;
    }

    /** Routes the gradient of input {@code i} of {@code node} ({@code lastMicroBatch}: of the step's last). */
    void contribute(RankPrograms pr, Node node, OpPlan op, int i, boolean lastMicroBatch) {
        String t = node.inputs().get(i);
        Slot local = Slot.inputGradient(node.name(), i);
        Slot grad = Slot.gradient(t);
        List<List<Integer>> partial = null;
        for (OpComm c : op.sharding().backward()) {
            // BatchNorm's x: its statistics are reduced inside the two-phase kernel, not its gradient
            if (!c.output() && c.index() == i && !(node.op() instanceof BatchNorm && i == 0)) {
                partial = c.groups(op.sharding().devMatrix());
            }
        }
        ParamPlan p = cx.net.isParameter(t) ? cx.plan.param(t) : null;
        double factor = p == null ? 1 : GradientScales.contribution(cx.gradientScales, node.name(), i, t);
        if (factor != 1) {
            // the one-device reference of a plan whose reductions scale this contribution (e.g. gradients_mean)
            pr.compute("scale " + local, s -> {
                NDArray g = local.get(s).copy();
                double[] d = g.data();
                for (int k = 0; k < d.length; k++) {
                    d[k] *= factor;
                }
                local.put(s, cx.round(g));
            });
        }
        if (p != null && p.shard().sharded()) {
            int partialSize = partial == null ? 1 : partial.get(0).size();
            double scale = (double) partialSize / p.layout().repeatedCount();
            Slot sum = Slot.shardGradientSum(t);
            pr.compute("accumulate " + local, s -> {
                NDArray g = local.get(s).copy();
                double[] d = g.data();
                for (int k = 0; k < d.length; k++) {
                    d[k] *= scale;
                }
                sum.add(s, g);
            });
            return;
        }
        boolean reduced = partial != null && (p != null ? !p.layerwiseParallel() : operatorComms);
        OpExecution exec = ExecutionContext.exec(op);
        if (exec.input(i).redistributed()) {
            OpPlan.Reuse reuse = op.reuse(i);
            if (reuse != null) {
                // summed (still partial) into the owner's gradient, which is reduced and sent back once
                Slot share = Slot.sharedGradient(reuse.owner(), reuse.ownerInput());
                pr.compute("share " + local, s -> share.add(s, local.get(s)));
                return;
            }
            if (cx.shared(node.name(), i)) {
                // the owner adds its own gradient to the sum of the later consumers'
                Slot share = Slot.sharedGradient(node.name(), i);
                pr.compute("sum shared " + local, s -> {
                    share.add(s, local.get(s));
                    local.put(s, cx.round(share.get(s)));
                    share.remove(s);
                });
            }
            if (p != null && cx.microBatches > 1) {
                // a parameter's gradient is reduced and redistributed once per step: its sum over the micro-batches
                Slot sum = Slot.inputGradientSum(node.name(), i);
                if (!lastMicroBatch) {
                    pr.compute("accumulate " + local, s -> sum.add(s, local.get(s)));
                    return;
                }
                pr.compute("add " + sum, s -> {
                    NDArray g = local.get(s).copy();
                    NDArray earlier = sum.remove(s);
                    if (earlier != null) {
                        double[] a = g.data();
                        double[] b = earlier.data();
                        for (int k = 0; k < a.length; k++) {
                            a[k] += b[k];
                        }
                    }
                    local.put(s, g);
                });
            }
            Layout from = op.inputLayouts().get(i);
            Layout to = p != null ? p.layout() : cx.plan.layouts().get(t);
            Slot back = Slot.returnedGradient(node.name(), i);
            Communication scatter = redistributionScatter(exec, i);
            if (scatter != null) {
                // the partial gradient, reduce-scattered straight into the producer's layout
                pr.collective("ReduceScatter(sum) " + local, scatter.groups(), members -> {
                    double[] sum = local.get(members.get(0)).data().clone();
                    long[] shape = local.get(members.get(0)).shape();
                    for (int m = 1; m < members.size(); m++) {
                        double[] d = local.get(members.get(m)).data();
                        if (d.length != sum.length) {
                            throw new IllegalStateException("ReduceScatter of " + local + ": rank "
                                    + members.get(m).rank() + " holds " + d.length + " elements, rank "
                                    + members.get(0).rank() + " " + sum.length);
                        }
                        for (int k = 0; k < sum.length; k++) {
                            sum[k] += d[k];
                        }
                    }
                    NDArray reduced0 = NDArray.of(shape, sum);
                    for (RankState m : members) {
                        back.put(m, ExecutionContext.region(reduced0, from.sliceBox(cx.local(m)),
                                to.sliceBox(cx.local(m))));
                    }
                });
                pr.compute("accumulate " + back, s -> grad.add(s, back.get(s)));
                return;
            }
            // a parameter's partial whose reduction the planner merged with its other consumers' (no reduction of
            // its own here) returns still partial and joins their pending sum, reduced once
            boolean deferred = reduced && p != null && !ownReduction(exec, i);
            if (reduced && !deferred) {
                ReduceOp r = p != null && cx.plan.config().gradientsMean() ? ReduceOp.MEAN : ReduceOp.SUM;
                pr.collective("AllReduce " + local, partial, Collectives.allReduce(local.key(), local.key(), r));
            }
            RedistributionPlan transpose = exec.input(i).backward();
            if (transpose == null) {
                throw new IllegalStateException("operator '" + node.name() + "' input " + i + " ('" + t + "') is "
                        + "redistributed in forward but its plan carries no transposed redistribution for its "
                        + "gradient; expected the planner to record the backward plan of every returned gradient");
            }
            cx.move(pr, local, from, to, transpose, back, "gradient of " + t);
            if (deferred) {
                Slot pend = Slot.pending(t, partial);
                pr.compute("pending " + back, s -> pend.add(s, back.get(s)));
            } else {
                pr.compute("accumulate " + back, s -> grad.add(s, back.get(s)));
            }
        } else if (reduced) {
            Slot pend = Slot.pending(t, partial);
            pr.compute("pending " + local, s -> pend.add(s, local.get(s)));
        } else {
            // complete, or a layerwise_parallel parameter's local gradient (not reduced by design)
            pr.compute("accumulate " + local, s -> grad.add(s, local.get(s)));
        }
    }

    /** Whether the operator lists a gradient reduction of input {@code input} (else it is merged elsewhere). */
    private static boolean ownReduction(OpExecution exec, int input) {
        for (Communication c : exec.backward()) {
            if (c.origin() == Communication.Origin.GRADIENT && c.kind() == CollectiveKind.ALL_REDUCE
                    && c.input() == input) {
                return true;
            }
        }
        return false;
    }

    /** The backward ReduceScatter returning the gradient of input {@code input}, which the operator lists, or null. */
    private static Communication redistributionScatter(OpExecution exec, int input) {
        for (Communication c : exec.backward()) {
            if (c.origin() == Communication.Origin.REDISTRIBUTION && c.kind() == CollectiveKind.REDUCE_SCATTER
                    && c.input() == input) {
                return c;
            }
        }
        return null;
    }
}
