package io.tessera.simulator.numeric;

import io.tessera.layout.Box;
import io.tessera.layout.Layout;
import io.tessera.planner.graph.Node;
import io.tessera.planner.op.FlashAttention;
import io.tessera.planner.op.OpComm;
import io.tessera.planner.plan.OpPlan;
import io.tessera.simulator.array.NDArray;
import io.tessera.simulator.cluster.CollectiveFn;
import io.tessera.simulator.cluster.RankState;
import io.tessera.simulator.kernel.FlashAttentionKernel;
import io.tessera.simulator.kernel.KernelContext;

import java.util.ArrayList;
import java.util.List;

/**
 * Context-parallel attention in the ring form ({@link FlashAttention.ContextForm#RING}): q, k and v are split alike
 * along the sequence over the {@code cp} ranks of the context dimension, and the key/value blocks travel the ring.
 * Forward: each rank computes its query block against the block in hand ({@link FlashAttentionKernel#forward} with
 * the block's global box, so the causal mask and the dropout mask use the block's global keys), merges it into its
 * running output by the log-sum-exp ({@link FlashAttentionKernel#merge}), and passes the block to the next rank of the
 * ring (a collective permute, {@code cp - 1} steps). Backward: the key/value blocks travel the ring again with their
 * gradient accumulators; each rank adds its query block's contribution to the block in hand
 * ({@link FlashAttentionKernel#backward} with the global output and log-sum-exp), keeps the query gradient, and after
 * {@code cp - 1} steps one more step returns each key/value gradient block to its owner.
 */
final class RingAttention {

    private final ExecutionContext cx;
    private final Node node;
    private final OpPlan op;
    private final FlashAttention fa;
    /** The ring groups (local ranks in ring order) and, per local rank, its group and position. */
    private final List<List<Integer>> groups;
    private final int[] groupOf;
    private final int[] posOf;
    private final int cp;

    private RingAttention(ExecutionContext cx, Node node, OpPlan op) {
        this.cx = cx;
        this.node = node;
        this.op = op;
        this.fa = (FlashAttention) node.op();
        Layout k = op.inputLayouts().get(1);
        this.groups = OpComm.groupsAlong(k.devMatrix(), k.tensorMap().entry(2).axes());
        this.groupOf = new int[cx.n];
        this.posOf = new int[cx.n];
        for (int g = 0; g < groups.size(); g++) {
            for (int i = 0; i < groups.get(g).size(); i++) {
                groupOf[groups.get(g).get(i)] = g;
                posOf[groups.get(g).get(i)] = i;
            }
        }
        this.cp = groups.get(0).size();
    }

    /** The ring of {@code op} when it is a FlashAttention in the ring form, else null. */
    static RingAttention of(ExecutionContext cx, Node node, OpPlan op) {
        if (!(node.op() instanceof FlashAttention)
                || FlashAttention.contextForm(op.inputLayouts()) != FlashAttention.ContextForm.RING) {
            return null;
        }
        return new RingAttention(cx, node, op);
    }

    private Slot ring(String part) {
        return Slot.ring(node.name(), part);
    }

    /** The kernel context of rank {@code s} holding, at ring step {@code step}, the block of position pos - step. */
    private KernelContext blockContext(RankState s, int step) {
        int r = cx.local(s);
        List<Integer> g = groups.get(groupOf[r]);
        int owner = g.get(Math.floorMod(posOf[r] - step, cp));
        KernelContext ctx = cx.context(op, r, cx.seed(op.name()));
        List<Box> boxes = new ArrayList<>(ctx.inputBoxes());
        boxes.set(1, op.inputLayouts().get(1).sliceBox(owner));
        boxes.set(2, op.inputLayouts().get(2).sliceBox(owner));
        return ctx.withInputBoxes(boxes);
    }

    /** One ring step: every member's slots {@code parts} move to the next member of the ring. */
    private CollectiveFn pass(List<Slot> parts) {
        return members -> {
            int n = members.size();
            List<List<NDArray>> sent = new ArrayList<>();
            for (RankState m : members) {
                List<NDArray> mine = new ArrayList<>();
                for (Slot part : parts) {
                    mine.add(part.get(m));
                }
                sent.add(mine);
            }
            for (int i = 0; i < n; i++) {
                List<NDArray> got = sent.get(Math.floorMod(i - 1, n));
                for (int k = 0; k < parts.size(); k++) {
                    parts.get(k).put(members.get(i), got.get(k).copy());
                }
            }
        };
    }

    /** Emits the forward: {@code cp} block computes merged by the log-sum-exp, {@code cp - 1} ring steps. */
    void forward(RankPrograms p) {
        String name = node.name();
        Slot q = Slot.input(name, 0);
        Slot k = Slot.input(name, 1);
        Slot v = Slot.input(name, 2);
        Slot kb = ring("k");
        Slot vb = ring("v");
        Slot out = ring("out");
        Slot lse = ring("lse");
        for (int step = 0; step < cp; step++) {
            final int j = step;
            if (j > 0) {
                p.collective("CollectivePermute (ring step " + j + ") k, v of " + name, groups, pass(List.of(kb, vb)));
            }
            p.compute(name + " ring block " + j, s -> {
                if (j == 0) {
                    kb.put(s, k.get(s));
                    vb.put(s, v.get(s));
                }
                List<NDArray> r = FlashAttentionKernel.forward(fa, blockContext(s, j),
                        List.of(q.get(s), kb.get(s), vb.get(s)));
                if (j == 0) {
                    out.put(s, r.get(0));
                    lse.put(s, r.get(1));
                } else {
                    FlashAttentionKernel.merge(out.get(s), lse.get(s), r.get(0), r.get(1));
                }
            });
        }
        Slot y = Slot.activation(node.outputs().get(0));
        Slot stat = Slot.activation(node.outputs().get(1));
        p.compute(name, s -> {
            y.put(s, cx.round(out.remove(s)));
            stat.put(s, cx.round(lse.remove(s)));
            kb.remove(s);
            vb.remove(s);
        });
    }

    /**
     * Emits the backward: the key/value blocks and their gradient sums pass around the ring ({@code cp - 1} steps),
     * then each gradient block returns to its owner (one more step); the gradients of the inputs in {@code needs}
     * are stored for the router.
     */
    void backward(RankPrograms p, boolean[] needs) {
        String name = node.name();
        Slot q = Slot.input(name, 0);
        Slot k = Slot.input(name, 1);
        Slot v = Slot.input(name, 2);
        Slot y = Slot.activation(node.outputs().get(0));
        Slot stat = Slot.activation(node.outputs().get(1));
        Slot dy = Slot.gradient(node.outputs().get(0));
        Slot kb = ring("k");
        Slot vb = ring("v");
        Slot dq = ring("dq");
        Slot dkb = ring("dk");
        Slot dvb = ring("dv");
        boolean[] all = {true, true, true};
        for (int step = 0; step < cp; step++) {
            final int j = step;
            if (j > 0) {
                p.collective("CollectivePermute (ring step " + j + ") k, v, dk, dv of " + name, groups,
                        pass(List.of(kb, vb, dkb, dvb)));
            }
            p.compute(name + " backward ring block " + j, s -> {
                if (j == 0) {
                    kb.put(s, k.get(s));
                    vb.put(s, v.get(s));
                    dq.put(s, NDArray.zeros(q.get(s).shape()));
                    dkb.put(s, NDArray.zeros(k.get(s).shape()));
                    dvb.put(s, NDArray.zeros(v.get(s).shape()));
                }
                NDArray g = dy.getOrNull(s);
                if (g == null) {
                    return;
                }
                List<NDArray> grads = FlashAttentionKernel.backward(fa, blockContext(s, j),
                        List.of(q.get(s), kb.get(s), vb.get(s)), List.of(y.get(s), stat.get(s)),
                        java.util.Arrays.asList(g, null), all);
                dq.add(s, grads.get(0));
                dkb.add(s, grads.get(1));
                dvb.add(s, grads.get(2));
            });
        }
        if (cp > 1) {
            // after cp - 1 steps position i holds the block of position i + 1: one more step returns it
            p.collective("CollectivePermute (ring return) dk, dv of " + name, groups, pass(List.of(dkb, dvb)));
        }
        p.compute(name + " backward", s -> {
            NDArray[] grads = {dq.remove(s), dkb.remove(s), dvb.remove(s)};
            kb.remove(s);
            vb.remove(s);
            for (int i = 0; i < 3; i++) {
                if (needs[i]) {
                    Slot.inputGradient(name, i).put(s, cx.round(grads[i]));
                }
            }
        });
    }
}
