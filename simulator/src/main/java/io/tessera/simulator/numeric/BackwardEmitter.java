package io.tessera.simulator.numeric;

import io.tessera.layout.Box;
import io.tessera.layout.Layout;
import io.tessera.layout.comm.CollectiveKind;
import io.tessera.layout.redistribution.ReduceOp;
import io.tessera.planner.graph.Node;
import io.tessera.planner.op.BatchNorm;
import io.tessera.planner.op.Operator;
import io.tessera.planner.plan.Communication;
import io.tessera.planner.plan.OpExecution;
import io.tessera.planner.plan.OpPlan;
import io.tessera.layout.param.Parameter;
import io.tessera.simulator.array.NDArray;
import io.tessera.simulator.cluster.Collectives;
import io.tessera.simulator.cluster.RankState;
import io.tessera.simulator.kernel.BatchNormKernel;
import io.tessera.simulator.kernel.KernelContext;
import io.tessera.simulator.kernel.Kernels;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Emits one micro-batch's backward: the loss gradient's seed, then per operator in reverse plan order its gathers
 * (recomputed weights, the gradient of a reduce-scattered output), its backward kernel, the routing of its input
 * gradients ({@link GradientRouter}) and its reductions (parameter gradient reductions only in the step's last
 * micro-batch, fused by bucket), and the gradients returned to earlier pipeline stages.
 */
final class BackwardEmitter {

    private final ExecutionContext cx;
    private final ParameterCollectives params;
    private final PipelineRouting routing;
    private final GradientRouter router;

    BackwardEmitter(ExecutionContext cx, ParameterCollectives params, PipelineRouting routing) {
        this.cx = cx;
        this.params = params;
        this.routing = routing;
        this.router = new GradientRouter(cx);
    }

    /** Emits the backward of every operator; {@code lastMicroBatch}: whether parameter reductions run now. */
    void emit(RankPrograms p, boolean lastMicroBatch) {
        p.stage(routing.lossStage());
        // d(mean of the micro-batch losses) / d(this micro-batch's loss)
        double seed = 1.0 / cx.microBatches;
        Slot loss = Slot.activation(cx.net.loss());
        Slot grad = Slot.gradient(cx.net.loss());
        p.compute("seed", s -> grad.put(s, cx.round(NDArray.full(seed, loss.get(s).shape()))));
        List<OpPlan> ops = cx.plan.ops();
        for (int k = ops.size() - 1; k >= 0; k--) {
            OpPlan op = ops.get(k);
            p.stage(cx.pipe.stageOf(op.name()));
            backward(p, op, lastMicroBatch);
            // gradients of tensors received from earlier stages return to their producers, added to their sums
            routing.emitReturns(p, k);
        }
    }

    /** The backward of one operator: its kernels, the routing of its input gradients and its reductions. */
    private void backward(RankPrograms p, OpPlan op, boolean lastMicroBatch) {
        Node node = cx.net.node(op.name());
        OpExecution exec = ExecutionContext.exec(op);
        boolean[] needs = new boolean[node.inputs().size()];
        boolean any = false;
        for (int i = 0; i < needs.length; i++) {
            String t = node.inputs().get(i);
            Parameter param = cx.net.parameter(t);
            needs[i] = cx.bg.gradientOf(t) != null && (param == null || param.requiresGrad());
            any |= needs[i];
        }
        if (!any) {
            return;
        }
        List<Communication> segment = exec.backward();
        // gathers first: recomputed weights and the gradient of a reduce-scattered output
        for (Communication c : segment) {
            if (c.kind() == CollectiveKind.ALL_GATHER && c.origin() == Communication.Origin.PARALLEL_OPTIMIZER) {
                params.gather(p, c);
            } else if (c.kind() == CollectiveKind.ALL_GATHER && c.origin() == Communication.Origin.OPERATOR) {
                int dim = ExecutionContext.multiDim(op.outputLayouts().get(0).tensorMap());
                String g = Slot.gradient(node.outputs().get(0)).key();
                p.collective("AllGather " + c.tensor(), c.groups(), Collectives.allGather(g,
                        Slot.gatheredOutputGradient(node.name()).key(), dim));
            }
        }
        kernel(p, node, op, exec, needs);
        // inputs reusing a redistribution hand their gradient to its owner: first, in case the owner is an
        // earlier input of this same operator
        for (int pass = 0; pass < 2; pass++) {
            for (int i = 0; i < needs.length; i++) {
                if (needs[i] && (op.reuse(i) != null) == (pass == 0)) {
                    router.contribute(p, node, op, i, lastMicroBatch);
                }
            }
        }
        for (Communication c : segment) {
            boolean batchNormStats = node.op() instanceof BatchNorm && c.input() == 0
                    && c.origin() == Communication.Origin.OPERATOR;
            // mirror AllReduces of optimizer shards run right after their ReduceScatter (see ParameterCollectives)
            // (a redistribution's ReduceScatter runs in the gradient router, with the gradient it reduces; so does
            // the reduction of a redistributed input's partial gradient)
            boolean reduction = (c.kind() == CollectiveKind.ALL_REDUCE && (c.origin() == Communication.Origin.OPERATOR
                    || c.origin() == Communication.Origin.GRADIENT) && !(c.input() >= 0
                    && ExecutionContext.redistributed(op, c.input())) && !batchNormStats)
                    || (c.kind() == CollectiveKind.REDUCE_SCATTER && c.origin() != Communication.Origin.REDISTRIBUTION);
            if (!reduction) {
                continue;
            }
            // parameters' gradient reductions run once per step, on the sums over the micro-batches
            if (c.origin() != Communication.Origin.OPERATOR && !lastMicroBatch) {
                continue;
            }
            params.reduce(p, c);
        }
    }

    private void kernel(RankPrograms p, Node node, OpPlan op, OpExecution exec, boolean[] needs) {
        RingAttention ring = RingAttention.of(cx, node, op);
        if (ring != null) {
            ring.backward(p, needs); // context-parallel attention, ring form
            return;
        }
        Operator o = node.op();
        int inputs = node.inputs().size();
        Slot dy = Slot.gradient(node.outputs().get(0));
        Slot in0 = Slot.input(node.name(), 0);
        Communication gather = ForwardEmitter.reshapeGather(exec);
        if (gather != null) {
            // the output gradient is whole on every member: each takes its own input slice of it
            Slot dx = Slot.inputGradient(node.name(), 0);
            p.compute(node.name() + " backward", s -> {
                Box all = ExecutionContext.union(gather, op, cx.local(s));
                NDArray g = dy.get(s).copy().reshape(all.shape());
                dx.put(s, ExecutionContext.region(g, all, op.inputLayouts().get(0).sliceBox(cx.local(s))));
            });
            return;
        }
        Communication bnComm = null;
        for (Communication c : exec.backward()) {
            if (c.origin() == Communication.Origin.OPERATOR && o instanceof BatchNorm && c.input() == 0) {
                bnComm = c;
            }
        }
        if (o instanceof BatchNorm bn && ForwardEmitter.operatorForward(exec) != null) {
            Slot stats = Slot.batchStats(node.name());
            Slot gstats = Slot.batchGradStats(node.name());
            Slot in1 = Slot.input(node.name(), 1);
            p.compute("grad stats " + node.name(), s -> gstats.put(s, BatchNormKernel.gradStatistics(in0.get(s),
                    dy.get(s), stats.get(s))));
            if (bnComm != null) {
                p.collective("AllReduce(sum) grad statistics " + node.name(), bnComm.groups(),
                        Collectives.allReduce(gstats.key(), gstats.key(), ReduceOp.SUM));
            }
            p.compute(node.name() + " backward", s -> {
                List<NDArray> g = BatchNormKernel.backwardApply(bn, in0.get(s), dy.get(s), in1.get(s), stats.get(s),
                        gstats.get(s), needs);
                storeGrads(s, node, g);
            });
            return;
        }
        // the adjoint of a forward AllReduce(mean) over g ranks scales the output's gradient by 1/g
        Map<Integer, Integer> meanGroups = new HashMap<>();
        for (Communication c : exec.forward()) {
            if (c.origin() == Communication.Origin.OPERATOR && c.reduce() == ReduceOp.MEAN) {
                meanGroups.put(node.outputs().indexOf(c.tensor()), c.groups().get(0).size());
            }
        }
        boolean gatheredGrad = exec.backward().stream().anyMatch(c -> c.origin() == Communication.Origin.OPERATOR
                && c.kind() == CollectiveKind.ALL_GATHER);
        List<Slot> ins = new ArrayList<>();
        for (int i = 0; i < inputs; i++) {
            ins.add(inputOf(node, op, i));
        }
        List<Slot> outs = node.outputs().stream().map(Slot::activation).toList();
        List<Slot> dys = node.outputs().stream().map(Slot::gradient).toList();
        Slot gathered = Slot.gatheredOutputGradient(node.name());
        long seed = cx.seed(op.name());
        p.compute(node.name() + " backward", s -> {
            List<NDArray> in = new ArrayList<>();
            for (Slot slot : ins) {
                in.add(slot.get(s));
            }
            List<NDArray> out = new ArrayList<>();
            List<NDArray> grads = new ArrayList<>();
            for (int k = 0; k < outs.size(); k++) {
                out.add(outs.get(k).get(s));
                NDArray g = gatheredGrad && k == 0 ? gathered.getOrNull(s) : dys.get(k).getOrNull(s);
                if (g != null && meanGroups.containsKey(k)) {
                    g = g.copy();
                    double f = 1.0 / meanGroups.get(k);
                    double[] d = g.data();
                    for (int i = 0; i < d.length; i++) {
                        d[i] *= f;
                    }
                }
                grads.add(g);
            }
            KernelContext ctx = cx.context(op, cx.local(s), seed);
            if (gatheredGrad) {
                // the output was reduce-scattered: its gathered gradient covers the pre-scatter region
                List<Box> outBoxes = new ArrayList<>(ctx.outputBoxes());
                outBoxes.set(0, gatheredBox(op, cx.local(s)));
                ctx = new KernelContext(ctx.inputBoxes(), outBoxes, ctx.dtype(), ctx.seed(), ctx.inputShapes());
            }
            storeGrads(s, node, Kernels.backward(node.op(), ctx, in, out, grads, needs));
        });
    }

    /** The slot the backward kernel reads input {@code i} from: a sharded parameter's gathered slice, else the input. */
    private Slot inputOf(Node node, OpPlan op, int i) {
        String t = node.inputs().get(i);
        if (cx.net.isParameter(t) && cx.plan.param(t).shard().sharded() && !ExecutionContext.redistributed(op, i)) {
            return Slot.gathered(t);
        }
        return Slot.input(node.name(), i);
    }

    private void storeGrads(RankState s, Node node, List<NDArray> grads) {
        for (int i = 0; i < grads.size(); i++) {
            if (grads.get(i) != null) {
                Slot.inputGradient(node.name(), i).put(s, cx.round(grads.get(i)));
            }
        }
    }

    private static Box gatheredBox(OpPlan op, int rank) {
        Layout out = op.outputLayouts().get(0);
        int dim = ExecutionContext.multiDim(out.tensorMap());
        Box b = out.sliceBox(rank);
        long[] start = b.start();
        long[] end = b.end();
        int[] axes = out.tensorMap().entry(dim).axes();
        int inner = out.devMatrix().dim(out.deviceDimOf(axes[axes.length - 1]));
        long len = end[dim] - start[dim];
        long base = start[dim] - (start[dim] / len % inner) * len;
        start[dim] = base;
        end[dim] = base + len * inner;
        return Box.of(start, end);
    }
}
