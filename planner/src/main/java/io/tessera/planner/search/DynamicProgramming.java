package io.tessera.planner.search;

import io.tessera.planner.plan.PlanConfig;
import io.tessera.planner.search.FusionPricing.Pricing;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;

/**
 * {@link io.tessera.planner.strategy.SearchMode#DYNAMIC_PROGRAMMING} (and {@code RECURSIVE_PROGRAMMING}, which runs
 * the same search; see {@link Search}): dynamic programming over the operators in topological order, the state being
 * the strategy of the previous operator, with the strategies of producers still to be consumed later carried along
 * each state's best path; refined with exact redistributions, re-priced for fusion buckets and repeated with a memory
 * price until a plan fits. Single-threaded apart from the parallel phases of the parts it uses.
 */
final class DynamicProgramming implements StrategySearch {

    /** The most rounds of the memory price. */
    private static final int MEMORY_ROUNDS = 24;

    private final SearchSetup setup;
    private final PlanConfig template;
    private final int devices;
    private final Signatures sig;
    private final FusionPricing fusion;
    private final RedistributionCosts redistributions;
    private final PlanEvaluation plans;
    private final int n;
    private final List<Signatures.Options> sigs;
    private final int[] sigOf;
    private final int[][] producer;
    /** Per node: the nodes whose outputs are read after it, ascending ({@link #liveAfter}). */
    private final int[][] live;

    /** The dynamic programming over the candidates of {@code parts}. */
    DynamicProgramming(SearchParts parts) {
        this.setup = parts.setup();
        this.template = setup.template();
        this.devices = setup.devices();
        this.sig = parts.signatures();
        this.fusion = parts.fusion();
        this.redistributions = parts.redistributions();
        this.plans = parts.plans();
        this.n = sig.count();
        this.sigs = sig.signatures();
        this.sigOf = sig.sigOf();
        this.producer = sig.producer();
        this.live = liveAfter(n, producer);
    }

    /** {@inheritDoc} */
    @Override
    public String activity() {
        return "dynamic programming";
    }

    /**
     * Evaluates the best ends of each round (and, up to {@link Search#BASELINE_DEVICES} devices, the semi-auto
     * default), doubling a memory price per byte until one of the round's plans fits ({@link #MEMORY_ROUNDS}).
     */
    @Override
    public Found search() {
        List<Candidate> evaluated = new ArrayList<>();
        List<String> notes = new ArrayList<>();
        double price = 0;
        double limit = setup.cluster().device().memoryBytes();
        for (int round = 0; round <= MEMORY_ROUNDS; round++) {
            io.tessera.planner.plan.Interruption.check("the strategy search");
            List<int[]> ends = solve(price);
            List<PlanConfig> configs = new ArrayList<>();
            List<String> labels = new ArrayList<>();
            for (int e = 0; e < ends.size(); e++) {
                configs.add(plans.config(ends.get(e)));
                labels.add("dynamic programming #" + (e + 1) + (price > 0 ? String.format(Locale.ROOT,
                        " (memory price %.3g s/GiB)", price * (1L << 30)) : ""));
            }
            if (round == 0 && devices <= Search.BASELINE_DEVICES) {
                configs.add(template);
                labels.add(BASELINE_LABEL);
            }
            redistributions.planRedistributions(ends);
            List<Candidate> round1 = plans.evaluateAll(configs, labels);
            evaluated.addAll(round1);
            round1 = round1.subList(0, ends.size());
            if (round1.stream().anyMatch(Candidate::fits)) {
                break;
            }
            double seconds = round1.stream().mapToDouble(Candidate::seconds).min().orElse(1);
            price = price == 0 ? seconds / limit : price * 2;
            notes.add("the dynamic programming's best plans need " + Explanation.gib(round1.get(0).memoryBytes())
                    + " but a device holds " + Explanation.gib((long) limit)
                    + "; searching again with a memory price");
            setup.progress().phase("search: " + notes.get(notes.size() - 1));
        }
        return new Found(evaluated, notes);
    }

    /**
     * The assignments to evaluate at memory price {@code price}: the dynamic programming's ends after the refinement
     * of estimated edges, first with no bucket latency charged to fused gradient reductions, then with the previous
     * round's best plan's buckets priced ({@link FusionPricing#pricing}, {@link Search#FUSION_ROUNDS}, until a best
     * plan repeats); of all rounds' distinct ends the {@link Search#EVALUATED_ENDS} of least {@link #estimateOf}.
     */
    private List<int[]> solve(double price) {
        Pricing pricing = fusion.optimistic();
        List<int[]> pool = new ArrayList<>(refined(price, pricing));
        int[] last = pool.get(0);
        for (int round = 1; round <= Search.FUSION_ROUNDS && fusion.keys() > 0; round++) {
            pricing = fusion.pricing(sig, last);
            List<int[]> again = refined(price, pricing);
            boolean repeated = contains(pool, again.get(0));
            for (int[] e : again) {
                if (!contains(pool, e)) {
                    pool.add(e);
                }
            }
            if (repeated) {
                break;
            }
            last = again.get(0);
        }
        double[] estimate = new double[pool.size()];
        Integer[] order = new Integer[pool.size()];
        for (int k = 0; k < order.length; k++) {
            io.tessera.planner.plan.Interruption.check("the strategy search");
            estimate[k] = estimateOf(pool.get(k), price);
            order[k] = k;
        }
        Arrays.sort(order, (x, y) -> Double.compare(estimate[x], estimate[y]));
        List<int[]> out = new ArrayList<>();
        for (int k = 0; k < Math.min(Search.EVALUATED_ENDS, order.length); k++) {
            out.add(pool.get(order[k]));
        }
        return out;
    }

    private static boolean contains(List<int[]> list, int[] choice) {
        for (int[] x : list) {
            if (Arrays.equals(x, choice)) {
                return true;
            }
        }
        return false;
    }

    /**
     * The search's estimate of an assignment's objective plus {@code price} per byte of memory: operators' own
     * seconds, edge seconds, and fused gradient reductions priced by the assignment's own buckets
     * ({@link FusionPricing#pricing}).
     */
    double estimateOf(int[] choice, double price) {
        Pricing pricing = fusion.pricing(sig, choice);
        double total = 0;
        for (int i = 0; i < n; i++) {
            Signatures.Options o = sigs.get(sigOf[i]);
            int c = choice[i];
            total += o.unary()[c] + price * o.memory()[c];
            for (int k = 0; k < o.buckets()[c].length; k++) {
                int b = o.buckets()[c][k];
                total += pricing.extra(b, o.bucketBytes()[c][k], o.bucketMarginal()[c][k], fusion.latency(b));
            }
            for (int j = 0; j < producer[i].length; j++) {
                if (producer[i][j] >= 0) {
                    total += redistributions.edge(i, j)[choice[producer[i][j]]][c];
                }
            }
        }
        return total;
    }

    /**
     * The dynamic programming's ends, repeated while the best end uses estimated edges ({@link Search#REFINEMENTS}).
     */
    private List<int[]> refined(double price, Pricing pricing) {
        List<int[]> ends = dynamicProgramming(price, pricing);
        for (int refine = 0; refine < Search.REFINEMENTS && devices > Search.EXACT_REDISTRIBUTION_DEVICES;
             refine++) {
            if (!redistributions.exactify(ends.get(0))) {
                break;
            }
            setup.progress().phase("search: refining with " + redistributions.refinedCount()
                    + " exact redistributions");
            ends = dynamicProgramming(price, pricing);
        }
        return ends;
    }

    /** Nodes whose outputs are read after node {@code i}, ascending. */
    private static int[][] liveAfter(int n, int[][] producer) {
        int[] lastUse = new int[n];
        Arrays.fill(lastUse, -1);
        for (int i = 0; i < n; i++) {
            for (int p : producer[i]) {
                if (p >= 0) {
                    lastUse[p] = Math.max(lastUse[p], i);
                }
            }
        }
        int[][] live = new int[n][];
        for (int i = 0; i < n; i++) {
            List<Integer> l = new ArrayList<>();
            for (int p = 0; p <= i; p++) {
                if (lastUse[p] > i) {
                    l.add(p);
                }
            }
            live[i] = l.stream().mapToInt(Integer::intValue).toArray();
        }
        return live;
    }

    /**
     * Dynamic programming (see {@link Search}) with {@code price} seconds per byte of memory added to each
     * option's own cost, and its fused gradient reductions priced by {@code pricing}; returns up to
     * {@link Search#EVALUATED_ENDS} complete assignments, best end state first.
     */
    private List<int[]> dynamicProgramming(double price, Pricing pricing) {
        setup.progress().phase("search: dynamic programming over " + n + " operators");
        double[][] unary = new double[sigs.size()][];
        for (int s = 0; s < unary.length; s++) {
            Signatures.Options o = sigs.get(s);
            unary[s] = new double[o.strategies().size()];
            for (int c = 0; c < unary[s].length; c++) {
                unary[s][c] = fusion.priced(o, c, price, pricing);
            }
        }
        double[][] best = new double[n][];
        int[][] arg = new int[n][];
        int[][][] liveChoice = new int[n][][];
        int step = Math.max(1, n / 100);
        for (int i = 0; i < n; i++) {
            Signatures.Options o = sigs.get(sigOf[i]);
            int m = o.strategies().size();
            best[i] = new double[m];
            arg[i] = new int[m];
            liveChoice[i] = new int[m][];
            int k = producer[i].length;
            double[][][] edges = new double[k][][];
            int[] prevPos = new int[k];
            for (int j = 0; j < k; j++) {
                if (producer[i][j] >= 0) {
                    edges[j] = redistributions.edge(i, j);
                    prevPos[j] = producer[i][j] == i - 1 ? -1 : Arrays.binarySearch(live[i - 1], producer[i][j]);
                }
            }
            if (i == 0) {
                Arrays.fill(arg[i], -1);
            } else {
                Arrays.fill(best[i], Double.POSITIVE_INFINITY);
                double[] prev = best[i - 1];
                double[] cur = best[i];
                int[] ar = arg[i];
                double[][] rows = new double[k][];
                for (int a = 0; a < prev.length; a++) {
                    double base = prev[a];
                    // the edge rows of this previous state, in input order (the sums keep that order)
                    int r = 0;
                    for (int j = 0; j < k; j++) {
                        if (edges[j] != null) {
                            rows[r++] = edges[j][prevPos[j] < 0 ? a : liveChoice[i - 1][a][prevPos[j]]];
                        }
                    }
                    if (r == 1) {
                        double[] r0 = rows[0];
                        for (int c = 0; c < m; c++) {
                            double v = base + r0[c];
                            if (v < cur[c]) {
                                cur[c] = v;
                                ar[c] = a;
                            }
                        }
                    } else if (r == 2) {
                        double[] r0 = rows[0];
                        double[] r1 = rows[1];
                        for (int c = 0; c < m; c++) {
                            double v = base + r0[c] + r1[c];
                            if (v < cur[c]) {
                                cur[c] = v;
                                ar[c] = a;
                            }
                        }
                    } else {
                        for (int c = 0; c < m; c++) {
                            double v = base;
                            for (int t = 0; t < r; t++) {
                                v += rows[t][c];
                            }
                            if (v < cur[c]) {
                                cur[c] = v;
                                ar[c] = a;
                            }
                        }
                    }
                }
            }
            for (int c = 0; c < m; c++) {
                best[i][c] += unary[sigOf[i]][c];
                int[] lc = new int[live[i].length];
                for (int q = 0; q < lc.length; q++) {
                    int node = live[i][q];
                    lc[q] = node == i ? c : liveChoice[i - 1][arg[i][c]][Arrays.binarySearch(live[i - 1], node)];
                }
                liveChoice[i][c] = lc;
            }
            if (i > 0) {
                liveChoice[i - 1] = null;
            }
            if ((i + 1) % step == 0 || i == n - 1) {
                setup.progress().advance(i + 1, n);
            }
        }
        Integer[] ends = new Integer[best[n - 1].length];
        for (int c = 0; c < ends.length; c++) {
            ends[c] = c;
        }
        Arrays.sort(ends, (x, y) -> Double.compare(best[n - 1][x], best[n - 1][y]));
        List<int[]> out = new ArrayList<>();
        for (int e = 0; e < Math.min(Search.EVALUATED_ENDS, ends.length); e++) {
            int[] choice = new int[n];
            choice[n - 1] = ends[e];
            for (int i = n - 1; i > 0; i--) {
                choice[i - 1] = arg[i][choice[i]];
            }
            out.add(choice);
        }
        return out;
    }
}
