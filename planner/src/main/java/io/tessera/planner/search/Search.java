package io.tessera.planner.search;

import io.tessera.layout.comm.CollectiveKind;

import io.tessera.layout.DType;
import io.tessera.layout.Layout;
import io.tessera.layout.param.ParallelMode;
import io.tessera.layout.param.Parameter;
import io.tessera.layout.redistribution.Redistribution;
import io.tessera.layout.redistribution.RedistributionPlan;
import io.tessera.layout.redistribution.Step;
import io.tessera.planner.cost.ClusterSpec;
import io.tessera.planner.cost.CostModel;
import io.tessera.planner.cost.Placement;
import io.tessera.planner.graph.BackwardGraph;
import io.tessera.planner.graph.Network;
import io.tessera.planner.graph.Node;
import io.tessera.planner.op.OpComm;
import io.tessera.planner.op.OpSharding;
import io.tessera.planner.op.Operator;
import io.tessera.planner.op.Strategy;
import io.tessera.planner.op.TensorType;
import io.tessera.planner.plan.Bucket;
import io.tessera.planner.plan.Communication;
import io.tessera.planner.plan.OpPlan;
import io.tessera.layout.comm.Phase;
import io.tessera.planner.plan.Plan;
import io.tessera.planner.plan.PlanConfig;
import io.tessera.planner.plan.Planner;
import io.tessera.planner.plan.RedistributionCache;
import io.tessera.planner.strategy.CommFusionMode;
import io.tessera.planner.strategy.DatasetStrategy;
import io.tessera.planner.strategy.SearchMode;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;
import java.util.function.IntFunction;
import java.util.stream.IntStream;

/**
 * The automatic strategy search of {@code auto_parallel}: chooses an in_strategy for every operator the user did not
 * annotate, minimising an estimate of the training step's seconds under each rank's memory limit.
 *
 * <p><b>Objective</b> ({@link #evaluate}): the plan of a candidate configuration is made with {@link Planner#plan};
 * its estimated step seconds are the sum over operators of one rank's forward plus backward compute seconds
 * ({@link CostModel#computeSeconds}) plus the seconds of every communication the plan inserts
 * ({@link CostModel#communicationSeconds}), a fusion bucket ({@link Plan#buckets()}: the gradient reductions of
 * parameters sharing rank groups, {@code comm_fusion}) costed once as one collective over its fused buffer, the
 * slowest of its groups ({@link CostModel#collectiveSeconds}), as the analytic timeline runs it: no overlap of
 * communication with compute, so it is the analytic timeline's step without overlap, less the optimizer update.
 * Memory: {@code Plan.memory(0).total()} plus {@link CostModel#activationBytes} (layouts slice evenly, so rank 0
 * stands for every rank) must fit the device memory, else the candidate is rejected.
 *
 * <p><b>Search cost</b>: the same terms, split per operator. An operator's own cost is its compute seconds plus the
 * seconds of its own communication (forward reductions, the backward reductions of partial input gradients,
 * including parameters' gradient reductions); an edge's cost is the seconds of the redistribution from the
 * producer's output layout to the layout the consumer needs, plus its transpose in backward when the tensor has a
 * gradient: exact redistribution plans up to {@link #EXACT_REDISTRIBUTION_DEVICES} devices, an estimate above
 * (see {@link #estimate}) that is replaced by the exact plan on the edges the best plans use, the dynamic
 * programming then repeated ({@link #REFINEMENTS}). Data inputs are laid out as their first consumer needs (the
 * searched configuration's dataset strategy) and cost nothing; parameters take their consumer's layout. The split is
 * exact for a chain of operators; in a DAG the partial-gradient AllReduce of a tensor with {@code k} consumers is
 * charged {@code 1/k} to each, since the planner sums the partials locally and reduces once (exact when the consumers
 * reduce over the same groups). A gradient reduction that fuses (its parameter's {@code comm_fusion} id is not 0)
 * shares its bucket's collective {@code t(S)} (a bucket of {@code S} bytes over the same rank groups, kind, dtype and
 * fusion id): in the first round it is charged {@code t(bytes) - t(0)} and no latency; each later round prices the
 * buckets of the previous round's best plan, split over their members: {@code bytes * (t(S) - t(0)) / S} plus
 * {@code buckets / members} of the latency {@code t(0)} (buckets: the members' bytes over the {@code comm_fusion}
 * threshold, at least 1; {@code S} their average size), and a reduction over groups that plan does not reduce over
 * pays {@code t(bytes)}, a bucket of its own ({@link #FUSION_ROUNDS}). The ends of every round are ranked by the
 * search's estimate of their own buckets ({@link #searchCost}) and the best {@link #EVALUATED_ENDS} evaluated. Without
 * fusion the split is exact on a chain; with it the rounds are a local search (a plan whose buckets no round prices
 * can be missed).
 *
 * <p><b>Modes</b>:
 * <ul>
 *   <li>{@link SearchMode#DYNAMIC_PROGRAMMING} (and {@link SearchMode#RECURSIVE_PROGRAMMING}, which runs the same
 *       search): dynamic programming over the operators in topological order; the state is the strategy of the
 *       previous operator, and the strategies of producers still to be consumed later (the residual stream, Q/K/V
 *       inputs) are carried along each state's best path. For a chain this is exact; in a DAG an edge from an earlier
 *       producer is charged with the producer's strategy on the path the previous operator's state chose (a
 *       sequence approximation). Operators with the same type, attributes, input shapes and gradient needs (the
 *       repeated layers of a transformer) share their candidates, costs and edge-cost matrices, so 96 layers cost
 *       one layer's candidate and redistribution work plus cheap min-plus arithmetic. When the best plans do not
 *       fit memory, the search is repeated with a price per byte on parameter and activation slices, doubled until
 *       a plan fits.</li>
 *   <li>{@link SearchMode#SHARDING_PROPAGATION}: annotated operators keep their strategies; the others, in
 *       topological order and then in reverse, take the candidate with the least redistribution seconds from and to
 *       already-decided neighbours, ties broken by the operator's own seconds.</li>
 * </ul>
 * Every mode also evaluates the semi-auto default (user strategies, data parallel elsewhere) as a runner-up (dynamic
 * programming: up to {@link #BASELINE_DEVICES} devices), and the best plan that fits memory wins.
 *
 * <p><b>Threads</b>: the candidates of distinct operators, the redistribution costs and the evaluation of complete
 * plans run on the common fork-join pool; every result is gathered in a fixed order, so the search is deterministic.
 */
public final class Search {

    /** How many dynamic-programming end states are evaluated exactly as complete plans. */
    public static final int EVALUATED_ENDS = 3;

    /** Up to this many devices edges are costed by exact redistribution plans, above it by {@link #estimate}. */
    public static final int EXACT_REDISTRIBUTION_DEVICES = 8;

    /** Above this many devices the redistribution estimate samples ranks ({@link #estimate}). */
    public static final int SAMPLED_RANKS = 256;

    /**
     * Up to this many devices the dynamic programming also evaluates the semi-auto default as a runner-up (its
     * data-parallel strategies are candidates of the search anyway; planning it exactly on more devices costs
     * seconds).
     */
    public static final int BASELINE_DEVICES = 256;

    /**
     * Above this many transferred pieces (summed over receiving ranks) a redistribution keeps its estimate in the
     * refinement: its exact plan would take seconds to make (an AllToAll over 1,024 ranks moves about a million).
     */
    public static final long EXACT_TRANSFERS = 1L << 17;

    /**
     * The most rounds of refinement: above {@link #EXACT_REDISTRIBUTION_DEVICES} devices the redistributions of the
     * best plans' edges are planned exactly and the dynamic programming repeated, until its best plans use no
     * estimated edge (the best plan's; the runners-up may keep estimated edges, their exact objective is evaluated
     * anyway).
     */
    public static final int REFINEMENTS = 8;

    /**
     * The most rounds that re-price the latency of fusion buckets (see the class comment) after the first dynamic
     * programming; they stop when the best plan repeats. The best plan of every round is evaluated exactly.
     */
    public static final int FUSION_ROUNDS = 3;

    /** The most rounds of the memory price. */
    private static final int MEMORY_ROUNDS = 24;

    private final Network net;
    private final PlanConfig template;
    private final int devices;
    private final ClusterSpec cluster;
    private final CostModel cost;
    private final int cap;
    private final Progress progress;
    private final BackwardGraph bg;
    private final List<Node> nodes;
    private final int n;
    /** Per node: its signature's index into {@link #sigs}. */
    private final int[] sigOf;
    private final List<Options> sigs = new ArrayList<>();
    /** Per node and input: the producing node's index, or -1 for a data input or a parameter. */
    private final int[][] producer;
    /** Per node and input: the producer's output index. */
    private final int[][] producerOut;
    private final Map<Layout, Integer> layoutIds = new HashMap<>();
    private final List<Layout> layouts = new ArrayList<>();
    /** Redistribution seconds by layout ids (exact plans, up to {@link #EXACT_REDISTRIBUTION_DEVICES} devices). */
    private final Map<RKey, Double> redistCache = new ConcurrentHashMap<>();
    /** Redistribution estimates by canonical distribution ids (above {@link #EXACT_REDISTRIBUTION_DEVICES}). */
    private final Map<RKey, Double> estimateCache = new ConcurrentHashMap<>();
    /** Redistribution seconds from exact plans by canonical ids, replacing estimates on the edges a best plan uses. */
    private final Map<RKey, Double> exactCache = new ConcurrentHashMap<>();
    private final Map<EKey, double[][]> edgeCache = new HashMap<>();
    private final Map<CKey, CommCost> commCache = new ConcurrentHashMap<>();
    /** Exact redistribution plans shared by the refinement and the evaluation of complete plans. */
    private final RedistributionCache shared = RedistributionCache.create();
    /** Fusion-bucket keys of gradient reductions, by id; with each key's latency {@code t(0)}. */
    private final Map<BKey, Integer> bucketIds = new HashMap<>();
    private final List<BKey> bucketKeys = new ArrayList<>();
    private final List<Double> bucketLatency = new ArrayList<>();

    private record SigKey(Operator op, List<TensorType> types, Strategy fixed, List<Boolean> gradIn,
                          List<Boolean> paramIn, List<Integer> consumersIn, List<Integer> fusionIn) {
    }

    private record RKey(int from, int to, DType dtype, boolean grad) {
    }

    private record CKey(io.tessera.layout.DeviceMatrix dev, List<Integer> axes, CollectiveKind kind, Phase phase,
                        long slice, boolean gradient) {
    }

    private record GKey(io.tessera.layout.DeviceMatrix dev, List<Integer> axes) {
    }

    /** Rank groups with their distinct shapes (groups of one shape cost the same, {@link CostModel#shape}). */
    private record Groups(List<List<Integer>> groups, List<Placement> shapes) {
    }

    private final Map<GKey, Groups> groupCache = new ConcurrentHashMap<>();

    /**
     * {@link OpComm#groupsAlong}: the groups of ranks of {@code dev} differing only in the device dimensions
     * {@code axes} (map values), in the order of their lowest ranks, each ascending; on int arrays.
     */
    static List<List<Integer>> groupsAlong(io.tessera.layout.DeviceMatrix dev, int[] axes) {
        int[] dims = dev.dims();
        int k = dims.length;
        boolean[] inGroup = new boolean[k];
        for (int a : axes) {
            inGroup[k - 1 - a] = true;
        }
        int size = dev.size();
        int groupSize = 1;
        for (int d = 0; d < k; d++) {
            groupSize *= inGroup[d] ? dims[d] : 1;
        }
        int count = size / groupSize;
        int[] groupOfKey = new int[count];
        Arrays.fill(groupOfKey, -1);
        int[][] members = new int[count][groupSize];
        int[] filled = new int[count];
        int next = 0;
        int[] coord = new int[k];
        for (int r = 0; r < size; r++) {
            int key = 0;
            for (int d = 0; d < k; d++) {
                if (!inGroup[d]) {
                    key = key * dims[d] + coord[d];
                }
            }
            int g = groupOfKey[key];
            if (g < 0) {
                g = next++;
                groupOfKey[key] = g;
            }
            members[g][filled[g]++] = r;
            for (int d = k - 1; d >= 0 && ++coord[d] == dims[d]; d--) {
                coord[d] = 0;
            }
        }
        List<List<Integer>> out = new ArrayList<>(count);
        for (int[] m : members) {
            out.add(Arrays.stream(m).boxed().toList());
        }
        return List.copyOf(out);
    }

    private Groups groups(List<List<Integer>> groups) {
        LinkedHashSet<Placement> shapes = new LinkedHashSet<>();
        for (List<Integer> g : groups) {
            shapes.add(cost.spec().placement(g));
        }
        return new Groups(groups, List.copyOf(shapes));
    }

    /** A communication's seconds, its seconds with an empty buffer (latency) and its rank groups. */
    private record CommCost(double seconds, double latency, List<List<Integer>> groups) {
    }

    /** What a fusion bucket shares: kind, rank groups, dtype and comm_fusion id. */
    private record BKey(CollectiveKind kind, List<List<Integer>> groups, DType dtype, int fusionId) {
    }

    private record EKey(int sigP, int out, int sigC, int in, boolean grad, boolean scatter) {
    }

    /** One operator's own cost under one strategy. */
    /**
     * An operator candidate's own cost; per input, the groups its gradient is partial over (null when none or a
     * parameter) and the seconds of that reduction charged in {@code seconds}.
     */
    private record Own(double seconds, double memory, int[] buckets, long[] bucketBytes, double[] bucketMarginal,
                       List<List<List<Integer>>> partial, double[] partialSeconds) {
    }

    /** The candidates of one operator signature with their own costs. */
    private static final class Options {
        final List<Strategy> strategies = new ArrayList<>();
        final List<int[]> in = new ArrayList<>();
        final List<int[]> out = new ArrayList<>();
        double[] unary;
        double[] memory;
        /** Per candidate: the fusion buckets (ids) of its fused gradient reductions and their bytes. */
        int[][] buckets;
        long[][] bucketBytes;
        /** Per candidate and fused reduction: what it adds to its bucket on its own, {@code t(bytes) - t(0)}. */
        double[][] bucketMarginal;
        /** Per candidate and input: the groups its gradient is partial over (null: none), and their charged seconds. */
        List<List<List<List<Integer>>>> partial = new ArrayList<>();
        double[][] partialSeconds;
    }

    /** Serialises progress reports from worker threads and keeps {@code done} monotone within a phase. */
    private static final class Progress {
        private final SearchProgress sink;
        private long done = -1;
        private long total = -1;

        Progress(SearchProgress sink) {
            this.sink = sink;
        }

        synchronized void phase(String message) {
            done = -1;
            total = -1;
            sink.phase(message);
        }

        synchronized void advance(long d, long t) {
            if (t != total || d > done) {
                done = d;
                total = t;
                sink.advance(d, t);
            }
        }
    }

    private Search(Network net, PlanConfig template, ClusterSpec cluster, int cap, Consumer<String> progress) {
        this.net = net;
        this.template = template;
        this.devices = template.devices();
        this.cluster = cluster;
        this.cost = new CostModel(cluster);
        this.cap = cap;
        this.progress = new Progress(SearchProgress.of(progress));
        this.bg = net.backward();
        this.nodes = net.nodes();
        this.n = nodes.size();
        this.sigOf = new int[n];
        this.producer = new int[n][];
        this.producerOut = new int[n][];
        this.sample = sample();
    }

    /**
     * Searches strategies for {@code net} on {@code devices} devices of {@code cluster} with the default cap of
     * {@link StrategyCandidates#DEFAULT_CAP} candidates per operator.
     *
     * @param net      the network
     * @param devices  the number of devices, at least 1 and at most the cluster's
     * @param cluster  the cluster the cost model estimates on
     * @param mode     the search mode
     * @param fixed    in_strategy of the operators the user annotated (kept as given), or null
     * @param progress receives one-line progress messages (a {@link SearchProgress} also the fraction done of each
     *                 phase), or null
     * @throws IllegalArgumentException for a device count the cluster cannot hold, an invalid user strategy (the
     *                                  operator rule's message), or when no plan fits the device memory
     */
    public static SearchResult search(Network net, int devices, ClusterSpec cluster, SearchMode mode,
                                      Map<String, Strategy> fixed, Consumer<String> progress) {
        PlanConfig.Builder b = PlanConfig.builder(devices);
        if (fixed != null) {
            fixed.forEach(b::strategy);
        }
        return search(net, b.build(), cluster, mode, progress, StrategyCandidates.DEFAULT_CAP);
    }

    /**
     * Searches strategies for {@code net}: the template's device count, user strategies (kept as given; its out
     * strategies are kept too), gradient reduction, optimizer, optimizer parallelism and fusion settings carry over
     * to every candidate.
     *
     * @param template a semi-auto configuration
     * @param progress receives one-line progress messages (a {@link SearchProgress} also the fraction done of each
     *                 phase), or null
     * @param cap      the most candidates per operator ({@link StrategyCandidates#best})
     * @throws IllegalArgumentException as {@link #search(Network, int, ClusterSpec, SearchMode, Map, Consumer)}, or
     *                                  for a template that is not semi-auto or a cap below 1
     */
    public static SearchResult search(Network net, PlanConfig template, ClusterSpec cluster, SearchMode mode,
                                      Consumer<String> progress, int cap) {
        if (net == null || template == null || cluster == null || mode == null) {
            throw new IllegalArgumentException("search: network, template, cluster and mode are required; found "
                    + (net == null ? "no network" : template == null ? "no template" : cluster == null
                    ? "no cluster" : "no mode"));
        }
        if (template.mode() != ParallelMode.SEMI_AUTO_PARALLEL) {
            throw new IllegalArgumentException("search: the template's parallel_mode is " + template.mode()
                    + "; expected semi_auto_parallel (the searched plan gives every operator a strategy)");
        }
        if (template.devices() > cluster.devices()) {
            throw new IllegalArgumentException("search: " + template.devices() + " devices do not fit cluster '"
                    + cluster.name() + "' of " + cluster.devices() + " devices; use ClusterSpec.withNodes("
                    + (template.devices() + cluster.devicesPerNode() - 1) / cluster.devicesPerNode() + ")");
        }
        if (cap < 1) {
            throw new IllegalArgumentException("search: cap is " + cap + "; expected at least 1 candidate per operator");
        }
        return new Search(net, template, cluster, cap, progress).run(mode);
    }

    /**
     * The candidates the search considers for each operator of {@code net} under {@code template} (the user's
     * strategy alone for an annotated operator), by operator name in execution order: for checking the search
     * against an exhaustive enumeration of their product.
     */
    public static Map<String, List<Strategy>> candidates(Network net, PlanConfig template, ClusterSpec cluster,
                                                         int cap) {
        Search s = new Search(net, template, cluster, cap, null);
        s.prepare();
        Map<String, List<Strategy>> out = new LinkedHashMap<>();
        for (int i = 0; i < s.n; i++) {
            out.put(s.nodes.get(i).name(), List.copyOf(s.sigs.get(s.sigOf[i]).strategies));
        }
        return out;
    }

    /**
     * The search's own cost estimate (operators' own seconds plus edge seconds, see the class comment) of giving
     * each operator the strategy {@code strategies} names; every strategy must be among the operator's candidates.
     * Fused gradient reductions are priced by the buckets of this configuration itself (its members' bytes over the
     * {@code comm_fusion} threshold, at least 1, per rank groups): each bucket once, at the average bucket size.
     *
     * @throws IllegalArgumentException naming an operator whose strategy is not a candidate
     */
    public static double searchCost(Network net, PlanConfig template, ClusterSpec cluster, int cap,
                                    Map<String, Strategy> strategies) {
        Search s = new Search(net, template, cluster, cap, null);
        s.prepare();
        int[] choice = new int[s.n];
        for (int i = 0; i < s.n; i++) {
            String name = s.nodes.get(i).name();
            choice[i] = s.sigs.get(s.sigOf[i]).strategies.indexOf(strategies.get(name));
            if (choice[i] < 0) {
                throw new IllegalArgumentException("search cost: strategy " + strategies.get(name) + " of '" + name
                        + "' is not among its " + s.sigs.get(s.sigOf[i]).strategies.size() + " candidates");
            }
        }
        s.precomputeRedistributions();
        return s.estimateOf(choice, 0);
    }

    /**
     * The exact objective of a configuration (see the class comment): plans it and sums compute and communication
     * seconds, each fusion bucket once; memory of rank 0 against the cluster's device memory.
     */
    public static Candidate evaluate(Network net, PlanConfig config, ClusterSpec cluster, String label) {
        return evaluate(net, config, cluster, label, null);
    }

    private static Candidate evaluate(Network net, PlanConfig config, ClusterSpec cluster, String label,
                                      RedistributionCache redistributions) {
        CostModel cm = new CostModel(cluster);
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

    // ---------------------------------------------------------------------------------------------- preparation

    /** One distinct signature before its layouts are interned. */
    private record Pending(List<Strategy> strategies, List<Layout[]> in, List<Layout[]> out, List<Own> own) {
    }

    private void prepare() {
        Map<String, Integer> index = new HashMap<>();
        for (int i = 0; i < n; i++) {
            index.put(nodes.get(i).name(), i);
        }
        Map<SigKey, Integer> sigIds = new HashMap<>();
        List<Integer> firstNode = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            Node node = nodes.get(i);
            List<TensorType> types = types(node);
            int k = node.inputs().size();
            producer[i] = new int[k];
            producerOut[i] = new int[k];
            List<Boolean> gradIn = new ArrayList<>();
            List<Boolean> paramIn = new ArrayList<>();
            List<Integer> consumersIn = new ArrayList<>();
            List<Integer> fusionIn = new ArrayList<>();
            for (int j = 0; j < k; j++) {
                String t = node.input(j);
                Node p = net.isParameter(t) ? null : net.producer(t);
                producer[i][j] = p == null ? -1 : index.get(p.name());
                producerOut[i][j] = p == null ? -1 : p.outputs().indexOf(t);
                gradIn.add(bg.needsGradient(t));
                paramIn.add(net.isParameter(t) && net.parameter(t).layerwiseParallel());
                consumersIn.add(net.isParameter(t) ? 1 : net.consumers(t).size());
                fusionIn.add(net.isParameter(t) ? net.parameter(t).commFusion() : -1);
            }
            Strategy fixed = template.inStrategies().get(node.name());
            SigKey key = new SigKey(node.op(), types, fixed, gradIn, paramIn, consumersIn, fusionIn);
            Integer id = sigIds.get(key);
            if (id == null) {
                id = firstNode.size();
                sigIds.put(key, id);
                firstNode.add(i);
            }
            sigOf[i] = id;
        }
        // the candidates of distinct signatures are independent: enumerate and cost them in parallel, then intern
        // their layouts and fusion buckets in signature order (deterministic ids)
        int count = firstNode.size();
        List<List<Strategy>> valid = parallel(count, s -> {
            Node node = nodes.get(firstNode.get(s));
            Strategy fixed = template.inStrategies().get(node.name());
            return fixed != null ? List.of(fixed)
                    : StrategyCandidates.valid(node.name(), node.op(), types(node), devices);
        });
        // every valid strategy's own cost, the signatures' strategies flattened so that both cores share the work
        int[] offset = new int[count + 1];
        for (int s = 0; s < count; s++) {
            offset[s + 1] = offset[s] + valid.get(s).size();
        }
        int total = offset[count];
        AtomicInteger finished = new AtomicInteger();
        int step = Math.max(1, total / 100);
        progress.advance(0, total);
        int[] sigOfFlat = new int[total];
        for (int s = 0; s < count; s++) {
            Arrays.fill(sigOfFlat, offset[s], offset[s + 1], s);
        }
        List<Own> scored = parallel(total, x -> {
            int s = sigOfFlat[x];
            Node node = nodes.get(firstNode.get(s));
            List<TensorType> types = types(node);
            Own own = own(node, types, node.op().outputs(node.name(), types), valid.get(s).get(x - offset[s]));
            int f = finished.incrementAndGet();
            if (f % step == 0 || f == total) {
                progress.advance(f, total);
            }
            return own;
        });
        List<Pending> pending = parallel(count, s -> options(nodes.get(firstNode.get(s)), valid.get(s),
                scored.subList(offset[s], offset[s + 1])));
        for (Pending p : pending) {
            Options o = new Options();
            int m = p.strategies().size();
            o.unary = new double[m];
            o.memory = new double[m];
            o.buckets = new int[m][];
            o.bucketBytes = new long[m][];
            o.bucketMarginal = new double[m][];
            o.partialSeconds = new double[m][];
            for (int c = 0; c < m; c++) {
                o.strategies.add(p.strategies().get(c));
                o.in.add(Arrays.stream(p.in().get(c)).mapToInt(this::intern).toArray());
                o.out.add(Arrays.stream(p.out().get(c)).mapToInt(this::intern).toArray());
                Own own = p.own().get(c);
                o.unary[c] = own.seconds();
                o.memory[c] = own.memory();
                o.buckets[c] = own.buckets();
                o.bucketBytes[c] = own.bucketBytes();
                o.bucketMarginal[c] = own.bucketMarginal();
                o.partial.add(own.partial());
                o.partialSeconds[c] = own.partialSeconds();
            }
            sigs.add(o);
        }
    }

    /**
     * {@code f(0) .. f(count - 1)} computed on the common fork-join pool, in index order. A runtime exception is
     * rethrown as it was thrown (the one of the lowest index), not as the pool's copy.
     */
    private static <T> List<T> parallel(int count, IntFunction<T> f) {
        RuntimeException[] failed = new RuntimeException[count];
        List<T> out = IntStream.range(0, count).parallel().mapToObj(k -> {
            try {
                return f.apply(k);
            } catch (RuntimeException e) {
                failed[k] = e;
                return null;
            }
        }).toList();
        for (RuntimeException e : failed) {
            if (e != null) {
                throw e;
            }
        }
        return out;
    }

    private List<TensorType> types(Node node) {
        List<TensorType> types = new ArrayList<>();
        for (String t : node.inputs()) {
            types.add(net.tensor(t));
        }
        return types;
    }

    /**
     * The candidates of one signature: of its {@code valid} strategies (the user's alone when annotated) the
     * {@link StrategyCandidates#select cap} of least own seconds, with their layouts.
     */
    private Pending options(Node node, List<Strategy> valid, List<Own> owns) {
        List<TensorType> types = types(node);
        List<TensorType> outTypes = node.op().outputs(node.name(), types);
        Map<Strategy, Own> scored = new HashMap<>();
        for (int k = 0; k < valid.size(); k++) {
            scored.put(valid.get(k), owns.get(k));
        }
        List<Strategy> chosen = valid.size() == 1 && template.inStrategies().containsKey(node.name()) ? valid
                : StrategyCandidates.select(valid, node.op().dataParallel(types, devices), cap,
                s -> scored.get(s).seconds());
        List<Layout[]> in = new ArrayList<>();
        List<Layout[]> out = new ArrayList<>();
        List<Own> own = new ArrayList<>();
        for (Strategy s : chosen) {
            own.add(scored.get(s));
            OpSharding sh = node.op().shard(node.name(), types, s, template.outStrategies().get(node.name()),
                    devices);
            Layout[] li = new Layout[types.size()];
            for (int j = 0; j < li.length; j++) {
                li[j] = sh.inputLayout(j, types.get(j));
            }
            Layout[] lo = new Layout[outTypes.size()];
            for (int j = 0; j < lo.length; j++) {
                lo[j] = sh.outputLayout(j, outTypes.get(j));
            }
            in.add(li);
            out.add(lo);
        }
        return new Pending(chosen, in, out, own);
    }

    private int intern(Layout l) {
        Integer id = layoutIds.get(l);
        if (id == null) {
            id = layouts.size();
            layoutIds.put(l, id);
            layouts.add(l);
        }
        return id;
    }

    /** The id of a fusion bucket key, with its latency {@code t(0)} (thread-safe). */
    private synchronized int bucket(BKey key, double latency) {
        Integer id = bucketIds.get(key);
        if (id == null) {
            id = bucketKeys.size();
            bucketIds.put(key, id);
            bucketKeys.add(key);
            bucketLatency.add(latency);
        }
        return id;
    }

    /**
     * An operator's own seconds (forward and backward compute plus its communication; a fused gradient reduction
     * what it adds to its bucket), its memory bytes (parameter slices twice, for the parameter and its gradient, plus
     * output slices) and the fusion buckets of its fused gradient reductions under strategy {@code s}.
     */
    private Own own(Node node, List<TensorType> types, List<TensorType> outTypes, Strategy s) {
        OpSharding sh = node.op().shard(node.name(), types, s, template.outStrategies().get(node.name()), devices);
        List<Layout> in = new ArrayList<>();
        for (int j = 0; j < types.size(); j++) {
            in.add(sh.inputLayout(j, types.get(j)));
        }
        List<Layout> out = new ArrayList<>();
        for (int j = 0; j < outTypes.size(); j++) {
            out.add(sh.outputLayout(j, outTypes.get(j)));
        }
        OpPlan op = new OpPlan(node.name(), node.op().type(), s, null, false, sh, in, out);
        double seconds = cost.computeSeconds(net, op, false) + cost.computeSeconds(net, op, true);
        List<Integer> buckets = new ArrayList<>();
        List<Long> bucketBytes = new ArrayList<>();
        List<Double> bucketMarginal = new ArrayList<>();
        List<List<List<Integer>>> partial = new ArrayList<>(java.util.Collections.nCopies(types.size(), null));
        double[] partialSeconds = new double[types.size()];
        for (OpComm c : sh.comms()) {
            String t = c.output() ? node.output(c.index()) : node.input(c.index());
            boolean gradient = false;
            if (c.phase() == Phase.BACKWARD) {
                if (!bg.needsGradient(t)) {
                    continue;
                }
                if (!c.output() && net.isParameter(t)) {
                    Parameter p = net.parameter(t);
                    if (!p.requiresGrad() || p.layerwiseParallel()) {
                        continue;
                    }
                    gradient = true;
                }
            }
            TensorType type = c.output() ? outTypes.get(c.index()) : types.get(c.index());
            Layout l = c.output() ? out.get(c.index()) : in.get(c.index());
            long slice = c.payload() >= 0 ? c.payload() * type.dtype().bytes() : l.sliceBytes(type.dtype());
            double share = c.phase() == Phase.BACKWARD && !c.output() && !net.isParameter(t)
                    && c.kind() == CollectiveKind.ALL_REDUCE ? 1.0 / net.consumers(t).size() : 1.0;
            CKey key = new CKey(sh.devMatrix(), Arrays.stream(c.axes()).boxed().toList(), c.kind(), c.phase(), slice,
                    gradient);
            CommCost cc = commCache.computeIfAbsent(key, k -> commCost(c, sh, slice, k.gradient()));
            if (gradient && net.parameter(t).commFusion() != 0 && cc.latency() > 0) {
                // a fused gradient reduction shares its bucket's collective: charge what it adds to the bucket on its
                // own; each round of the dynamic programming prices the rest (Pricing)
                seconds += cc.seconds() - cc.latency();
                buckets.add(bucket(new BKey(c.kind(), cc.groups(), type.dtype(), net.parameter(t).commFusion()),
                        cc.latency()));
                bucketBytes.add(slice);
                bucketMarginal.add(cc.seconds() - cc.latency());
            } else {
                // the planner sums the partial gradients of a tensor's consumers locally and reduces once: each of k
                // consumers is charged 1/k of its reduction (exact when they reduce over the same groups)
                seconds += share * cc.seconds();
                if (c.phase() == Phase.BACKWARD && !c.output() && !net.isParameter(t)
                        && c.kind() == CollectiveKind.ALL_REDUCE) {
                    partial.set(c.index(), cc.groups());
                    partialSeconds[c.index()] += share * cc.seconds();
                }
            }
        }
        double memory = 0;
        for (int j = 0; j < types.size(); j++) {
            if (net.isParameter(node.input(j))) {
                memory += 2.0 * in.get(j).sliceBytes(types.get(j).dtype());
            }
        }
        for (int j = 0; j < outTypes.size(); j++) {
            memory += out.get(j).sliceBytes(outTypes.get(j).dtype());
        }
        return new Own(seconds, memory, buckets.stream().mapToInt(Integer::intValue).toArray(),
                bucketBytes.stream().mapToLong(Long::longValue).toArray(),
                bucketMarginal.stream().mapToDouble(Double::doubleValue).toArray(), partial, partialSeconds);
    }

    /**
     * Seconds of one operator communication: a parameter's gradient reduction as the plan's fusion bucket of it
     * alone ({@link CostModel#collectiveSeconds} of the slice, the slowest group; latency: of an empty buffer),
     * any other as the planner records it ({@link CostModel#communicationSeconds}).
     */
    private CommCost commCost(OpComm c, OpSharding sh, long slice, boolean gradient) {
        Groups groups = groupCache.computeIfAbsent(new GKey(sh.devMatrix(),
                Arrays.stream(c.axes()).boxed().toList()), k -> groups(groupsAlong(sh.devMatrix(), c.axes())));
        CollectiveKind kind = c.kind();
        if (gradient) {
            double seconds = 0;
            double latency = 0;
            for (Placement g : groups.shapes()) {
                seconds = Math.max(seconds, cost.collectiveSeconds(kind, g, slice));
                latency = Math.max(latency, cost.collectiveSeconds(kind, g, 0));
            }
            return new CommCost(seconds, latency, groups.groups());
        }
        // CostModel.communicationSeconds of the communication the planner records (every member of a group
        // receives the same bytes), without building it: the slowest group at the buffer its receive implies
        double seconds = 0;
        for (Placement g : groups.shapes()) {
            int p = g.ranks();
            if (p > 1) {
                long buffer = CostModel.bufferBytes(kind, p, c.ringRecvBytes(slice, p));
                seconds = Math.max(seconds, cost.collectiveSeconds(kind, g, buffer));
            }
        }
        return new CommCost(seconds, 0, groups.groups());
    }

    /**
     * How the dynamic programming prices fused gradient reductions, per fusion bucket key: the share of the key's
     * latency {@code t(0)} a member pays, and the seconds per byte a member pays instead of its own
     * {@code t(bytes) - t(0)} (NaN: its own).
     */
    private record Pricing(double[] share, double[] slope) {

        /** The first round: no latency, each reduction its own {@code t(bytes) - t(0)}. */
        static Pricing optimistic(int keys) {
            double[] slope = new double[keys];
            Arrays.fill(slope, Double.NaN);
            return new Pricing(new double[keys], slope);
        }

        /** What a member of key {@code b} with {@code bytes} and its own marginal pays beyond that marginal. */
        double extra(int b, long bytes, double marginal, double latency) {
            double v = share[b] * latency;
            return Double.isNaN(slope[b]) ? v : v + bytes * slope[b] - marginal;
        }
    }

    /**
     * The pricing of the buckets of the plan {@code choice} (its own bucket costs split over their members): per
     * key with members, {@code buckets / members} of the latency (buckets: the members' bytes over the
     * {@code comm_fusion} threshold, at least 1) and the slope {@code (t(S) - t(0)) / S} of a bucket of the
     * average size {@code S}; a key without members pays its whole latency and its own marginal (a new bucket).
     */
    private Pricing pricing(int[] choice) {
        int keys = bucketKeys.size();
        int[] members = new int[keys];
        long[] bytes = new long[keys];
        for (int i = 0; i < n; i++) {
            Options o = sigs.get(sigOf[i]);
            int[] b = o.buckets[choice[i]];
            for (int k = 0; k < b.length; k++) {
                members[b[k]]++;
                bytes[b[k]] += o.bucketBytes[choice[i]][k];
            }
        }
        double[] share = new double[keys];
        double[] slope = new double[keys];
        for (int b = 0; b < keys; b++) {
            slope[b] = Double.NaN;
            if (members[b] == 0) {
                share[b] = 1;
                continue;
            }
            BKey key = bucketKeys.get(b);
            long threshold = threshold(key.kind());
            double buckets = Math.max(1, Math.ceil(bytes[b] / (double) threshold));
            share[b] = Math.min(1, buckets / members[b]);
            long size = Math.max(1, Math.round(bytes[b] / buckets));
            double seconds = 0;
            for (List<Integer> g : key.groups()) {
                seconds = Math.max(seconds, cost.collectiveSeconds(key.kind(), g, size));
            }
            slope[b] = (seconds - bucketLatency.get(b)) / size;
        }
        return new Pricing(share, slope);
    }

    /** The bucket bytes of the template's {@code comm_fusion} mode for {@code kind} (index mode: unbounded). */
    private long threshold(CollectiveKind kind) {
        CommFusionMode mode = template.commFusion().mode(kind);
        if (mode instanceof CommFusionMode.Size s) {
            return Math.max(1, s.bucketBytes());
        }
        if (mode instanceof CommFusionMode.Auto a) {
            return a.bucketBytes();
        }
        return Long.MAX_VALUE;
    }

    // ---------------------------------------------------------------------------------------------- redistribution

    /** Seconds of redistributing a tensor from layout {@code from} to {@code to}, and back in backward if grad. */
    private double redistribution(int from, int to, DType dtype, boolean grad) {
        if (from == to) {
            return 0;
        }
        RKey key = new RKey(from, to, dtype, grad);
        if (devices > EXACT_REDISTRIBUTION_DEVICES) {
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
        return new RKey(canonicalOf[key.from()], canonicalOf[key.to()], key.dtype(), key.grad());
    }

    /** The estimate of a canonical key: forward, plus the transpose in backward when grad. */
    private double estimated(RKey canonical) {
        if (canonical.from() == canonical.to()) {
            return 0;
        }
        int from = representative[-1 - canonical.from()];
        int to = representative[-1 - canonical.to()];
        double f = estimate(from, to, canonical.dtype());
        return f + (canonical.grad() ? estimate(to, from, canonical.dtype()) : 0);
    }

    /**
     * Seconds of the exact redistribution plans of a key, and the transpose in backward when grad: a layout-id key,
     * or a canonical one planned on its representatives (an exact plan, like the estimate, depends only on which rank
     * holds which slice: each rank receives from the replica of a source slice whose index, its rank order among the
     * slice's holders, equals its own).
     */
    private double exact(RKey key) {
        Layout from = layouts.get(key.from() < 0 ? representative[-1 - key.from()] : key.from());
        Layout to = layouts.get(key.to() < 0 ? representative[-1 - key.to()] : key.to());
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
     * above {@link #EXACT_REDISTRIBUTION_DEVICES} devices the estimates by distribution, else the exact plans.
     */
    private void precomputeRedistributions() {
        if (devices > EXACT_REDISTRIBUTION_DEVICES) {
            distributions();
        }
        LinkedHashSet<EKey> seen = new LinkedHashSet<>();
        LinkedHashSet<RKey> missing = new LinkedHashSet<>();
        for (int i = 0; i < n; i++) {
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
                Options po = sigs.get(sigOf[p]);
                Options co = sigs.get(sigOf[i]);
                for (int a = 0; a < po.strategies.size(); a++) {
                    int from = po.out.get(a)[producerOut[i][j]];
                    for (int c = 0; c < co.strategies.size(); c++) {
                        int to = co.in.get(c)[j];
                        if (from == to) {
                            continue;
                        }
                        RKey key = new RKey(from, to, dtype, grad);
                        if (devices > EXACT_REDISTRIBUTION_DEVICES) {
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
        boolean estimates = devices > EXACT_REDISTRIBUTION_DEVICES;
        progress.phase("search: costing " + keys.size() + (estimates ? " estimated" : " exact")
                + " redistributions");
        AtomicInteger finished = new AtomicInteger();
        int step = Math.max(1, keys.size() / 100);
        List<Double> values = parallel(keys.size(), k -> {
            double v = estimates ? estimated(keys.get(k)) : exact(keys.get(k));
            int f = finished.incrementAndGet();
            if (f % step == 0 || f == keys.size()) {
                progress.advance(f, keys.size());
            }
            return v;
        });
        for (int k = 0; k < keys.size(); k++) {
            (estimates ? estimateCache : redistCache).put(keys.get(k), values.get(k));
        }
    }

    /**
     * The ranks whose receive the estimate takes the largest of: every rank up to {@link #SAMPLED_RANKS}, else
     * the first {@code SAMPLED_RANKS / 2}, every {@code devices / (SAMPLED_RANKS / 2)}-th and a fixed pseudo-random
     * selection (layouts slice on a grid of rank bits; the sample covers low, high and mixed bits).
     */
    private int[] sample() {
        if (devices <= SAMPLED_RANKS) {
            return IntStream.range(0, devices).toArray();
        }
        java.util.TreeSet<Integer> out = new java.util.TreeSet<>();
        int half = SAMPLED_RANKS / 2;
        for (int r = 0; r < half; r++) {
            out.add(r);
            out.add(r * (devices / half));
        }
        java.util.Random rnd = new java.util.Random(devices);
        for (int k = 0; k < half; k++) {
            out.add(rnd.nextInt(devices));
        }
        return out.stream().mapToInt(Integer::intValue).toArray();
    }

    private final int[] sample;

    /** Per layout id: each rank's slice box as {@code [rank][start..., end...]}. */
    private long[][][] boxes;
    /** Per layout id: the lowest rank holding each slice (slice ids row-major over the split grid). */
    private int[][] holders;
    /** Per layout id: its distribution's canonical id (negative, apart from layout ids). */
    private int[] canonicalOf;
    /** Per canonical id {@code c}: at {@code -1 - c}, the lowest layout id with that distribution. */
    private int[] representative;

    private record BoxesKey(long[] flat, int hash) {
        @Override
        public boolean equals(Object o) {
            return o instanceof BoxesKey b && hash == b.hash && Arrays.equals(flat, b.flat);
        }

        @Override
        public int hashCode() {
            return hash;
        }
    }

    /**
     * Every layout's slice boxes and slice holders (in parallel), then the canonical ids of their distributions in
     * layout order.
     */
    private void distributions() {
        int count = layouts.size();
        boxes = parallel(count, this::sliceBoxes).toArray(new long[0][][]);
        holders = parallel(count, this::sliceHolders).toArray(new int[0][]);
        canonicalOf = new int[count];
        Map<BoxesKey, Integer> ids = new HashMap<>();
        List<Integer> reps = new ArrayList<>();
        for (int id = 0; id < count; id++) {
            long[][] b = boxes[id];
            int w = b[0].length;
            long[] flat = new long[devices * w];
            for (int r = 0; r < devices; r++) {
                System.arraycopy(b[r], 0, flat, r * w, w);
            }
            BoxesKey key = new BoxesKey(flat, Arrays.hashCode(flat));
            Integer c = ids.get(key);
            if (c == null) {
                c = -1 - reps.size();
                ids.put(key, c);
                reps.add(id);
            }
            canonicalOf[id] = c;
        }
        representative = reps.stream().mapToInt(Integer::intValue).toArray();
    }

    /**
     * Every rank's slice box of layout {@code id} as {@code [rank][start..., end...]}: {@link Layout#sliceBox} of each
     * rank (slice coordinates: per tensor dimension the mixed-radix number of the rank's device coordinates along the
     * dimension's axes, times the slice shape), computed without a box per rank.
     */
    private long[][] sliceBoxes(int id) {
        Layout l = layouts.get(id);
        int r = l.rank();
        int[] dims = l.devMatrix().dims();
        long[] slice = l.sliceShape();
        int[][] axes = new int[r][];
        for (int i = 0; i < r; i++) {
            int[] a = l.tensorMap().entry(i).axes();
            axes[i] = new int[a.length];
            for (int k = 0; k < a.length; k++) {
                axes[i][k] = l.deviceDimOf(a[k]);
            }
        }
        long[][] out = new long[devices][];
        int[] coord = new int[dims.length];
        for (int rank = 0; rank < devices; rank++) {
            int rest = rank;
            for (int d = dims.length - 1; d >= 0; d--) {
                coord[d] = rest % dims[d];
                rest /= dims[d];
            }
            long[] v = new long[2 * r];
            for (int i = 0; i < r; i++) {
                long c = 0;
                for (int d : axes[i]) {
                    c = c * dims[d] + coord[d];
                }
                v[i] = c * slice[i];
                v[r + i] = v[i] + slice[i];
            }
            out[rank] = v;
        }
        return out;
    }

    /** The lowest rank holding each slice of layout {@code id}, by slice id (row-major over the split grid). */
    private int[] sliceHolders(int id) {
        Layout l = layouts.get(id);
        long[][] f = boxes[id];
        int[] out = new int[(int) l.sliceCount()];
        Arrays.fill(out, -1);
        for (int rank = 0; rank < devices; rank++) {
            int s = sliceId(l, f[rank]);
            if (out[s] < 0) {
                out[s] = rank;
            }
        }
        return out;
    }

    private static int sliceId(Layout l, long[] box) {
        long[] shape = l.shape();
        int r = shape.length;
        int id = 0;
        for (int d = 0; d < r; d++) {
            int splits = l.splits(d);
            id = id * splits + (int) (box[d] / (shape[d] / splits));
        }
        return id;
    }

    private static long overlap(long[] a, long[] b) {
        int r = a.length / 2;
        long v = 1;
        for (int d = 0; d < r; d++) {
            long lo = Math.max(a[d], b[d]);
            long hi = Math.min(a[r + d], b[r + d]);
            if (hi <= lo) {
                return 0;
            }
            v *= hi - lo;
        }
        return v;
    }

    /**
     * Estimated seconds of moving a tensor from layout {@code from} to {@code to} (above
     * {@link #EXACT_REDISTRIBUTION_DEVICES} devices, where planning every pair exactly is too slow): each rank
     * receives its target slice minus what its source slice already holds; the exchange is costed as an AllGather
     * whose per-rank receive is the largest of these (over the sampled ranks, {@link #SAMPLED_RANKS}), over rank 0
     * and, per source slice overlapping rank 0's target slice, the lowest rank holding it.
     */
    private double estimate(int from, int to, DType dtype) {
        long[][] f = boxes[from];
        long[][] t = boxes[to];
        long target = layouts.get(to).sliceVolume();
        long most = 0;
        for (int r : sample) {
            most = Math.max(most, target - overlap(f[r], t[r]));
            if (most == target) {
                break;
            }
        }
        if (most == 0) {
            return 0;
        }
        Placement group = sourceCache.computeIfAbsent(new SourceKey(from, t[0]), k -> {
            List<Integer> g = sources(from, t[0]);
            if (g.size() < 2) {
                g.add(1);
            }
            return cost.spec().placement(g);
        });
        int p = Math.max(2, group.ranks());
        long bytes = most * dtype.bytes();
        return cost.collectiveSeconds(CollectiveKind.ALL_GATHER, group, bytes * p / (p - 1));
    }

    /** A layout id and a box: the key of {@link #sources}. */
    private record SourceKey(int from, long[] box) {
        @Override
        public boolean equals(Object o) {
            return o instanceof SourceKey k && from == k.from && Arrays.equals(box, k.box);
        }

        @Override
        public int hashCode() {
            return 31 * from + Arrays.hashCode(box);
        }
    }

    /** The shape of {@link #sources} with rank 1 added to a group of fewer than two, by source layout and box. */
    private final Map<SourceKey, Placement> sourceCache = new ConcurrentHashMap<>();

    /**
     * Rank 0 and, for each slice of layout {@code from} overlapping {@code box} (rank 0's target slice) that rank 0
     * does not hold, the lowest rank holding it, ascending: the group rank 0 gathers from.
     */
    private List<Integer> sources(int from, long[] box) {
        Layout l = layouts.get(from);
        long[] shape = l.shape();
        int r = shape.length;
        int[] lo = new int[r];
        int[] hi = new int[r];
        int[] splits = new int[r];
        for (int d = 0; d < r; d++) {
            splits[d] = l.splits(d);
            long extent = shape[d] / splits[d];
            lo[d] = (int) (box[d] / extent);
            hi[d] = (int) ((box[r + d] + extent - 1) / extent);
            if (hi[d] <= lo[d]) {
                return new ArrayList<>();
            }
        }
        int[] holder = holders[from];
        List<Integer> group = new ArrayList<>();
        int[] cur = lo.clone();
        while (true) {
            int id = 0;
            for (int d = 0; d < r; d++) {
                id = id * splits[d] + cur[d];
            }
            group.add(holder[id]);
            int d = r - 1;
            while (d >= 0 && ++cur[d] == hi[d]) {
                cur[d] = lo[d];
                d--;
            }
            if (d < 0) {
                break;
            }
        }
        group.sort(null);
        return group;
    }

    /** Canonical keys whose exact plan would move more than {@link #EXACT_TRANSFERS} pieces: they keep estimates. */
    private final java.util.Set<RKey> keptEstimates = new java.util.HashSet<>();

    /**
     * How many pieces the exact redistribution from layout {@code from} to {@code to} moves
     * ({@link Redistribution#plan}: each rank receives every source slice overlapping its target slice, its own
     * apart, unless its source slice contains its target slice).
     */
    private long transfers(int from, int to) {
        Layout l = layouts.get(from);
        long[] shape = l.shape();
        int r = shape.length;
        long[] extent = new long[r];
        for (int d = 0; d < r; d++) {
            extent[d] = shape[d] / l.splits(d);
        }
        long[][] f = boxes[from];
        long[][] t = boxes[to];
        long total = 0;
        for (int rank = 0; rank < devices; rank++) {
            long[] src = f[rank];
            long[] dst = t[rank];
            long pieces = 1;
            boolean contains = true;
            boolean ownInside = true;
            for (int d = 0; d < r; d++) {
                contains &= src[d] <= dst[d] && dst[r + d] <= src[r + d];
                long lo = dst[d] / extent[d];
                long hi = (dst[r + d] + extent[d] - 1) / extent[d];
                pieces *= hi - lo;
                long own = src[d] / extent[d];
                ownInside &= own >= lo && own < hi;
            }
            if (!contains) {
                total += pieces - (ownInside ? 1 : 0);
            }
        }
        return total;
    }

    /**
     * Plans exactly the redistributions of {@code choice}'s edges that were estimated (apart from those moving more
     * than {@link #EXACT_TRANSFERS} pieces, which keep their estimates); false when none was.
     */
    private boolean exactify(int[] choice) {
        Map<RKey, RKey> missing = new LinkedHashMap<>();
        for (int i = 0; i < n; i++) {
            Options co = sigs.get(sigOf[i]);
            for (int j = 0; j < producer[i].length; j++) {
                int p = producer[i][j];
                if (p < 0) {
                    continue;
                }
                int from = sigs.get(sigOf[p]).out.get(choice[p])[producerOut[i][j]];
                int to = co.in.get(choice[i])[j];
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
            if (transfers(actual.from(), actual.to()) > EXACT_TRANSFERS
                    || (actual.grad() && transfers(actual.to(), actual.from()) > EXACT_TRANSFERS)) {
                keptEstimates.add(e.getKey());
            } else {
                keys.add(e.getKey());
            }
        }
        if (keys.isEmpty()) {
            return false;
        }
        List<Double> values = parallel(keys.size(), k -> exactShared(missing.get(keys.get(k))));
        for (int k = 0; k < keys.size(); k++) {
            exactCache.put(keys.get(k), values.get(k));
        }
        edgeCache.clear();
        return true;
    }

    private double exchangeSeconds(RedistributionPlan rp) {
        int b = rp.dtype().bytes();
        double s = 0;
        for (Step step : rp.steps()) {
            if (!(step instanceof Step.Exchange e)) {
                continue;
            }
            long[] recv = RedistributionCache.recvBytes(e, devices, b);
            s += cost.communicationSeconds(new Communication(e.kind(), Communication.Origin.REDISTRIBUTION,
                    Phase.FORWARD, "search", 0, "search", null, null, rp.from(), rp.to(), step.groups(), recv,
                    "search"));
        }
        return s;
    }

    /** Edge seconds [producer option][consumer option] for input {@code j} of node {@code i}. */
    private double[][] edge(int i, int j) {
        return edge(i, j, true);
    }

    /**
     * Edge seconds from each producer candidate to each consumer candidate. With {@code scatter}, an edge whose
     * backward the planner runs as one ReduceScatter is charged that instead of its transposed redistribution, less
     * the consumer's partial-gradient AllReduce charged in its own seconds (the objective of the dynamic
     * programming); without, the redistribution alone (what sharding propagation minimises).
     */
    private double[][] edge(int i, int j, boolean scatter) {
        int p = producer[i][j];
        String t = nodes.get(i).input(j);
        boolean grad = bg.needsGradient(t);
        EKey key = new EKey(sigOf[p], producerOut[i][j], sigOf[i], j, grad, scatter);
        double[][] m = edgeCache.get(key);
        if (m == null) {
            Options po = sigs.get(sigOf[p]);
            Options co = sigs.get(sigOf[i]);
            DType dtype = net.tensor(t).dtype();
            m = new double[po.strategies.size()][co.strategies.size()];
            // the only consumer of a tensor whose partial gradient goes back by one ReduceScatter (the planner fuses
            // the reduction and the transposed redistribution when the producer's slices tile the group's slice)
            boolean single = net.consumers(t).size() == 1;
            for (int a = 0; a < m.length; a++) {
                int from = po.out.get(a)[producerOut[i][j]];
                for (int c = 0; c < m[a].length; c++) {
                    int to = co.in.get(c)[j];
                    List<List<Integer>> partial = co.partial.get(c).get(j);
                    if (scatter && grad && single && partial != null && from != to
                            && scatters(to, from, partial)) {
                        m[a][c] = redistribution(from, to, dtype, false) + scatterSeconds(layouts.get(from), dtype,
                                partial) - co.partialSeconds[c][j];
                    } else {
                        m[a][c] = redistribution(from, to, dtype, grad);
                    }
                }
            }
            edgeCache.put(key, m);
        }
        return m;
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

    private final Map<ScatterKey, Boolean> scatterCache = new ConcurrentHashMap<>();

    /**
     * {@link Planner#scatters} of layout ids, cached by the (shared) group list: the producer's slice must be the
     * consumer's divided by the group size before the slices are compared.
     */
    private boolean scatters(int consumer, int producer, List<List<Integer>> groups) {
        Layout to = layouts.get(consumer);
        Layout from = layouts.get(producer);
        if (from.sliceBytes(DType.FLOAT32) * groups.get(0).size() != to.sliceBytes(DType.FLOAT32)) {
            return false;
        }
        return scatterCache.computeIfAbsent(new ScatterKey(consumer, producer, groups),
                k -> Planner.scatters(to, from, groups));
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

    // ---------------------------------------------------------------------------------------------- search

    private SearchResult run(SearchMode mode) {
        long start = System.nanoTime();
        progress.phase("search: candidates for " + n + " operators on " + devices + " devices");
        prepare();
        int maxOptions = 0;
        for (Options o : sigs) {
            maxOptions = Math.max(maxOptions, o.strategies.size());
        }
        progress.phase("search: " + sigs.size() + " distinct operators, at most " + maxOptions
                + " candidates each; " + (mode == SearchMode.SHARDING_PROPAGATION ? "propagating"
                : "dynamic programming"));
        precomputeRedistributions();
        List<Candidate> evaluated = new ArrayList<>();
        List<String> notes = new ArrayList<>();
        String baselineLabel = "semi-auto default (data parallel where not annotated)";
        if (mode == SearchMode.SHARDING_PROPAGATION) {
            evaluated.addAll(evaluateAll(List.of(config(propagate()), template),
                    List.of("sharding propagation", baselineLabel)));
        } else {
            double price = 0;
            double limit = cluster.device().memoryBytes();
            for (int round = 0; round <= MEMORY_ROUNDS; round++) {
                List<int[]> ends = solve(price);
                List<PlanConfig> configs = new ArrayList<>();
                List<String> labels = new ArrayList<>();
                for (int e = 0; e < ends.size(); e++) {
                    configs.add(config(ends.get(e)));
                    labels.add("dynamic programming #" + (e + 1) + (price > 0 ? String.format(Locale.ROOT,
                            " (memory price %.3g s/GiB)", price * (1L << 30)) : ""));
                }
                if (round == 0 && devices <= BASELINE_DEVICES) {
                    configs.add(template);
                    labels.add(baselineLabel);
                }
                planRedistributions(ends);
                List<Candidate> round1 = evaluateAll(configs, labels);
                evaluated.addAll(round1);
                round1 = round1.subList(0, ends.size());
                if (round1.stream().anyMatch(Candidate::fits)) {
                    break;
                }
                double seconds = round1.stream().mapToDouble(Candidate::seconds).min().orElse(1);
                price = price == 0 ? seconds / limit : price * 2;
                notes.add("the dynamic programming's best plans need " + gib(round1.get(0).memoryBytes())
                        + " but a device holds " + gib((long) limit) + "; searching again with a memory price");
                progress.phase("search: " + notes.get(notes.size() - 1));
            }
        }
        List<Candidate> fits = new ArrayList<>();
        List<Candidate> rejected = new ArrayList<>();
        java.util.Set<PlanConfig> seen = new java.util.HashSet<>();
        for (Candidate c : evaluated) {
            if (seen.add(c.config())) {
                (c.fits() ? fits : rejected).add(c);
            }
        }
        fits.sort(java.util.Comparator.comparingDouble(Candidate::seconds));
        rejected.sort(java.util.Comparator.comparingLong(Candidate::memoryBytes));
        if (fits.isEmpty()) {
            Candidate least = rejected.get(0);
            throw new IllegalArgumentException("search: no plan fits the " + gib(cluster.device().memoryBytes())
                    + " of a " + cluster.device().name() + "; the smallest found needs " + gib(least.memoryBytes())
                    + " (" + least.label() + "); use more devices, a smaller model or optimizer parallelism");
        }
        if (fits.get(0).config() == template) {
            // the semi-auto default won: give the result a strategy for every operator, as the planner chose them
            Candidate c = fits.get(0);
            fits.set(0, new Candidate(c.label(), explicit(template), c.seconds(), c.computeSeconds(),
                    c.commSeconds(), c.memoryBytes(), c.fits()));
        }
        Candidate best = fits.get(0);
        List<Candidate> runnersUp = new ArrayList<>(fits.subList(1, fits.size()));
        runnersUp.addAll(rejected);
        double ms = (System.nanoTime() - start) / 1e6;
        progress.phase(String.format(Locale.ROOT, "search: done in %.0f ms (%d layouts, %d distributions, %d "
                + "redistribution costs)", ms, layouts.size(), representative == null ? layouts.size()
                : representative.length, redistCache.size() + estimateCache.size() + exactCache.size()));
        return new SearchResult(best.config(), best.seconds(), best, runnersUp,
                explain(mode, best, fits, rejected, notes, ms, maxOptions));
    }

    /**
     * The assignments to evaluate at memory price {@code price}: the dynamic programming's ends after the refinement
     * of estimated edges, first with no bucket latency charged to fused gradient reductions, then with the previous
     * round's best plan's buckets priced ({@link #pricing}, {@link #FUSION_ROUNDS}, until a best plan repeats); of
     * all rounds' distinct ends the {@link #EVALUATED_ENDS} of least {@link #estimateOf}.
     */
    private List<int[]> solve(double price) {
        Pricing pricing = Pricing.optimistic(bucketKeys.size());
        List<int[]> pool = new ArrayList<>(refined(price, pricing));
        int[] last = pool.get(0);
        for (int round = 1; round <= FUSION_ROUNDS && !bucketKeys.isEmpty(); round++) {
            pricing = pricing(last);
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
            estimate[k] = estimateOf(pool.get(k), price);
            order[k] = k;
        }
        Arrays.sort(order, (x, y) -> Double.compare(estimate[x], estimate[y]));
        List<int[]> out = new ArrayList<>();
        for (int k = 0; k < Math.min(EVALUATED_ENDS, order.length); k++) {
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
     * seconds, edge seconds, and fused gradient reductions priced by the assignment's own buckets ({@link #pricing}).
     */
    private double estimateOf(int[] choice, double price) {
        Pricing pricing = pricing(choice);
        double total = 0;
        for (int i = 0; i < n; i++) {
            Options o = sigs.get(sigOf[i]);
            int c = choice[i];
            total += o.unary[c] + price * o.memory[c];
            for (int k = 0; k < o.buckets[c].length; k++) {
                int b = o.buckets[c][k];
                total += pricing.extra(b, o.bucketBytes[c][k], o.bucketMarginal[c][k], bucketLatency.get(b));
            }
            for (int j = 0; j < producer[i].length; j++) {
                if (producer[i][j] >= 0) {
                    total += edge(i, j)[choice[producer[i][j]]][c];
                }
            }
        }
        return total;
    }

    /** The dynamic programming's ends, repeated while the best end uses estimated edges ({@link #REFINEMENTS}). */
    private List<int[]> refined(double price, Pricing pricing) {
        List<int[]> ends = dynamicProgramming(price, pricing);
        for (int refine = 0; refine < REFINEMENTS && devices > EXACT_REDISTRIBUTION_DEVICES; refine++) {
            if (!exactify(ends.get(0))) {
                break;
            }
            progress.phase("search: refining with " + exactCache.size() + " exact redistributions");
            ends = dynamicProgramming(price, pricing);
        }
        return ends;
    }

    /**
     * Plans the redistributions of every edge of {@code ends} (and their transposes in backward) into the
     * {@link #shared} cache, all pairs in parallel, so that the evaluation's planners find them: planning them inside
     * each planner would leave a core idle while the last plan is evaluated.
     */
    private void planRedistributions(List<int[]> ends) {
        record Pair(int from, int to, DType dtype) {
        }
        LinkedHashSet<Pair> pairs = new LinkedHashSet<>();
        for (int[] choice : ends) {
            for (int i = 0; i < n; i++) {
                for (int j = 0; j < producer[i].length; j++) {
                    int p = producer[i][j];
                    if (p < 0) {
                        continue;
                    }
                    int from = sigs.get(sigOf[p]).out.get(choice[p])[producerOut[i][j]];
                    int to = sigs.get(sigOf[i]).in.get(choice[i])[j];
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
        parallel(list.size(), k -> shared.plan(layouts.get(list.get(k).from()), layouts.get(list.get(k).to()),
                list.get(k).dtype()));
    }

    /** Evaluates configurations in parallel (planning dominates on many devices), in order. */
    private List<Candidate> evaluateAll(List<PlanConfig> configs, List<String> labels) {
        progress.phase("search: evaluating " + configs.size() + " plans");
        AtomicInteger finished = new AtomicInteger();
        progress.advance(0, configs.size());
        return parallel(configs.size(), k -> {
            Candidate c = evaluate(net, configs.get(k), cluster, labels.get(k), shared);
            progress.advance(finished.incrementAndGet(), configs.size());
            return c;
        });
    }

    /** {@code config} with every operator's in_strategy (and out_strategy) made explicit as its plan has them. */
    private PlanConfig explicit(PlanConfig config) {
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
    private PlanConfig config(int[] choice) {
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
            Strategy s = sigs.get(sigOf[i]).strategies.get(choice[i]);
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

    /** Per node: {@link #liveAfter}, made by the first dynamic programming. */
    private int[][] live;

    /** Nodes whose outputs are read after node {@code i}, ascending. */
    private int[][] liveAfter() {
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
     * Dynamic programming (see the class comment) with {@code price} seconds per byte of memory added to each
     * option's own cost, and its fused gradient reductions priced by {@code pricing}; returns up to
     * {@link #EVALUATED_ENDS} complete assignments, best end state first.
     */
    private List<int[]> dynamicProgramming(double price, Pricing pricing) {
        progress.phase("search: dynamic programming over " + n + " operators");
        double[][] unary = new double[sigs.size()][];
        for (int s = 0; s < unary.length; s++) {
            Options o = sigs.get(s);
            unary[s] = new double[o.strategies.size()];
            for (int c = 0; c < unary[s].length; c++) {
                double v = o.unary[c] + price * o.memory[c];
                for (int k = 0; k < o.buckets[c].length; k++) {
                    int b = o.buckets[c][k];
                    v += pricing.extra(b, o.bucketBytes[c][k], o.bucketMarginal[c][k], bucketLatency.get(b));
                }
                unary[s][c] = v;
            }
        }
        if (live == null) {
            live = liveAfter();
        }
        double[][] best = new double[n][];
        int[][] arg = new int[n][];
        int[][][] liveChoice = new int[n][][];
        int step = Math.max(1, n / 100);
        for (int i = 0; i < n; i++) {
            Options o = sigs.get(sigOf[i]);
            int m = o.strategies.size();
            best[i] = new double[m];
            arg[i] = new int[m];
            liveChoice[i] = new int[m][];
            int k = producer[i].length;
            double[][][] edges = new double[k][][];
            int[] prevPos = new int[k];
            for (int j = 0; j < k; j++) {
                if (producer[i][j] >= 0) {
                    edges[j] = edge(i, j);
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
                progress.advance(i + 1, n);
            }
        }
        Integer[] ends = new Integer[best[n - 1].length];
        for (int c = 0; c < ends.length; c++) {
            ends[c] = c;
        }
        Arrays.sort(ends, (x, y) -> Double.compare(best[n - 1][x], best[n - 1][y]));
        List<int[]> out = new ArrayList<>();
        for (int e = 0; e < Math.min(EVALUATED_ENDS, ends.length); e++) {
            int[] choice = new int[n];
            choice[n - 1] = ends[e];
            for (int i = n - 1; i > 0; i--) {
                choice[i - 1] = arg[i][choice[i]];
            }
            out.add(choice);
        }
        return out;
    }

    /** Sharding propagation (see the class comment): an option index per node. */
    private int[] propagate() {
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
                Options o = sigs.get(sigOf[i]);
                int bestC = 0;
                double bestRedist = Double.POSITIVE_INFINITY;
                double bestOwn = Double.POSITIVE_INFINITY;
                for (int c = 0; c < o.strategies.size(); c++) {
                    double r = 0;
                    for (int j = 0; j < producer[i].length; j++) {
                        int p = producer[i][j];
                        if (p >= 0 && choice[p] >= 0) {
                            r += edge(i, j, false)[choice[p]][c];
                        }
                    }
                    for (int[] e : consumers.get(i)) {
                        if (choice[e[0]] >= 0) {
                            r += edge(e[0], e[1], false)[c][choice[e[0]]];
                        }
                    }
                    if (r < bestRedist || (r == bestRedist && o.unary[c] < bestOwn)) {
                        bestC = c;
                        bestRedist = r;
                        bestOwn = o.unary[c];
                    }
                }
                choice[i] = bestC;
            }
        }
        return choice;
    }

    // ---------------------------------------------------------------------------------------------- explanation

    private String explain(SearchMode mode, Candidate best, List<Candidate> fits, List<Candidate> rejected,
                           List<String> notes, double ms, int maxOptions) {
        StringBuilder sb = new StringBuilder();
        sb.append(String.format(Locale.ROOT, "search (%s) of '%s' on %d devices of cluster '%s': %d operators, %d "
                + "distinct, at most %d candidates each, %.0f ms%n", mode, net.name(), devices, cluster.name(), n,
                sigs.size(), maxOptions, ms));
        sb.append("objective: estimated step seconds = sum over operators of one rank's forward + backward compute "
                + "+ the seconds of every planned communication, a fusion bucket once (no overlap); memory = parameters, gradients, "
                + "optimizer state and buffers of rank 0 + its activations, limit ")
                .append(gib(cluster.device().memoryBytes())).append(String.format("%n"));
        for (String note : notes) {
            sb.append("note: ").append(note).append(String.format("%n"));
        }
        sb.append("chosen: ").append(best).append(String.format("%n"));
        Map<String, String> grouped = groupStrategies(best.config());
        grouped.forEach((k, v) -> sb.append("  ").append(k).append(' ').append(v).append(String.format("%n")));
        int r = 1;
        for (Candidate c : fits) {
            if (c != best) {
                sb.append("runner-up ").append(r++).append(": ").append(c).append(String.format("%n"));
            }
        }
        for (Candidate c : rejected) {
            sb.append("rejected: ").append(c.label()).append(": needs ").append(gib(c.memoryBytes()))
                    .append(" but a device holds ").append(gib(cluster.device().memoryBytes()))
                    .append(String.format(Locale.ROOT, " (%.3f ms)%n", c.seconds() * 1e3));
        }
        return sb.toString();
    }

    /** Strategies by operator, layers with the same strategy printed once as {@code layers.*.name}. */
    private Map<String, String> groupStrategies(PlanConfig config) {
        Map<String, List<String>> byPattern = new LinkedHashMap<>();
        for (Node node : nodes) {
            String pattern = node.name().replaceAll("^layers\\.\\d+\\.", "layers.*.");
            byPattern.computeIfAbsent(pattern, k -> new ArrayList<>()).add(node.name());
        }
        Map<String, String> out = new LinkedHashMap<>();
        for (Map.Entry<String, List<String>> e : byPattern.entrySet()) {
            java.util.Set<String> distinct = new java.util.LinkedHashSet<>();
            e.getValue().forEach(name -> distinct.add(config.inStrategies().get(name).toString()));
            if (distinct.size() == 1) {
                out.put(e.getKey(), distinct.iterator().next());
            } else {
                e.getValue().forEach(name -> out.put(name, config.inStrategies().get(name).toString()));
            }
        }
        return out;
    }

    private static String gib(long bytes) {
        if (bytes < (1L << 30)) {
            return String.format(Locale.ROOT, "%.2f MiB", bytes / (double) (1L << 20));
        }
        return String.format(Locale.ROOT, "%.2f GiB", bytes / (double) (1L << 30));
    }
}
