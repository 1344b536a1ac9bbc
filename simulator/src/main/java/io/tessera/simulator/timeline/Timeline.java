package io.tessera.simulator.timeline;

import io.tessera.layout.comm.CollectiveKind;

import io.tessera.planner.cost.ClusterSpec;
import io.tessera.planner.cost.CostModel;
import io.tessera.planner.graph.Network;
import io.tessera.planner.plan.Bucket;
import io.tessera.planner.plan.Communication;
import io.tessera.planner.plan.Interruption;
import io.tessera.planner.plan.OpPlan;
import io.tessera.planner.plan.ParamPlan;
import io.tessera.layout.comm.Phase;
import io.tessera.planner.plan.Plan;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * Analytic simulation of one training step of a plan on every rank, with two streams per rank (compute and
 * communication) and the dependencies between them. All times are in seconds from the start of the step.
 *
 * <p>The program is the same on every rank (SPMD), so the step is scheduled in program order: forward operators in
 * order, then backward operators in reverse order, then the optimizer update. Around each operator:
 * <ul>
 *   <li>forward: communications of an operator's input (redistributions, optimizer-parallel AllGathers of its
 *       parameters) run before it and it waits for them; its output's own reduction runs after it and the next
 *       operator waits for it;</li>
 *   <li>backward: recomputed parameter AllGathers, and the AllGathers of inputs a product keeps sharded for its
 *       weight gradient ({@link WeightGradientGathers}: sequence parallelism), run before the operator's backward; its own reductions and the
 *       transposed redistributions run after it and the next backward operator waits for them; gradient reductions and
 *       optimizer-parallel ReduceScatters / mirror AllReduces run on the communication stream while later backward
 *       operators compute when {@link TimelineOptions#overlapGradientComm()} is true, else the next operator waits
 *       for them.</li>
 * </ul>
 * Parameter AllGathers depend on no computation and start as soon as the communication stream is free (prefetch);
 * every other communication is ready when the operator it follows (or the one before the operator it serves) ends.
 * With a prefetch limit ({@link TimelineOptions#prefetchLayers} {@code k >= 1}) a parameter AllGather starts no
 * earlier than the compute of the unit (transformer layer) {@code k} units before the one it serves
 * ({@link PrefetchLimit}); with {@code k = 0} it waits for the compute before it like any other communication. The
 * memory then counts the re-gathered weights of {@code k + 1} consecutive units live at once instead of the single
 * largest one the plan's memory counts.
 * A fusion bucket runs as one collective per group where the plan issues it ({@link Bucket#issuedAt()}), costed on
 * its fused buffer. A collective starts when every member of its group is ready and its stream is free (the latest of
 * the members). The update waits for the rank's backward compute and all its communication and is memory-bound:
 * bytes read and written / memory bandwidth. The step ends when both streams of every rank are idle.
 *
 * <p>How it is computed: by default ({@link TimelineOptions#perRank()} false) ranks in identical state (the same
 * stream ends, gate and busy time) form one class and the engine keeps one state per class, not per rank. All ranks
 * start in one class (one per distinct compute scale); a collective moves the members of a group to the class
 * "old class, group end" (ranks of one class whose groups end at different times split, ranks whose groups end
 * together stay together). Compute then costs O(classes) per operator instead of O(ranks); a communication still
 * visits each member of its groups once (O(ranks)) to find its group's start. A symmetric plan (Megatron tensor x
 * data parallel) keeps a single class for the whole step. Every figure is bit-identical to the per-rank reference
 * ({@code perRank} true), which is kept for cross-checking. Per-rank memory is the same on every rank (slices are
 * equal-sized and optimizer shard groups partition the ranks) and is computed once. Events are still recorded per
 * rank, for the recorded ranks only, at O(recorded ranks) per event.
 */
public final class Timeline {

    private Timeline() {
    }

    /**
     * Simulates one training step of {@code plan}.
     *
     * @throws IllegalArgumentException when the cluster has fewer devices than the plan
     */
    public static TimelineReport run(Plan plan, TimelineOptions options) {
        return run(plan, options, null);
    }

    /**
     * As {@link #run(Plan, TimelineOptions)}, with every compute duration of rank {@code r} multiplied by
     * {@code computeScale[r]} (null: 1 everywhere), e.g. to model a straggler.
     */
    static TimelineReport run(Plan plan, TimelineOptions options, double[] computeScale) {
        int n = plan.devices();
        int recorded = Math.min(n, options.recordedRanks());
        return simulate(plan, options, computeScale, 0, recorded).report();
    }

    /**
     * The full result of a simulation: the report (with the events of ranks {@code recordFrom .. recordTo - 1}); per
     * rank, when its last forward and its last backward operator end (seconds; 0 without operators); and the most
     * classes of ranks alive at once (the ranks for the per-rank reference).
     */
    public record Result(TimelineReport report, double[] forwardEnd, double[] backwardEnd, int classes) {
    }

    /**
     * Simulates one step recording the events of ranks {@code recordFrom .. recordTo - 1} (an empty range for none).
     *
     * @throws IllegalArgumentException when the cluster has fewer devices than the plan or the scale's length is wrong
     */
    public static Result simulate(Plan plan, TimelineOptions options, double[] computeScale, int recordFrom, int recordTo) {
        ClusterSpec cluster = options.cluster();
        if (cluster.devices() < plan.devices()) {
            throw new IllegalArgumentException("cluster '" + cluster.name() + "' has " + cluster.devices()
                    + " devices but the plan needs " + plan.devices() + "; use a larger cluster");
        }
        if (computeScale != null && computeScale.length != plan.devices()) {
            throw new IllegalArgumentException("computeScale has " + computeScale.length + " entries; expected "
                    + plan.devices());
        }
        Engine e = options.perRank() ? new PerRankEngine(plan, options, computeScale, recordFrom, recordTo)
                : new ClassEngine(plan, options, computeScale, recordFrom, recordTo);
        return e.run();
    }

    /** Where a communication runs relative to its operator. */
    private enum Slot { FORWARD_BEFORE, FORWARD_AFTER, BACKWARD_BEFORE, BACKWARD_AFTER, OPTIMIZER }

    /** The schedule shared by both engines; subclasses keep the per-rank (or per-class) stream state. */
    private abstract static class Engine {
        final Plan plan;
        final Network network;
        final TimelineOptions options;
        final CostModel cost;
        /** The cost model with mixture-of-experts layers priced under the options' routing. */
        final io.tessera.planner.cost.MoeCosts moe;
        final int n;
        final int recordFrom;
        final int recordTo;
        final double[] scale;
        final List<TimelineReport.Event> events = new ArrayList<>();
        private final List<List<Integer>> slots = new ArrayList<>();
        private final int[] bucketOf;
        /** The prefetch limit; null without one. */
        private final PrefetchLimit limit;
        private final WeightGradientGathers regathers;
        /** Per rank, the earliest start of the parameter AllGathers of the current slot; null: 0 (no limit). */
        double[] prefetchFloor;

        Engine(Plan plan, TimelineOptions options, double[] computeScale, int recordFrom, int recordTo) {
            this.plan = plan;
            this.network = plan.network();
            this.options = options;
            this.cost = new CostModel(options.cluster());
            this.moe = io.tessera.planner.cost.MoeCosts.of(plan, options.routing(), cost);
            this.n = plan.devices();
            this.recordFrom = Math.max(0, recordFrom);
            this.recordTo = Math.min(n, recordTo);
            this.scale = computeScale;
            this.regathers = WeightGradientGathers.of(plan);
            this.bucketOf = new int[plan.comms().size()];
            Arrays.fill(bucketOf, -1);
            List<Bucket> buckets = plan.buckets();
            for (int b = 0; b < buckets.size(); b++) {
                for (int i : buckets.get(b).comms()) {
                    bucketOf[i] = b;
                }
            }
            this.limit = options.prefetchLayers() >= 1 ? new PrefetchLimit(plan.ops(), options.prefetchLayers())
                    : null;
        }

        /** Per rank, when the last {@link #compute} started. O(ranks); called once per unit and phase. */
        abstract double[] lastComputeStartPerRank();

        /** Runs {@code seconds} of compute (times the rank's scale) on every rank. */
        abstract void compute(String name, String category, double seconds);

        /**
         * Runs one collective of {@code c} per group, in order: group {@code g} takes {@code seconds[g]}.
         */
        abstract void collectives(Communication c, List<List<Integer>> groups, double[] seconds, String name);

        /** Makes every rank's compute wait for its communication stream. */
        abstract void waitForCommunication();

        /** Per rank, when its compute stream is free. */
        abstract double[] computeFreePerRank();

        /** The latest end of any stream of any rank. */
        abstract double stepSeconds();

        /** The most compute seconds of any rank. */
        abstract double maxBusySeconds();

        /** Per rank, its peak memory in bytes. */
        abstract long[] memoryPerRank();

        /** The most states kept at once: classes of ranks, or the ranks. */
        abstract int classes();

        final boolean recorded(int r) {
            return r >= recordFrom && r < recordTo;
        }

        Result run() {
            List<OpPlan> ops = plan.ops();
            assignSlots(ops);
            double[] fwd = new double[ops.size()];
            double[] bwd = new double[ops.size()];
            for (int k = 0; k < ops.size(); k++) {
                fwd[k] = moe.computeSeconds(ops.get(k), false);
                bwd[k] = moe.computeSeconds(ops.get(k), true);
            }
            for (int k = 0; k < ops.size(); k++) {
                Interruption.check("the timeline");
                double[] budget = {productSeconds(ops.get(k), fwd[k])};
                prefetchFloor = limit == null ? null : limit.forwardFloor(k);
                communicate(slot(Slot.FORWARD_BEFORE, k), budget);
                prefetchFloor = null;
                compute(ops.get(k).name(), "forward", fwd[k]);
                if (limit != null && limit.anchorsForward(k)) {
                    limit.forwardStarted(k, lastComputeStartPerRank());
                }
                communicate(slot(Slot.FORWARD_AFTER, k), budget);
            }
            double[] forwardEnd = ops.isEmpty() ? new double[n] : computeFreePerRank();
            for (int k = ops.size() - 1; k >= 0; k--) {
                Interruption.check("the timeline");
                regather(k, bwd);
                double[] budget = {productSeconds(ops.get(k), bwd[k])};
                prefetchFloor = limit == null ? null : limit.backwardFloor(k, forwardEnd);
                communicate(slot(Slot.BACKWARD_BEFORE, k), budget);
                prefetchFloor = null;
                compute(ops.get(k).name(), "backward", bwd[k]);
                if (limit != null && limit.anchorsBackward(k)) {
                    limit.backwardStarted(k, lastComputeStartPerRank());
                }
                communicate(slot(Slot.BACKWARD_AFTER, k), budget);
            }
            double[] backwardEnd = ops.isEmpty() ? new double[n] : computeFreePerRank();
            double update = cost.updateSeconds(plan.params(), plan.config().optimizer()) / options.optimizerShards()
                    + cost.fp8WeightCastSeconds(network, plan.params());
            waitForCommunication();
            compute("optimizer update", "optimizer", update);
            communicate(slot(Slot.OPTIMIZER, 0), new double[1]);

            double step = stepSeconds();
            double maxBusy = maxBusySeconds();
            double mfu = step > 0 ? StepFlops.model(cost, network, ops)
                    / (step * n * StepFlops.peak(options.cluster(), cost, network, ops)) : 0;
            long[] memory = memoryPerRank();
            Map<String, Long> volume = new TreeMap<>();
            plan.commTotals().forEach((k, v) -> volume.put(k, v[1]));
            volume.merge("backward " + CollectiveKind.ALL_GATHER, regathers.totalRecvBytes(plan), Long::sum);
            volume.remove("backward " + CollectiveKind.ALL_GATHER, 0L);
            TimelineReport report = new TimelineReport(step, mfu, memory, volume, maxBusy,
                    Math.max(0, step - maxBusy), events);
            return new Result(report, forwardEnd, backwardEnd, classes());
        }

        /** Per operator and slot, the indices of the communications run there, in plan order. */
        private void assignSlots(List<OpPlan> ops) {
            Map<String, Integer> index = new HashMap<>();
            for (int k = 0; k < ops.size(); k++) {
                index.put(ops.get(k).name(), k);
            }
            for (int s = 0; s < Slot.values().length * Math.max(1, ops.size()); s++) {
                slots.add(new ArrayList<>());
            }
            List<Communication> comms = plan.comms();
            int last = -1;
            for (int i = 0; i < comms.size(); i++) {
                Communication c = comms.get(i);
                Integer k = c.operator() == null ? null : index.get(c.operator());
                int s;
                if (c.phase() == Phase.OPTIMIZER) {
                    s = slotIndex(Slot.OPTIMIZER, 0);
                } else if (k == null) {
                    // no operator: where the previous communication ran, else at the start of its phase
                    s = last >= 0 && phaseOf(last) == c.phase() ? last
                            : c.phase() == Phase.FORWARD ? slotIndex(Slot.FORWARD_BEFORE, 0)
                            : slotIndex(Slot.BACKWARD_BEFORE, Math.max(0, ops.size() - 1));
                } else if (c.phase() == Phase.FORWARD) {
                    s = slotIndex(c.input() >= 0 ? Slot.FORWARD_BEFORE : Slot.FORWARD_AFTER, k);
                } else {
                    s = slotIndex(prefetch(c) ? Slot.BACKWARD_BEFORE : Slot.BACKWARD_AFTER, k);
                }
                slots.get(s).add(i);
                last = s;
            }
        }

        private Phase phaseOf(int slotIndex) {
            Slot s = Slot.values()[slotIndex % Slot.values().length];
            return s == Slot.FORWARD_BEFORE || s == Slot.FORWARD_AFTER ? Phase.FORWARD
                    : s == Slot.OPTIMIZER ? Phase.OPTIMIZER : Phase.BACKWARD;
        }

        private int slotIndex(Slot s, int op) {
            return op * Slot.values().length + s.ordinal();
        }

        private List<Integer> slot(Slot s, int op) {
            return slots.get(slotIndex(s, op));
        }

        /** An optimizer-parallel AllGather: it depends on no computation. */
        static boolean prefetch(Communication c) {
            return c.origin() == Communication.Origin.PARALLEL_OPTIMIZER && c.kind() == CollectiveKind.ALL_GATHER;
        }

        /**
         * Whether {@code c} is ready before the compute before it ends: a {@link #prefetch} AllGather, unless the
         * prefetch limit is 0 (no prefetch).
         */
        final boolean prefetched(Communication c) {
            return prefetch(c) && options.prefetchLayers() != 0;
        }

        /** The earliest start of a prefetched AllGather on rank {@code r}: its floor, 0 without one. */
        final double prefetchReady(int r) {
            return prefetchFloor == null ? 0 : prefetchFloor[r];
        }

        /** Gathered-weight bytes the prefetch window adds to every rank ({@link PrefetchLimit#windowBytes}). */
        final long prefetchWindowBytes() {
            return limit == null ? 0 : limit.windowBytes(plan);
        }

        /** Whether compute may run on while {@code c} is in flight. */
        final boolean overlapped(Communication c) {
            return options.overlapGradientComm() && c.phase() == Phase.BACKWARD && c.kind() != CollectiveKind.ALL_GATHER
                    && (c.origin() == Communication.Origin.GRADIENT
                    || c.origin() == Communication.Origin.PARALLEL_OPTIMIZER);
        }

        /**
         * The compute a tensor-parallel collective next to {@code op} may hide behind with
         * {@link TimelineOptions#tpCommOverlap}: the operator's seconds when it is a matrix product, else 0.
         */
        private double productSeconds(OpPlan op, double seconds) {
            return options.tpCommOverlap() && network.node(op.name()).op() instanceof io.tessera.planner.op.MatMul
                    ? seconds : 0;
        }

        /**
         * Whether {@code c} is a tensor-parallel AllGather or ReduceScatter that Megatron-Core's
         * {@code --tp-comm-overlap} pipelines with the adjacent matrix product: one of the layout's own moves
         * (a redistribution or the operator's reduction), not a gradient or optimizer collective.
         */
        private static boolean pipelinedWithProduct(Communication c) {
            return (c.kind() == CollectiveKind.ALL_GATHER || c.kind() == CollectiveKind.REDUCE_SCATTER)
                    && c.origin() != Communication.Origin.GRADIENT
                    && c.origin() != Communication.Origin.PARALLEL_OPTIMIZER;
        }

        /**
         * Whether a gradient AllReduce bucket costs only its ReduceScatter: with Megatron's distributed optimizer
         * ({@link TimelineOptions#optimizerShards} above 1) and gradient overlap, its weight AllGather runs under the
         * next step's forward.
         */
        private boolean reduceScatterOnly(Bucket b) {
            return options.optimizerShards() > 1 && options.overlapGradientComm()
                    && b.kind() == CollectiveKind.ALL_REDUCE && b.phase() == Phase.BACKWARD;
        }

        /** The weight-gradient re-gathers before operator {@code k}'s backward ({@link WeightGradientGathers}). */
        private void regather(int k, double[] bwd) {
            double budget = regathers.hidingSeconds(k, bwd);
            for (int i : regathers.before(k)) {
                Communication c = plan.comms().get(i);
                double d = moe.communicationSeconds(c);
                double hidden = bucketOf[i] >= 0 ? 0 : Math.min(d, budget);
                budget -= hidden;
                double[] seconds = new double[c.groups().size()];
                Arrays.fill(seconds, d - hidden);
                collectives(c, c.groups(), seconds, "backward AllGather " + c.tensor() + " (weight gradient)");
            }
        }

        /**
         * Runs the communications of one slot; {@code budget[0]} is the adjacent product's compute that
         * tensor-parallel collectives may still hide behind (consumed as they do).
         */
        private void communicate(List<Integer> indices, double[] budget) {
            List<Communication> comms = plan.comms();
            for (int i : indices) {
                Communication c = comms.get(i);
                int b = bucketOf[i];
                if (b < 0) {
                    double d = moe.communicationSeconds(c);
                    if (budget[0] > 0 && pipelinedWithProduct(c)) {
                        double hidden = Math.min(d, budget[0]);
                        budget[0] -= hidden;
                        d -= hidden;
                    }
                    String name = c.phase().jsonName() + " " + c.kind() + " " + c.tensor();
                    double[] seconds = new double[c.groups().size()];
                    Arrays.fill(seconds, d);
                    collectives(c, c.groups(), seconds, name);
                    continue;
                }
                Bucket bucket = plan.buckets().get(b);
                if (bucket.issuedAt() != i) {
                    continue;
                }
                String name = c.phase().jsonName() + " " + bucket.kind() + (bucket.members().size() == 1
                        ? " " + c.tensor() : " bucket " + bucket.id() + " (" + bucket.members().size() + " tensors)");
                List<List<Integer>> groups = bucket.groups();
                CollectiveKind kind = reduceScatterOnly(bucket) ? CollectiveKind.REDUCE_SCATTER : bucket.kind();
                // the bucket's groups run at once: they share their nodes' NICs (CostModel, nics_per_node)
                double[] seconds = cost.concurrentCollectiveSeconds(kind, groups, bucket.bytes());
                collectives(c, groups, seconds, name);
            }
        }

    }

    /** The reference: the state of every rank, updated rank by rank. O(ranks) per operator and communication. */
    private static final class PerRankEngine extends Engine {
        private final double[] computeFree;
        private final double[] commFree;
        private final double[] gate;
        private final double[] busy;
        private final double[] lastStart;

        PerRankEngine(Plan plan, TimelineOptions options, double[] computeScale, int recordFrom, int recordTo) {
            super(plan, options, computeScale, recordFrom, recordTo);
            this.computeFree = new double[n];
            this.commFree = new double[n];
            this.gate = new double[n];
            this.busy = new double[n];
            this.lastStart = new double[n];
        }

        @Override
        double[] lastComputeStartPerRank() {
            return lastStart.clone();
        }

        @Override
        void compute(String name, String category, double seconds) {
            for (int r = 0; r < n; r++) {
                double d = scale == null ? seconds : seconds * scale[r];
                double start = Math.max(computeFree[r], gate[r]);
                lastStart[r] = start;
                computeFree[r] = start + d;
                busy[r] += d;
                if (recorded(r)) {
                    events.add(new TimelineReport.Event(r, TimelineReport.Event.COMPUTE, name, category, start, d));
                }
            }
        }

        @Override
        void collectives(Communication c, List<List<Integer>> groups, double[] seconds, String name) {
            for (int g = 0; g < groups.size(); g++) {
                collective(c, groups.get(g), seconds[g], name);
            }
        }

        /** One collective of {@code c} (or of the bucket it issues) over {@code group}, taking {@code d} seconds. */
        private void collective(Communication c, List<Integer> group, double d, String name) {
            boolean ready0 = prefetched(c);
            double start = 0;
            for (int r : group) {
                start = Math.max(start, Math.max(commFree[r], ready0 ? prefetchReady(r) : computeFree[r]));
            }
            double end = start + d;
            boolean blocks = !overlapped(c);
            String category = c.origin().jsonName();
            for (int r : group) {
                commFree[r] = end;
                if (blocks) {
                    gate[r] = Math.max(gate[r], end);
                }
                if (recorded(r)) {
                    events.add(new TimelineReport.Event(r, TimelineReport.Event.COMM, name, category, start, d));
                }
            }
        }

        @Override
        void waitForCommunication() {
            for (int r = 0; r < n; r++) {
                gate[r] = Math.max(gate[r], commFree[r]);
            }
        }

        @Override
        double[] computeFreePerRank() {
            return computeFree.clone();
        }

        @Override
        double stepSeconds() {
            double step = 0;
            for (int r = 0; r < n; r++) {
                step = Math.max(step, Math.max(computeFree[r], commFree[r]));
            }
            return step;
        }

        @Override
        double maxBusySeconds() {
            double maxBusy = 0;
            for (int r = 0; r < n; r++) {
                maxBusy = Math.max(maxBusy, busy[r]);
            }
            return maxBusy;
        }

        @Override
        long[] memoryPerRank() {
            long[] memory = new long[n];
            long window = prefetchWindowBytes();
            for (int r = 0; r < n; r++) {
                memory[r] = plan.memory(r, options.optimizerShards()).total()
                        + cost.activationBytes(network, plan, r) + window;
            }
            return memory;
        }

        @Override
        int classes() {
            return n;
        }
    }

    /**
     * One state per class of ranks in identical state (see the class comment). Class ids index the state arrays;
     * {@code cls[r]} is rank {@code r}'s class; ids of emptied classes are reused.
     */
    private static final class ClassEngine extends Engine {
        /** A class created by a communication: the members of {@code from} whose group ended at {@code end}. */
        private record Key(int from, double end) {
        }

        private final int[] cls;
        private double[] computeFree = new double[4];
        private double[] commFree = new double[4];
        private double[] gate = new double[4];
        private double[] busy = new double[4];
        private double[] classScale = new double[4];
        private double[] startScratch = new double[4];
        private int[] count = new int[4];
        private int[] seen = new int[4];
        private int[] target = new int[4];
        private int stamp;
        private int allocated;
        private int[] live = new int[4];
        private int liveCount;
        private int mostLive;
        private int[] free = new int[4];
        private int freeCount;
        private final Map<Key, Integer> made = new HashMap<>();
        /** The last lookup of {@link #moveTarget} in this communication (groups often end together). */
        private int lastFrom;
        private double lastEnd;
        private int lastTarget = -1;
        private final List<Integer> created = new ArrayList<>();

        ClassEngine(Plan plan, TimelineOptions options, double[] computeScale, int recordFrom, int recordTo) {
            super(plan, options, computeScale, recordFrom, recordTo);
            this.cls = new int[n];
            // the initial classes: one per distinct compute scale
            Map<Double, Integer> byScale = new HashMap<>();
            for (int r = 0; r < n; r++) {
                double s = computeScale == null ? 1 : computeScale[r];
                Integer c = byScale.get(s);
                if (c == null) {
                    c = allocate();
                    classScale[c] = s;
                    byScale.put(s, c);
                    addLive(c);
                }
                cls[r] = c;
                count[c]++;
            }
            mostLive = liveCount;
        }

        private int allocate() {
            if (freeCount > 0) {
                return free[--freeCount];
            }
            int c = allocated++;
            if (c >= count.length) {
                int size = Math.max(2 * count.length, c + 1);
                computeFree = Arrays.copyOf(computeFree, size);
                commFree = Arrays.copyOf(commFree, size);
                gate = Arrays.copyOf(gate, size);
                busy = Arrays.copyOf(busy, size);
                classScale = Arrays.copyOf(classScale, size);
                startScratch = Arrays.copyOf(startScratch, size);
                count = Arrays.copyOf(count, size);
                seen = Arrays.copyOf(seen, size);
                target = Arrays.copyOf(target, size);
            }
            return c;
        }

        private void addLive(int c) {
            if (liveCount == live.length) {
                live = Arrays.copyOf(live, 2 * live.length);
            }
            live[liveCount++] = c;
        }

        private void release(int c) {
            if (freeCount == free.length) {
                free = Arrays.copyOf(free, 2 * free.length);
            }
            free[freeCount++] = c;
        }

        @Override
        void compute(String name, String category, double seconds) {
            for (int i = 0; i < liveCount; i++) {
                int c = live[i];
                // as the reference: seconds * scale only when a scale is given (seconds * 1 is seconds anyway)
                double d = scale == null ? seconds : seconds * classScale[c];
                double start = Math.max(computeFree[c], gate[c]);
                startScratch[c] = start;
                computeFree[c] = start + d;
                busy[c] += d;
            }
            for (int r = recordFrom; r < recordTo; r++) {
                int c = cls[r];
                double d = scale == null ? seconds : seconds * classScale[c];
                events.add(new TimelineReport.Event(r, TimelineReport.Event.COMPUTE, name, category,
                        startScratch[c], d));
            }
        }

        @Override
        void collectives(Communication c, List<List<Integer>> groups, double[] seconds, String name) {
            boolean ready0 = prefetched(c);
            boolean blocks = !overlapped(c);
            String category = c.origin().jsonName();
            made.clear();
            created.clear();
            lastTarget = -1;
            for (int g = 0; g < groups.size(); g++) {
                List<Integer> group = groups.get(g);
                double d = seconds[g];
                double start = 0;
                for (int r : group) {
                    int k = cls[r];
                    start = Math.max(start, Math.max(commFree[k], ready0 ? prefetchReady(r) : computeFree[k]));
                }
                double end = start + d;
                stamp++;
                for (int r : group) {
                    int k = cls[r];
                    int to;
                    if (seen[k] == stamp) {
                        to = target[k];
                    } else {
                        to = moveTarget(k, end, blocks);
                        seen[k] = stamp;
                        target[k] = to;
                    }
                    count[k]--;
                    count[to]++;
                    cls[r] = to;
                    if (recorded(r)) {
                        events.add(new TimelineReport.Event(r, TimelineReport.Event.COMM, name, category, start, d));
                    }
                }
            }
            if (created.isEmpty()) {
                return;
            }
            // keep the non-empty classes, reuse the ids of the emptied ones
            int kept = 0;
            for (int i = 0; i < liveCount; i++) {
                int k = live[i];
                if (count[k] > 0) {
                    live[kept++] = k;
                } else {
                    release(k);
                }
            }
            liveCount = kept;
            for (int k : created) {
                if (count[k] > 0) {
                    addLive(k);
                } else {
                    release(k);
                }
            }
            mostLive = Math.max(mostLive, liveCount);
        }

        /** The class of the members of class {@code k} whose collective ends at {@code end}: found or created. */
        private int moveTarget(int k, double end, boolean blocks) {
            if (lastTarget >= 0 && lastFrom == k && lastEnd == end) {
                return lastTarget;
            }
            int c = findOrCreate(k, end, blocks);
            lastFrom = k;
            lastEnd = end;
            lastTarget = c;
            return c;
        }

        private int findOrCreate(int k, double end, boolean blocks) {
            Key key = new Key(k, end);
            Integer to = made.get(key);
            if (to != null) {
                return to;
            }
            int c = allocate();
            computeFree[c] = computeFree[k];
            commFree[c] = end;
            gate[c] = blocks ? Math.max(gate[k], end) : gate[k];
            busy[c] = busy[k];
            classScale[c] = classScale[k];
            count[c] = 0;
            seen[c] = 0;
            made.put(key, c);
            created.add(c);
            return c;
        }

        @Override
        void waitForCommunication() {
            for (int i = 0; i < liveCount; i++) {
                int c = live[i];
                gate[c] = Math.max(gate[c], commFree[c]);
            }
        }

        @Override
        double[] computeFreePerRank() {
            double[] out = new double[n];
            for (int r = 0; r < n; r++) {
                out[r] = computeFree[cls[r]];
            }
            return out;
        }

        /** Ranks of one class started together; classes only split, so ranks sharing a class share this too. */
        @Override
        double[] lastComputeStartPerRank() {
            double[] out = new double[n];
            for (int r = 0; r < n; r++) {
                out[r] = startScratch[cls[r]];
            }
            return out;
        }

        @Override
        double stepSeconds() {
            double step = 0;
            for (int i = 0; i < liveCount; i++) {
                int c = live[i];
                step = Math.max(step, Math.max(computeFree[c], commFree[c]));
            }
            return step;
        }

        @Override
        double maxBusySeconds() {
            double maxBusy = 0;
            for (int i = 0; i < liveCount; i++) {
                maxBusy = Math.max(maxBusy, busy[live[i]]);
            }
            return maxBusy;
        }

        @Override
        int classes() {
            return mostLive;
        }

        /** The same on every rank: {@code Plan.memory} and the activations depend on slice sizes only. */
        @Override
        long[] memoryPerRank() {
            long[] memory = new long[n];
            if (n > 0) {
                Arrays.fill(memory, plan.memory(0, options.optimizerShards()).total()
                        + cost.activationBytes(network, plan, 0) + prefetchWindowBytes());
            }
            return memory;
        }
    }
}
