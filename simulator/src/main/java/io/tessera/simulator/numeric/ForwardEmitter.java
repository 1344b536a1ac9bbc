package io.tessera.simulator.numeric;

import io.tessera.layout.Box;
import io.tessera.layout.comm.CollectiveKind;
import io.tessera.layout.redistribution.Block;
import io.tessera.layout.redistribution.ReduceOp;
import io.tessera.planner.graph.Node;
import io.tessera.planner.op.BatchNorm;
import io.tessera.planner.op.Operator;
import io.tessera.planner.plan.Communication;
import io.tessera.planner.plan.OpExecution;
import io.tessera.planner.plan.OpPlan;
import io.tessera.planner.plan.ParamPlan;
import io.tessera.simulator.array.NDArray;
import io.tessera.simulator.cluster.Collectives;
import io.tessera.simulator.cluster.RankState;
import io.tessera.simulator.kernel.BatchNormKernel;
import io.tessera.simulator.kernel.Kernels;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * Emits one micro-batch's forward: per operator in plan order, its inputs brought to the layouts it needs (reusing an
 * earlier consumer's copy, gathering an optimizer-parallel parameter, running the input's redistribution plan), its
 * kernel (a partly carried Reshape with its AllGather, a BatchNorm with its statistics AllReduce), its own forward
 * reductions, and the sends of the tensors later stages use.
 */
final class ForwardEmitter {

    private final ExecutionContext cx;
    private final ParameterCollectives params;
    private final PipelineRouting routing;

    ForwardEmitter(ExecutionContext cx, ParameterCollectives params, PipelineRouting routing) {
        this.cx = cx;
        this.params = params;
        this.routing = routing;
    }

    /** Emits the forward of every operator. */
    void emit(RankPrograms p) {
        Set<String> recomputed = new HashSet<>();
        for (OpPlan op : cx.plan.ops()) {
            Node node = cx.net.node(op.name());
            OpExecution exec = ExecutionContext.exec(op);
            p.stage(cx.pipe.stageOf(op.name()));
            for (int i = 0; i < node.inputs().size(); i++) {
                String t = node.inputs().get(i);
                Slot slot = Slot.input(node.name(), i);
                OpPlan.Reuse reuse = op.reuse(i);
                if (reuse != null) {
                    // an earlier consumer already redistributed the tensor to this layout: read its copy
                    Slot owner = Slot.input(reuse.owner(), reuse.ownerInput());
                    p.compute("reuse " + owner + " as " + slot, s -> slot.put(s, owner.get(s)));
                    continue;
                }
                OpExecution.Input route = exec.input(i);
                if (cx.net.isParameter(t)) {
                    ParamPlan pp = cx.plan.param(t);
                    Slot src = Slot.param(t);
                    if (pp.shard().sharded()) {
                        if (node.name().equals(pp.consumer())) {
                            params.gather(p, shardGather(op, exec, t));
                        }
                        src = Slot.gathered(t);
                        if (pp.recompute()) {
                            recomputed.add(t);
                        }
                    }
                    cx.move(p, src, pp.layout(), op.inputLayouts().get(i), route.forward(), slot,
                            node.name() + " input " + i);
                } else {
                    cx.move(p, Slot.activation(t), cx.plan.layouts().get(t), op.inputLayouts().get(i),
                            route.forward(), slot, node.name() + " input " + i);
                }
            }
            kernel(p, node, op, exec);
            for (Communication c : exec.forward()) {
                if (c.origin() == Communication.Origin.OPERATOR && !(node.op() instanceof BatchNorm)) {
                    String out = Slot.activation(c.tensor()).key();
                    if (c.kind() == CollectiveKind.ALL_REDUCE) {
                        p.collective(c.kind() + "(" + c.reduce().jsonName() + ") " + c.tensor(), c.groups(),
                                Collectives.allReduce(out, out, c.reduce()));
                    } else if (c.kind() == CollectiveKind.REDUCE_SCATTER) {
                        int dim = ExecutionContext.multiDim(op.outputLayouts().get(0).tensorMap());
                        p.collective("ReduceScatter " + c.tensor(), c.groups(),
                                Collectives.reduceScatter(out, out, dim, c.reduce()));
                    }
                }
            }
            // tensors used by later stages: each producer rank sends its slice to its peer of the consumer stage
            routing.emitSends(p, node.name());
        }
        // recomputed weights are not kept from forward to backward: they are gathered again
        for (String t : recomputed) {
            p.stage(cx.pipe.paramStage(t));
            Slot g = Slot.gathered(t);
            p.compute("free " + t, s -> g.remove(s));
        }
    }

    /** The forward AllGather of sharded parameter {@code param}, which its first consumer {@code op} lists. */
    private static Communication shardGather(OpPlan op, OpExecution exec, String param) {
        for (Communication c : exec.forward()) {
            if (c.origin() == Communication.Origin.PARALLEL_OPTIMIZER && c.kind() == CollectiveKind.ALL_GATHER
                    && param.equals(c.parameter())) {
                return c;
            }
        }
        throw new IllegalStateException("operator '" + op.name() + "' is the first consumer of sharded parameter '"
                + param + "' but lists no forward AllGather of it; expected the planner's optimizer-parallel "
                + "AllGather in its execution record");
    }

    /** The forward AllGather of a Reshape whose input splits only partly carry through the new shape, or null. */
    static Communication reshapeGather(OpExecution exec) {
        for (Communication c : exec.forward()) {
            if (c.origin() == Communication.Origin.OPERATOR && c.kind() == CollectiveKind.ALL_GATHER) {
                return c;
            }
        }
        return null;
    }

    /** The first forward communication of the operator itself (a BatchNorm's statistics AllReduce), or null. */
    static Communication operatorForward(OpExecution exec) {
        for (Communication c : exec.forward()) {
            if (c.origin() == Communication.Origin.OPERATOR) {
                return c;
            }
        }
        return null;
    }

    private void kernel(RankPrograms p, Node node, OpPlan op, OpExecution exec) {
        RingAttention ring = RingAttention.of(cx, node, op);
        if (ring != null) {
            ring.forward(p); // context-parallel attention, ring form: the key/value blocks travel the ring
            return;
        }
        Operator o = node.op();
        int inputs = node.inputs().size();
        Slot in0 = Slot.input(node.name(), 0);
        Communication gather = reshapeGather(exec);
        if (gather != null) {
            // gather the group's input slices into their union, which maps exactly to the output slice
            Slot all = Slot.reshapeGathered(node.name());
            p.collective("AllGather (reshape) " + node.name(), gather.groups(), members -> {
                List<Block> blocks = new ArrayList<>();
                for (RankState m : members) {
                    blocks.add(in0.get(m).toBlock(op.inputLayouts().get(0).sliceBox(cx.local(m))));
                }
                for (RankState m : members) {
                    all.put(m, NDArray.of(Block.assemble(ExecutionContext.union(gather, op, cx.local(m)), blocks)));
                }
            });
            Slot y = Slot.activation(node.outputs().get(0));
            p.compute(node.name(), s -> {
                Box outBox = op.outputLayouts().get(0).sliceBox(cx.local(s));
                y.put(s, all.get(s).copy().reshape(outBox.shape()));
            });
            return;
        }
        Communication stats = operatorForward(exec);
        if (o instanceof BatchNorm bn && stats != null) {
            Slot slot = Slot.batchStats(node.name());
            p.compute("stats " + node.name(), s -> slot.put(s, BatchNormKernel.statistics(in0.get(s))));
            p.collective("AllReduce(sum) statistics " + node.name(), stats.groups(),
                    Collectives.allReduce(slot.key(), slot.key(), ReduceOp.SUM));
            Slot in1 = Slot.input(node.name(), 1);
            Slot in2 = Slot.input(node.name(), 2);
            Slot y = Slot.activation(node.outputs().get(0));
            p.compute(node.name(), s -> y.put(s, cx.round(BatchNormKernel.normalize(bn, in0.get(s), in1.get(s),
                    in2.get(s), slot.get(s)))));
            return;
        }
        List<Slot> ins = new ArrayList<>();
        for (int i = 0; i < inputs; i++) {
            ins.add(Slot.input(node.name(), i));
        }
        List<Slot> outs = node.outputs().stream().map(Slot::activation).toList();
        long seed = cx.seed(op.name());
        p.compute(node.name(), s -> {
            List<NDArray> in = new ArrayList<>();
            for (Slot slot : ins) {
                in.add(slot.get(s));
            }
            List<NDArray> out = Kernels.forward(o, cx.context(op, cx.local(s), seed), in);
            for (int k = 0; k < out.size(); k++) {
                outs.get(k).put(s, cx.round(out.get(k)));
            }
        });
    }
}
