package io.tessera.planner.plan;

import io.tessera.layout.DType;
import io.tessera.layout.Layout;
import io.tessera.planner.op.Flops;
import io.tessera.planner.graph.Network;
import io.tessera.planner.graph.Node;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.function.Function;

/**
 * A pipeline-parallel plan (MindSpore's {@code pipeline_stages}): the network's operators split into {@code stages}
 * consecutive stages, each running on its own {@code n = plan.devices()} devices with the same strategies; global rank
 * {@code stage * n + local} runs the operators of {@code stage} as local rank {@code local} of {@link #plan()}. The
 * network describes one micro-batch; a step runs {@code microBatches} of them through the stages and accumulates the
 * gradients (their mean) before one optimizer update.
 *
 * <p>A tensor produced in one stage and consumed in a later one is a {@link Boundary}: each producer rank sends its
 * slice (the layout the producer leaves it in) to the rank with the same local rank in the consumer stage, which then
 * redistributes it as its operator needs (planned in {@link #plan()} like any other redistribution); in backward its
 * gradient travels back the same way. Every other communication stays inside a stage; {@link #globalGroups} maps a
 * stage-local rank group to global ranks. Fusion buckets never mix parameters of different stages.
 *
 * @param plan         the plan of every operator on one stage's mesh (stage-local ranks 0..n-1)
 * @param stages       the number of stages, >= 1
 * @param microBatches the micro-batches per step, >= 1
 * @param opStages     the stage of every operator, by name
 * @param boundaries   the tensors crossing stages, in producer order
 */
public record PipelinePlan(Plan plan, int stages, int microBatches, Map<String, Integer> opStages,
                           List<Boundary> boundaries) {

    /**
     * A tensor that crosses stages: sent after its producer's forward by every rank of {@code fromStage} to the rank
     * with the same local rank in {@code toStage}; its gradient returns in backward.
     *
     * @param tensor    the tensor
     * @param producer  the operator that produces it
     * @param fromStage the producer's stage
     * @param toStage   a consumer's stage, > fromStage
     * @param layout    the layout it is sent in (as the producer leaves it)
     * @param bytes     the bytes each rank sends per micro-batch (its slice)
     */
    public record Boundary(String tensor, String producer, int fromStage, int toStage, Layout layout, long bytes) {

        /** Validates the stages. */
        public Boundary {
            if (fromStage < 0 || toStage <= fromStage) {
                throw new IllegalArgumentException("boundary '" + tensor + "': found stages " + fromStage + " -> "
                        + toStage + "; expected 0 <= from < to");
            }
        }
    }

    /** Validates the counts and that every operator of the plan has a stage in range; copies the collections. */
    public PipelinePlan {
        if (stages < 1) {
            throw new IllegalArgumentException("pipeline_stages: found " + stages + "; expected >= 1");
        }
        if (microBatches < 1) {
            throw new IllegalArgumentException("micro_batches: found " + microBatches + "; expected >= 1");
        }
        for (OpPlan op : plan.ops()) {
            Integer s = opStages.get(op.name());
            if (s == null || s < 0 || s >= stages) {
                throw new IllegalArgumentException("operator '" + op.name() + "': found stage " + s
                        + "; expected a stage in [0, " + stages + ")");
            }
        }
        opStages = java.util.Collections.unmodifiableMap(new LinkedHashMap<>(opStages));
        boundaries = List.copyOf(boundaries);
    }

    /** A one-stage, one-micro-batch view of {@code plan}. */
    public static PipelinePlan single(Plan plan) {
        Map<String, Integer> st = new LinkedHashMap<>();
        plan.ops().forEach(o -> st.put(o.name(), 0));
        return new PipelinePlan(plan, 1, 1, st, List.of());
    }

    /**
     * Plans {@code network} in {@code stages} pipeline stages of {@code config.devices()} devices each.
     *
     * <p>Stage assignment: when {@code explicit} gives a stage for at least one operator, those operators take it and
     * every other operator takes the latest stage of its inputs' producers (0 when it has none). Otherwise the network
     * is split automatically ({@link #balancedStages}).
     *
     * @param explicit the user's stage for an operator name (e.g. a strategy file's {@code stages}), or empty
     * @throws IllegalArgumentException as {@link Planner#plan}; when an operator consumes a tensor of a later stage,
     *                                  a parameter is used in two stages, a stage has no operator, or the network has
     *                                  fewer operators than stages
     */
    public static PipelinePlan plan(Network network, PlanConfig config, int stages, int microBatches,
                                    Function<String, Optional<Integer>> explicit) {
        if (stages == 1) {
            Plan p = Planner.plan(network, config);
            Map<String, Integer> st = new LinkedHashMap<>();
            p.ops().forEach(o -> st.put(o.name(), 0));
            return new PipelinePlan(p, 1, microBatches, st, List.of());
        }
        List<Node> nodes = network.nodes();
        if (nodes.size() < stages) {
            throw new IllegalArgumentException("pipeline_stages: found " + stages + " but network '" + network.name()
                    + "' has " + nodes.size() + " operators; use at most " + nodes.size() + " stages");
        }
        Map<String, Integer> stageOf;
        boolean anyExplicit = nodes.stream().anyMatch(n -> explicit.apply(n.name()).isPresent());
        Plan flat = null;
        if (anyExplicit) {
            stageOf = explicitStages(network, explicit);
        } else {
            flat = Planner.plan(network, config);
            stageOf = balancedStages(flat, stages);
        }
        check(network, stageOf, stages);
        Plan plan = Planner.plan(network, config, stageOf);
        return new PipelinePlan(plan, stages, microBatches, stageOf, boundaries(plan, stageOf));
    }

    private static Map<String, Integer> explicitStages(Network net, Function<String, Optional<Integer>> explicit) {
        Map<String, Integer> producerStage = new HashMap<>();
        Map<String, Integer> out = new LinkedHashMap<>();
        for (Node n : net.nodes()) {
            Optional<Integer> given = explicit.apply(n.name());
            int s;
            if (given.isPresent()) {
                s = given.get();
            } else {
                s = 0;
                for (String in : n.inputs()) {
                    s = Math.max(s, producerStage.getOrDefault(in, 0));
                }
            }
            out.put(n.name(), s);
            for (String o : n.outputs()) {
                producerStage.put(o, s);
            }
        }
        return out;
    }

    /**
     * The automatic split of a one-stage plan into {@code stages} consecutive stages of the execution order: the cuts
     * are chosen among the positions where the fewest activation tensors cross (for a transformer, one hidden state:
     * between layers or after a residual Add; all positions when there are too few of those) to minimise the largest
     * stage's forward FLOPs on its slices ({@link Flops#forward}, no device needed); ties keep the earliest cuts.
     *
     * @return the stage of every operator
     */
    public static Map<String, Integer> balancedStages(Plan plan, int stages) {
        Network net = plan.network();
        List<OpPlan> ops = plan.ops();
        int n = ops.size();
        Map<String, Integer> index = new HashMap<>();
        for (int i = 0; i < n; i++) {
            for (String o : net.node(ops.get(i).name()).outputs()) {
                index.put(o, i);
            }
        }
        // lastUse[i]: the last consumer index of op i's outputs
        int[] lastUse = new int[n];
        java.util.Arrays.fill(lastUse, -1);
        for (int j = 0; j < n; j++) {
            for (String in : net.node(ops.get(j).name()).inputs()) {
                Integer p = index.get(in);
                if (p != null) {
                    lastUse[p] = Math.max(lastUse[p], j);
                }
            }
        }
        // crossing[c]: tensors produced at <= c and consumed after c, for a cut after op c
        int[] crossing = new int[Math.max(0, n - 1)];
        int[] delta = new int[n + 1];
        for (int i = 0; i < n; i++) {
            if (lastUse[i] > i) {
                delta[i]++;
                delta[lastUse[i]]--;
            }
        }
        int run = 0;
        int min = Integer.MAX_VALUE;
        for (int c = 0; c < n - 1; c++) {
            run += delta[c];
            crossing[c] = run;
            min = Math.min(min, run);
        }
        List<Integer> cuts = new ArrayList<>();
        for (int c = 0; c < n - 1; c++) {
            if (crossing[c] == min) {
                cuts.add(c);
            }
        }
        if (cuts.size() < stages - 1) {
            cuts.clear();
            for (int c = 0; c < n - 1; c++) {
                cuts.add(c);
            }
        }
        long[] prefix = new long[n + 1];
        for (int i = 0; i < n; i++) {
            OpPlan op = ops.get(i);
            prefix[i + 1] = prefix[i] + Math.max(1, Flops.forward(net.node(op.name()).op(),
                    Flops.sliceShapes(op.inputLayouts()), Flops.sliceShapes(op.outputLayouts())));
        }
        int[] chosen = partition(prefix, cuts, stages);
        Map<String, Integer> out = new LinkedHashMap<>();
        int stage = 0;
        for (int i = 0; i < n; i++) {
            out.put(ops.get(i).name(), stage);
            if (stage < chosen.length && chosen[stage] == i) {
                stage++;
            }
        }
        return out;
    }

    /** Chooses {@code stages - 1} increasing cut positions from {@code cuts} minimising the largest stage weight. */
    private static int[] partition(long[] prefix, List<Integer> cuts, int stages) {
        int k = stages - 1;
        int c = cuts.size();
        int n = prefix.length - 1;
        long[][] best = new long[k][c];
        int[][] from = new int[k][c];
        for (int j = 0; j < c; j++) {
            best[0][j] = prefix[cuts.get(j) + 1];
            from[0][j] = -1;
        }
        for (int s = 1; s < k; s++) {
            for (int j = 0; j < c; j++) {
                best[s][j] = Long.MAX_VALUE;
                from[s][j] = -1;
                for (int i = 0; i < j; i++) {
                    if (best[s - 1][i] == Long.MAX_VALUE) {
                        continue;
                    }
                    long w = Math.max(best[s - 1][i], prefix[cuts.get(j) + 1] - prefix[cuts.get(i) + 1]);
                    if (w < best[s][j]) {
                        best[s][j] = w;
                        from[s][j] = i;
                    }
                }
            }
        }
        long bestTotal = Long.MAX_VALUE;
        int last = -1;
        for (int j = 0; j < c; j++) {
            if (best[k - 1][j] == Long.MAX_VALUE) {
                continue;
            }
            long w = Math.max(best[k - 1][j], prefix[n] - prefix[cuts.get(j) + 1]);
            if (w < bestTotal) {
                bestTotal = w;
                last = j;
            }
        }
        int[] out = new int[k];
        for (int s = k - 1; s >= 0; s--) {
            out[s] = cuts.get(last);
            last = from[s][last];
        }
        return out;
    }

    private static void check(Network net, Map<String, Integer> stageOf, int stages) {
        Map<String, String> producer = new HashMap<>();
        for (Node n : net.nodes()) {
            for (String o : n.outputs()) {
                producer.put(o, n.name());
            }
        }
        Map<String, String> paramUser = new HashMap<>();
        Set<Integer> used = new LinkedHashSet<>();
        for (Node n : net.nodes()) {
            int s = stageOf.get(n.name());
            used.add(s);
            for (String in : n.inputs()) {
                String p = producer.get(in);
                if (p != null && stageOf.get(p) > s) {
                    throw new IllegalArgumentException("operator '" + n.name() + "' is in stage " + s
                            + " but its input '" + in + "' comes from operator '" + p + "' in stage " + stageOf.get(p)
                            + "; a stage may only consume tensors of its own or earlier stages, so move '" + n.name()
                            + "' to stage " + stageOf.get(p) + " or later");
                }
                if (net.isParameter(in)) {
                    String other = paramUser.putIfAbsent(in, n.name());
                    if (other != null && !stageOf.get(other).equals(s)) {
                        throw new IllegalArgumentException("parameter '" + in + "' is used in stage "
                                + stageOf.get(other) + " (operator '" + other + "') and stage " + s + " (operator '"
                                + n.name() + "'); a parameter must live in one stage, so put its consumers in one "
                                + "stage");
                    }
                }
            }
        }
        for (int s = 0; s < stages; s++) {
            if (!used.contains(s)) {
                throw new IllegalArgumentException("stage " + s + " has no operators; assign operators to every "
                        + "stage in [0, " + stages + ") or use fewer pipeline_stages");
            }
        }
    }

    private static List<Boundary> boundaries(Plan plan, Map<String, Integer> stageOf) {
        Network net = plan.network();
        Map<String, String> producer = new HashMap<>();
        for (Node n : net.nodes()) {
            for (String o : n.outputs()) {
                producer.put(o, n.name());
            }
        }
        Set<String> seen = new LinkedHashSet<>();
        List<Boundary> raw = new ArrayList<>();
        for (Node n : net.nodes()) {
            int s = stageOf.get(n.name());
            for (String in : n.inputs()) {
                String p = producer.get(in);
                if (p == null || stageOf.get(p) == s || !seen.add(in + "\u0000" + s)) {
                    continue;
                }
                Layout l = plan.layouts().get(in);
                DType t = net.tensor(in).dtype();
                raw.add(new Boundary(in, p, stageOf.get(p), s, l, l.sliceBytes(t)));
            }
        }
        Map<String, Integer> order = new HashMap<>();
        List<Node> nodes = net.nodes();
        for (int i = 0; i < nodes.size(); i++) {
            order.put(nodes.get(i).name(), i);
        }
        raw.sort(java.util.Comparator.comparingInt((Boundary b) -> order.get(b.producer()))
                .thenComparingInt(Boundary::toStage));
        return raw;
    }

    /** Devices per stage ({@code plan.devices()}). */
    public int stageDevices() {
        return plan.devices();
    }

    /** All devices: {@code stages * stageDevices()}. */
    public int devices() {
        return stages * plan.devices();
    }

    /** The global rank of local rank {@code local} of stage {@code stage}. */
    public int globalRank(int stage, int local) {
        return stage * plan.devices() + local;
    }

    /** The stage global rank {@code rank} belongs to. */
    public int stageOfRank(int rank) {
        return rank / plan.devices();
    }

    /** The stage of operator {@code op}. */
    public int stageOf(String op) {
        Integer s = opStages.get(op);
        if (s == null) {
            throw new IllegalArgumentException("operator '" + op + "' is not in the plan");
        }
        return s;
    }

    /** The stage of parameter {@code name}: its first consumer's (0 when no operator consumes it). */
    public int paramStage(String name) {
        ParamPlan p = plan.param(name);
        return p == null || p.consumer() == null ? 0 : opStages.get(p.consumer());
    }

    /** The stage a communication of {@link #plan()} runs in: its operator's, else its parameter's. */
    public int commStage(Communication c) {
        if (c.operator() != null && opStages.containsKey(c.operator())) {
            return opStages.get(c.operator());
        }
        return c.parameter() == null ? 0 : paramStage(c.parameter());
    }

    /** The stage of a fusion bucket of {@link #plan()}: its members'. */
    public int bucketStage(Bucket b) {
        return paramStage(b.members().get(0));
    }

    /** The operators of stage {@code stage}, in execution order. */
    public List<OpPlan> ops(int stage) {
        return plan.ops().stream().filter(o -> opStages.get(o.name()) == stage).toList();
    }

    /** The parameters of stage {@code stage}, in declaration order. */
    public List<ParamPlan> params(int stage) {
        return plan.params().stream().filter(p -> paramStage(p.name()) == stage).toList();
    }

    /** {@code groups} of stage-local ranks as global ranks of stage {@code stage}. */
    public List<List<Integer>> globalGroups(int stage, List<List<Integer>> groups) {
        int off = stage * plan.devices();
        List<List<Integer>> out = new ArrayList<>(groups.size());
        for (List<Integer> g : groups) {
            out.add(g.stream().map(r -> r + off).toList());
        }
        return out;
    }

    /**
     * The memory of global rank {@code rank} between steps and around the update, as {@link Plan#memory(int)} but
     * counting only its stage's parameters and fusion buckets (activations are not counted). Its {@code rank} is the
     * global rank.
     */
    public RankMemory memory(int rank) {
        if (rank < 0 || rank >= devices()) {
            throw new IllegalArgumentException("rank " + rank + " is out of range; the pipeline has " + devices()
                    + " ranks (0.." + (devices() - 1) + ")");
        }
        int stage = stageOfRank(rank);
        RankMemory m = plan.memory(rank % plan.devices(), p -> paramStage(p.name()) == stage,
                b -> bucketStage(b) == stage);
        return new RankMemory(rank, m.params(), m.gradients(), m.optimizerState(), m.masterCopies(),
                m.gatheredWeights(), m.recomputeBuffer(), m.fusionBuffer());
    }
}
