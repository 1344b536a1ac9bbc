package io.tessera.simulator.timeline;

import io.tessera.layout.DType;
import io.tessera.planner.cost.ClusterSpec;
import io.tessera.planner.cost.CostModel;
import io.tessera.planner.graph.Network;
import io.tessera.planner.graph.Node;
import io.tessera.planner.plan.Bucket;
import io.tessera.planner.plan.Communication;
import io.tessera.planner.plan.OpPlan;
import io.tessera.planner.plan.ParamPlan;
import io.tessera.planner.plan.Phase;
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
 *   <li>backward: recomputed parameter AllGathers run before the operator's backward; its own reductions and the
 *       transposed redistributions run after it and the next backward operator waits for them; gradient reductions and
 *       optimizer-parallel ReduceScatters / mirror AllReduces run on the communication stream while later backward
 *       operators compute when {@link TimelineOptions#overlapGradientComm()} is true, else the next operator waits
 *       for them.</li>
 * </ul>
 * Parameter AllGathers depend on no computation and start as soon as the communication stream is free (prefetch);
 * every other communication is ready when the operator it follows (or the one before the operator it serves) ends.
 * A fusion bucket runs as one collective per group where the plan issues it ({@link Bucket#issuedAt()}), costed on
 * its fused buffer. A collective starts when every member of its group is ready and its stream is free (the latest of
 * the members). The update waits for the rank's backward compute and all its communication and is memory-bound:
 * bytes read and written / memory bandwidth. The step ends when both streams of every rank are idle.
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
        ClusterSpec cluster = options.cluster();
        if (cluster.devices() < plan.devices()) {
            throw new IllegalArgumentException("cluster '" + cluster.name() + "' has " + cluster.devices()
                    + " devices but the plan needs " + plan.devices() + "; use a larger cluster");
        }
        if (computeScale != null && computeScale.length != plan.devices()) {
            throw new IllegalArgumentException("computeScale has " + computeScale.length + " entries; expected "
                    + plan.devices());
        }
        return new Engine(plan, options, computeScale).run();
    }

    /** Where a communication runs relative to its operator. */
    private enum Slot { FORWARD_BEFORE, FORWARD_AFTER, BACKWARD_BEFORE, BACKWARD_AFTER, OPTIMIZER }

    private static final class Engine {
        private final Plan plan;
        private final Network network;
        private final TimelineOptions options;
        private final CostModel cost;
        private final int n;
        private final int recorded;
        private final double[] scale;
        private final double[] computeFree;
        private final double[] commFree;
        private final double[] gate;
        private final double[] busy;
        private final List<TimelineReport.Event> events = new ArrayList<>();
        private final List<List<Integer>> slots = new ArrayList<>();
        private final int[] bucketOf;

        Engine(Plan plan, TimelineOptions options, double[] computeScale) {
            this.plan = plan;
            this.network = plan.network();
            this.options = options;
            this.cost = new CostModel(options.cluster());
            this.n = plan.devices();
            this.recorded = Math.min(n, options.recordedRanks());
            this.scale = computeScale;
            this.computeFree = new double[n];
            this.commFree = new double[n];
            this.gate = new double[n];
            this.busy = new double[n];
            this.bucketOf = new int[plan.comms().size()];
            Arrays.fill(bucketOf, -1);
            List<Bucket> buckets = plan.buckets();
            for (int b = 0; b < buckets.size(); b++) {
                for (int i : buckets.get(b).comms()) {
                    bucketOf[i] = b;
                }
            }
        }

        TimelineReport run() {
            List<OpPlan> ops = plan.ops();
            assignSlots(ops);
            double[] fwd = new double[ops.size()];
            double[] bwd = new double[ops.size()];
            for (int k = 0; k < ops.size(); k++) {
                fwd[k] = cost.computeSeconds(network, ops.get(k), false);
                bwd[k] = cost.computeSeconds(network, ops.get(k), true);
            }
            for (int k = 0; k < ops.size(); k++) {
                communicate(slot(Slot.FORWARD_BEFORE, k));
                compute(ops.get(k).name(), "forward", fwd[k]);
                communicate(slot(Slot.FORWARD_AFTER, k));
            }
            for (int k = ops.size() - 1; k >= 0; k--) {
                communicate(slot(Slot.BACKWARD_BEFORE, k));
                compute(ops.get(k).name(), "backward", bwd[k]);
                communicate(slot(Slot.BACKWARD_AFTER, k));
            }
            double update = optimizerBytes() / options.cluster().device().memoryBandwidth();
            for (int r = 0; r < n; r++) {
                gate[r] = Math.max(gate[r], commFree[r]);
            }
            compute("optimizer update", "optimizer", update);
            communicate(slot(Slot.OPTIMIZER, 0));

            double step = 0;
            double maxBusy = 0;
            for (int r = 0; r < n; r++) {
                step = Math.max(step, Math.max(computeFree[r], commFree[r]));
                maxBusy = Math.max(maxBusy, busy[r]);
            }
            double mfu = step > 0 ? modelFlops(ops) / (step * n * peakFlops(ops)) : 0;
            long[] memory = new long[n];
            for (int r = 0; r < n; r++) {
                memory[r] = plan.memory(r).total() + cost.activationBytes(network, plan, r);
            }
            Map<String, Long> volume = new TreeMap<>();
            plan.commTotals().forEach((k, v) -> volume.put(k, v[1]));
            return new TimelineReport(step, mfu, memory, volume, maxBusy, Math.max(0, step - maxBusy), events);
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
        private static boolean prefetch(Communication c) {
            return c.origin() == Communication.Origin.PARALLEL_OPTIMIZER && c.kind().equals("AllGather");
        }

        /** Whether compute may run on while {@code c} is in flight. */
        private boolean overlapped(Communication c) {
            return options.overlapGradientComm() && c.phase() == Phase.BACKWARD && !c.kind().equals("AllGather")
                    && (c.origin() == Communication.Origin.GRADIENT
                    || c.origin() == Communication.Origin.PARALLEL_OPTIMIZER);
        }

        private void compute(String name, String category, double seconds) {
            for (int r = 0; r < n; r++) {
                double d = scale == null ? seconds : seconds * scale[r];
                double start = Math.max(computeFree[r], gate[r]);
                computeFree[r] = start + d;
                busy[r] += d;
                if (r < recorded) {
                    events.add(new TimelineReport.Event(r, TimelineReport.Event.COMPUTE, name, category, start, d));
                }
            }
        }

        private void communicate(List<Integer> indices) {
            List<Communication> comms = plan.comms();
            for (int i : indices) {
                Communication c = comms.get(i);
                int b = bucketOf[i];
                if (b < 0) {
                    double d = cost.communicationSeconds(c);
                    String name = c.phase().jsonName() + " " + c.kind() + " " + c.tensor();
                    for (List<Integer> g : c.groups()) {
                        collective(c, g, d, name);
                    }
                    continue;
                }
                Bucket bucket = plan.buckets().get(b);
                if (bucket.issuedAt() != i) {
                    continue;
                }
                String name = c.phase().jsonName() + " " + bucket.kind() + (bucket.members().size() == 1
                        ? " " + c.tensor() : " bucket " + bucket.id() + " (" + bucket.members().size() + " tensors)");
                Map<List<Integer>, Double> seconds = new HashMap<>();
                for (List<Integer> g : bucket.groups()) {
                    double d = seconds.computeIfAbsent(g, x -> cost.collectiveSeconds(bucket.kind(), x,
                            bucket.bytes()));
                    collective(c, g, d, name);
                }
            }
        }

        /** One collective of {@code c} (or of the bucket it issues) over {@code group}, taking {@code d} seconds. */
        private void collective(Communication c, List<Integer> group, double d, String name) {
            boolean ready0 = prefetch(c);
            double start = 0;
            for (int r : group) {
                start = Math.max(start, Math.max(commFree[r], ready0 ? 0 : computeFree[r]));
            }
            double end = start + d;
            boolean blocks = !overlapped(c);
            String category = c.origin().jsonName();
            for (int r : group) {
                commFree[r] = end;
                if (blocks) {
                    gate[r] = Math.max(gate[r], end);
                }
                if (r < recorded) {
                    events.add(new TimelineReport.Event(r, TimelineReport.Event.COMM, name, category, start, d));
                }
            }
        }

        /**
         * Bytes the update reads and writes on one rank: per trainable parameter, the held shard (read and written),
         * its gradient (read), the optimizer state and float32 master copies (read and written).
         */
        private double optimizerBytes() {
            int states = plan.config().optimizer().statesPerElement();
            double bytes = 0;
            for (ParamPlan p : plan.params()) {
                if (!p.trainable()) {
                    continue;
                }
                long held = p.shard().sharded() ? p.shardBytes() : p.sliceBytes();
                long elements = held / p.dtype().bytes();
                bytes += 3.0 * held + 2.0 * elements * states * 4;
                if (p.dtype().bytes() == 2) {
                    bytes += 2.0 * elements * 4;
                }
            }
            return bytes;
        }

        /**
         * The model's FLOPs of one step: per operator its slice's forward FLOPs times its distinct slices (the device
         * matrix without the repeated-calculation dimension), times 3 for forward and backward.
         */
        private double modelFlops(List<OpPlan> ops) {
            double flops = 0;
            for (OpPlan op : ops) {
                int distinct = op.sharding().devMatrix().size() / Math.max(1, op.sharding().repeated());
                flops += (double) cost.forwardFlops(network, op) * distinct;
            }
            return 3 * flops;
        }

        /** The device's peak FLOP/s for the compute type (first floating input) of the operator with the most FLOPs. */
        private double peakFlops(List<OpPlan> ops) {
            DType dtype = DType.FLOAT32;
            long most = -1;
            for (OpPlan op : ops) {
                long f = cost.forwardFlops(network, op);
                Node node = network.node(op.name());
                if (f > most && node != null) {
                    most = f;
                    dtype = network.tensor(node.output(0)).dtype();
                    for (String in : node.inputs()) {
                        if (network.tensor(in).dtype().isFloating()) {
                            dtype = network.tensor(in).dtype();
                            break;
                        }
                    }
                }
            }
            return options.cluster().device().peak(dtype);
        }
    }
}
