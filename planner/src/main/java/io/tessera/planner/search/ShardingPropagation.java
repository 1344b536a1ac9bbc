package io.tessera.planner.search;

import io.tessera.planner.graph.Node;
import io.tessera.planner.plan.PlanConfig;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * {@link io.tessera.planner.strategy.SearchMode#SHARDING_PROPAGATION}: annotated operators keep their strategies; the
 * others, in topological order and then in reverse, take the candidate with the least redistribution seconds from and
 * to already-decided neighbours, ties broken by the operator's own seconds. The propagated plan and the semi-auto
 * default are evaluated exactly.
 */
final class ShardingPropagation implements StrategySearch {

    private final PlanConfig template;
    private final Signatures sig;
    private final RedistributionCosts redistributions;
    private final PlanEvaluation plans;
    private final List<Node> nodes;
    private final int n;
    private final int[][] producer;

    /** Propagates over the candidates of {@code parts}. */
    ShardingPropagation(SearchParts parts) {
        this.template = parts.setup().template();
        this.sig = parts.signatures();
        this.redistributions = parts.redistributions();
        this.plans = parts.plans();
        this.nodes = sig.nodes();
        this.n = sig.count();
        this.producer = sig.producer();
    }

    /** {@inheritDoc} */
    @Override
    public String activity() {
        return "propagating";
    }

    /** Evaluates the propagated plan and the semi-auto default. */
    @Override
    public Found search() {
        return new Found(plans.evaluateAll(List.of(plans.config(propagate()), template),
                List.of("sharding propagation", BASELINE_LABEL)), List.of());
    }

    /** Sharding propagation (see {@link Search}): an option index per node. */
    int[] propagate() {
        int[] choice = new int[n];
        Arrays.fill(choice, -1);
        List<List<int[]>> consumers = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            consumers.add(new ArrayList<>());
        }
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < producer[i].length; j++) {
                if (producer[i][j] >= 0) {
                    consumers.get(producer[i][j]).add(new int[] {i, j});
                }
            }
        }
        boolean[] fixed = new boolean[n];
        for (int i = 0; i < n; i++) {
            if (template.inStrategies().containsKey(nodes.get(i).name())) {
                fixed[i] = true;
                choice[i] = 0;
            }
        }
        for (int pass = 0; pass < 2; pass++) {
            for (int s = 0; s < n; s++) {
                int i = pass == 0 ? s : n - 1 - s;
                if (fixed[i]) {
                    continue;
                }
                Signatures.Options o = sig.options(i);
                int bestC = 0;
                double bestRedist = Double.POSITIVE_INFINITY;
                double bestOwn = Double.POSITIVE_INFINITY;
                for (int c = 0; c < o.strategies().size(); c++) {
                    double r = 0;
                    for (int j = 0; j < producer[i].length; j++) {
                        int p = producer[i][j];
                        if (p >= 0 && choice[p] >= 0) {
                            r += redistributions.edge(i, j, false)[choice[p]][c];
                        }
                    }
                    for (int[] e : consumers.get(i)) {
                        if (choice[e[0]] >= 0) {
                            r += redistributions.edge(e[0], e[1], false)[c][choice[e[0]]];
                        }
                    }
                    if (r < bestRedist || (r == bestRedist && o.unary()[c] < bestOwn)) {
                        bestC = c;
                        bestRedist = r;
                        bestOwn = o.unary()[c];
                    }
                }
                choice[i] = bestC;
            }
        }
        return choice;
    }
}
