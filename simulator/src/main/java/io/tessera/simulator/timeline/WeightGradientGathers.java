package io.tessera.simulator.timeline;

import io.tessera.layout.comm.CollectiveKind;
import io.tessera.layout.comm.Phase;
import io.tessera.planner.graph.Network;
import io.tessera.planner.graph.Node;
import io.tessera.planner.op.MatMul;
import io.tessera.planner.plan.Communication;
import io.tessera.planner.plan.Interruption;
import io.tessera.planner.plan.OpPlan;
import io.tessera.planner.plan.Plan;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The AllGathers a backward runs again for weight gradients, as Megatron-LM's sequence parallelism does: a matrix
 * product whose activation input arrives through a forward AllGather (a sequence-sharded input gathered for a
 * column-parallel weight) keeps that input sharded for its backward ({@link io.tessera.planner.cost.ActivationMemory}
 * counts it so), so its weight gradient needs it gathered again. Megatron launches that AllGather before the
 * data-gradient product and waits for it before the weight-gradient product, so it hides behind the data-gradient
 * products of the input's consumers (half of their backward compute); only what outlasts them is exposed.
 *
 * <p>Each such forward AllGather is re-run once, before the backward of the input's last consumer in forward order
 * (the first whose backward runs), for every product that reads the gathered input with a parameter as its other
 * operand. Nothing is re-gathered for inputs that arrive replicated or sharded without an AllGather.
 */
final class WeightGradientGathers {

    /** Per operator index, the forward communications to run again before its backward, in plan order. */
    private final Map<Integer, List<Integer>> before = new HashMap<>();
    /** Per operator index, the backward seconds of the consumers the re-gathers there may hide behind. */
    private final Map<Integer, List<Integer>> consumers = new HashMap<>();

    private WeightGradientGathers() {
    }

    /** The re-gathers of {@code plan}: forward AllGathers of products' activation inputs with parameter weights. */
    static WeightGradientGathers of(Plan plan) {
        WeightGradientGathers w = new WeightGradientGathers();
        Network net = plan.network();
        List<OpPlan> ops = plan.ops();
        Map<String, Integer> index = new HashMap<>();
        for (int k = 0; k < ops.size(); k++) {
            index.put(ops.get(k).name(), k);
        }
        List<Communication> comms = plan.comms();
        for (int i = 0; i < comms.size(); i++) {
            Interruption.check("the timeline");
            Communication c = comms.get(i);
            if (c.phase() != Phase.FORWARD || c.kind() != CollectiveKind.ALL_GATHER
                    || c.origin() != Communication.Origin.REDISTRIBUTION || c.input() < 0 || c.operator() == null
                    || c.to() == null || !index.containsKey(c.operator())) {
                continue;
            }
            // only consumers of the gathered tensor can read it: those at or after its operator, in plan order
            List<Integer> readers = new ArrayList<>();
            if (net.hasTensor(c.tensor())) {
                int from = index.get(c.operator());
                for (Node n : net.consumers(c.tensor())) {
                    Integer k = index.get(n.name());
                    if (k != null && k >= from && readsForWeightGradient(net, ops.get(k), c)) {
                        readers.add(k);
                    }
                }
                readers.sort(null);
            }
            if (readers.isEmpty()) {
                continue;
            }
            int last = readers.get(readers.size() - 1);
            w.before.computeIfAbsent(last, k -> new ArrayList<>()).add(i);
            w.consumers.computeIfAbsent(last, k -> new ArrayList<>()).addAll(readers);
        }
        return w;
    }

    /** Whether {@code op} is a product reading {@code c}'s gathered tensor, with a parameter as its other operand. */
    private static boolean readsForWeightGradient(Network net, OpPlan op, Communication c) {
        Node node = net.node(op.name());
        if (!(node.op() instanceof MatMul) || node.inputs().size() < 2) {
            return false;
        }
        for (int i = 0; i < 2; i++) {
            if (node.input(i).equals(c.tensor()) && op.inputLayouts().get(i).equals(c.to())
                    && net.isParameter(node.input(1 - i))) {
                return true;
            }
        }
        return false;
    }

    /** The forward communications (plan indices) to run again before operator {@code k}'s backward. */
    List<Integer> before(int k) {
        return before.getOrDefault(k, List.of());
    }

    /**
     * The compute the re-gathers before operator {@code k}'s backward hide behind: half the backward seconds (the
     * data-gradient product) of each product reading their inputs, from {@code backwardSeconds} per operator.
     */
    double hidingSeconds(int k, double[] backwardSeconds) {
        double s = 0;
        for (int j : consumers.getOrDefault(k, List.of())) {
            s += backwardSeconds[j] / 2;
        }
        return s;
    }

    /** Bytes all ranks receive in the re-gathers, the {@code backward AllGather} volume they add. */
    long totalRecvBytes(Plan plan) {
        long sum = 0;
        for (List<Integer> l : before.values()) {
            for (int i : l) {
                sum += plan.comms().get(i).totalRecvBytes();
            }
        }
        return sum;
    }
}
