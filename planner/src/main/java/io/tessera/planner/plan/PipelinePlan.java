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
 * <p>With {@code virtualStages = v >= 2} (Megatron-LM's interleaved schedule) the network is cut into {@code p * v}
 * consecutive model chunks; chunk {@code k = c * p + d} runs on stage (device group) {@code d = k % p}, so each stage
 * holds {@code v} chunks and chunk {@code k} sends to chunk {@code k + 1}, from stage {@code p - 1} back to stage 0.
 * {@link #opChunks} gives every operator's chunk, {@link #opStages} its stage ({@code chunk % p}); with {@code v = 1}
 * chunks are stages.
 *
 * <p>A tensor produced in one stage and consumed in another is a {@link Boundary}: each producer rank sends its
 * slice (the layout the producer leaves it in) to the rank with the same local rank in the consumer stage, which then
 * redistributes it as its operator needs (planned in {@link #plan()} like any other redistribution); in backward its
 * gradient travels back the same way. Every other communication stays inside a stage; {@link #globalGroups} maps a
 * stage-local rank group to global ranks. Fusion buckets never mix parameters of different chunks.
 *
 * @param plan          the plan of every operator on one stage's mesh (stage-local ranks 0..n-1)
 * @param stages        the number of stages {@code p}, >= 1
 * @param virtualStages model chunks per stage {@code v}, >= 1 (1: no interleaving)
 * @param microBatches  the micro-batches per step, >= 1
 * @param opStages      the stage of every operator, by name ({@code chunk % stages})
 * @param opChunks      the model chunk of every operator, by name, in {@code [0, stages * virtualStages)}
 * @param boundaries    the tensors crossing stages, in producer order
 */
public record PipelinePlan(Plan plan, int stages, int virtualStages, int microBatches, Map<String, Integer> opStages,
                           Map<String, Integer> opChunks, List<Boundary> boundaries) {

    /**
     * A tensor that crosses stages: sent after its producer's forward by every rank of {@code fromStage} to the rank
     * with the same local rank in {@code toStage}; its gradient returns in backward. One boundary per tensor and
     * consumer stage; a tensor consumed by a later chunk of its own stage is no boundary (it stays on the device).
     *
     * @param tensor    the tensor
     * @param producer  the operator that produces it
     * @param fromStage the producer's stage
     * @param toStage   a consumer's stage, != fromStage (> fromStage without interleaving)
     * @param layout    the layout it is sent in (as the producer leaves it)
     * @param bytes     the bytes each rank sends per micro-batch (its slice)
     * @param fromChunk the producer's chunk ({@code fromStage} without interleaving)
     * @param toChunk   the first consumer chunk on {@code toStage}, > fromChunk ({@code toStage} without interleaving)
     */
    public record Boundary(String tensor, String producer, int fromStage, int toStage, Layout layout, long bytes,
                           int fromChunk, int toChunk) {

        /** Validates the stages and chunks. */
        public Boundary {
            if (fromChunk < 0 || toChunk <= fromChunk || fromStage < 0 || toStage < 0 || fromStage == toStage) {
                throw new IllegalArgumentException("boundary '" + tensor + "': found stages " + fromStage + " -> "
                        + toStage + " (chunks " + fromChunk + " -> " + toChunk + "); expected 0 <= from < to, "
                        + "different stages");
            }
        }

        /** A boundary without interleaving: chunks are stages. */
        public Boundary(String tensor, String producer, int fromStage, int toStage, Layout layout, long bytes) {
            this(tensor, producer, fromStage, toStage, layout, bytes, fromStage, toStage);
        }
    }

    /**
     * Validates the counts, that every operator of the plan has a chunk in range and the stage of its chunk; copies
     * the collections.
     */
    public PipelinePlan {
        if (stages < 1) {
            throw new IllegalArgumentException("pipeline_stages: found " + stages + "; expected >= 1");
        }
        if (virtualStages < 1) {
            throw new IllegalArgumentException("virtual_pipeline: found " + virtualStages + "; expected >= 1");
        }
        if (microBatches < 1) {
            throw new IllegalArgumentException("micro_batches: found " + microBatches + "; expected >= 1");
        }
        int chunks = stages * virtualStages;
        for (OpPlan op : plan.ops()) {
            Integer k = opChunks.get(op.name());
            if (k == null || k < 0 || k >= chunks) {
                throw new IllegalArgumentException("operator '" + op.name() + "': found " + (virtualStages == 1
                        ? "stage " : "chunk ") + k + "; expected a " + (virtualStages == 1 ? "stage" : "chunk")
                        + " in [0, " + chunks + ")");
            }
            Integer s = opStages.get(op.name());
            if (s == null || s != k % stages) {
                throw new IllegalArgumentException("operator '" + op.name() + "': found stage " + s + " for chunk "
                        + k + "; expected chunk % stages = " + k % stages);
            }
        }
        opStages = java.util.Collections.unmodifiableMap(new LinkedHashMap<>(opStages));
        opChunks = java.util.Collections.unmodifiableMap(new LinkedHashMap<>(opChunks));
        boundaries = List.copyOf(boundaries);
    }

    /** A plan without interleaving ({@code virtualStages = 1}, every operator's chunk is its stage). */
    public PipelinePlan(Plan plan, int stages, int microBatches, Map<String, Integer> opStages,
                        List<Boundary> boundaries) {
        this(plan, stages, 1, microBatches, opStages, opStages, boundaries);
    }

    /** A one-stage, one-micro-batch view of {@code plan}. */
    public static PipelinePlan single(Plan plan) {
        Map<String, Integer> st = new LinkedHashMap<>();
        plan.ops().forEach(o -> st.put(o.name(), 0));
        return new PipelinePlan(plan, 1, 1, st, List.of());
    }

    /**
     * Plans {@code network} in {@code stages} pipeline stages of {@code config.devices()} devices each, one chunk per
     * stage: {@link #plan(Network, PlanConfig, int, int, int, Function)} with {@code virtualStages = 1}.
     */
    public static PipelinePlan plan(Network network, PlanConfig config, int stages, int microBatches,
                                    Function<String, Optional<Integer>> explicit) {
        return plan(network, config, stages, 1, microBatches, explicit);
    }

    /**
     * Plans {@code network} in {@code stages} pipeline stages of {@code config.devices()} devices each, with
     * {@code virtualStages} model chunks per stage (chunk {@code c * stages + d} on stage {@code d}).
     *
     * <p>Chunk assignment: when {@code explicit} gives a value for at least one operator, those operators take it as
     * their chunk (their stage when {@code virtualStages = 1}) and every other operator takes the latest chunk of its
     * inputs' producers (0 when it has none). Otherwise the network is split automatically: with one chunk per stage
     * by {@link #balancedStages}; with {@code virtualStages >= 2} as Megatron-LM does ({@link #layerChunks}: an equal
     * number of transformer layers per chunk, what comes before the layers in chunk 0 and after them in the last),
     * falling back to {@link #balancedStages} over the {@code stages * virtualStages} chunks when the network has no
     * {@code layers.<i>.} operators in a count divisible by the chunks.
     *
     * @param virtualStages model chunks per stage, >= 1 (>= 2 for the interleaved 1F1B schedule)
     * @param explicit      the user's chunk (stage) for an operator name (e.g. a strategy file's {@code stages}), or
     *                      empty
     * @throws IllegalArgumentException as {@link Planner#plan}; when an operator consumes a tensor of a later chunk,
     *                                  a parameter is used in two stages, a chunk has no operator, the network has
     *                                  fewer operators than chunks, or {@code virtualStages < 1}
     */
    public static PipelinePlan plan(Network network, PlanConfig config, int stages, int virtualStages,
                                    int microBatches, Function<String, Optional<Integer>> explicit) {
        return plan(network, config, stages, virtualStages, microBatches, explicit, null);
    }

    /**
     * As {@link #plan(Network, PlanConfig, int, int, int, Function)}, taking redistribution plans from {@code cache}
     * (shared by plannings of one network, e.g. re-plans of one file with one annotation changed; null: a cache of
     * this planning alone).
     */
    public static PipelinePlan plan(Network network, PlanConfig config, int stages, int virtualStages,
                                    int microBatches, Function<String, Optional<Integer>> explicit,
                                    RedistributionCache cache) {
        if (virtualStages < 1) {
            throw new IllegalArgumentException("virtual_pipeline: found " + virtualStages + "; expected >= 1 model "
                    + "chunks per stage");
        }
        if (stages == 1 && virtualStages == 1) {
            Plan p = Planner.plan(network, config, cache);
            Map<String, Integer> st = new LinkedHashMap<>();
            p.ops().forEach(o -> st.put(o.name(), 0));
            return new PipelinePlan(p, 1, microBatches, st, List.of());
        }
        int chunks = stages * virtualStages;
        List<Node> nodes = network.nodes();
        if (nodes.size() < chunks) {
            throw new IllegalArgumentException((virtualStages == 1 ? "pipeline_stages: found " + stages
                    : "pipeline_stages x virtual_pipeline: found " + stages + " x " + virtualStages) + " but network '"
                    + network.name() + "' has " + nodes.size() + " operators; use at most " + nodes.size()
                    + (virtualStages == 1 ? " stages" : " chunks"));
        }
        Map<String, Integer> chunkOf;
        boolean anyExplicit = nodes.stream().anyMatch(n -> explicit.apply(n.name()).isPresent());
        if (anyExplicit) {
            chunkOf = explicitStages(network, explicit);
        } else {
            Plan flat = Planner.plan(network, config, cache);
            chunkOf = virtualStages == 1 ? balancedStages(flat, stages)
                    : layerChunks(network, chunks).orElseGet(() -> balancedStages(flat, chunks));
        }
        check(network, chunkOf, stages, virtualStages);
        Map<String, Integer> stageOf = new LinkedHashMap<>();
        chunkOf.forEach((op, k) -> stageOf.put(op, k % stages));
        Plan plan = Planner.plan(network, config, chunkOf, cache);
        return new PipelinePlan(plan, stages, virtualStages, microBatches, stageOf, chunkOf,
                boundaries(plan, chunkOf, stages));
    }

    /**
     * Megatron-LM's split into {@code chunks} model chunks: the operators named {@code layers.<i>.*} (the zoo's
     * transformer layers), in execution order by increasing {@code i}, are cut into chunks of {@code layers / chunks}
     * layers; the operators before the first layer (the embedding) join chunk 0 and those after the last (the final
     * norm, head and loss) the last chunk.
     *
     * @return the chunk of every operator, or empty when the network has no such layers, their count is not a multiple
     *         of {@code chunks}, or its operators do not run layer after layer
     */
    public static Optional<Map<String, Integer>> layerChunks(Network net, int chunks) {
        List<Node> nodes = net.nodes();
        int[] layer = new int[nodes.size()];
        int layers = 0;
        int previous = -1;
        boolean after = false;
        for (int i = 0; i < nodes.size(); i++) {
            layer[i] = Network.layerIndex(nodes.get(i).name());
            if (layer[i] >= 0) {
                if (after || layer[i] < previous || layer[i] > previous + 1) {
                    return Optional.empty();
                }
                previous = layer[i];
                layers = previous + 1;
            } else if (previous >= 0) {
                after = true;
            }
        }
        if (layers == 0 || layers % chunks != 0) {
            return Optional.empty();
        }
        int per = layers / chunks;
        Map<String, Integer> out = new LinkedHashMap<>();
        boolean seenLayer = false;
        for (int i = 0; i < nodes.size(); i++) {
            seenLayer |= layer[i] >= 0;
            int k = layer[i] >= 0 ? layer[i] / per : seenLayer ? chunks - 1 : 0;
            out.put(nodes.get(i).name(), k);
        }
        return Optional.of(out);
    }

    private static Map<String, Integer> explicitStages(Network net, Function<String, Optional<Integer>> explicit) {
        Map<String, Integer> producerStage = new HashMap<>();
        Map<String, Integer> out = new LinkedHashMap<>();
        for (Node n : net.nodes()) {
            Interruption.check("planning");
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

    private static void check(Network net, Map<String, Integer> chunkOf, int stages, int virtualStages) {
        String unit = virtualStages == 1 ? "stage" : "chunk";
        Map<String, String> producer = new HashMap<>();
        for (Node n : net.nodes()) {
            for (String o : n.outputs()) {
                producer.put(o, n.name());
            }
        }
        Map<String, String> paramUser = new HashMap<>();
        Set<Integer> used = new LinkedHashSet<>();
        int chunks = stages * virtualStages;
        for (Node n : net.nodes()) {
            int s = chunkOf.get(n.name());
            if (s < 0 || s >= chunks) {
                throw new IllegalArgumentException("operator '" + n.name() + "': found " + unit + " " + s
                        + "; expected a " + unit + " in [0, " + chunks + ")");
            }
            used.add(s);
            for (String in : n.inputs()) {
                String p = producer.get(in);
                if (p != null && chunkOf.get(p) > s) {
                    throw new IllegalArgumentException("operator '" + n.name() + "' is in " + unit + " " + s
                            + " but its input '" + in + "' comes from operator '" + p + "' in " + unit + " "
                            + chunkOf.get(p) + "; a " + unit + " may only consume tensors of its own or earlier "
                            + unit + "s, so move '" + n.name() + "' to " + unit + " " + chunkOf.get(p) + " or later");
                }
                if (net.isParameter(in)) {
                    String other = paramUser.putIfAbsent(in, n.name());
                    if (other != null && chunkOf.get(other) % stages != s % stages) {
                        throw new IllegalArgumentException("parameter '" + in + "' is used in stage "
                                + chunkOf.get(other) % stages + " (operator '" + other + "') and stage " + s % stages
                                + " (operator '" + n.name() + "'); a parameter must live in one stage, so put its "
                                + "consumers in one stage or stop sharing it (a weight shared across stages, as "
                                + "Megatron's tied embeddings, is not planned yet: zoo gpt tied_embeddings false)");
                    }
                }
            }
        }
        for (int s = 0; s < chunks; s++) {
            if (!used.contains(s)) {
                throw new IllegalArgumentException(unit + " " + s + " has no operators; assign operators to every "
                        + unit + " in [0, " + chunks + ") or use fewer " + (virtualStages == 1 ? "pipeline_stages"
                        : "chunks"));
            }
        }
    }

    private static List<Boundary> boundaries(Plan plan, Map<String, Integer> chunkOf, int stages) {
        Network net = plan.network();
        Map<String, String> producer = new HashMap<>();
        for (Node n : net.nodes()) {
            for (String o : n.outputs()) {
                producer.put(o, n.name());
            }
        }
        // one boundary per tensor and consumer stage, to the first chunk of that stage consuming it
        Map<String, Boundary> raw = new LinkedHashMap<>();
        for (Node n : net.nodes()) {
            int k = chunkOf.get(n.name());
            int s = k % stages;
            for (String in : n.inputs()) {
                String p = producer.get(in);
                if (p == null || chunkOf.get(p) % stages == s) {
                    continue;
                }
                String key = in + "\u0000" + s;
                Boundary seen = raw.get(key);
                if (seen != null && seen.toChunk() <= k) {
                    continue;
                }
                Layout l = plan.layouts().get(in);
                DType t = net.tensor(in).dtype();
                int from = chunkOf.get(p);
                raw.put(key, new Boundary(in, p, from % stages, s, l, l.sliceBytes(t), from, k));
            }
        }
        Map<String, Integer> order = new HashMap<>();
        List<Node> nodes = net.nodes();
        for (int i = 0; i < nodes.size(); i++) {
            order.put(nodes.get(i).name(), i);
        }
        List<Boundary> out = new ArrayList<>(raw.values());
        out.sort(java.util.Comparator.comparingInt((Boundary b) -> order.get(b.producer()))
                .thenComparingInt(Boundary::toChunk));
        return out;
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

    /** Model chunks of the whole pipeline: {@code stages * virtualStages}. */
    public int chunks() {
        return stages * virtualStages;
    }

    /** The stage chunk {@code chunk} runs on: {@code chunk % stages}. */
    public int stageOfChunk(int chunk) {
        if (chunk < 0 || chunk >= chunks()) {
            throw new IllegalArgumentException("chunk " + chunk + " is out of range; the pipeline has " + chunks()
                    + " chunks (0.." + (chunks() - 1) + ")");
        }
        return chunk % stages;
    }

    /** The model chunk of operator {@code op} (its stage without interleaving). */
    public int chunkOf(String op) {
        Integer k = opChunks.get(op);
        if (k == null) {
            throw new IllegalArgumentException("operator '" + op + "' is not in the plan");
        }
        return k;
    }

    /** The chunk of parameter {@code name}: its first consumer's (0 when no operator consumes it). */
    public int paramChunk(String name) {
        ParamPlan p = plan.param(name);
        return p == null || p.consumer() == null ? 0 : opChunks.get(p.consumer());
    }

    /** The chunk a communication of {@link #plan()} runs in: its operator's, else its parameter's. */
    public int commChunk(Communication c) {
        if (c.operator() != null && opChunks.containsKey(c.operator())) {
            return opChunks.get(c.operator());
        }
        return c.parameter() == null ? 0 : paramChunk(c.parameter());
    }

    /** The chunk of a fusion bucket of {@link #plan()}: its members' (buckets never mix chunks). */
    public int bucketChunk(Bucket b) {
        return paramChunk(b.members().get(0));
    }

    /** The operators of chunk {@code chunk}, in execution order. */
    public List<OpPlan> chunkOps(int chunk) {
        return plan.ops().stream().filter(o -> opChunks.get(o.name()) == chunk).toList();
    }

    /** The stage of parameter {@code name}: its first consumer's (0 when no operator consumes it). */
    public int paramStage(String name) {
        return stageOf(plan.param(name));
    }

    /** The stage of parameter {@code p}: its first consumer's (0 when none, or for null). */
    private int stageOf(ParamPlan p) {
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
        return memory(rank, 1);
    }

    /**
     * {@link #memory(int)} with the distributed optimizer over {@code optimizerShards} data-parallel ranks, as
     * {@link Plan#memory(int, int)} splits each parameter's optimizer state and master copy.
     *
     * @throws IllegalArgumentException for a rank out of range or {@code optimizerShards < 1}
     */
    public RankMemory memory(int rank, int optimizerShards) {
        if (rank < 0 || rank >= devices()) {
            throw new IllegalArgumentException("rank " + rank + " is out of range; the pipeline has " + devices()
                    + " ranks (0.." + (devices() - 1) + ")");
        }
        int stage = stageOfRank(rank);
        Map<String, Integer> stageOfParam = new java.util.HashMap<>();
        for (ParamPlan p : plan.params()) {
            stageOfParam.put(p.name(), stageOf(p));
        }
        RankMemory m = plan.memory(rank % plan.devices(), p -> stageOf(p) == stage,
                b -> stageOfParam.getOrDefault(b.members().get(0), 0) == stage, optimizerShards);
        return new RankMemory(rank, m.params(), m.gradients(), m.optimizerState(), m.masterCopies(),
                m.gatheredWeights(), m.recomputeBuffer(), m.fusionBuffer(), m.fp8Weights());
    }
}
