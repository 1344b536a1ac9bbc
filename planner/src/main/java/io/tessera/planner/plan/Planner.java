package io.tessera.planner.plan;

import io.tessera.layout.comm.CollectiveKind;
import io.tessera.layout.comm.Phase;

import io.tessera.layout.Box;
import io.tessera.layout.DType;
import io.tessera.layout.DeviceMatrix;
import io.tessera.layout.Layout;
import io.tessera.layout.param.ParallelMode;
import io.tessera.layout.param.Parameter;
import io.tessera.layout.redistribution.RedistributionPlan;
import io.tessera.layout.redistribution.ReduceOp;
import io.tessera.layout.redistribution.Step;
import io.tessera.planner.graph.BackwardGraph;
import io.tessera.planner.graph.Network;
import io.tessera.planner.graph.Node;
import io.tessera.planner.op.BatchNorm;
import io.tessera.planner.op.MoeAuxLoss;
import io.tessera.planner.op.OpComm;
import io.tessera.planner.op.OpSharding;
import io.tessera.planner.op.Strategy;
import io.tessera.planner.op.TensorType;
import io.tessera.planner.strategy.DatasetStrategy;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Turns a network and per-operator strategies into a {@link Plan} (semi-auto parallel).
 *
 * <ol>
 * <li>Each operator's strategy (the user's, else data parallel) gives, through its sharding rule, the layouts its
 *     inputs must have and its outputs get. Data inputs are laid out by the dataset strategy; a parameter takes the
 *     layout its first consumer needs.</li>
 * <li>Where a tensor's layout differs from the one a consumer needs, the byte-minimal redistribution is inserted
 *     (forward), and its transpose carries the gradient back (backward). An activation is redistributed once per
 *     target layout: later consumers needing the same layout (with the same partial-gradient groups) reuse the first
 *     one's copy ({@link OpPlan#reuses()}), and in backward their gradients are summed locally and sent back once. A
 *     gradient that is partial over a group whose members' producer slices tile their common slice (e.g. a
 *     sequence-parallel LayerNorm output gathered for a column-parallel MatMul) goes back as one ReduceScatter
 *     instead of an AllReduce followed by a local slice.</li>
 * <li>Operators' own communication is inserted: forward reductions of partial outputs; in backward, the reduction
 *     of partial input gradients. For a trainable parameter that reduction is its gradient reduction (sum, or mean
 *     with {@code gradients_mean}), skipped for {@code layerwise_parallel} parameters. As in MindSpore the partial
 *     gradients sum to the one-device gradient, so the mean (the mirror operator's {@code mean_flag}, dividing by its
 *     group's size) gives it divided by the size of the parameter's reduction group, not by the device count. A
 *     parameter used by several operators (a tied word table) has its consumers' partial gradients summed locally
 *     and reduced once, a redistributed consumer's partial first returned to the parameter's layout
 *     ({@link PartialSums}). A
 *     backward reduction of a payload other than the gradient (BatchNorm's gradient statistics) stays the
 *     operator's, whatever its input.</li>
 * </ol>
 * In {@code data_parallel} mode every operator is data parallel and, as in MindSpore, runs on its batch shard
 * alone: no operator communication is inserted (the loss and batch statistics are per rank), only each parameter's
 * gradient reduction (use {@code gradients_mean} to average: the per-rank shard means' gradients sum to the group size
 * times the one-device gradient). Redistribution plans are cached per (source layout,
 * target layout, dtype), so repeated layers cost little.
 */
public final class Planner {

    private final Network network;
    private final PlanConfig config;
    private final int devices;
    /** False in data_parallel mode: operators run on their batch shard alone, as in MindSpore. */
    private final boolean operatorComms;
    private final RedistributionCache cache;
    /** Bytes each rank receives in a step of a cached redistribution plan (the communication copies the array). */
    private final Map<Step, long[]> recvCache = new java.util.IdentityHashMap<>();
    private final Map<GroupKey, Groups> groupCache = new HashMap<>();

    /** {@link #scatters} by layouts and (cached, shared) group list. */
    private record ScatterKey(Layout consumer, Layout producer, List<List<Integer>> groups) {
        @Override
        public boolean equals(Object o) {
            return o instanceof ScatterKey k && k.consumer.equals(consumer) && k.producer.equals(producer)
                    && k.groups == groups;
        }

        @Override
        public int hashCode() {
            return 31 * (31 * consumer.hashCode() + producer.hashCode()) + System.identityHashCode(groups);
        }
    }

    private final Map<ScatterKey, Boolean> scatterCache = new HashMap<>();
    private final Map<ShardKey, OptimizerShard> shardCache = new HashMap<>();

    private record ShardKey(Layout layout, DType dtype, boolean trainable, boolean parallelOptimizer) {
    }

    /** Per operator, per input: the forward redistribution plan it executes, or null (see {@link OpExecution}). */
    private final Map<String, List<RedistributionPlan>> forwardRoutes = new HashMap<>();
    /** Per {@code operator#input}: the transposed redistribution returning the input's gradient. */
    private final Map<String, RedistributionPlan> backwardRoutes = new HashMap<>();

    /** Optimizer sharding of each parameter, decided at its first consumer. */
    private final Map<String, OptimizerShard> shards = new LinkedHashMap<>();

    private record GroupKey(DeviceMatrix dev, List<Integer> axes) {
    }

    /** Rank groups with their common size when every rank is in one group of that size (else -1). */
    private record Groups(List<List<Integer>> groups, int uniformSize) {
        static Groups of(List<List<Integer>> groups, int devices) {
            int size = groups.get(0).size();
            boolean uniform = groups.stream().allMatch(g -> g.size() == size) && size * groups.size() == devices;
            return new Groups(groups, uniform ? size : -1);
        }
    }

    /**
     * A redistribution recorded in forward, to be transposed in backward. {@code partial}: the groups over which the
     * consumer's gradient of that input is partial (empty when complete). {@code owner}: the earlier edge whose
     * redistributed tensor this consumer reuses, or null when it redistributes itself.
     */
    private record Edge(Node node, int input, String tensor, Layout from, Layout to, List<List<Integer>> partial,
                        Edge owner) {
        String key() {
            return node.name() + "#" + input;
        }
    }

    /** What makes two consumers' redistributions of one tensor the same: the target layout and partial groups. */
    private record ShareKey(String tensor, Layout to, List<List<Integer>> partial) {
    }

    /** Pipeline stage by operator name; empty for one stage. */
    private final Map<String, Integer> stageOf;

    private Planner(Network network, PlanConfig config, Map<String, Integer> stageOf, RedistributionCache cache) {
        this.cache = cache == null ? RedistributionCache.create() : cache;
        this.network = network;
        this.config = config;
        this.stageOf = stageOf;
        this.devices = config.devices();
        this.operatorComms = config.mode() != ParallelMode.DATA_PARALLEL;
        if (!operatorComms && config.devices() > 1) {
            for (Node n : network.nodes()) {
                if (n.op() instanceof MoeAuxLoss) {
                    throw new IllegalArgumentException("MoeAuxLoss '" + n.name() + "': parallel_mode data_parallel "
                            + "runs each rank on its batch shard alone, but the load-balancing loss is taken over all "
                            + "tokens of the batch; use semi_auto_parallel (or a parallelism section), or drop the "
                            + "auxiliary loss (network argument aux_loss false)");
                }
            }
            for (String in : network.inputs()) {
                long[] shape = network.tensor(in).shape();
                if (shape.length > 0 && shape[0] % config.devices() != 0) {
                    throw new IllegalArgumentException("input '" + in + "': batch dim of size " + shape[0] + " does "
                            + "not split over the " + config.devices() + " devices of parallel_mode data_parallel, "
                            + "which runs each rank on its batch shard alone; use a batch that is a multiple of "
                            + config.devices() + " (or semi_auto_parallel)");
                }
            }
        }
    }

    /**
     * Plans {@code network} under {@code config}.
     *
     * @throws IllegalArgumentException for strategies naming unknown operators, invalid strategies (the operator
     *                                  rule's message), or a dataset strategy that does not fit the inputs
     */
    public static Plan plan(Network network, PlanConfig config) {
        return new Planner(network, config, Map.of(), null).run();
    }

    /**
     * As {@link #plan(Network, PlanConfig)}, taking redistribution plans from {@code cache} (shared by the plannings
     * of one network, e.g. a search's candidates; null: a cache of this planning alone).
     */
    public static Plan plan(Network network, PlanConfig config, RedistributionCache cache) {
        return new Planner(network, config, Map.of(), cache).run();
    }

    /**
     * Plans {@code network} under {@code config} for pipeline stages: as {@link #plan(Network, PlanConfig)}, except
     * that fusion buckets never mix parameters of different stages (a parameter's stage is its first consumer's) and
     * the partial gradients of a tensor's consumers are summed and reduced per stage.
     *
     * @param stageOf the stage of every operator
     */
    static Plan plan(Network network, PlanConfig config, Map<String, Integer> stageOf) {
        return plan(network, config, stageOf, null);
    }

    /** As {@link #plan(Network, PlanConfig, Map)}, taking redistribution plans from {@code cache} (null: its own). */
    static Plan plan(Network network, PlanConfig config, Map<String, Integer> stageOf, RedistributionCache cache) {
        return new Planner(network, config, Map.copyOf(stageOf), cache).run();
    }

    private Plan run() {
        List<Node> nodes = network.nodes();
        java.util.Set<String> names = new java.util.LinkedHashSet<>();
        nodes.forEach(n -> names.add(n.name()));
        List<String> unknown = config.unknownOperators(names);
        if (!unknown.isEmpty()) {
            throw new IllegalArgumentException("strategy for unknown operator '" + unknown.get(0) + "'; network '"
                    + network.name() + "' has operators " + abbreviate(new ArrayList<>(names)));
        }
        Map<String, Layout> layouts = new LinkedHashMap<>();
        layoutInputs(layouts);
        List<OpPlan> ops = new ArrayList<>();
        List<Communication> forward = new ArrayList<>();
        List<Edge> edges = new ArrayList<>();
        Map<String, String> paramConsumer = new LinkedHashMap<>();
        Map<String, OpPlan> byName = new HashMap<>();
        shards.clear();
        forwardRoutes.clear();
        backwardRoutes.clear();

        // shared redistributions: owner edge by (tensor, target layout, partial groups); the consumers sharing each
        // owner's redistribution (owner first); the owner's forward communications [from, to) in `forward`
        Map<ShareKey, Edge> owners = new HashMap<>();
        Map<String, List<String>> sharers = new LinkedHashMap<>();
        Map<String, int[]> ownerComms = new HashMap<>();

        for (Node node : nodes) {
            Interruption.check("planning");
            List<TensorType> types = new ArrayList<>();
            for (String t : node.inputs()) {
                types.add(network.tensor(t));
            }
            List<OpPlan.Reuse> reuses = new ArrayList<>();
            Strategy user = config.mode() == ParallelMode.SEMI_AUTO_PARALLEL ? config.inStrategies().get(node.name())
                    : null;
            Strategy in = user != null ? user : node.op().dataParallel(types, devices);
            Strategy out = config.mode() == ParallelMode.SEMI_AUTO_PARALLEL ? config.outStrategies().get(node.name())
                    : null;
            OpSharding sharding = node.op().shard(node.name(), types, in, out, devices);
            List<Layout> inLayouts = new ArrayList<>();
            List<RedistributionPlan> routes = new ArrayList<>();
            forwardRoutes.put(node.name(), routes);
            for (int i = 0; i < types.size(); i++) {
                String t = node.inputs().get(i);
                Layout required = sharding.inputLayout(i, types.get(i));
                inLayouts.add(required);
                routes.add(null);
                Layout current = layouts.get(t);
                if (current == null && network.isParameter(t)) {
                    layouts.put(t, required);
                    paramConsumer.put(t, node.name());
                    OptimizerShard shard = decideShard(network.parameter(t), required);
                    shards.put(t, shard);
                    if (shard.sharded()) {
                        forward.add(shardComm(CollectiveKind.ALL_GATHER, Phase.FORWARD, t, node, i, shard.groups(),
                                required.sliceBytes(types.get(i).dtype()), null, "parameter '" + t + "' is sharded "
                                + shard.shards() + " ways for the optimizer: its model-parallel slice is gathered "
                                + "before its first consumer '" + node.name() + "' (later consumers share it)"));
                    }
                    continue;
                }
                if (current == null) {
                    throw new IllegalStateException("tensor '" + t + "' has no layout before operator '"
                            + node.name() + "'");
                }
                RedistributionPlan rp = redistribution(current, required, types.get(i).dtype());
                if (!rp.steps().isEmpty()) {
                    routes.set(i, rp);
                    List<List<Integer>> partial = partialGroups(node, sharding, i);
                    // an activation already redistributed to this layout for an earlier consumer is reused
                    ShareKey key = network.isParameter(t) || node.op() instanceof BatchNorm ? null
                            : new ShareKey(t, required.normalized(), partial);
                    Edge owner = key == null ? null : owners.get(key);
                    if (owner != null) {
                        edges.add(new Edge(node, i, t, current, required, partial, owner));
                        reuses.add(new OpPlan.Reuse(i, owner.node().name(), owner.input()));
                        sharers.get(owner.key()).add(node.name());
                        continue;
                    }
                    // a local slice moves nothing forward, but its transpose gathers the gradient back
                    int first = forward.size();
                    addRedistribution(forward, rp, Phase.FORWARD, node, i, t, "input " + i + " of " + node.op().type()
                            + " '" + node.name() + "' needs another layout than its producer's");
                    Edge e = new Edge(node, i, t, current, required, partial, null);
                    edges.add(e);
                    if (key != null) {
                        owners.put(key, e);
                        sharers.put(e.key(), new ArrayList<>(List.of(node.name())));
                        ownerComms.put(e.key(), new int[] {first, forward.size()});
                    }
                }
            }
            List<Layout> outLayouts = new ArrayList<>();
            List<TensorType> outTypes = node.op().outputs(node.name(), types);
            for (int o = 0; o < outTypes.size(); o++) {
                Layout l = sharding.outputLayout(o, outTypes.get(o));
                outLayouts.add(l);
                layouts.put(node.outputs().get(o), l);
            }
            for (OpComm c : operatorComms ? sharding.forward() : List.<OpComm>of()) {
                forward.add(opComm(node, sharding, c, outTypes, types, Communication.Origin.OPERATOR, null,
                        c.reduce()));
            }
            OpPlan op = new OpPlan(node.name(), node.op().type(), in, out, user != null, sharding, inLayouts,
                    outLayouts, reuses);
            ops.add(op);
            byName.put(node.name(), op);
        }
        for (Map.Entry<String, List<String>> e : sharers.entrySet()) {
            List<String> who = e.getValue();
            if (who.size() < 2) {
                continue;
            }
            int[] at = ownerComms.get(e.getKey());
            for (int k = at[0]; k < at[1]; k++) {
                Communication c = forward.get(k);
                forward.set(k, withReason(c, c.reason() + "; the " + (who.size() - 1) + " later consumer"
                        + (who.size() == 2 ? " " : "s ") + who.subList(1, who.size()) + (who.size() == 2 ? " reuses"
                        : " reuse") + " the redistributed tensor"));
            }
        }

        java.util.Set<String> redistributed = new java.util.HashSet<>();
        edges.forEach(e -> redistributed.add(e.node().name() + "#" + e.input()));
        List<Communication> backward = PartialSums.merge(backward(nodes, byName, edges, paramConsumer, sharers),
                redistributed, backwardRoutes, stageOf);
        List<ParamPlan> params = new ArrayList<>();
        for (Parameter p : network.parameters()) {
            Layout l = layouts.get(p.name());
            if (l == null) {
                l = replicated(p.shape());
                layouts.put(p.name(), l);
            }
            OptimizerShard shard = shards.containsKey(p.name()) ? shards.get(p.name())
                    : OptimizerShard.none("no operator consumes it", config.optimizerConfig().optimizerWeightShardSize());
            params.add(new ParamPlan(p.name(), p.dtype(), l, p.requiresGrad(), p.layerwiseParallel(), p.commFusion(),
                    paramConsumer.get(p.name()), shard, p.parallelOptimizerCommRecompute()));
        }
        List<Communication> comms = new ArrayList<>(forward);
        comms.addAll(backward);
        Map<String, ParamPlan> byParam = new HashMap<>();
        params.forEach(p -> byParam.put(p.name(), p));
        // a gradient reduction left before a transposed redistribution runs there, with the consumer's slice
        List<Bucket> buckets = Fusion.buckets(comms, byParam, config.commFusion(), p -> {
            String consumer = byParam.get(p).consumer();
            return consumer == null ? 0 : stageOf.getOrDefault(consumer, 0);
        }, c -> c.origin() == Communication.Origin.GRADIENT && redistributed.contains(c.operator() + "#" + c.input()));
        List<String> notes = new ArrayList<>();
        for (Bucket b : buckets) {
            long recomputed = b.members().stream().filter(m -> byParam.get(m).recompute()).count();
            if (b.kind() == CollectiveKind.ALL_GATHER && recomputed > 0 && recomputed < b.members().size()) {
                notes.add("fusion bucket " + b.id() + " (" + b.kind() + ", comm_fusion " + b.fusionId()
                        + ") mixes parameters with and without parallel_optimizer_comm_recompute: " + b.members()
                        + "; give them one setting or different comm_fusion ids");
            }
        }
        ops = OpExecution.attach(ops, comms, forwardRoutes, backwardRoutes);
        return new Plan(network, config, ops, layouts, comms, params, buckets, notes);
    }

    private void layoutInputs(Map<String, Layout> layouts) {
        List<String> inputs = network.inputs();
        DatasetStrategy ds = config.dataset();
        if (ds instanceof DatasetStrategy.Explicit e && e.strategy().size() != inputs.size()) {
            throw new IllegalArgumentException("dataset_strategy " + e.strategy() + " has " + e.strategy().size()
                    + " tuples but network '" + network.name() + "' has " + inputs.size() + " data inputs "
                    + inputs + "; give one tuple per input");
        }
        for (int k = 0; k < inputs.size(); k++) {
            String name = inputs.get(k);
            long[] shape = network.tensor(name).shape();
            int[] tuple = new int[shape.length];
            Arrays.fill(tuple, 1);
            if (config.mode() != ParallelMode.STAND_ALONE) {
                if (ds instanceof DatasetStrategy.Explicit e) {
                    tuple = e.strategy().tuple(k);
                } else if (ds instanceof DatasetStrategy.DataParallel && shape.length > 0) {
                    tuple[0] = io.tessera.planner.op.Sharding.fit(shape[0], devices);
                }
            }
            try {
                layouts.put(name, Layout.fromStrategy(shape, tuple, devices));
            } catch (IllegalArgumentException ex) {
                throw new IllegalArgumentException("dataset_strategy for input '" + name + "': " + ex.getMessage(), ex);
            }
        }
    }

    private Layout replicated(long[] shape) {
        return Layout.fromStrategy(shape, ones(shape.length), devices);
    }

    private static int[] ones(int n) {
        int[] a = new int[n];
        Arrays.fill(a, 1);
        return a;
    }

    private List<Communication> backward(List<Node> nodes, Map<String, OpPlan> byName, List<Edge> edges,
                                         Map<String, String> firstConsumer, Map<String, List<String>> sharers) {
        BackwardGraph bg = network.backward();
        List<Communication> out = new ArrayList<>();
        // sharded parameters: recompute AllGather before their last consumer's backward, ReduceScatter after their
        // first consumer's backward (when every partial gradient has been accumulated)
        Map<String, List<String>> gatherBefore = new HashMap<>();
        Map<String, List<String>> scatterAfter = new HashMap<>();
        for (Map.Entry<String, OptimizerShard> e : shards.entrySet()) {
            String param = e.getKey();
            if (!e.getValue().sharded() || bg.gradientOf(param) == null) {
                continue;
            }
            scatterAfter.computeIfAbsent(firstConsumer.get(param), k -> new ArrayList<>()).add(param);
            if (network.parameter(param).parallelOptimizerCommRecompute()) {
                List<Node> consumers = network.consumers(param);
                String last = consumers.get(consumers.size() - 1).name();
                gatherBefore.computeIfAbsent(last, k -> new ArrayList<>()).add(param);
            }
        }
        Map<String, List<Edge>> edgesByNode = new HashMap<>();
        Map<String, Edge> edgeAt = new HashMap<>();
        // owners whose (summed) partial gradient is reduce-scattered straight into the producer's layout
        java.util.Set<String> scattered = new java.util.HashSet<>();
        for (Edge e : edges) {
            edgesByNode.computeIfAbsent(e.node().name(), k -> new ArrayList<>()).add(e);
            edgeAt.put(e.key(), e);
            if (e.owner() == null && !e.partial().isEmpty() && !network.isParameter(e.tensor())
                    && scatterCache.computeIfAbsent(new ScatterKey(e.to(), e.from(), e.partial()),
                    k -> scatters(k.consumer(), k.producer(), k.groups()))) {
                scattered.add(e.key());
            }
        }
        for (int k = nodes.size() - 1; k >= 0; k--) {
            Interruption.check("planning");
            Node node = nodes.get(k);
            OpPlan op = byName.get(node.name());
            OpSharding sharding = op.sharding();
            List<TensorType> types = new ArrayList<>();
            for (String t : node.inputs()) {
                types.add(network.tensor(t));
            }
            List<TensorType> outTypes = node.op().outputs(node.name(), types);
            for (String param : gatherBefore.getOrDefault(node.name(), List.of())) {
                OptimizerShard shard = shards.get(param);
                int input = node.inputs().indexOf(param);
                out.add(shardComm(CollectiveKind.ALL_GATHER, Phase.BACKWARD, param, node, input, shard.groups(),
                        op.inputLayouts().get(input).sliceBytes(types.get(input).dtype()), null, "parameter '" + param
                        + "' has parallel_optimizer_comm_recompute: its slice is gathered again for the backward of '"
                        + node.name() + "' instead of being kept from forward"));
            }
            for (OpComm c : sharding.backward()) {
                String t = c.output() ? node.outputs().get(c.index()) : node.inputs().get(c.index());
                if (bg.gradientOf(t) == null) {
                    continue;
                }
                // a communication with a payload of its own (BatchNorm's gradient statistics) is the operator's,
                // even when the input is a parameter: the gradient it serves is complete once it has run
                Parameter p = c.output() || !c.movesTensor() ? null : network.parameter(t);
                if (p != null && p.requiresGrad()) {
                    if (p.layerwiseParallel() || shards.get(p.name()).sharded()) {
                        continue;
                    }
                    out.add(opComm(node, sharding, c, outTypes, types, Communication.Origin.GRADIENT, p.name(),
                            config.gradientsMean() ? ReduceOp.MEAN : ReduceOp.SUM));
                } else if (operatorComms) {
                    Edge e = c.output() ? null : edgeAt.get(node.name() + "#" + c.index());
                    if (e != null && (e.owner() != null || scattered.contains(e.key()))) {
                        // reduced at the owner, summed with the other sharers' partials (or reduce-scattered)
                        continue;
                    }
                    Communication oc = opComm(node, sharding, c, outTypes, types, Communication.Origin.OPERATOR,
                            null, c.reduce());
                    List<String> who = e == null ? List.of() : sharers.getOrDefault(e.key(), List.of());
                    out.add(who.size() < 2 ? oc : withReason(oc, "the partial gradients of the " + who.size()
                            + " consumers " + who + " sharing one redistribution are summed locally, then reduced "
                            + "once: " + oc.reason()));
                }
            }
            for (Edge e : edgesByNode.getOrDefault(node.name(), List.of())) {
                if (bg.gradientOf(e.tensor()) == null || e.owner() != null) {
                    continue;
                }
                List<String> who = sharers.getOrDefault(e.key(), List.of());
                String summed = who.size() < 2 ? "" : "the gradients of the " + who.size() + " consumers " + who
                        + " sharing one redistribution are summed locally; ";
                if (scattered.contains(e.key())) {
                    out.add(scatterComm(node, e, types.get(e.input()).dtype(), summed));
                    continue;
                }
                RedistributionPlan rp = redistribution(e.to(), e.from(), types.get(e.input()).dtype());
                backwardRoutes.put(e.key(), rp);
                addRedistribution(out, rp, Phase.BACKWARD, node, e.input(), "grad/" + e.tensor(),
                        summed + "the gradient of input " + e.input() + " of '" + node.name()
                        + "' returns to its producer's layout (transpose of the forward redistribution)");
            }
            for (String param : scatterAfter.getOrDefault(node.name(), List.of())) {
                OptimizerShard shard = shards.get(param);
                int input = node.inputs().indexOf(param);
                long slice = op.inputLayouts().get(input).sliceBytes(types.get(input).dtype());
                ReduceOp reduce = config.gradientsMean() ? ReduceOp.MEAN : ReduceOp.SUM;
                out.add(shardComm(CollectiveKind.REDUCE_SCATTER, Phase.BACKWARD, param, node, input, shard.groups(), slice, reduce,
                        "parameter '" + param + "' is sharded " + shard.shards() + " ways for the optimizer: its "
                        + "gradient is reduce-scattered so that each rank keeps the gradient of its shard"));
                if (!shard.mirrorGroups().isEmpty()) {
                    out.add(shardComm(CollectiveKind.ALL_REDUCE, Phase.BACKWARD, param, node, input, shard.mirrorGroups(),
                            slice / shard.shards(), reduce, "optimizer_weight_shard_size " + shard.shards()
                            + " is smaller than the repeated group: the shard's gradient is also reduced over the "
                            + "ranks holding the same shard"));
                }
            }
        }
        return out;
    }

    /**
     * The groups over which {@code node}'s gradient of input {@code input} is partial (its operator AllReduce), or
     * empty when the gradient is complete or operator communication is off (data_parallel mode).
     */
    private List<List<Integer>> partialGroups(Node node, OpSharding sharding, int input) {
        if (!operatorComms || node.op() instanceof BatchNorm) {
            return List.of();
        }
        for (OpComm c : sharding.backward()) {
            if (!c.output() && c.index() == input && c.kind() == CollectiveKind.ALL_REDUCE) {
                return groupCache.computeIfAbsent(new GroupKey(sharding.devMatrix(),
                        Arrays.stream(c.axes()).boxed().toList()),
                        g -> Groups.of(c.groups(sharding.devMatrix()), devices)).groups();
            }
        }
        return List.of();
    }

    /**
     * Whether a gradient partial over {@code groups} in layout {@code consumer} can go back to layout
     * {@code producer} as one ReduceScatter over those groups, instead of an AllReduce followed by a local slice: the
     * members of each group hold the same consumer slice, and their producer slices are disjoint pieces of it of
     * equal size that together cover it (e.g. the gradient of a sequence-parallel LayerNorm's output, gathered over
     * the tensor-parallel group for a column-parallel MatMul).
     */
    public static boolean scatters(Layout consumer, Layout producer, List<List<Integer>> groups) {
        // slices of one layout are blocks of one grid: equal or disjoint, so distinct pieces of the right size that
        // lie in the common slice tile it
        long consumerSlice = consumer.sliceBytes(DType.FLOAT32);
        long producerSlice = producer.sliceBytes(DType.FLOAT32);
        if (consumerSlice > 0 && producerSlice > 0) {
            return scattersOnGrid(consumer, producer, groups, producerSlice, consumerSlice);
        }
        for (List<Integer> g : groups) {
            if (g.size() < 2 || producerSlice * g.size() != consumerSlice) {
                return false;
            }
            Box common = consumer.sliceBox(g.get(0));
            java.util.Set<Box> pieces = new java.util.HashSet<>();
            for (int r : g) {
                Box b = producer.sliceBox(r);
                if (!consumer.sliceBox(r).equals(common) || !common.contains(b) || !pieces.add(b)) {
                    return false;
                }
            }
        }
        return true;
    }

    /**
     * {@link #scatters} of non-empty slices by slice coordinates (slices of one layout are equal exactly when their
     * coordinates are, and a producer slice lies in the common one when its corners do), without a box per rank.
     */
    private static boolean scattersOnGrid(Layout consumer, Layout producer, List<List<Integer>> groups,
                                          long producerSlice, long consumerSlice) {
        long[] cs = consumer.sliceShape();
        long[] ps = producer.sliceShape();
        int[] splits = new int[ps.length];
        for (int i = 0; i < splits.length; i++) {
            splits[i] = producer.splits(i);
        }
        for (List<Integer> g : groups) {
            if (g.size() < 2 || producerSlice * g.size() != consumerSlice) {
                return false;
            }
            long[] common = consumer.sliceCoordinates(g.get(0));
            java.util.Set<Long> pieces = new java.util.HashSet<>();
            for (int r : g) {
                if (!Arrays.equals(consumer.sliceCoordinates(r), common)) {
                    return false;
                }
                long[] c = producer.sliceCoordinates(r);
                long index = 0;
                for (int i = 0; i < c.length; i++) {
                    if (c[i] * ps[i] < common[i] * cs[i] || (c[i] + 1) * ps[i] > (common[i] + 1) * cs[i]) {
                        return false;
                    }
                    index = index * splits[i] + c[i];
                }
                if (!pieces.add(index)) {
                    return false;
                }
            }
        }
        return true;
    }

    /** The backward ReduceScatter of edge {@code e}'s partial gradient into its producer's layout. */
    private Communication scatterComm(Node node, Edge e, DType dtype, String summed) {
        long piece = e.from().sliceBytes(dtype);
        long[] recv = new long[devices];
        for (List<Integer> g : e.partial()) {
            for (int r : g) {
                recv[r] = piece * (g.size() - 1);
            }
        }
        return new Communication(CollectiveKind.REDUCE_SCATTER, Communication.Origin.REDISTRIBUTION, Phase.BACKWARD, node.name(),
                e.input(), "grad/" + e.tensor(), null, ReduceOp.SUM, e.to(), e.from(), e.partial(), recv, summed
                + "the gradient of input " + e.input() + " of '" + node.name() + "' is partial over the group and "
                + "its producer's layout splits the group's slice among the members: reduce-scattered into it (an "
                + "AllReduce and a local slice fused; transpose of the forward AllGather)");
    }

    private static Communication withReason(Communication c, String reason) {
        return c.withReason(reason);
    }

    private OptimizerShard decideShard(Parameter p, Layout layout) {
        return shardCache.computeIfAbsent(new ShardKey(layout, p.dtype(), p.requiresGrad(), p.parallelOptimizer()),
                k -> OptimizerSharding.decide(config.parallelOptimizer(), config.optimizerConfig(), p.requiresGrad(),
                        p.parallelOptimizer(), layout, p.dtype()));
    }

    /**
     * An optimizer-parallel communication of parameter {@code param} over {@code groups}; {@code bytes} is the buffer
     * of a full group (the gathered slice, the gradient slice before scattering, or the shard for a mirror AllReduce).
     */
    private Communication shardComm(CollectiveKind kind, Phase phase, String param, Node node, int input,
                                    List<List<Integer>> groups, long bytes, ReduceOp reduce, String reason) {
        long[] recv = new long[devices];
        for (List<Integer> g : groups) {
            int n = g.size();
            long each = kind == CollectiveKind.ALL_REDUCE ? 2 * bytes * (n - 1) / n : bytes * (n - 1) / n;
            for (int r : g) {
                recv[r] = each;
            }
        }
        String tensor = kind == CollectiveKind.ALL_GATHER ? param : "grad/" + param;
        return new Communication(kind, Communication.Origin.PARALLEL_OPTIMIZER, phase, node.name(), input, tensor,
                param, reduce, null, null, groups, recv, reason);
    }

    private RedistributionPlan redistribution(Layout from, Layout to, DType dtype) {
        return cache.plan(from, to, dtype);
    }

    private void addRedistribution(List<Communication> out, RedistributionPlan rp, Phase phase, Node node, int input,
                                   String tensor, String reason) {
        int b = rp.dtype().bytes();
        for (Step s : rp.steps()) {
            if (!(s instanceof Step.Exchange e)) {
                continue;
            }
            // redistribution plans are cached, so repeated layers share their steps: sum each step's bytes once
            long[] recv = recvCache.computeIfAbsent(s, x -> e.recvBytes(devices, b));
            out.add(new Communication(e.kind(), Communication.Origin.REDISTRIBUTION, phase, node.name(), input, tensor,
                    null, null, rp.from(), rp.to(), s.groups(), recv, reason, rp));
        }
    }

    private Communication opComm(Node node, OpSharding sharding, OpComm c, List<TensorType> outTypes,
                                 List<TensorType> inTypes, Communication.Origin origin, String param, ReduceOp reduce) {
        Groups cached = groupCache.computeIfAbsent(
                new GroupKey(sharding.devMatrix(), Arrays.stream(c.axes()).boxed().toList()),
                g -> Groups.of(c.groups(sharding.devMatrix()), devices));
        List<List<Integer>> groups = cached.groups();
        TensorType t = c.output() ? outTypes.get(c.index()) : inTypes.get(c.index());
        Layout l = c.output() ? sharding.outputLayout(c.index(), t) : sharding.inputLayout(c.index(), t);
        long slice = c.payload() >= 0 ? c.payload() * t.dtype().bytes() : l.sliceBytes(t.dtype());
        long[] recv = new long[devices];
        if (cached.uniformSize() > 0) {
            Arrays.fill(recv, c.ringRecvBytes(slice, cached.uniformSize()));
        } else {
            for (List<Integer> g : groups) {
                long each = c.ringRecvBytes(slice, g.size());
                for (int r : g) {
                    recv[r] = each;
                }
            }
        }
        String tensor = c.output() ? node.outputs().get(c.index()) : node.inputs().get(c.index());
        if (c.phase() == Phase.BACKWARD) {
            tensor = "grad/" + tensor;
        }
        Phase phase = c.phase() == Phase.FORWARD ? Phase.FORWARD : Phase.BACKWARD;
        String reason = origin == Communication.Origin.GRADIENT
                ? "the gradient of parameter '" + param + "' is partial on each rank of the group: " + c.reason()
                : c.reason();
        return new Communication(c.kind(), origin, phase, node.name(), c.output() ? -1 : c.index(), tensor,
                param, reduce, null, null, groups, recv, reason);
    }

    private static String abbreviate(List<String> names) {
        return names.size() <= 12 ? names.toString()
                : names.subList(0, 12).toString().replace("]", ", ... (" + names.size() + " in all)]");
    }
}
