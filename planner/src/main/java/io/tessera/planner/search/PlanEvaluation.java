package io.tessera.planner.search;

import io.tessera.planner.cost.ClusterSpec;
import io.tessera.planner.cost.CostModel;
import io.tessera.planner.graph.Network;
import io.tessera.planner.graph.Node;
import io.tessera.planner.op.Strategy;
import io.tessera.planner.plan.Bucket;
import io.tessera.planner.plan.Communication;
import io.tessera.planner.plan.OpPlan;
import io.tessera.planner.plan.Plan;
import io.tessera.planner.plan.PlanConfig;
import io.tessera.planner.plan.Planner;
import io.tessera.planner.plan.RedistributionCache;
import io.tessera.planner.strategy.DatasetStrategy;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Complete plans of the search: the configuration of an assignment of candidates, and the exact objective of
 * configurations ({@link Search#evaluate}), evaluated in parallel with the redistribution plans the search shares.
 */
final class PlanEvaluation {

    private final SearchSetup setup;
    private final Network net;
    private final PlanConfig template;
    private final int devices;
    private final Signatures sig;
    private final List<Node> nodes;
    private final int n;
    private final int[][] producer;
    /** Exact redistribution plans shared by the refinement and the evaluation of complete plans. */
    private final RedistributionCache shared;

    /** Evaluates assignments of {@code sig}'s candidates, planning redistributions through {@code shared}. */
    PlanEvaluation(SearchSetup setup, Signatures sig, RedistributionCache shared) {
        this.setup = setup;
        this.net = setup.net();
        this.template = setup.template();
        this.devices = setup.devices();
        this.sig = sig;
        this.nodes = sig.nodes();
        this.n = sig.count();
        this.producer = sig.producer();
        this.shared = shared;
    }

    /**
     * The exact objective of {@code config} (see {@link Search#evaluate}), planning redistributions through
     * {@code redistributions} (null: the planner's own).
     */
    static Candidate evaluate(Network net, PlanConfig config, ClusterSpec cluster, String label,
                              RedistributionCache redistributions) {
        CostModel cm = SearchSetup.objective(cluster);
        Plan plan = Planner.plan(net, config, redistributions);
        double compute = 0;
        for (OpPlan op : plan.ops()) {
            compute += cm.computeSeconds(net, op, false) + cm.computeSeconds(net, op, true);
        }
        double comm = 0;
        List<Communication> comms = plan.comms();
        boolean[] bucketed = new boolean[comms.size()];
        for (Bucket b : plan.buckets()) {
            double worst = 0;
            for (List<Integer> g : b.groups()) {
                worst = Math.max(worst, cm.collectiveSeconds(b.kind(), g, b.bytes()));
            }
            comm += worst;
            for (int i : b.comms()) {
                bucketed[i] = true;
            }
        }
        for (int i = 0; i < comms.size(); i++) {
            if (!bucketed[i]) {
                comm += cm.communicationSeconds(comms.get(i));
            }
        }
        long memory = plan.memory(0).total() + cm.activationBytes(net, plan, 0);
        return new Candidate(label, config, compute + comm, compute, comm, memory,
                memory <= cluster.device().memoryBytes());
    }

    /** Evaluates configurations in parallel (planning dominates on many devices), in order. */
    List<Candidate> evaluateAll(List<PlanConfig> configs, List<String> labels) {
        setup.progress().phase("search: evaluating " + configs.size() + " plans");
        AtomicInteger finished = new AtomicInteger();
        setup.progress().advance(0, configs.size());
        return Parallel.map(configs.size(), k -> {
            Candidate c = evaluate(net, configs.get(k), setup.cluster(), labels.get(k), shared);
            setup.progress().advance(finished.incrementAndGet(), configs.size());
            return c;
        });
    }

    /** {@code config} with every operator's in_strategy (and out_strategy) made explicit as its plan has them. */
    PlanConfig explicit(PlanConfig config) {
        PlanConfig.Builder b = PlanConfig.builder(devices)
                .gradientsMean(config.gradientsMean())
                .commFusion(config.commFusion())
                .optimizer(config.optimizer())
                .dataset(config.dataset());
        if (config.parallelOptimizer()) {
            b.parallelOptimizer(config.optimizerConfig());
        }
        for (OpPlan op : Planner.plan(net, config).ops()) {
            b.strategy(op.name(), op.inStrategy());
            if (op.outStrategy() != null) {
                b.outStrategy(op.name(), op.outStrategy());
            }
        }
        return b.build();
    }

    /** The configuration that plans a complete assignment (option index per node). */
    PlanConfig config(int[] choice) {
        PlanConfig.Builder b = PlanConfig.builder(devices)
                .gradientsMean(template.gradientsMean())
                .commFusion(template.commFusion())
                .optimizer(template.optimizer());
        if (template.parallelOptimizer()) {
            b.parallelOptimizer(template.optimizerConfig());
        }
        Map<String, int[]> inputTuples = new HashMap<>();
        for (int i = 0; i < n; i++) {
            Node node = nodes.get(i);
            Strategy s = sig.options(i).strategies().get(choice[i]);
            b.strategy(node.name(), s);
            Strategy o = template.outStrategies().get(node.name());
            if (o != null) {
                b.outStrategy(node.name(), o);
            }
            for (int j = 0; j < node.inputs().size(); j++) {
                if (producer[i][j] < 0 && !net.isParameter(node.input(j))) {
                    inputTuples.putIfAbsent(node.input(j), s.tuple(j));
                }
            }
        }
        List<int[]> tuples = new ArrayList<>();
        for (String in : net.inputs()) {
            int[] t = inputTuples.get(in);
            if (t == null) {
                t = new int[net.tensor(in).rank()];
                Arrays.fill(t, 1);
            }
            tuples.add(t);
        }
        if (!tuples.isEmpty()) {
            b.dataset(new DatasetStrategy.Explicit(new Strategy(tuples)));
        }
        return b.build();
    }
}
