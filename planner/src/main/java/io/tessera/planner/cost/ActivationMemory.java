package io.tessera.planner.cost;

import io.tessera.layout.DType;
import io.tessera.layout.Layout;
import io.tessera.layout.Limits;
import io.tessera.planner.graph.BackwardGraph;
import io.tessera.planner.graph.Network;
import io.tessera.planner.graph.Node;
import io.tessera.planner.op.Dropout;
import io.tessera.planner.op.Operator;
import io.tessera.planner.op.TensorRef;
import io.tessera.planner.plan.OpPlan;
import io.tessera.planner.plan.Plan;

import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The forward activations a training step keeps for its backward, per rank, counted as Megatron-LM keeps them
 * (Korthikanti et al. 2022, "Reducing Activation Recomputation in Large Transformer Models"): each operator saves
 * the forward tensors its backward reads ({@link Operator#gradientReads} of every input that needs a gradient), and a
 * tensor saved by several operators is counted once. Parameters (live anyway) and data inputs (loaded per
 * micro-batch) are not counted; a {@code Dropout} saves its mask, one byte per element (Megatron-LM keeps it; the
 * numeric simulation regenerates it from its seed); an FP8 linear layer ({@code MatMul} with a {@code gemm_dtype})
 * saves its activation input as the FP8 copy, one byte per element, as Transformer Engine does. Sizes are slices in the layout the producer leaves the tensor in
 * (before any redistribution: a sequence-parallel input is kept sharded).
 *
 * <p>Transformer layers are the operators named {@code layers.<i>.*}; {@link Recompute#FULL} keeps only each layer's
 * input, {@link Recompute#SELECTIVE} drops what the core attention ({@link Recompute#selectiveOps}) saves inside itself.
 */
public final class ActivationMemory {

    /** A tensor kept for the backward: its bytes per rank and the operators saving it. */
    private record Saved(long bytes, Set<String> savers) {
    }

    private final Network net;
    private final Plan plan;
    private final Map<String, Saved> saved = new LinkedHashMap<>();
    /** Per operator, the tensors it saves. */
    private final Map<String, List<String>> savedBy = new HashMap<>();
    private final Set<String> selective;

    private ActivationMemory(Network net, Plan plan) {
        this.net = net;
        this.plan = plan;
        this.selective = Recompute.selectiveOps(net);
        BackwardGraph bg = net.backward();
        for (OpPlan op : plan.ops()) {
            Node node = net.node(op.name());
            Operator o = node.op();
            List<String> mine = new ArrayList<>();
            savedBy.put(op.name(), mine);
            for (int i = 0; i < node.inputs().size(); i++) {
                if (!o.differentiableInput(i) || !bg.needsGradient(node.input(i))) {
                    continue;
                }
                for (TensorRef ref : o.gradientReads(i)) {
                    boolean input = ref instanceof TensorRef.Input;
                    String t = input ? node.input(ref.index()) : node.output(ref.index());
                    if (net.isParameter(t) || net.inputs().contains(t)) {
                        continue;
                    }
                    if (input && Fp8Casts.gemmDtype(node) != null) {
                        // an FP8 linear layer keeps its input's FP8 copy (Transformer Engine), 1 byte per element
                        Layout l = plan.layouts().getOrDefault(t, op.inputLayouts().get(ref.index()));
                        keep(op.name(), mine, t + "#fp8", l.sliceVolume() * Fp8Casts.gemmDtype(node).bytes());
                        continue;
                    }
                    keep(op.name(), mine, t, bytes(t, input ? op.inputLayouts().get(ref.index())
                            : op.outputLayouts().get(ref.index())));
                }
            }
            if (o instanceof Dropout) {
                keep(op.name(), mine, node.output(0) + "#mask", op.outputLayouts().get(0).sliceVolume());
            }
        }
    }

    /** The saved-activation accounting of {@code plan} (of {@code plan.network()}). */
    public static ActivationMemory of(Plan plan) {
        return new ActivationMemory(plan.network(), plan);
    }

    private void keep(String op, List<String> mine, String tensor, long bytes) {
        if (!mine.contains(tensor)) {
            mine.add(tensor);
        }
        saved.computeIfAbsent(tensor, k -> new Saved(bytes, new LinkedHashSet<>())).savers().add(op);
    }

    private long bytes(String tensor, Layout fallback) {
        Layout l = plan.layouts().get(tensor);
        DType t = net.tensor(tensor).dtype();
        return (l == null ? fallback : l).sliceBytes(t);
    }

    /** Bytes kept for the backward by the operators {@code ops} (each tensor once), without recompute. */
    public long keptBytes(Collection<String> ops) {
        Set<String> tensors = new HashSet<>();
        long sum = 0;
        for (String op : ops) {
            for (String t : savedBy.getOrDefault(op, List.of())) {
                if (tensors.add(t)) {
                    sum = Limits.add("activation memory bytes", sum, saved.get(t).bytes());
                }
            }
        }
        return sum;
    }

    /**
     * Of {@link #keptBytes}, what {@link Recompute#SELECTIVE} does not keep: tensors saved only by core-attention
     * operators and produced by one (scores, softmax output, dropout masks; not the attention's inputs Q, K, V nor
     * its output, which the next operator saves).
     */
    public long selectiveDroppedBytes(Collection<String> ops) {
        Set<String> tensors = new HashSet<>();
        long sum = 0;
        for (String op : ops) {
            for (String t : savedBy.getOrDefault(op, List.of())) {
                if (dropped(t) && tensors.add(t)) {
                    sum = Limits.add("activation memory bytes", sum, saved.get(t).bytes());
                }
            }
        }
        return sum;
    }

    private boolean dropped(String tensor) {
        String base = tensor.endsWith("#mask") ? tensor.substring(0, tensor.length() - 5)
                : tensor.endsWith("#fp8") ? tensor.substring(0, tensor.length() - 4) : tensor;
        Node producer = net.producer(base);
        return producer != null && selective.contains(producer.name())
                && selective.containsAll(saved.get(tensor).savers());
    }

    /**
     * The largest {@link #selectiveDroppedBytes} of one transformer layer among {@code ops} (all of them when they
     * hold no layer): the core attention live while one layer's is recomputed.
     */
    public long selectiveWorkingBytes(Collection<String> ops) {
        long max = 0;
        for (List<String> layer : layers(ops).values()) {
            max = Math.max(max, selectiveDroppedBytes(layer));
        }
        return max;
    }

    /**
     * What {@link Recompute#FULL} keeps per micro-batch for the operators {@code ops}: the input of each transformer
     * layer (the tensors its operators consume that other operators produce outside it; not parameters, not data
     * inputs) plus
     * everything the operators outside the layers keep; {@code chunkInputBytes} when {@code ops} hold no layer (the
     * whole group is recomputed from its input).
     */
    public long fullKeptBytes(Collection<String> ops, long chunkInputBytes) {
        Map<Integer, List<String>> layers = layers(ops);
        if (layers.size() == 1 && layers.containsKey(-1)) {
            return chunkInputBytes;
        }
        long sum = 0;
        List<String> outside = new ArrayList<>();
        for (Map.Entry<Integer, List<String>> e : layers.entrySet()) {
            if (e.getKey() < 0) {
                outside.addAll(e.getValue());
                continue;
            }
            Set<String> inside = new HashSet<>(e.getValue());
            Set<String> inputs = new LinkedHashSet<>();
            for (String op : e.getValue()) {
                for (String t : net.node(op).inputs()) {
                    Node p = net.producer(t);
                    if (p != null && !inside.contains(p.name()) && inputs.add(t)) {
                        sum = Limits.add("activation memory bytes", sum,
                                bytes(t, plan.op(op).inputLayouts().get(net.node(op).inputs().indexOf(t))));
                    }
                }
            }
        }
        return sum + keptBytes(outside);
    }

    /**
     * What {@link Recompute#FULL} has live while one transformer layer's backward runs: the largest
     * {@link #keptBytes} of one layer among {@code ops} ({@link #keptBytes} of them all when they hold no layer).
     */
    public long fullWorkingBytes(Collection<String> ops) {
        long max = 0;
        Map<Integer, List<String>> layers = layers(ops);
        for (Map.Entry<Integer, List<String>> e : layers.entrySet()) {
            if (e.getKey() >= 0 || layers.size() == 1) {
                max = Math.max(max, keptBytes(e.getValue()));
            }
        }
        return max;
    }

    /** The operators grouped by transformer layer, -1 for those outside the layers. */
    private static Map<Integer, List<String>> layers(Collection<String> ops) {
        Map<Integer, List<String>> out = new LinkedHashMap<>();
        for (String op : ops) {
            out.computeIfAbsent(Network.layerIndex(op), k -> new ArrayList<>()).add(op);
        }
        return out;
    }
}
