package io.tessera.simulator.numeric;

import io.tessera.layout.comm.CollectiveKind;

import io.tessera.layout.Box;
import io.tessera.layout.DType;
import io.tessera.layout.Layout;
import io.tessera.layout.TensorMap;
import io.tessera.layout.param.Parameter;
import io.tessera.layout.redistribution.Block;
import io.tessera.layout.redistribution.Redistribution;
import io.tessera.layout.redistribution.RedistributionExecutor;
import io.tessera.layout.redistribution.RedistributionPlan;
import io.tessera.layout.redistribution.ReduceOp;
import io.tessera.planner.graph.BackwardGraph;
import io.tessera.planner.graph.Network;
import io.tessera.planner.graph.Node;
import io.tessera.planner.op.BatchNorm;
import io.tessera.planner.op.OpComm;
import io.tessera.planner.op.Operator;
import io.tessera.planner.plan.Bucket;
import io.tessera.planner.plan.Communication;
import io.tessera.planner.plan.OpPlan;
import io.tessera.planner.plan.ParamPlan;
import io.tessera.layout.comm.Phase;
import io.tessera.planner.plan.PipelinePlan;
import io.tessera.planner.plan.Plan;
import io.tessera.planner.strategy.OptimizerKind;
import io.tessera.simulator.array.NDArray;
import io.tessera.simulator.cluster.Cluster;
import io.tessera.simulator.cluster.CollectiveFn;
import io.tessera.simulator.cluster.Collectives;
import io.tessera.simulator.cluster.Instruction;
import io.tessera.simulator.cluster.RankState;
import io.tessera.simulator.kernel.BatchNormKernel;
import io.tessera.simulator.kernel.KernelContext;
import io.tessera.simulator.kernel.Kernels;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Consumer;

/**
 * Runs a plan's training steps on its ranks: each rank holds only its parameter slices (or optimizer shards, from
 * {@code init_data}), its activations and gradients, and runs a per-rank program of kernels and the plan's
 * collectives on the lockstep {@link Cluster}. Redistributions run as one collective over the ranks with the byte-minimal
 * plan; operator and gradient reductions, AllGathers and ReduceScatters of optimizer parallel run over the plan's
 * groups. A consumer that reuses an earlier consumer's redistribution ({@link OpPlan#reuses()}) reads its copy, and
 * in backward hands its gradient to that owner, which sums them and returns the sum once: by the plan's backward
 * ReduceScatter into the producer's layout when it has one (sequence parallelism), else by the reduction and the
 * transposed redistribution. A one-device plan of the same network is run the same way as the reference.
 *
 * <p>Pipeline stages: global rank {@code stage * n + local} runs only its stage's operators, parameters and
 * communications (groups mapped to global ranks), on local rank {@code local}'s slices. A tensor crossing stages is
 * sent after its producer's forward by each producer rank to the consumer-stage rank of the same local rank (a
 * two-rank SendRecv collective); its gradient returns the same way once the consumer stage has finished it (after the
 * backward of its earliest consumer there) and is added to the producer's gradient. A step runs its micro-batches
 * one after the other, each forward then backward (numerically the same as GPipe's all-forwards-then-all-backwards;
 * the per-rank programs are one sequential schedule, so the lockstep cluster never waits on a later collective). The
 * loss gradient is seeded with {@code 1 / microBatches}, so the parameter gradients sum to their mean over the
 * micro-batches; operator reductions and redistributions run per micro-batch, while the parameters' gradient
 * reductions (AllReduce, optimizer-parallel ReduceScatter and mirror AllReduce, fused buckets) run once, in the last
 * micro-batch, on the accumulated gradients, as real pipelines do. Then one optimizer update.
 */
final class Execution {

    private final PipelinePlan pipe;
    private final Plan plan;
    private final Network net;
    private final SimulationOptions options;
    /** Ranks per stage. */
    private final int n;
    private final int microBatches;
    /** The stage of the operator producing the loss. */
    private final int lossStage;
    /** The boundaries sent after each producer operator's forward. */
    private final Map<String, List<PipelinePlan.Boundary>> sentAfter = new HashMap<>();
    /** The boundaries whose gradient returns after the backward of the operator at each index. */
    private final Map<Integer, List<PipelinePlan.Boundary>> returnedAfter = new HashMap<>();
    /** The stages loading each data input. */
    private final Map<String, Set<Integer>> inputStages = new HashMap<>();
    /** The stage whose ranks {@link #compute} and {@link #collective} emit to. */
    private int stage;
    /** Whether the micro-batch being emitted is the step's last (parameter gradient reductions run in it). */
    private boolean lastMicroBatch;
    private final Cluster cluster;
    private final BackwardGraph bg;
    private final Map<String, RedistributionPlan> redistributions = new HashMap<>();
    private final Set<String> edges = new HashSet<>();
    /** Inputs ({@code op/input}) whose redistribution later consumers reuse: they sum those consumers' gradients. */
    private final Set<String> shared = new HashSet<>();
    private List<List<Instruction>> programs;
    private long nextId;
    /** Index of each communication in the plan (by identity). */
    private final Map<Communication, Integer> commIndex = new java.util.IdentityHashMap<>();
    /** The fusion bucket of a communication's index, for buckets of two or more members. */
    private final Map<Integer, Bucket> bucketOf = new HashMap<>();
    /** Parameters whose forward (or recomputed) AllGather already ran in this step, as part of a fused bucket. */
    private final Set<String> gatheredThisStep = new HashSet<>();
    /** Test hook: sees (and may alter) every rank's program before it runs. */
    private Consumer<List<List<Instruction>>> programHook;

    Execution(Plan plan, SimulationOptions options) {
        this(PipelinePlan.single(plan), options);
    }

    Execution(PipelinePlan pipe, SimulationOptions options) {
        this.pipe = pipe;
        this.plan = pipe.plan();
        this.net = plan.network();
        this.options = options;
        this.n = plan.devices();
        this.microBatches = pipe.microBatches();
        this.cluster = new Cluster(pipe.devices(), options.threads());
        this.bg = net.backward();
        int loss = 0;
        Map<String, Integer> index = new HashMap<>();
        for (int k = 0; k < plan.ops().size(); k++) {
            Node node = net.node(plan.ops().get(k).name());
            index.put(node.name(), k);
            if (node.outputs().contains(net.loss())) {
                loss = pipe.stageOf(node.name());
            }
        }
        this.lossStage = loss;
        for (PipelinePlan.Boundary b : pipe.boundaries()) {
            sentAfter.computeIfAbsent(b.producer(), k -> new ArrayList<>()).add(b);
            if (bg.gradientOf(b.tensor()) == null) {
                continue;
            }
            // the consumer stage's gradient of the tensor is complete after the backward of its earliest consumer
            int earliest = Integer.MAX_VALUE;
            for (Node c : net.consumers(b.tensor())) {
                if (pipe.stageOf(c.name()) == b.toStage()) {
                    earliest = Math.min(earliest, index.get(c.name()));
                }
            }
            returnedAfter.computeIfAbsent(earliest, k -> new ArrayList<>()).add(b);
        }
        for (String input : net.inputs()) {
            Set<Integer> at = new java.util.TreeSet<>();
            net.consumers(input).forEach(c -> at.add(pipe.stageOf(c.name())));
            inputStages.put(input, at.isEmpty() ? Set.of(0) : at);
        }
        // inputs whose layout differs from their producer's: redistributed forward, transposed backward
        for (OpPlan op : plan.ops()) {
            Node node = net.node(op.name());
            op.reuses().forEach(u -> shared.add(u.owner() + "/" + u.ownerInput()));
            for (int i = 0; i < node.inputs().size(); i++) {
                String t = node.inputs().get(i);
                Layout from = net.isParameter(t) ? plan.param(t).layout() : plan.layouts().get(t);
                Layout to = op.inputLayouts().get(i);
                if (!redistribution(from, to, net.tensor(t).dtype()).steps().isEmpty()) {
                    edges.add(node.name() + "#" + i);
                }
            }
        }
        for (int i = 0; i < plan.comms().size(); i++) {
            commIndex.put(plan.comms().get(i), i);
        }
        for (Bucket b : plan.buckets()) {
            if (b.comms().size() > 1) {
                b.comms().forEach(i -> bucketOf.put(i, b));
            }
        }
        // each stage's ranks hold only that stage's parameters, as the plan's local ranks
        for (int r = 0; r < n; r++) {
            Map<String, Parameter> slices = plan.materialize(r);
            for (ParamPlan p : plan.params()) {
                RankState s = cluster.state(pipe.globalRank(pipe.paramStage(p.name()), r));
                s.put("param/" + p.name(), toArray(slices.get(p.name())));
            }
        }
    }

    /** The stage-local rank of a rank's memory. */
    private int local(RankState s) {
        return s.rank() % n;
    }

    private NDArray toArray(Parameter p) {
        io.tessera.layout.tensor.Tensor t = p.tensor();
        NDArray a = NDArray.of(t.shape(), t.toDoubleArray());
        return round(a);
    }

    private NDArray round(NDArray a) {
        return options.dtype() == DType.FLOAT32 ? a.roundToFloat() : a;
    }

    /** Installs a hook that sees (and may alter) the per-rank programs before each step runs (fault injection). */
    void programHook(Consumer<List<List<Instruction>>> hook) {
        this.programHook = hook;
    }

    /** The cluster the ranks run on (its states hold every rank's tensors). */
    Cluster cluster() {
        return cluster;
    }

    /**
     * Runs training step {@code step} (its micro-batches, then the update) and returns the loss of each local rank
     * of the stage computing the loss: the mean of its micro-batch losses.
     */
    double[] step(int step) {
        programs = new ArrayList<>();
        for (int r = 0; r < pipe.devices(); r++) {
            programs.add(new ArrayList<>());
        }
        nextId = 0;
        computeAll("clear", s -> {
            for (String k : new ArrayList<>(s.names())) {
                if (!k.startsWith("param/") && !k.startsWith("opt/")) {
                    s.remove(k);
                }
            }
        });
        for (int k = 0; k < microBatches; k++) {
            lastMicroBatch = k == microBatches - 1;
            gatheredThisStep.clear();
            if (k > 0) {
                // a micro-batch's activations and activation gradients go; the parameters' gradient sums stay
                computeAll("clear micro-batch " + k, s -> {
                    for (String slot : new ArrayList<>(s.names())) {
                        if (!accumulated(slot)) {
                            s.remove(slot);
                        }
                    }
                });
            }
            Map<String, NDArray> batch = Batches.microBatch(net, options.seed(), step, microBatches, k);
            for (String input : net.inputs()) {
                Layout l = plan.layouts().get(input);
                NDArray full = batch.get(input);
                for (int st : inputStages.get(input)) {
                    stage = st;
                    compute("load " + input, s -> s.put("act/" + input, region(full, Box.full(full.shape()),
                            l.sliceBox(local(s)))));
                }
            }
            forward();
            backward();
            stage = lossStage;
            compute("accumulate loss", s -> add(s, "acc/loss", s.get("act/" + net.loss())));
        }
        optimizer(step);
        if (programHook != null) {
            programHook.accept(programs);
        }
        cluster.run(programs);
        double[] loss = new double[n];
        for (int r = 0; r < n; r++) {
            loss[r] = cluster.state(pipe.globalRank(lossStage, r)).get("acc/loss").get(0) / microBatches;
        }
        return loss;
    }

    /** Whether a slot lives across the micro-batches of a step: parameters, optimizer state and gradient sums. */
    private boolean accumulated(String slot) {
        if (slot.startsWith("param/") || slot.startsWith("opt/") || slot.startsWith("gacc/")
                || slot.startsWith("eacc/") || slot.startsWith("acc/")) {
            return true;
        }
        if (slot.startsWith("grad/")) {
            return net.isParameter(slot.substring("grad/".length()));
        }
        if (slot.startsWith("pend/")) {
            return net.isParameter(slot.substring("pend/".length(), slot.lastIndexOf('|')));
        }
        return false;
    }

    // ---------------------------------------------------------------- forward

    private void forward() {
        Set<String> recomputed = new HashSet<>();
        for (OpPlan op : plan.ops()) {
            Node node = net.node(op.name());
            op.reuses().forEach(u -> shared.add(u.owner() + "/" + u.ownerInput()));
            stage = pipe.stageOf(op.name());
            for (int i = 0; i < node.inputs().size(); i++) {
                String t = node.inputs().get(i);
                Layout required = op.inputLayouts().get(i);
                String slot = "in/" + node.name() + "/" + i;
                OpPlan.Reuse reuse = op.reuse(i);
                if (reuse != null) {
                    // an earlier consumer already redistributed the tensor to this layout: read its copy
                    String owner = "in/" + reuse.owner() + "/" + reuse.ownerInput();
                    compute("reuse " + owner + " as " + slot, s -> s.put(slot, s.get(owner)));
                    continue;
                }
                if (net.isParameter(t)) {
                    ParamPlan p = plan.param(t);
                    String src = "param/" + t;
                    if (p.shard().sharded()) {
                        if (node.name().equals(p.consumer())) {
                            gather(shardComm(t, CollectiveKind.ALL_GATHER, Phase.FORWARD));
                        }
                        src = "gathered/" + t;
                        if (p.recompute()) {
                            recomputed.add(t);
                        }
                    }
                    move(src, p.layout(), required, slot, p.dtype(), node.name() + " input " + i);
                } else {
                    move("act/" + t, plan.layouts().get(t), required, slot, net.tensor(t).dtype(),
                            node.name() + " input " + i);
                }
            }
            runForward(node, op);
            for (Communication c : plan.comms()) {
                if (c.phase() == Phase.FORWARD && c.origin() == Communication.Origin.OPERATOR
                        && c.operator().equals(node.name()) && !(node.op() instanceof BatchNorm)) {
                    String out = "act/" + c.tensor();
                    if (c.kind() == CollectiveKind.ALL_REDUCE) {
                        collective(c.kind() + "(" + c.reduce().jsonName() + ") " + c.tensor(), c.groups(),
                                Collectives.allReduce(out, out, c.reduce()));
                    } else if (c.kind() == CollectiveKind.REDUCE_SCATTER) {
                        int dim = multiDim(op.outputLayouts().get(0).tensorMap());
                        collective("ReduceScatter " + c.tensor(), c.groups(),
                                Collectives.reduceScatter(out, out, dim, c.reduce()));
                    }
                }
            }
            // tensors used by later stages: each producer rank sends its slice to its peer of the consumer stage
            for (PipelinePlan.Boundary b : sentAfter.getOrDefault(node.name(), List.of())) {
                String slot = "act/" + b.tensor();
                collectiveGlobal("send " + b.tensor() + " stage " + b.fromStage() + " -> " + b.toStage(),
                        pairs(b.fromStage(), b.toStage()), Collectives.send(slot, slot));
            }
        }
        // recomputed weights are not kept from forward to backward: they are gathered again
        for (String t : recomputed) {
            stage = pipe.paramStage(t);
            compute("free " + t, s -> s.remove("gathered/" + t));
        }
    }

    /** The pairs {@code [rank of from, rank of to]} of equal local rank, for a SendRecv between two stages. */
    private List<List<Integer>> pairs(int from, int to) {
        List<List<Integer>> out = new ArrayList<>(n);
        for (int r = 0; r < n; r++) {
            out.add(List.of(pipe.globalRank(from, r), pipe.globalRank(to, r)));
        }
        return out;
    }

    /** The forward AllGather of a Reshape whose input splits only partly carry through the new shape, or null. */
    private Communication reshapeGather(String node) {
        for (Communication c : plan.comms()) {
            if (c.phase() == Phase.FORWARD && c.origin() == Communication.Origin.OPERATOR && c.kind() == CollectiveKind.ALL_GATHER
                    && node.equals(c.operator())) {
                return c;
            }
        }
        return null;
    }

    /** The union of the input boxes of the group of {@code rank}: what a partly carried Reshape gathers. */
    private static Box union(Communication gather, OpPlan op, int rank) {
        Layout in = op.inputLayouts().get(0);
        long[] start = null;
        long[] end = null;
        for (List<Integer> g : gather.groups()) {
            if (!g.contains(rank)) {
                continue;
            }
            for (int r : g) {
                Box b = in.sliceBox(r);
                if (start == null) {
                    start = b.start();
                    end = b.end();
                }
                for (int d = 0; d < start.length; d++) {
                    start[d] = Math.min(start[d], b.start(d));
                    end[d] = Math.max(end[d], b.end(d));
                }
            }
        }
        return Box.of(start, end);
    }

    private void runForward(Node node, OpPlan op) {
        Operator o = node.op();
        int inputs = node.inputs().size();
        Communication gather = reshapeGather(node.name());
        if (gather != null) {
            // gather the group's input slices into their union, which maps exactly to the output slice
            String in = "in/" + node.name() + "/0";
            String all = "gin/" + node.name();
            collective("AllGather (reshape) " + node.name(), gather.groups(), members -> {
                List<Block> blocks = new ArrayList<>();
                for (RankState m : members) {
                    blocks.add(m.get(in).toBlock(op.inputLayouts().get(0).sliceBox(local(m))));
                }
                for (RankState m : members) {
                    m.put(all, NDArray.of(Block.assemble(union(gather, op, local(m)), blocks)));
                }
            });
            compute(node.name(), s -> {
                Box outBox = op.outputLayouts().get(0).sliceBox(local(s));
                s.put("act/" + node.outputs().get(0), s.get(all).copy().reshape(outBox.shape()));
            });
            return;
        }
        if (o instanceof BatchNorm bn && hasForwardComm(node.name())) {
            Communication c = forwardComm(node.name());
            compute("stats " + node.name(), s -> s.put("bnstats/" + node.name(),
                    BatchNormKernel.statistics(s.get("in/" + node.name() + "/0"))));
            String slot = "bnstats/" + node.name();
            collective("AllReduce(sum) statistics " + node.name(), c.groups(),
                    Collectives.allReduce(slot, slot, ReduceOp.SUM));
            compute(node.name(), s -> {
                NDArray y = BatchNormKernel.normalize(bn, s.get("in/" + node.name() + "/0"),
                        s.get("in/" + node.name() + "/1"), s.get("in/" + node.name() + "/2"), s.get(slot));
                s.put("act/" + node.outputs().get(0), round(y));
            });
            return;
        }
        compute(node.name(), s -> {
            List<NDArray> in = new ArrayList<>();
            for (int i = 0; i < inputs; i++) {
                in.add(s.get("in/" + node.name() + "/" + i));
            }
            List<NDArray> out = Kernels.forward(o, context(op, local(s)), in);
            for (int k = 0; k < out.size(); k++) {
                s.put("act/" + node.outputs().get(k), round(out.get(k)));
            }
        });
    }

    private boolean hasForwardComm(String node) {
        return forwardComm(node) != null;
    }

    private Communication forwardComm(String node) {
        for (Communication c : plan.comms()) {
            if (c.phase() == Phase.FORWARD && c.origin() == Communication.Origin.OPERATOR
                    && c.operator().equals(node)) {
                return c;
            }
        }
        return null;
    }

    private KernelContext context(OpPlan op, int rank) {
        List<Box> in = new ArrayList<>();
        for (Layout l : op.inputLayouts()) {
            in.add(l.sliceBox(rank));
        }
        List<Box> out = new ArrayList<>();
        for (Layout l : op.outputLayouts()) {
            out.add(l.sliceBox(rank));
        }
        return new KernelContext(in, out, options.dtype(), options.seed());
    }

    private RedistributionPlan redistribution(Layout from, Layout to, DType dtype) {
        return redistributions.computeIfAbsent(from + "|" + to + "|" + dtype, k -> Redistribution.plan(from, to, dtype));
    }

    /** Puts the tensor of slot {@code src} (in layout {@code from}) into slot {@code dst} in layout {@code to}. */
    private void move(String src, Layout from, Layout to, String dst, DType dtype, String what) {
        RedistributionPlan rp = redistribution(from, to, dtype);
        if (rp.steps().isEmpty()) {
            compute("alias " + dst, s -> s.put(dst, s.get(src)));
        } else if (rp.communicationStepCount() == 0) {
            compute("slice " + dst, s -> s.put(dst, region(s.get(src), from.sliceBox(local(s)),
                    to.sliceBox(local(s)))));
        } else {
            List<Integer> all = new ArrayList<>();
            for (int r = 0; r < n; r++) {
                all.add(r);
            }
            collective("redistribution of " + what, List.of(all), members -> {
                List<Block> blocks = new ArrayList<>();
                for (RankState m : members) {
                    blocks.add(m.get(src).toBlock(from.sliceBox(local(m))));
                }
                List<Block> out = RedistributionExecutor.run(rp.steps(), blocks);
                for (RankState m : members) {
                    m.put(dst, NDArray.of(out.get(local(m))));
                }
            });
        }
    }

    // ---------------------------------------------------------------- backward

    private void backward() {
        stage = lossStage;
        // d(mean of the micro-batch losses) / d(this micro-batch's loss)
        double seed = 1.0 / microBatches;
        compute("seed", s -> {
            NDArray loss = s.get("act/" + net.loss());
            s.put("grad/" + net.loss(), round(NDArray.full(seed, loss.shape())));
        });
        List<OpPlan> ops = plan.ops();
        for (int k = ops.size() - 1; k >= 0; k--) {
            OpPlan op = ops.get(k);
            stage = pipe.stageOf(op.name());
            backward(op);
            // gradients of tensors received from earlier stages return to their producers, added to their sums
            for (PipelinePlan.Boundary b : returnedAfter.getOrDefault(k, List.of())) {
                String slot = "grad/" + b.tensor();
                collectiveGlobal("return gradient of " + b.tensor() + " stage " + b.toStage() + " -> "
                        + b.fromStage(), pairs(b.toStage(), b.fromStage()), Collectives.sendAdd(slot, slot));
            }
        }
    }

    /** The backward of one operator: its kernels, the routing of its input gradients and its reductions. */
    private void backward(OpPlan op) {
        Node node = net.node(op.name());
        boolean[] needs = new boolean[node.inputs().size()];
        boolean any = false;
        for (int i = 0; i < needs.length; i++) {
            String t = node.inputs().get(i);
            Parameter p = net.parameter(t);
            needs[i] = bg.gradientOf(t) != null && (p == null || p.requiresGrad());
            any |= needs[i];
        }
        if (!any) {
            return;
        }
        List<Communication> segment = new ArrayList<>();
        for (Communication c : plan.comms()) {
            if (c.phase() == Phase.BACKWARD && node.name().equals(c.operator())) {
                segment.add(c);
            }
        }
        // gathers first: recomputed weights and the gradient of a reduce-scattered output
        for (Communication c : segment) {
            if (c.kind() == CollectiveKind.ALL_GATHER && c.origin() == Communication.Origin.PARALLEL_OPTIMIZER) {
                gather(c);
            } else if (c.kind() == CollectiveKind.ALL_GATHER && c.origin() == Communication.Origin.OPERATOR) {
                int dim = multiDim(op.outputLayouts().get(0).tensorMap());
                String g = "grad/" + node.outputs().get(0);
                collective("AllGather " + c.tensor(), c.groups(), Collectives.allGather(g, "bgrad/" + node.name(),
                        dim));
            }
        }
        runBackward(node, op, needs);
        // inputs reusing a redistribution hand their gradient to its owner: first, in case the owner is an
        // earlier input of this same operator
        for (int pass = 0; pass < 2; pass++) {
            for (int i = 0; i < needs.length; i++) {
                if (needs[i] && (op.reuse(i) != null) == (pass == 0)) {
                    contribute(node, op, i);
                }
            }
        }
        for (Communication c : segment) {
            boolean batchNormStats = node.op() instanceof BatchNorm && c.input() == 0
                    && c.origin() == Communication.Origin.OPERATOR;
            // mirror AllReduces of optimizer shards run right after their ReduceScatter (see reduce)
            // (a redistribution's ReduceScatter runs in contribute, with the gradient it reduces)
            boolean reduction = (c.kind() == CollectiveKind.ALL_REDUCE && (c.origin() == Communication.Origin.OPERATOR
                    || c.origin() == Communication.Origin.GRADIENT) && !edges.contains(c.operator() + "#"
                    + c.input()) && !batchNormStats) || (c.kind() == CollectiveKind.REDUCE_SCATTER
                    && c.origin() != Communication.Origin.REDISTRIBUTION);
            if (!reduction) {
                continue;
            }
            // parameters' gradient reductions run once per step, on the sums over the micro-batches
            if (c.origin() != Communication.Origin.OPERATOR && !lastMicroBatch) {
                continue;
            }
            Bucket bucket = bucketOf.get(commIndex.get(c));
            if (bucket == null) {
                reduce(List.of(c));
            } else if (bucket.issuedAt() == commIndex.get(c)) {
                // a fused bucket is issued once every member's data is ready: at its last member
                List<Communication> members = new ArrayList<>();
                bucket.comms().forEach(i -> members.add(plan.comms().get(i)));
                reduce(members);
            }
        }
    }

    /** The optimizer-parallel communication {@code kind} of parameter {@code param} in {@code phase}. */
    private Communication shardComm(String param, CollectiveKind kind, Phase phase) {
        for (Communication c : plan.comms()) {
            if (c.origin() == Communication.Origin.PARALLEL_OPTIMIZER && c.kind() == kind && c.phase() == phase
                    && param.equals(c.parameter())) {
                return c;
            }
        }
        throw new IllegalStateException("no " + phase.jsonName() + " " + kind + " of parameter '" + param + "'");
    }

    /**
     * Gathers a sharded parameter's slice; when its AllGather is in a fused bucket, the whole bucket is gathered as one
     * collective at its first member and later members find their slice ready.
     */
    private void gather(Communication c) {
        String param = c.parameter();
        if (gatheredThisStep.contains(c.phase() + "/" + param)) {
            return;
        }
        Bucket bucket = bucketOf.get(commIndex.get(c));
        List<String> members = new ArrayList<>();
        if (bucket == null) {
            members.add(param);
        } else {
            bucket.comms().forEach(i -> members.add(plan.comms().get(i).parameter()));
        }
        members.forEach(m -> gatheredThisStep.add(c.phase() + "/" + m));
        if (plan.param(param).shard().shards() == 1) {
            compute("gather " + members, s -> members.forEach(m -> s.put("gathered/" + m, s.get("param/" + m))));
            return;
        }
        List<CollectiveFn> fns = new ArrayList<>();
        for (String m : members) {
            fns.add(Collectives.allGather("param/" + m, "gathered/" + m, 0));
        }
        collective((members.size() > 1 ? "fused AllGather " : "AllGather ") + members, c.groups(), group -> {
            for (CollectiveFn f : fns) {
                f.apply(group);
            }
        });
    }

    /**
     * Runs the reductions {@code comms} (one, or the members of a fused bucket, which share kind, groups and
     * reduction) as one collective per group, and routes the results.
     */
    private void reduce(List<Communication> comms) {
        Communication first = comms.get(0);
        String label = (comms.size() > 1 ? "fused " : "") + first.kind() + "(" + first.reduce().jsonName() + ") "
                + (comms.size() > 1 ? comms.size() + " tensors" : first.tensor());
        if (first.kind() == CollectiveKind.REDUCE_SCATTER) {
            List<CollectiveFn> fns = new ArrayList<>();
            for (Communication c : comms) {
                fns.add(Collectives.reduceScatter("gacc/" + c.parameter(), "gshard/" + c.parameter(), 0, c.reduce()));
            }
            collective(label, first.groups(), group -> {
                for (CollectiveFn f : fns) {
                    f.apply(group);
                }
            });
            // the shards' gradients are also reduced over the mirror groups when the shard size is smaller than the
            // repeated group, fused per set of groups
            Map<List<List<Integer>>, List<String>> mirrors = new java.util.LinkedHashMap<>();
            for (Communication c : comms) {
                List<List<Integer>> g = plan.param(c.parameter()).shard().mirrorGroups();
                if (!g.isEmpty()) {
                    mirrors.computeIfAbsent(g, k -> new ArrayList<>()).add("gshard/" + c.parameter());
                }
            }
            for (Map.Entry<List<List<Integer>>, List<String>> m : mirrors.entrySet()) {
                collective("AllReduce(" + first.reduce().jsonName() + ") mirror " + m.getValue(), m.getKey(),
                        Collectives.allReduce(m.getValue(), m.getValue(), first.reduce()));
            }
            return;
        }
        List<String> slots = new ArrayList<>();
        List<String> targets = new ArrayList<>();
        for (Communication c : comms) {
            String t = c.tensor().substring("grad/".length());
            slots.add("pend/" + t + "|" + c.groups().hashCode());
            targets.add("grad/" + t);
        }
        collective(label, first.groups(), Collectives.allReduce(slots, slots, first.reduce()));
        compute("accumulate " + label, s -> {
            for (int k = 0; k < slots.size(); k++) {
                add(s, targets.get(k), s.get(slots.get(k)));
                s.remove(slots.get(k));
            }
        });
    }

    private void runBackward(Node node, OpPlan op, boolean[] needs) {
        Operator o = node.op();
        int inputs = node.inputs().size();
        Communication gather = reshapeGather(node.name());
        if (gather != null) {
            // the output gradient is whole on every member: each takes its own input slice of it
            String dy = "grad/" + node.outputs().get(0);
            compute(node.name() + " backward", s -> {
                Box all = union(gather, op, local(s));
                NDArray g = s.get(dy).copy().reshape(all.shape());
                s.put("igrad/" + node.name() + "/0", region(g, all, op.inputLayouts().get(0).sliceBox(local(s))));
            });
            return;
        }
        Communication bnComm = null;
        for (Communication c : plan.comms()) {
            if (c.phase() == Phase.BACKWARD && c.origin() == Communication.Origin.OPERATOR
                    && node.name().equals(c.operator()) && o instanceof BatchNorm && c.input() == 0) {
                bnComm = c;
            }
        }
        if (o instanceof BatchNorm bn && hasForwardComm(node.name())) {
            String stats = "bnstats/" + node.name();
            String gstats = "bngstats/" + node.name();
            String dy = "grad/" + node.outputs().get(0);
            compute("grad stats " + node.name(), s -> s.put(gstats, BatchNormKernel.gradStatistics(
                    s.get("in/" + node.name() + "/0"), s.get(dy), s.get(stats))));
            if (bnComm != null) {
                collective("AllReduce(sum) grad statistics " + node.name(), bnComm.groups(),
                        Collectives.allReduce(gstats, gstats, ReduceOp.SUM));
            }
            compute(node.name() + " backward", s -> {
                List<NDArray> g = BatchNormKernel.backwardApply(bn, s.get("in/" + node.name() + "/0"), s.get(dy),
                        s.get("in/" + node.name() + "/1"), s.get(stats), s.get(gstats), needs);
                storeGrads(s, node, g);
            });
            return;
        }
        // the adjoint of a forward AllReduce(mean) over g ranks scales the output's gradient by 1/g
        Map<Integer, Integer> meanGroups = new HashMap<>();
        for (Communication c : plan.comms()) {
            if (c.phase() == Phase.FORWARD && c.origin() == Communication.Origin.OPERATOR
                    && node.name().equals(c.operator()) && c.reduce() == ReduceOp.MEAN) {
                meanGroups.put(node.outputs().indexOf(c.tensor()), c.groups().get(0).size());
            }
        }
        boolean gatheredGrad = plan.comms().stream().anyMatch(c -> c.phase() == Phase.BACKWARD
                && c.origin() == Communication.Origin.OPERATOR && c.kind() == CollectiveKind.ALL_GATHER
                && node.name().equals(c.operator()));
        compute(node.name() + " backward", s -> {
            List<NDArray> in = new ArrayList<>();
            for (int i = 0; i < inputs; i++) {
                in.add(inputOf(s, node, i));
            }
            List<NDArray> out = new ArrayList<>();
            List<NDArray> grads = new ArrayList<>();
            for (int k = 0; k < node.outputs().size(); k++) {
                String t = node.outputs().get(k);
                out.add(s.get("act/" + t));
                NDArray g = gatheredGrad && k == 0 ? opt(s, "bgrad/" + node.name()) : opt(s, "grad/" + t);
                if (g != null && meanGroups.containsKey(k)) {
                    g = g.copy();
                    double f = 1.0 / meanGroups.get(k);
                    double[] d = g.data();
                    for (int i = 0; i < d.length; i++) {
                        d[i] *= f;
                    }
                }
                grads.add(g);
            }
            KernelContext ctx = context(op, local(s));
            if (gatheredGrad) {
                // the output was reduce-scattered: its gathered gradient covers the pre-scatter region
                List<Box> outBoxes = new ArrayList<>(ctx.outputBoxes());
                outBoxes.set(0, gatheredBox(op, local(s)));
                ctx = new KernelContext(ctx.inputBoxes(), outBoxes, ctx.dtype(), ctx.seed());
            }
            storeGrads(s, node, Kernels.backward(node.op(), ctx, in, out, grads, needs));
        });
    }

    private Box gatheredBox(OpPlan op, int rank) {
        Layout out = op.outputLayouts().get(0);
        int dim = multiDim(out.tensorMap());
        Box b = out.sliceBox(rank);
        long[] start = b.start();
        long[] end = b.end();
        int[] axes = out.tensorMap().entry(dim).axes();
        int inner = out.devMatrix().dim(out.deviceDimOf(axes[axes.length - 1]));
        long len = end[dim] - start[dim];
        long base = start[dim] - (start[dim] / len % inner) * len;
        start[dim] = base;
        end[dim] = base + len * inner;
        return Box.of(start, end);
    }

    private NDArray inputOf(RankState s, Node node, int i) {
        String t = node.inputs().get(i);
        String in = "in/" + node.name() + "/" + i;
        if (net.isParameter(t) && plan.param(t).shard().sharded() && !edges.contains(node.name() + "#" + i)) {
            return s.get("gathered/" + t);
        }
        return s.get(in);
    }

    private void storeGrads(RankState s, Node node, List<NDArray> grads) {
        for (int i = 0; i < grads.size(); i++) {
            if (grads.get(i) != null) {
                s.put("igrad/" + node.name() + "/" + i, round(grads.get(i)));
            }
        }
    }

    /** Routes the gradient of input {@code i} of {@code node} to where the plan reduces it. */
    private void contribute(Node node, OpPlan op, int i) {
        String t = node.inputs().get(i);
        String local = "igrad/" + node.name() + "/" + i;
        List<List<Integer>> partial = null;
        for (OpComm c : op.sharding().backward()) {
            // BatchNorm's x: its statistics are reduced inside the two-phase kernel, not its gradient
            if (!c.output() && c.index() == i && !(node.op() instanceof BatchNorm && i == 0)) {
                partial = c.groups(op.sharding().devMatrix());
            }
        }
        boolean operatorComms = plan.config().mode() != io.tessera.layout.param.ParallelMode.DATA_PARALLEL;
        ParamPlan p = net.isParameter(t) ? plan.param(t) : null;
        if (p != null && p.shard().sharded()) {
            int partialSize = partial == null ? 1 : partial.get(0).size();
            double scale = (double) partialSize / p.layout().repeatedCount();
            compute("accumulate " + local, s -> {
                NDArray g = s.get(local).copy();
                double[] d = g.data();
                for (int k = 0; k < d.length; k++) {
                    d[k] *= scale;
                }
                add(s, "gacc/" + t, g);
            });
            return;
        }
        boolean reduced = partial != null && (p != null ? !p.layerwiseParallel() : operatorComms);
        if (edges.contains(node.name() + "#" + i)) {
            OpPlan.Reuse reuse = op.reuse(i);
            if (reuse != null) {
                // summed (still partial) into the owner's gradient, which is reduced and sent back once
                String share = "share/" + reuse.owner() + "/" + reuse.ownerInput();
                compute("share " + local, s -> add(s, share, s.get(local)));
                return;
            }
            if (shared.contains(node.name() + "/" + i)) {
                // the owner adds its own gradient to the sum of the later consumers'
                String share = "share/" + node.name() + "/" + i;
                compute("sum shared " + local, s -> {
                    add(s, share, s.get(local));
                    s.put(local, round(s.get(share)));
                    s.remove(share);
                });
            }
            if (p != null && microBatches > 1) {
                // a parameter's gradient is reduced and redistributed once per step: its sum over the micro-batches
                String sum = "eacc/" + node.name() + "/" + i;
                if (!lastMicroBatch) {
                    compute("accumulate " + local, s -> add(s, sum, s.get(local)));
                    return;
                }
                compute("add " + sum, s -> {
                    NDArray g = s.get(local).copy();
                    NDArray earlier = s.remove(sum);
                    if (earlier != null) {
                        double[] a = g.data();
                        double[] b = earlier.data();
                        for (int k = 0; k < a.length; k++) {
                            a[k] += b[k];
                        }
                    }
                    s.put(local, g);
                });
            }
            Layout from = op.inputLayouts().get(i);
            Layout to = p != null ? p.layout() : plan.layouts().get(t);
            Communication scatter = redistributionScatter(node.name(), i);
            if (scatter != null) {
                // the partial gradient, reduce-scattered straight into the producer's layout
                String back = "back/" + node.name() + "/" + i;
                collective("ReduceScatter(sum) " + local, scatter.groups(), members -> {
                    double[] sum = members.get(0).get(local).data().clone();
                    long[] shape = members.get(0).get(local).shape();
                    for (int m = 1; m < members.size(); m++) {
                        double[] d = members.get(m).get(local).data();
                        if (d.length != sum.length) {
                            throw new IllegalStateException("ReduceScatter of " + local + ": rank "
                                    + members.get(m).rank() + " holds " + d.length + " elements, rank "
                                    + members.get(0).rank() + " " + sum.length);
                        }
                        for (int k = 0; k < sum.length; k++) {
                            sum[k] += d[k];
                        }
                    }
                    NDArray reduced0 = NDArray.of(shape, sum);
                    for (RankState m : members) {
                        m.put(back, region(reduced0, from.sliceBox(local(m)), to.sliceBox(local(m))));
                    }
                });
                compute("accumulate " + back, s -> add(s, "grad/" + t, s.get(back)));
                return;
            }
            if (reduced) {
                ReduceOp r = p != null && plan.config().gradientsMean() ? ReduceOp.MEAN : ReduceOp.SUM;
                collective("AllReduce " + local, partial, Collectives.allReduce(local, local, r));
            }
            String back = "back/" + node.name() + "/" + i;
            move(local, from, to, back, net.tensor(t).dtype(), "gradient of " + t);
            compute("accumulate " + back, s -> add(s, "grad/" + t, s.get(back)));
        } else if (reduced) {
            String pend = "pend/" + t + "|" + partial.hashCode();
            compute("pending " + local, s -> add(s, pend, s.get(local)));
        } else {
            // complete, or a layerwise_parallel parameter's local gradient (not reduced by design)
            compute("accumulate " + local, s -> add(s, "grad/" + t, s.get(local)));
        }
    }

    /** The backward ReduceScatter returning the gradient of input {@code input} of {@code node}, or null. */
    private Communication redistributionScatter(String node, int input) {
        for (Communication c : plan.comms()) {
            if (c.phase() == Phase.BACKWARD && c.origin() == Communication.Origin.REDISTRIBUTION
                    && c.kind() == CollectiveKind.REDUCE_SCATTER && node.equals(c.operator()) && c.input() == input) {
                return c;
            }
        }
        return null;
    }

    private static void add(RankState s, String slot, NDArray g) {
        NDArray cur = opt(s, slot);
        if (cur == null) {
            s.put(slot, g.copy());
            return;
        }
        double[] a = cur.data();
        double[] b = g.data();
        if (a.length != b.length) {
            throw new IllegalStateException("rank " + s.rank() + ": cannot add a gradient of " + b.length
                    + " elements to '" + slot + "' of " + a.length);
        }
        for (int i = 0; i < a.length; i++) {
            a[i] += b[i];
        }
    }

    // ---------------------------------------------------------------- optimizer

    private void optimizer(int step) {
        OptimizerKind kind = plan.config().optimizer();
        double lr = options.learningRate();
        for (ParamPlan p : plan.params()) {
            if (!p.trainable()) {
                continue;
            }
            String name = p.name();
            String gradSlot = p.shard().sharded() ? "gshard/" + name : "grad/" + name;
            stage = pipe.paramStage(name);
            compute("update " + name, s -> {
                NDArray w = s.get("param/" + name);
                NDArray g = opt(s, gradSlot);
                if (g == null) {
                    return;
                }
                double[] wd = w.data();
                double[] gd = g.data();
                if (wd.length != gd.length) {
                    throw new IllegalStateException("rank " + s.rank() + ": parameter '" + name + "' holds "
                            + wd.length + " values but its gradient " + gd.length);
                }
                switch (kind) {
                    case SGD -> {
                        for (int i = 0; i < wd.length; i++) {
                            wd[i] -= lr * gd[i];
                        }
                    }
                    case MOMENTUM -> {
                        double[] v = state(s, "opt/" + name + "/v", w).data();
                        for (int i = 0; i < wd.length; i++) {
                            v[i] = 0.9 * v[i] + gd[i];
                            wd[i] -= lr * v[i];
                        }
                    }
                    case ADAM -> {
                        double[] m = state(s, "opt/" + name + "/m", w).data();
                        double[] v = state(s, "opt/" + name + "/v", w).data();
                        int t = step + 1;
                        double c1 = 1 - Math.pow(0.9, t);
                        double c2 = 1 - Math.pow(0.999, t);
                        for (int i = 0; i < wd.length; i++) {
                            m[i] = 0.9 * m[i] + 0.1 * gd[i];
                            v[i] = 0.999 * v[i] + 0.001 * gd[i] * gd[i];
                            wd[i] -= lr * (m[i] / c1) / (Math.sqrt(v[i] / c2) + 1e-8);
                        }
                    }
                    default -> throw new IllegalStateException("optimizer " + kind);
                }
                round(w);
            });
        }
    }

    /** The array in {@code slot}, or null when the slot is empty. */
    private static NDArray opt(RankState s, String slot) {
        return s.has(slot) ? s.get(slot) : null;
    }

    private static NDArray state(RankState s, String slot, NDArray like) {
        NDArray a = opt(s, slot);
        if (a == null) {
            a = NDArray.zeros(like.shape());
            s.put(slot, a);
        }
        return a;
    }

    // ---------------------------------------------------------------- results

    /** The whole parameter {@code name} assembled from the ranks' slices or shards. */
    NDArray gatherParam(String name) {
        ParamPlan p = plan.param(name);
        NDArray full = NDArray.zeros(p.layout().shape());
        int at = pipe.paramStage(name);
        for (int r = 0; r < n; r++) {
            NDArray local = cluster.state(pipe.globalRank(at, r)).get("param/" + name);
            Box box = p.layout().sliceBox(r);
            if (p.shard().sharded()) {
                List<Integer> g = p.shard().groupOf(r);
                int j = g.indexOf(r);
                long[] start = box.start();
                long[] end = box.end();
                long len = (end[0] - start[0]) / g.size();
                start[0] += j * len;
                end[0] = start[0] + len;
                box = Box.of(start, end);
            }
            paste(full, local, box);
        }
        return full;
    }

    private static NDArray region(NDArray a, Box of, Box region) {
        return NDArray.of(a.toBlock(of).region(region));
    }

    private static void paste(NDArray full, NDArray local, Box box) {
        Block whole = Block.of(Box.full(full.shape()), full.data());
        Block merged = Block.assemble(Box.full(full.shape()), List.of(whole, local.toBlock(box)));
        System.arraycopy(merged.data(), 0, full.data(), 0, full.size());
    }

    private static int multiDim(TensorMap m) {
        for (int d = 0; d < m.size(); d++) {
            if (m.entry(d) instanceof TensorMap.SplitMulti) {
                return d;
            }
        }
        throw new IllegalStateException("no dimension split over several device dims in " + m);
    }

    // ---------------------------------------------------------------- program building

    /** Adds a compute step to the programs of the current stage's ranks. */
    private void compute(String label, Consumer<RankState> action) {
        for (int r = 0; r < n; r++) {
            programs.get(pipe.globalRank(stage, r)).add(new Instruction.Compute(label, action));
        }
    }

    /** Adds a compute step to every rank's program. */
    private void computeAll(String label, Consumer<RankState> action) {
        for (List<Instruction> p : programs) {
            p.add(new Instruction.Compute(label, action));
        }
    }

    /** Adds a collective over {@code groups} of the current stage's local ranks. */
    private void collective(String op, List<List<Integer>> groups, CollectiveFn fn) {
        collectiveGlobal(op, pipe.globalGroups(stage, groups), fn);
    }

    /** Adds a collective over {@code groups} of global ranks. */
    private void collectiveGlobal(String op, List<List<Integer>> groups, CollectiveFn fn) {
        for (int g = 0; g < groups.size(); g++) {
            List<Integer> group = groups.get(g);
            Instruction.Collective c = new Instruction.Collective(nextId + g, op, group, op, fn);
            for (int r : group) {
                programs.get(r).add(c);
            }
        }
        nextId += groups.size();
    }
}
