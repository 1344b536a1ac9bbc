package io.tessera.simulator.explain;

import io.tessera.layout.Layout;
import io.tessera.planner.api.ParallelismExpansion;
import io.tessera.planner.graph.Network;
import io.tessera.planner.graph.Node;
import io.tessera.planner.op.OpComm;
import io.tessera.planner.op.OpSharding;
import io.tessera.planner.op.Strategy;
import io.tessera.planner.op.TensorType;
import io.tessera.planner.plan.Communication;
import io.tessera.planner.plan.OpPlan;
import io.tessera.planner.plan.PipelinePlan;
import io.tessera.planner.plan.Plan;
import io.tessera.planner.search.StrategyCandidates;
import io.tessera.planner.strategy.ParallelSettings;
import io.tessera.planner.strategy.StrategyFile;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The changes {@link Explainer} tries for one communication, ordered by a cheap estimate: the strategies of the
 * operator it serves, the in_strategy (and out_strategy where the operator takes one) of the producer of its tensor,
 * the strategies of a parameter's consumers, and for optimizer-parallel communications the parameter's
 * {@code parallel_optimizer} and the shard size.
 *
 * <p>Estimate: a change predicted to remove the communication comes first (the operator's own sharding no longer
 * has a collective of the kind and phase; the consumer's input layout equals the producer's layout or the other way
 * round; a parameter kept whole), then the changes closest to the current strategy (fewest tuple entries changed).
 */
final class Candidates {

    /** At most this many strategies of one operator are considered (the closest to its current strategy). */
    static final int MAX_PER_OPERATOR = 512;

    private static final int PREDICTED = 0;
    private static final int UNPREDICTED = 1_000_000;

    private Candidates() {
    }

    /** One change and its estimate (lower first). */
    record Candidate(Change change, long estimate) {
    }

    /** The candidate changes for communication {@code c} of {@code pipe}, best estimate first, each once. */
    static List<Change> of(StrategyFile file, PipelinePlan pipe, Communication c) {
        Plan plan = pipe.plan();
        Network net = plan.network();
        int devices = pipe.stageDevices();
        List<Candidate> out = new ArrayList<>();
        Set<String> ops = new LinkedHashSet<>();
        if (c.operator() != null && net.hasNode(c.operator())) {
            ops.add(c.operator());
        }
        Node producer = net.hasTensor(c.tensor()) ? net.producer(c.tensor()) : null;
        if (producer != null) {
            ops.add(producer.name());
        }
        if (c.parameter() != null && net.hasTensor(c.parameter())) {
            net.consumers(c.parameter()).forEach(n -> ops.add(n.name()));
        }
        // operator changes are tried alongside a parallelism section first (Explainer retries a refused one on the
        // expanded file)
        for (String op : ops) {
            OpPlan own = plan.op(op);
            if (own == null) {
                continue;
            }
            Node node = net.node(op);
            List<TensorType> types = node.inputs().stream().map(net::tensor).toList();
            List<Strategy> valid;
            try {
                valid = StrategyCandidates.valid(op, node.op(), types, devices);
            } catch (IllegalArgumentException e) {
                continue;
            }
            List<Candidate> mine = new ArrayList<>();
            for (Strategy s : valid) {
                if (s.equals(own.inStrategy()) && own.outStrategy() == null) {
                    continue;
                }
                OpSharding sh;
                try {
                    sh = node.op().shard(op, types, s, null, devices);
                } catch (IllegalArgumentException e) {
                    continue;
                }
                boolean predicted = predicts(plan, net, c, node, types, sh, producer);
                mine.add(new Candidate(new Change.OperatorStrategy(op, s, null, false),
                        (predicted ? PREDICTED : UNPREDICTED) + distance(own.inStrategy(), s)));
            }
            mine.sort(Comparator.comparingLong(Candidate::estimate));
            out.addAll(mine.subList(0, Math.min(MAX_PER_OPERATOR, mine.size())));
            if (producer != null && op.equals(producer.name()) && node.outputs().size() == 1) {
                out.addAll(outStrategies(plan, net, c, node, types, own, devices));
            }
        }
        if (c.parameter() != null && c.origin() == Communication.Origin.PARALLEL_OPTIMIZER) {
            out.add(new Candidate(new Change.KeepParameterWhole(c.parameter()), PREDICTED));
            ParallelSettings effective = ParallelismExpansion.expand(file).parallel();
            int current = effective.parallelOptimizerConfig().optimizerWeightShardSize();
            boolean viaExpansion = file.parallelism().isPresent();
            for (int size = 1; size <= devices; size++) {
                if (devices % size == 0 && size != current) {
                    out.add(new Candidate(new Change.ShardSize(size, viaExpansion), UNPREDICTED + 1));
                }
            }
            if (current != -1) {
                out.add(new Candidate(new Change.ShardSize(-1, viaExpansion), UNPREDICTED + 1));
            }
        }
        // stable: equal estimates keep the order of generation (operator, producer, parameter)
        out.sort(Comparator.comparingLong(Candidate::estimate));
        Map<Change, Boolean> seen = new LinkedHashMap<>();
        for (Candidate k : out) {
            seen.putIfAbsent(k.change(), true);
        }
        return new ArrayList<>(seen.keySet());
    }

    /** Whether the sharding of {@code node} under a candidate strategy is predicted to remove {@code c}. */
    private static boolean predicts(Plan plan, Network net, Communication c, Node node, List<TensorType> types,
                                    OpSharding sh, Node producer) {
        switch (c.origin()) {
            case OPERATOR -> {
                if (!node.name().equals(c.operator())) {
                    return false;
                }
                for (OpComm k : sh.comms()) {
                    if (k.kind() == c.kind() && k.phase() == c.phase()) {
                        return false;
                    }
                }
                return true;
            }
            case REDISTRIBUTION -> {
                if (node.name().equals(c.operator()) && c.input() >= 0 && c.input() < types.size()) {
                    Layout held = plan.layouts().get(node.inputs().get(c.input()));
                    return held != null && held.equals(sh.inputLayout(c.input(), types.get(c.input())));
                }
                if (producer != null && node.name().equals(producer.name()) && c.operator() != null
                        && c.input() >= 0) {
                    OpPlan consumer = plan.op(c.operator());
                    int k = node.outputs().indexOf(c.tensor());
                    if (consumer == null || k < 0 || c.input() >= consumer.inputLayouts().size()) {
                        return false;
                    }
                    return consumer.inputLayouts().get(c.input())
                            .equals(sh.outputLayout(k, net.tensor(c.tensor())));
                }
                return false;
            }
            case GRADIENT, PARALLEL_OPTIMIZER -> {
                return false;
            }
        }
        return false;
    }

    /** Tuple entries that differ between two strategies (every entry when their shapes differ). */
    static long distance(Strategy a, Strategy b) {
        if (a.size() != b.size()) {
            return 1000;
        }
        long d = 0;
        for (int i = 0; i < a.size(); i++) {
            int[] x = a.tuple(i);
            int[] y = b.tuple(i);
            if (x.length != y.length) {
                d += Math.max(x.length, y.length);
                continue;
            }
            for (int j = 0; j < x.length; j++) {
                d += x[j] == y[j] ? 0 : 1;
            }
        }
        return d;
    }

    /**
     * The producer's current in_strategy with every out_strategy it accepts (tuples of divisors of the devices that
     * divide the output's dimensions), except the one it has.
     */
    private static List<Candidate> outStrategies(Plan plan, Network net, Communication c, Node node,
                                                 List<TensorType> types, OpPlan own, int devices) {
        TensorType t = net.tensor(node.outputs().get(0));
        List<int[]> tuples = new ArrayList<>();
        tuples(t, devices, 0, new int[t.rank()], 1, tuples);
        List<Candidate> out = new ArrayList<>();
        for (int[] tuple : tuples) {
            Strategy s = Strategy.of(tuple);
            if (s.equals(own.outStrategy())) {
                continue;
            }
            OpSharding sh;
            try {
                sh = node.op().shard(node.name(), types, own.inStrategy(), s, devices);
            } catch (IllegalArgumentException e) {
                continue;
            }
            boolean predicted = false;
            if (c.origin() == Communication.Origin.REDISTRIBUTION && c.operator() != null && c.input() >= 0) {
                OpPlan consumer = plan.op(c.operator());
                predicted = consumer != null && c.input() < consumer.inputLayouts().size()
                        && consumer.inputLayouts().get(c.input()).equals(sh.outputLayout(0, t));
            }
            out.add(new Candidate(new Change.OperatorStrategy(node.name(), own.inStrategy(), s, false),
                    predicted ? PREDICTED : UNPREDICTED));
        }
        return out;
    }

    private static void tuples(TensorType t, int devices, int dim, int[] cur, int product, List<int[]> out) {
        if (dim == cur.length) {
            out.add(cur.clone());
            return;
        }
        for (int d = 1; d <= devices / product; d++) {
            if (devices / product % d != 0 || t.dim(dim) % d != 0) {
                continue;
            }
            cur[dim] = d;
            tuples(t, devices, dim + 1, cur, product * d, out);
        }
    }
}
