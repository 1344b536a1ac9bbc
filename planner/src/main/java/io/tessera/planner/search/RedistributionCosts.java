package io.tessera.planner.search;

import io.tessera.layout.DType;
import io.tessera.layout.Layout;
import io.tessera.layout.comm.CollectiveKind;
import io.tessera.layout.comm.Phase;
import io.tessera.layout.redistribution.RedistributionPlan;
import io.tessera.layout.redistribution.Step;
import io.tessera.planner.cost.CostModel;
import io.tessera.planner.graph.BackwardGraph;
import io.tessera.planner.graph.Network;
import io.tessera.planner.graph.Node;
import io.tessera.planner.plan.Communication;
import io.tessera.planner.plan.Planner;
import io.tessera.planner.plan.RedistributionCache;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The seconds of redistributing tensors between operators' candidate layouts (see {@link Search}): exact plans
 * (through the planner's {@link RedistributionCache}, shared with the evaluation of complete plans) up to
 * {@link Search#EXACT_REDISTRIBUTION_DEVICES} devices, {@link Distributions#estimate estimates} above, replaced by
 * exact plans on the edges the best plans use ({@link #exactify}); the edge tables of producer and consumer candidates
 * with the planner's ReduceScatter of a partial gradient ({@link #scatters}). Not thread-safe apart from the caches
 * the parallel phases fill: the dynamic programming reads the edge tables on one thread.
 */
final class RedistributionCosts {

    private final SearchSetup setup;
    private final Network net;
    private final BackwardGraph bg;
    private final CostModel cost;
    private final int devices;
    private final List<Node> nodes;
    private final int n;
    private final List<Signatures.Options> sigs;
    private final int[] sigOf;
    private final int[][] producer;
    private final int[][] producerOut;
    private final List<Layout> layouts;
    /** Exact redistribution plans shared by the refinement and the evaluation of complete plans. */
    private final RedistributionCache shared;
    /** Redistribution seconds by layout ids (exact plans, up to {@link Search#EXACT_REDISTRIBUTION_DEVICES}). */
    private final Map<RKey, Double> redistCache = new ConcurrentHashMap<>();
    /** Redistribution estimates by canonical distribution ids (above {@link Search#EXACT_REDISTRIBUTION_DEVICES}). */
    private final Map<RKey, Double> estimateCache = new ConcurrentHashMap<>();
    /** Redistribution seconds from exact plans by canonical ids, replacing estimates on the edges a best plan uses. */
    private final Map<RKey, Double> exactCache = new ConcurrentHashMap<>();
    /** Canonical keys whose exact plan would move over {@link Search#EXACT_TRANSFERS} pieces: they keep estimates. */
    private final Set<RKey> keptEstimates = new HashSet<>();
    /** Edge seconds by edge key, made from {@link #tables} and cleared when a refinement changes values. */
    private final Map<EKey, double[][]> edgeCache = new HashMap<>();
    /** Edge tables by edge key: which redistribution value each cell takes, made once. */
    private final Map<EKey, EdgeTable> tables = new HashMap<>();
    /** Ids of the redistribution values the edge tables use: by canonical key (layout ids up to 8 devices). */
    private final Map<RKey, Integer> valueIds = new HashMap<>();
    /** The current {@link #redistribution} seconds by value id; a refinement replaces estimates by exact values. */
    private double[] values = new double[0];
    private final Map<ScatterKey, Boolean> scatterCache = new ConcurrentHashMap<>();
    /** {@link #scatterSeconds} by producer layout id, dtype and (shared) group list. */
    private final Map<ScatterCostKey, Double> scatterSecondsCache = new HashMap<>();
    /** Per layout id: its slice's bytes in float32 ({@link #scatters} compares them for every table cell). */
    private final long[] sliceBytes32;
    /** The layouts' distributions above {@link Search#EXACT_REDISTRIBUTION_DEVICES} devices ({@link #precompute}). */
    private Distributions dist;

    /**
     * A redistribution by layout or canonical ids. The hash mixes the ids: the record's default ({@code 31 * from +
     * to}) collides for tens of the canonical pairs the dynamic programming looks up millions of times.
     */
    private record RKey(int from, int to, DType dtype, boolean grad) {
        @Override
        public int hashCode() {
            long h = (from * 0x9E3779B97F4A7C15L) ^ (to * 0xC2B2AE3D27D4EB4FL) ^ ((long) dtype.ordinal() << 1)
                    ^ (grad ? 1 : 0);
            h ^= h >>> 29;
            h *= 0xBF58476D1CE4E5B9L;
            return (int) (h ^ (h >>> 32));
        }
    }

    private record EKey(int sigP, int out, int sigC, int in, boolean grad, boolean scatter) {
    }

    /**
     * An edge's cells [producer option][consumer option] as redistribution value ids (-1: no redistribution), and
     * for the cells whose backward is one ReduceScatter (per row null when none; NaN elsewhere) the ReduceScatter's
     * seconds added and the consumer's partial-gradient seconds subtracted, in that order.
     */
    private record EdgeTable(int[][] ids, double[][] plus, double[][] minus) {

        /** The edge seconds under the current {@code values}. */
        double[][] seconds(double[] values) {
            double[][] m = new double[ids.length][];
            for (int a = 0; a < m.length; a++) {
                int[] row = ids[a];
                double[] out = new double[row.length];
                for (int c = 0; c < row.length; c++) {
                    double r = row[c] < 0 ? 0 : values[row[c]];
                    out[c] = plus[a] != null && !Double.isNaN(plus[a][c]) ? r + plus[a][c] - minus[a][c] : r;
                }
                m[a] = out;
            }
            return m;
        }
    }

    private record ScatterKey(int consumer, int producer, List<List<Integer>> groups) {
        @Override
        public boolean equals(Object o) {
            return o instanceof ScatterKey k && k.consumer == consumer && k.producer == producer && k.groups == groups;
        }

        @Override
        public int hashCode() {
            return 31 * (31 * consumer + producer) + System.identityHashCode(groups);
        }
    }

    private record ScatterCostKey(int producer, DType dtype, List<List<Integer>> groups) {
        @Override
        public boolean equals(Object o) {
            return o instanceof ScatterCostKey k && k.producer == producer && k.dtype == dtype && k.groups == groups;
        }

        @Override
        public int hashCode() {
            return 31 * (31 * producer + dtype.ordinal()) + System.identityHashCode(groups);
        }
    }

    /**
     * The redistribution costs between the candidates of {@code sig}, planning exactly through {@code shared}.
     */
    RedistributionCosts(SearchSetup setup, Signatures sig, RedistributionCache shared) {
        this.setup = setup;
        this.net = setup.net();
        this.bg = setup.bg();
        this.cost = setup.cost();
        this.devices = setup.devices();
        this.nodes = sig.nodes();
        this.n = sig.count();
        this.sigs = sig.signatures();
        this.sigOf = sig.sigOf();
        this.producer = sig.producer();
        this.producerOut = sig.producerOut();
        this.layouts = sig.layouts();
        this.shared = shared;
        this.sliceBytes32 = new long[layouts.size()];
        for (int id = 0; id < sliceBytes32.length; id++) {
            sliceBytes32[id] = layouts.get(id).sliceBytes(DType.FLOAT32);
        }
    }

    /** How many distinct distributions the layouts have (the layouts themselves before {@link #precompute}). */
    int distributions() {
        return dist == null ? layouts.size() : dist.count();
    }

    /** How many redistributions were costed: exact, estimated and refined. */
    int costed() {
        return redistCache.size() + estimateCache.size() + exactCache.size();
    }

    /** How many redistributions the refinement planned exactly. */
    int refinedCount() {
        return exactCache.size();
    }

    /** Seconds of redistributing a tensor from layout {@code from} to {@code to}, and back in backward if grad. */
    private double redistribution(int from, int to, DType dtype, boolean grad) {
        if (from == to) {
            return 0;
        }
        RKey key = new RKey(from, to, dtype, grad);
        if (devices > Search.EXACT_REDISTRIBUTION_DEVICES) {
            RKey canonical = canonicalKey(key);
            Double v = exactCache.get(canonical);
            if (v != null) {
                return v;
            }
            v = estimateCache.get(canonical);
            if (v == null) {
                v = estimated(canonical);
                estimateCache.put(canonical, v);
            }
            return v;
        }
        Double v = redistCache.get(key);
        if (v == null) {
            v = exact(key);
            redistCache.put(key, v);
        }
        return v;
    }

    /**
     * The estimate depends only on which rank holds which slice: its cache key is by distribution (canonical ids,
     * negative apart from layout ids).
     */
    private RKey canonicalKey(RKey key) {
        return new RKey(dist.canonical(key.from()), dist.canonical(key.to()), key.dtype(), key.grad());
    }

    /** The estimate of a canonical key: forward, plus the transpose in backward when grad. */
    private double estimated(RKey canonical) {
        if (canonical.from() == canonical.to()) {
            return 0;
        }
        int from = dist.representative(canonical.from());
        int to = dist.representative(canonical.to());
        double f = dist.estimate(from, to, canonical.dtype());
        return f + (canonical.grad() ? dist.estimate(to, from, canonical.dtype()) : 0);
    }

    /**
     * Seconds of the exact redistribution plans of a key, and the transpose in backward when grad: a layout-id key,
     * or a canonical one planned on its representatives (an exact plan, like the estimate, depends only on which rank
     * holds which slice: each rank receives from the replica of a source slice whose index, its rank order among the
     * slice's holders, equals its own).
     */
    private double exact(RKey key) {
        Layout from = layouts.get(key.from() < 0 ? dist.representative(key.from()) : key.from());
        Layout to = layouts.get(key.to() < 0 ? dist.representative(key.to()) : key.to());
        RedistributionPlan forward = shared.plan(from, to, key.dtype());
        double s = exchangeSeconds(forward);
        if (key.grad() && !forward.steps().isEmpty()) {
            s += exchangeSeconds(shared.plan(to, from, key.dtype()));
        }
        return s;
    }

    /**
     * {@link #exact} of a layout-id key through the {@link #shared} cache, where the evaluation of complete plans
     * finds the plans again.
     */
    private double exactShared(RKey key) {
        Layout from = layouts.get(key.from());
        Layout to = layouts.get(key.to());
        RedistributionPlan forward = shared.plan(from, to, key.dtype());
        double s = exchangeSeconds(forward);
        if (key.grad() && !forward.steps().isEmpty()) {
            s += exchangeSeconds(shared.plan(to, from, key.dtype()));
        }
        return s;
    }

    /**
     * Costs every redistribution an edge of the network can need (each pair of a producer's candidate output layout
     * and a consumer's candidate input layout) in parallel, so that the dynamic programming only looks them up:
     * above {@link Search#EXACT_REDISTRIBUTION_DEVICES} devices the estimates by distribution, else the exact plans.
     */
    void precompute() {
        if (devices > Search.EXACT_REDISTRIBUTION_DEVICES) {
            dist = new Distributions(setup, layouts);
        }
        LinkedHashSet<EKey> seen = new LinkedHashSet<>();
        LinkedHashSet<RKey> missing = new LinkedHashSet<>();
        for (int i = 0; i < n; i++) {
            io.tessera.planner.plan.Interruption.check("the strategy search");
            for (int j = 0; j < producer[i].length; j++) {
                int p = producer[i][j];
                if (p < 0) {
                    continue;
                }
                String t = nodes.get(i).input(j);
                boolean grad = bg.needsGradient(t);
                if (!seen.add(new EKey(sigOf[p], producerOut[i][j], sigOf[i], j, grad, true))) {
                    continue;
                }
                DType dtype = net.tensor(t).dtype();
                Signatures.Options po = sigs.get(sigOf[p]);
                Signatures.Options co = sigs.get(sigOf[i]);
                for (int a = 0; a < po.strategies().size(); a++) {
                    int from = po.out().get(a)[producerOut[i][j]];
                    for (int c = 0; c < co.strategies().size(); c++) {
                        int to = co.in().get(c)[j];
                        if (from == to) {
                            continue;
                        }
                        RKey key = new RKey(from, to, dtype, grad);
                        if (devices > Search.EXACT_REDISTRIBUTION_DEVICES) {
                            RKey canonical = canonicalKey(key);
                            if (!estimateCache.containsKey(canonical)) {
                                missing.add(canonical);
                            }
                        } else if (!redistCache.containsKey(key)) {
                            missing.add(key);
                        }
                    }
                }
            }
        }
        List<RKey> keys = new ArrayList<>(missing);
        boolean estimates = devices > Search.EXACT_REDISTRIBUTION_DEVICES;
        setup.progress().phase("search: costing " + keys.size() + (estimates ? " estimated" : " exact")
                + " redistributions");
        AtomicInteger finished = new AtomicInteger();
        int step = Math.max(1, keys.size() / 100);
        List<Double> values = Parallel.map(keys.size(), k -> {
            double v = estimates ? estimated(keys.get(k)) : exact(keys.get(k));
            int f = finished.incrementAndGet();
            if (f % step == 0 || f == keys.size()) {
                setup.progress().advance(f, keys.size());
            }
            return v;
        });
        for (int k = 0; k < keys.size(); k++) {
            (estimates ? estimateCache : redistCache).put(keys.get(k), values.get(k));
        }
    }

    /**
     * Plans exactly the redistributions of {@code choice}'s edges that were estimated (apart from those moving more
     * than {@link Search#EXACT_TRANSFERS} pieces, which keep their estimates); false when none was.
     */
    boolean exactify(int[] choice) {
        Map<RKey, RKey> missing = new LinkedHashMap<>();
        for (int i = 0; i < n; i++) {
            io.tessera.planner.plan.Interruption.check("the strategy search");
            Signatures.Options co = sigs.get(sigOf[i]);
            for (int j = 0; j < producer[i].length; j++) {
                int p = producer[i][j];
                if (p < 0) {
                    continue;
                }
                int from = sigs.get(sigOf[p]).out().get(choice[p])[producerOut[i][j]];
                int to = co.in().get(choice[i])[j];
                String t = nodes.get(i).input(j);
                RKey actual = new RKey(from, to, net.tensor(t).dtype(), bg.needsGradient(t));
                RKey key = canonicalKey(actual);
                if (key.from() != key.to() && !exactCache.containsKey(key) && !keptEstimates.contains(key)) {
                    missing.putIfAbsent(key, actual);
                }
            }
        }
        List<RKey> keys = new ArrayList<>();
        for (Map.Entry<RKey, RKey> e : missing.entrySet()) {
            RKey actual = e.getValue();
            if (dist.transfers(actual.from(), actual.to()) > Search.EXACT_TRANSFERS
                    || (actual.grad() && dist.transfers(actual.to(), actual.from()) > Search.EXACT_TRANSFERS)) {
                keptEstimates.add(e.getKey());
            } else {
                keys.add(e.getKey());
            }
        }
        if (keys.isEmpty()) {
            return false;
        }
        List<Double> values = Parallel.map(keys.size(), k -> exactShared(missing.get(keys.get(k))));
        for (int k = 0; k < keys.size(); k++) {
            exactCache.put(keys.get(k), values.get(k));
            // the edge tables' value of this canonical key is now the exact one (redistribution prefers it)
            Integer id = valueIds.get(keys.get(k));
            if (id != null) {
                this.values[id] = values.get(k);
            }
        }
        edgeCache.clear();
        return true;
    }

    /** Seconds of the exchange steps of {@code rp} as the planner records them. */
    private double exchangeSeconds(RedistributionPlan rp) {
        int b = rp.dtype().bytes();
        double s = 0;
        for (Step step : rp.steps()) {
            if (!(step instanceof Step.Exchange e)) {
                continue;
            }
            long[] recv = e.recvBytes(devices, b);
            s += cost.communicationSeconds(new Communication(e.kind(), Communication.Origin.REDISTRIBUTION,
                    Phase.FORWARD, "search", 0, "search", null, null, rp.from(), rp.to(), step.groups(), recv,
                    "search"));
        }
        return s;
    }

    /** Edge seconds [producer option][consumer option] for input {@code j} of node {@code i}. */
    double[][] edge(int i, int j) {
        return edge(i, j, true);
    }

    /**
     * Edge seconds from each producer candidate to each consumer candidate. With {@code scatter}, an edge whose
     * backward the planner runs as one ReduceScatter is charged that instead of its transposed redistribution, less
     * the consumer's partial-gradient AllReduce charged in its own seconds (the objective of the dynamic
     * programming); without, the redistribution alone (what sharding propagation minimises).
     */
    double[][] edge(int i, int j, boolean scatter) {
        int p = producer[i][j];
        String t = nodes.get(i).input(j);
        boolean grad = bg.needsGradient(t);
        EKey key = new EKey(sigOf[p], producerOut[i][j], sigOf[i], j, grad, scatter);
        double[][] m = edgeCache.get(key);
        if (m == null) {
            EdgeTable table = tables.get(key);
            if (table == null) {
                table = table(i, j, t, grad, scatter);
                tables.put(key, table);
            }
            m = table.seconds(values);
            edgeCache.put(key, m);
        }
        return m;
    }

    /**
     * {@link #edge(int, int, boolean)} computed cell by cell, without edge tables, value ids or the ReduceScatter
     * seconds cache: the oracle the tables are tested against.
     */
    double[][] edgeUncached(int i, int j, boolean scatter) {
        int p = producer[i][j];
        String t = nodes.get(i).input(j);
        boolean grad = bg.needsGradient(t);
        Signatures.Options po = sigs.get(sigOf[p]);
        Signatures.Options co = sigs.get(sigOf[i]);
        DType dtype = net.tensor(t).dtype();
        double[][] m = new double[po.strategies().size()][co.strategies().size()];
        boolean single = net.consumers(t).size() == 1;
        for (int a = 0; a < m.length; a++) {
            int from = po.out().get(a)[producerOut[i][j]];
            for (int c = 0; c < m[a].length; c++) {
                int to = co.in().get(c)[j];
                List<List<Integer>> partial = co.partial().get(c).get(j);
                if (scatter && grad && single && partial != null && from != to
                        && Planner.scatters(layouts.get(to), layouts.get(from), partial)) {
                    m[a][c] = redistribution(from, to, dtype, false) + scatterSeconds(layouts.get(from), dtype,
                            partial) - co.partialSeconds()[c][j];
                } else {
                    m[a][c] = redistribution(from, to, dtype, grad);
                }
            }
        }
        return m;
    }

    /**
     * The table of an edge (see {@link #edge(int, int, boolean)}) by redistribution value ids, costing each
     * redistribution it needs that is not costed yet.
     */
    private EdgeTable table(int i, int j, String t, boolean grad, boolean scatter) {
        int p = producer[i][j];
        Signatures.Options po = sigs.get(sigOf[p]);
        Signatures.Options co = sigs.get(sigOf[i]);
        DType dtype = net.tensor(t).dtype();
        int rows = po.strategies().size();
        int cols = co.strategies().size();
        int[][] ids = new int[rows][cols];
        double[][] plus = new double[rows][];
        double[][] minus = new double[rows][];
        // the only consumer of a tensor whose partial gradient goes back by one ReduceScatter (the planner fuses
        // the reduction and the transposed redistribution when the producer's slices tile the group's slice)
        boolean single = net.consumers(t).size() == 1;
        for (int a = 0; a < rows; a++) {
            int from = po.out().get(a)[producerOut[i][j]];
            for (int c = 0; c < cols; c++) {
                int to = co.in().get(c)[j];
                List<List<Integer>> partial = co.partial().get(c).get(j);
                if (scatter && grad && single && partial != null && from != to && scatters(to, from, partial)) {
                    ids[a][c] = valueId(from, to, dtype, false);
                    if (plus[a] == null) {
                        plus[a] = new double[cols];
                        minus[a] = new double[cols];
                        Arrays.fill(plus[a], Double.NaN);
                    }
                    plus[a][c] = scatterSeconds(from, dtype, partial);
                    minus[a][c] = co.partialSeconds()[c][j];
                } else {
                    ids[a][c] = valueId(from, to, dtype, grad);
                }
            }
        }
        return new EdgeTable(ids, plus, minus);
    }

    /**
     * The id of {@link #redistribution}'s value of a pair in {@link #values} (costed on first use, as
     * {@code redistribution} does), or -1 for identical layouts (0 seconds).
     */
    private int valueId(int from, int to, DType dtype, boolean grad) {
        if (from == to) {
            return -1;
        }
        RKey raw = new RKey(from, to, dtype, grad);
        RKey key = devices > Search.EXACT_REDISTRIBUTION_DEVICES ? canonicalKey(raw) : raw;
        Integer id = valueIds.get(key);
        if (id == null) {
            id = valueIds.size();
            valueIds.put(key, id);
            if (id == values.length) {
                values = Arrays.copyOf(values, Math.max(16, 2 * id));
            }
            values[id] = redistribution(from, to, dtype, grad);
        }
        return id;
    }

    /**
     * {@link Planner#scatters} of layout ids, cached by the (shared) group list: the producer's slice must be the
     * consumer's divided by the group size before the slices are compared.
     */
    private boolean scatters(int consumer, int producer, List<List<Integer>> groups) {
        if (sliceBytes32[producer] * groups.get(0).size() != sliceBytes32[consumer]) {
            return false;
        }
        return scatterCache.computeIfAbsent(new ScatterKey(consumer, producer, groups),
                k -> Planner.scatters(layouts.get(consumer), layouts.get(producer), groups));
    }

    /**
     * Seconds of the ReduceScatter of a partial gradient into the slices of layout {@code producer} over
     * {@code groups}, cached by layout id, dtype and (shared) group list: the edge tables are rebuilt after every
     * refinement.
     */
    private double scatterSeconds(int producer, DType dtype, List<List<Integer>> groups) {
        return scatterSecondsCache.computeIfAbsent(new ScatterCostKey(producer, dtype, groups),
                k -> scatterSeconds(layouts.get(producer), dtype, groups));
    }

    /** Seconds of the ReduceScatter of a partial gradient into {@code producer}'s slices over {@code groups}. */
    private double scatterSeconds(Layout producer, DType dtype, List<List<Integer>> groups) {
        long piece = producer.sliceBytes(dtype);
        double worst = 0;
        for (List<Integer> g : groups) {
            worst = Math.max(worst, cost.collectiveSeconds(CollectiveKind.REDUCE_SCATTER, g, piece * g.size()));
        }
        return worst;
    }

    /**
     * Plans the redistributions of every edge of {@code ends} (and their transposes in backward) into the
     * {@link #shared} cache, all pairs in parallel, so that the evaluation's planners find them: planning them inside
     * each planner would leave a core idle while the last plan is evaluated.
     */
    void planRedistributions(List<int[]> ends) {
        record Pair(int from, int to, DType dtype) {
        }
        LinkedHashSet<Pair> pairs = new LinkedHashSet<>();
        for (int[] choice : ends) {
            io.tessera.planner.plan.Interruption.check("the strategy search");
            for (int i = 0; i < n; i++) {
                for (int j = 0; j < producer[i].length; j++) {
                    int p = producer[i][j];
                    if (p < 0) {
                        continue;
                    }
                    int from = sigs.get(sigOf[p]).out().get(choice[p])[producerOut[i][j]];
                    int to = sigs.get(sigOf[i]).in().get(choice[i])[j];
                    if (from == to) {
                        continue;
                    }
                    String t = nodes.get(i).input(j);
                    DType dtype = net.tensor(t).dtype();
                    pairs.add(new Pair(from, to, dtype));
                    if (bg.needsGradient(t)) {
                        pairs.add(new Pair(to, from, dtype));
                    }
                }
            }
        }
        List<Pair> list = new ArrayList<>(pairs);
        Parallel.map(list.size(), k -> shared.plan(layouts.get(list.get(k).from()), layouts.get(list.get(k).to()),
                list.get(k).dtype()));
    }
}
