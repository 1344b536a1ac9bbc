package io.tessera.planner.search;

import io.tessera.layout.DType;
import io.tessera.layout.Layout;
import io.tessera.layout.param.ParallelMode;
import io.tessera.layout.param.Parameter;
import io.tessera.layout.redistribution.Redistribution;
import io.tessera.layout.redistribution.RedistributionPlan;
import io.tessera.layout.redistribution.Step;
import io.tessera.layout.redistribution.Transfer;
import io.tessera.planner.cost.ClusterSpec;
import io.tessera.planner.cost.CostModel;
import io.tessera.planner.graph.BackwardGraph;
import io.tessera.planner.graph.Network;
import io.tessera.planner.graph.Node;
import io.tessera.planner.op.OpComm;
import io.tessera.planner.op.OpSharding;
import io.tessera.planner.op.Operator;
import io.tessera.planner.op.Strategy;
import io.tessera.planner.op.TensorType;
import io.tessera.planner.plan.Communication;
import io.tessera.planner.plan.OpPlan;
import io.tessera.planner.plan.Phase;
import io.tessera.planner.plan.Plan;
import io.tessera.planner.plan.PlanConfig;
import io.tessera.planner.plan.Planner;
import io.tessera.planner.strategy.DatasetStrategy;
import io.tessera.planner.strategy.SearchMode;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.Consumer;

/**
 * The automatic strategy search of {@code auto_parallel}: chooses an in_strategy for every operator the user did not
 * annotate, minimising an estimate of the training step's seconds under each rank's memory limit.
 *
 * <p><b>Objective</b> ({@link #evaluate}): the plan of a candidate configuration is made with {@link Planner#plan};
 * its estimated step seconds are the sum over operators of one rank's forward plus backward compute seconds
 * ({@link CostModel#computeSeconds}) plus the sum of the seconds of every communication the plan inserts
 * ({@link CostModel#communicationSeconds}): no overlap of communication with compute, so it is an upper bound of
 * the analytic timeline's step. Memory: {@code Plan.memory(0).total()} plus {@link CostModel#activationBytes} (layouts
 * slice evenly, so rank 0 stands for every rank) must fit the device memory, else the candidate is rejected.
 *
 * <p><b>Search cost</b>: the same terms, split per operator. An operator's own cost is its compute seconds plus the
 * seconds of its own communication (forward reductions, the backward reductions of partial input gradients,
 * including parameters' gradient reductions); an edge's cost is the seconds of the redistribution from the
 * producer's output layout to the layout the consumer needs, plus its transpose in backward when the tensor has a
 * gradient: exact redistribution plans up to {@link #EXACT_REDISTRIBUTION_DEVICES} devices, an estimate above
 * (see {@link #estimate}) that is replaced by the exact plan on the edges the best plans use, the dynamic
 * programming then repeated ({@link #REFINEMENTS}). Data inputs are laid out as their first consumer needs (the searched configuration's dataset strategy)
 * and cost nothing; parameters take their consumer's layout. The split is exact for a chain of operators; in a DAG
 * the partial-gradient AllReduce of a tensor with {@code k} consumers is charged {@code 1/k} to each, since the
 * planner sums the partials locally and reduces once (exact when the consumers reduce over the same groups).
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
     * The most rounds of refinement: above {@link #EXACT_REDISTRIBUTION_DEVICES} devices the redistributions of the
     * best plans' edges are planned exactly and the dynamic programming repeated, until its best plans use no
     * estimated edge (the best plan's; the runners-up may keep estimated edges, their exact objective is evaluated
     * anyway).
     */
    public static final int REFINEMENTS = 8;

    /** The most rounds of the memory price. */
    private static final int MEMORY_ROUNDS = 24;

    private final Network net;
    private final PlanConfig template;
    private final int devices;
    private final ClusterSpec cluster;
    private final CostModel cost;
    private final int cap;
    private final Consumer<String> progress;
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
    private final Map<RKey, Double> redistCache = new HashMap<>();
    private final Map<EKey, double[][]> edgeCache = new HashMap<>();

    private record SigKey(Operator op, List<TensorType> types, Strategy fixed, List<Boolean> gradIn,
                          List<Boolean> paramIn, List<Integer> consumersIn) {
    }

    private record RKey(int from, int to, DType dtype, boolean grad) {
    }

    private record CKey(io.tessera.layout.DeviceMatrix dev, List<Integer> axes, OpComm.Kind kind, OpComm.Phase phase,
                        long slice) {
    }

    private final Map<CKey, Double> commCache = new HashMap<>();

    private record EKey(int sigP, int out, int sigC, int in, boolean grad) {
    }

    /** The candidates of one operator signature with their own costs. */
    private static final class Options {
        final List<Strategy> strategies = new ArrayList<>();
        final List<int[]> in = new ArrayList<>();
        final List<int[]> out = new ArrayList<>();
        double[] unary;
        double[] memory;
    }

    private Search(Network net, PlanConfig template, ClusterSpec cluster, int cap, Consumer<String> progress) {
        this.net = net;
        this.template = template;
        this.devices = template.devices();
        this.cluster = cluster;
        this.cost = new CostModel(cluster);
        this.cap = cap;
        this.progress = progress == null ? s -> { } : progress;
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
     * @param progress receives one-line progress messages, or null
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
        double total = 0;
        for (int i = 0; i < s.n; i++) {
            total += s.sigs.get(s.sigOf[i]).unary[choice[i]];
            for (int j = 0; j < s.producer[i].length; j++) {
                if (s.producer[i][j] >= 0) {
                    total += s.edge(i, j)[choice[s.producer[i][j]]][choice[i]];
                }
            }
        }
        return total;
    }

    /**
     * The exact objective of a configuration (see the class comment): plans it and sums compute and communication
     * seconds; memory of rank 0 against the cluster's device memory.
     */
    public static Candidate evaluate(Network net, PlanConfig config, ClusterSpec cluster, String label) {
        CostModel cm = new CostModel(cluster);
        Plan plan = Planner.plan(net, config);
        double compute = 0;
        for (OpPlan op : plan.ops()) {
            compute += cm.computeSeconds(net, op, false) + cm.computeSeconds(net, op, true);
        }
        double comm = 0;
        for (Communication c : plan.comms()) {
            comm += cm.communicationSeconds(c);
        }
        long memory = plan.memory(0).total() + cm.activationBytes(net, plan, 0);
        return new Candidate(label, config, compute + comm, compute, comm, memory,
                memory <= cluster.device().memoryBytes());
    }

    // ---------------------------------------------------------------------------------------------- preparation

    private void prepare() {
        Map<String, Integer> index = new HashMap<>();
        for (int i = 0; i < n; i++) {
            index.put(nodes.get(i).name(), i);
        }
        Map<SigKey, Integer> sigIds = new HashMap<>();
        for (int i = 0; i < n; i++) {
            Node node = nodes.get(i);
            List<TensorType> types = types(node);
            int k = node.inputs().size();
            producer[i] = new int[k];
            producerOut[i] = new int[k];
            List<Boolean> gradIn = new ArrayList<>();
            List<Boolean> paramIn = new ArrayList<>();
            List<Integer> consumersIn = new ArrayList<>();
            for (int j = 0; j < k; j++) {
                String t = node.input(j);
                Node p = net.isParameter(t) ? null : net.producer(t);
                producer[i][j] = p == null ? -1 : index.get(p.name());
                producerOut[i][j] = p == null ? -1 : p.outputs().indexOf(t);
                gradIn.add(bg.needsGradient(t));
                paramIn.add(net.isParameter(t) && net.parameter(t).layerwiseParallel());
                consumersIn.add(net.isParameter(t) ? 1 : net.consumers(t).size());
            }
            Strategy fixed = template.inStrategies().get(node.name());
            SigKey key = new SigKey(node.op(), types, fixed, gradIn, paramIn, consumersIn);
            Integer id = sigIds.get(key);
            if (id == null) {
                id = sigs.size();
                sigIds.put(key, id);
                sigs.add(options(node, types, fixed));
            }
            sigOf[i] = id;
        }
    }

    private List<TensorType> types(Node node) {
        List<TensorType> types = new ArrayList<>();
        for (String t : node.inputs()) {
            types.add(net.tensor(t));
        }
        return types;
    }

    private Options options(Node node, List<TensorType> types, Strategy fixed) {
        List<TensorType> outTypes = node.op().outputs(node.name(), types);
        Map<Strategy, double[]> scored = new LinkedHashMap<>();
        List<Strategy> chosen;
        if (fixed != null) {
            chosen = List.of(fixed);
        } else {
            chosen = StrategyCandidates.best(node.name(), node.op(), types, devices, cap,
                    s -> scored.computeIfAbsent(s, x -> own(node, types, outTypes, x))[0]);
        }
        Options o = new Options();
        o.unary = new double[chosen.size()];
        o.memory = new double[chosen.size()];
        for (int c = 0; c < chosen.size(); c++) {
            Strategy s = chosen.get(c);
            double[] v = scored.computeIfAbsent(s, x -> own(node, types, outTypes, x));
            OpSharding sh = node.op().shard(node.name(), types, s, template.outStrategies().get(node.name()),
                    devices);
            int[] in = new int[types.size()];
            for (int j = 0; j < in.length; j++) {
                in[j] = intern(sh.inputLayout(j, types.get(j)));
            }
            int[] out = new int[outTypes.size()];
            for (int j = 0; j < out.length; j++) {
                out[j] = intern(sh.outputLayout(j, outTypes.get(j)));
            }
            o.strategies.add(s);
            o.in.add(in);
            o.out.add(out);
            o.unary[c] = v[0];
            o.memory[c] = v[1];
        }
        return o;
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

    /**
     * An operator's own seconds (forward and backward compute plus its communication) and its memory bytes
     * (parameter slices twice, for the parameter and its gradient, plus output slices) under strategy {@code s}.
     */
    private double[] own(Node node, List<TensorType> types, List<TensorType> outTypes, Strategy s) {
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
        for (OpComm c : sh.comms()) {
            String t = c.output() ? node.output(c.index()) : node.input(c.index());
            if (c.phase() == OpComm.Phase.BACKWARD) {
                if (!bg.needsGradient(t)) {
                    continue;
                }
                if (!c.output() && net.isParameter(t)) {
                    Parameter p = net.parameter(t);
                    if (!p.requiresGrad() || p.layerwiseParallel()) {
                        continue;
                    }
                }
            }
            TensorType type = c.output() ? outTypes.get(c.index()) : types.get(c.index());
            Layout l = c.output() ? out.get(c.index()) : in.get(c.index());
            long slice = c.payload() >= 0 ? c.payload() * type.dtype().bytes() : l.sliceBytes(type.dtype());
            String tensor = t;
            double share = c.phase() == OpComm.Phase.BACKWARD && !c.output() && !net.isParameter(t)
                    && c.kind() == OpComm.Kind.ALL_REDUCE ? 1.0 / net.consumers(t).size() : 1.0;
            CKey key = new CKey(sh.devMatrix(), Arrays.stream(c.axes()).boxed().toList(), c.kind(), c.phase(), slice);
            Double commSeconds = commCache.get(key);
            if (commSeconds == null) {
                List<List<Integer>> groups = c.groups(sh.devMatrix());
                long[] recv = new long[devices];
                for (List<Integer> g : groups) {
                    long each = ringBytes(c, slice, g.size());
                    for (int r : g) {
                        recv[r] = each;
                    }
                }
                commSeconds = cost.communicationSeconds(new Communication(c.kind().op(),
                        Communication.Origin.OPERATOR, c.phase() == OpComm.Phase.FORWARD ? Phase.FORWARD
                        : Phase.BACKWARD, node.name(), -1, tensor, null, null, null, null, groups, recv, c.reason()));
                commCache.put(key, commSeconds);
            }
            // the planner sums the partial gradients of a tensor's consumers locally and reduces once: each of k
            // consumers is charged 1/k of its reduction (exact when they reduce over the same groups)
            seconds += share * commSeconds;
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
        return new double[] {seconds, memory};
    }

    /** Bytes one member of an {@code n}-rank group receives, as the planner records them. */
    private static long ringBytes(OpComm c, long slice, int n) {
        switch (c.kind()) {
            case ALL_REDUCE:
                return 2 * slice * (n - 1) / n;
            case REDUCE_SCATTER:
                return slice * (n - 1);
            default:
                return c.phase() == OpComm.Phase.FORWARD ? slice * (n - 1) / n : slice * (n - 1);
        }
    }

    /** Seconds of redistributing a tensor from layout {@code from} to {@code to}, and back in backward if grad. */
    private double redistribution(int from, int to, DType dtype, boolean grad) {
        if (from == to) {
            return 0;
        }
        RKey key = new RKey(from, to, dtype, grad);
        Double v = exactCache.get(key);
        if (v != null) {
            return v;
        }
        v = redistCache.get(key);
        if (v == null && devices > EXACT_REDISTRIBUTION_DEVICES) {
            // the estimate depends only on which rank holds which slice: cache it by distribution (canonical ids are
            // negative, apart from layout ids)
            RKey canonical = new RKey(canonical(from), canonical(to), dtype, grad);
            v = redistCache.get(canonical);
            if (v == null) {
                double f = canonical.from() == canonical.to() ? 0 : estimate(from, to, dtype);
                v = canonical.from() == canonical.to() ? 0 : f + (grad ? estimate(to, from, dtype) : 0);
                redistCache.put(canonical, v);
            }
            redistCache.put(key, v);
        } else if (v == null) {
            RedistributionPlan forward = Redistribution.plan(layouts.get(from), layouts.get(to), dtype);
            double s = exchangeSeconds(forward);
            if (grad && !forward.steps().isEmpty()) {
                s += exchangeSeconds(Redistribution.plan(layouts.get(to), layouts.get(from), dtype));
            }
            v = s;
            redistCache.put(key, v);
        }
        return v;
    }

    /**
     * The ranks whose receive the estimate takes the largest of: every rank up to {@link #SAMPLED_RANKS}, else
     * the first {@code SAMPLED_RANKS / 2}, every {@code devices / (SAMPLED_RANKS / 2)}-th and a fixed pseudo-random
     * selection (layouts slice on a grid of rank bits; the sample covers low, high and mixed bits).
     */
    private int[] sample() {
        if (devices <= SAMPLED_RANKS) {
            return java.util.stream.IntStream.range(0, devices).toArray();
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

    private int[] sample;

    /** Per layout id, each rank's slice box as {@code [rank][start..., end...]}. */
    private final Map<Integer, long[][]> boxes = new HashMap<>();

    private long[][] boxes(int id) {
        return boxes.computeIfAbsent(id, k -> {
            Layout l = layouts.get(k);
            long[][] out = new long[devices][];
            int r = l.rank();
            for (int rank = 0; rank < devices; rank++) {
                io.tessera.layout.Box b = l.sliceBox(rank);
                long[] v = new long[2 * r];
                for (int d = 0; d < r; d++) {
                    v[d] = b.start(d);
                    v[r + d] = b.end(d);
                }
                out[rank] = v;
            }
            return out;
        });
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

    /** Layout ids by their distribution (every rank's slice box), as negative numbers apart from layout ids. */
    private final Map<Integer, Integer> canonicalOf = new HashMap<>();
    private final Map<BoxesKey, Integer> canonicalIds = new HashMap<>();

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

    private int canonical(int id) {
        return canonicalOf.computeIfAbsent(id, k -> {
            long[][] b = boxes(k);
            int w = b[0].length;
            long[] flat = new long[devices * w];
            for (int r = 0; r < devices; r++) {
                System.arraycopy(b[r], 0, flat, r * w, w);
            }
            return canonicalIds.computeIfAbsent(new BoxesKey(flat, Arrays.hashCode(flat)),
                    x -> -1 - canonicalIds.size());
        });
    }

    /**
     * Estimated seconds of moving a tensor from layout {@code from} to {@code to} (above
     * {@link #EXACT_REDISTRIBUTION_DEVICES} devices, where planning every pair exactly is too slow): each rank
     * receives its target slice minus what its source slice already holds; the exchange is costed as an AllGather
     * whose per-rank receive is the largest of these (over the sampled ranks, {@link #SAMPLED_RANKS}), over rank 0
     * and, per source slice overlapping rank 0's target slice, the lowest rank holding it.
     */
    private double estimate(int from, int to, DType dtype) {
        long[][] f = boxes(from);
        long[][] t = boxes(to);
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
        List<Integer> group = sources(from, t[0]);
        int p = Math.max(2, group.size());
        if (group.size() < 2) {
            group.add(1);
        }
        long bytes = most * dtype.bytes();
        return cost.collectiveSeconds("AllGather", group, bytes * p / (p - 1));
    }

    /**
     * Rank 0 and, for each slice of layout {@code from} overlapping {@code box} (rank 0's target slice) that rank 0
     * does not hold, the lowest rank holding it: the group rank 0 gathers from.
     */
    private List<Integer> sources(int from, long[] box) {
        Layout l = layouts.get(from);
        long[] shape = l.shape();
        int r = shape.length;
        long needed = 1;
        long[] extent = new long[r];
        int[] splits = new int[r];
        for (int d = 0; d < r; d++) {
            splits[d] = l.splits(d);
            extent[d] = shape[d] / splits[d];
            needed *= (box[r + d] + extent[d] - 1) / extent[d];
        }
        long[][] f = boxes(from);
        boolean[] seen = new boolean[(int) l.sliceCount()];
        int found = 0;
        List<Integer> group = new ArrayList<>();
        for (int rank = 0; rank < devices && found < needed; rank++) {
            if (overlap(f[rank], box) > 0) {
                int id = 0;
                for (int d = 0; d < r; d++) {
                    id = id * splits[d] + (int) (f[rank][d] / extent[d]);
                }
                if (!seen[id]) {
                    seen[id] = true;
                    found++;
                    group.add(rank);
                }
            }
        }
        return group;
    }

    /** Redistribution seconds from exact plans, replacing estimates on the edges a best plan uses. */
    private final Map<RKey, Double> exactCache = new HashMap<>();

    /** Plans exactly the redistributions of {@code choice}'s edges that were estimated; false when none was. */
    private boolean exactify(int[] choice) {
        boolean changed = false;
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
                RKey key = new RKey(from, to, net.tensor(t).dtype(), bg.needsGradient(t));
                if (from == to || exactCache.containsKey(key)) {
                    continue;
                }
                RedistributionPlan forward = Redistribution.plan(layouts.get(from), layouts.get(to), key.dtype());
                double s = exchangeSeconds(forward);
                if (key.grad() && !forward.steps().isEmpty()) {
                    s += exchangeSeconds(Redistribution.plan(layouts.get(to), layouts.get(from), key.dtype()));
                }
                exactCache.put(key, s);
                changed = true;
            }
        }
        if (changed) {
            edgeCache.clear();
        }
        return changed;
    }

    private double exchangeSeconds(RedistributionPlan rp) {
        int b = rp.dtype().bytes();
        double s = 0;
        for (Step step : rp.steps()) {
            if (!(step instanceof Step.Exchange e)) {
                continue;
            }
            long[] recv = new long[devices];
            for (Transfer t : e.transfers()) {
                recv[t.dst()] += t.elements() * b;
            }
            s += cost.communicationSeconds(new Communication(step.op(), Communication.Origin.REDISTRIBUTION,
                    Phase.FORWARD, "search", 0, "search", null, null, rp.from(), rp.to(), step.groups(), recv,
                    "search"));
        }
        return s;
    }

    /** Edge seconds [producer option][consumer option] for input {@code j} of node {@code i}. */
    private double[][] edge(int i, int j) {
        int p = producer[i][j];
        String t = nodes.get(i).input(j);
        boolean grad = bg.needsGradient(t);
        EKey key = new EKey(sigOf[p], producerOut[i][j], sigOf[i], j, grad);
        double[][] m = edgeCache.get(key);
        if (m == null) {
            Options po = sigs.get(sigOf[p]);
            Options co = sigs.get(sigOf[i]);
            DType dtype = net.tensor(t).dtype();
            m = new double[po.strategies.size()][co.strategies.size()];
            for (int a = 0; a < m.length; a++) {
                int from = po.out.get(a)[producerOut[i][j]];
                for (int c = 0; c < m[a].length; c++) {
                    m[a][c] = redistribution(from, co.in.get(c)[j], dtype, grad);
                }
            }
            edgeCache.put(key, m);
        }
        return m;
    }

    // ---------------------------------------------------------------------------------------------- search

    private SearchResult run(SearchMode mode) {
        long start = System.nanoTime();
        progress.accept("search: candidates for " + n + " operators on " + devices + " devices");
        prepare();
        int maxOptions = 0;
        for (Options o : sigs) {
            maxOptions = Math.max(maxOptions, o.strategies.size());
        }
        progress.accept("search: " + sigs.size() + " distinct operators, at most " + maxOptions
                + " candidates each; " + (mode == SearchMode.SHARDING_PROPAGATION ? "propagating" : "dynamic programming"));
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
                List<int[]> ends = dynamicProgramming(price);
                for (int refine = 0; refine < REFINEMENTS && devices > EXACT_REDISTRIBUTION_DEVICES; refine++) {
                    if (!exactify(ends.get(0))) {
                        break;
                    }
                    progress.accept("search: refining with " + exactCache.size() + " exact redistributions");
                    ends = dynamicProgramming(price);
                }
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
                progress.accept("search: evaluating " + configs.size() + " plans");
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
                progress.accept("search: " + notes.get(notes.size() - 1));
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
        Candidate best = fits.get(0);
        List<Candidate> runnersUp = new ArrayList<>(fits.subList(1, fits.size()));
        runnersUp.addAll(rejected);
        double ms = (System.nanoTime() - start) / 1e6;
        progress.accept(String.format(Locale.ROOT, "search: done in %.0f ms (%d layouts, %d distributions, %d "
                + "redistribution costs)", ms, layouts.size(), canonicalIds.size(), redistCache.size()));
        return new SearchResult(best.config(), best.seconds(), best, runnersUp,
                explain(mode, best, fits, rejected, notes, ms, maxOptions));
    }

    /** Evaluates configurations in parallel (planning dominates on many devices), in order. */
    private List<Candidate> evaluateAll(List<PlanConfig> configs, List<String> labels) {
        return java.util.stream.IntStream.range(0, configs.size()).parallel()
                .mapToObj(k -> evaluate(net, configs.get(k), cluster, labels.get(k))).toList();
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
     * option's own cost; returns up to {@link #EVALUATED_ENDS} complete assignments, best end state first.
     */
    private List<int[]> dynamicProgramming(double price) {
        int[][] live = liveAfter();
        double[][] best = new double[n][];
        int[][] arg = new int[n][];
        int[][][] liveChoice = new int[n][][];
        int step = Math.max(1, n / 10);
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
                int[] pc = new int[k];
                for (int a = 0; a < best[i - 1].length; a++) {
                    double base = best[i - 1][a];
                    for (int j = 0; j < k; j++) {
                        if (producer[i][j] >= 0) {
                            pc[j] = prevPos[j] < 0 ? a : liveChoice[i - 1][a][prevPos[j]];
                        }
                    }
                    for (int c = 0; c < m; c++) {
                        double v = base;
                        for (int j = 0; j < k; j++) {
                            if (edges[j] != null) {
                                v += edges[j][pc[j]][c];
                            }
                        }
                        if (v < best[i][c]) {
                            best[i][c] = v;
                            arg[i][c] = a;
                        }
                    }
                }
            }
            for (int c = 0; c < m; c++) {
                best[i][c] += o.unary[c] + price * o.memory[c];
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
            if ((i + 1) % step == 0) {
                progress.accept("search: dynamic programming " + (i + 1) + "/" + n + " operators");
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
                            r += edge(i, j)[choice[p]][c];
                        }
                    }
                    for (int[] e : consumers.get(i)) {
                        if (choice[e[0]] >= 0) {
                            r += edge(e[0], e[1])[c][choice[e[0]]];
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
                + "+ the seconds of every planned communication (no overlap); memory = parameters, gradients, "
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
