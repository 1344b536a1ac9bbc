package io.tessera.planner.cost;

import io.tessera.layout.DType;
import io.tessera.layout.Layout;
import io.tessera.planner.graph.Network;
import io.tessera.planner.graph.Node;
import io.tessera.planner.op.Activation;
import io.tessera.planner.op.BatchNorm;
import io.tessera.planner.op.BiasAdd;
import io.tessera.planner.op.Binary;
import io.tessera.planner.op.Cast;
import io.tessera.planner.op.Conv2D;
import io.tessera.planner.op.Dropout;
import io.tessera.planner.op.Gather;
import io.tessera.planner.op.LayerNorm;
import io.tessera.planner.op.MatMul;
import io.tessera.planner.op.Reduce;
import io.tessera.planner.op.Reshape;
import io.tessera.planner.op.Softmax;
import io.tessera.planner.op.SoftmaxCrossEntropyWithLogits;
import io.tessera.planner.op.Transpose;
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
 * what its backward reads, and a tensor saved by several operators is counted once. Sizes are slices in the layout
 * the producer leaves the tensor in (before any redistribution: a sequence-parallel input is kept sharded).
 *
 * <p>What an operator saves: {@code MatMul} and {@code Conv2D} their non-parameter inputs; {@code LayerNorm},
 * {@code BatchNorm} and activation functions their input; {@code Softmax} its output; {@code Dropout} its mask (one
 * byte per element); {@code Mul} / {@code Div} an activation input when the other input needs a gradient;
 * {@code Gather} its indices; {@code SoftmaxCrossEntropyWithLogits} its probabilities (the logits' size);
 * {@code Add}, {@code Sub}, {@code BiasAdd}, {@code Reshape}, {@code Transpose}, {@code Cast} and {@code Reduce}
 * nothing. Any other operator saves its non-parameter inputs (an upper bound).
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
        for (OpPlan op : plan.ops()) {
            Node node = net.node(op.name());
            List<String> mine = new ArrayList<>();
            savedBy.put(op.name(), mine);
            for (int i = 0; i < node.inputs().size(); i++) {
                if (savesInput(node, i)) {
                    String t = node.input(i);
                    keep(op.name(), mine, t, bytes(t, op.inputLayouts().get(i)));
                }
            }
            for (int i = 0; i < node.outputs().size(); i++) {
                String t = node.output(i);
                if (node.op() instanceof Softmax) {
                    keep(op.name(), mine, t, bytes(t, op.outputLayouts().get(i)));
                } else if (node.op() instanceof Dropout) {
                    keep(op.name(), mine, t + "#mask", op.outputLayouts().get(i).sliceVolume());
                }
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

    private boolean needsGradient(String tensor) {
        return !net.isParameter(tensor) ? !net.inputs().contains(tensor) : net.parameter(tensor).requiresGrad();
    }

    private boolean savesInput(Node node, int i) {
        String t = node.input(i);
        if (net.isParameter(t)) {
            return false;
        }
        var op = node.op();
        if (op instanceof MatMul || op instanceof Conv2D) {
            return true;
        }
        if (op instanceof LayerNorm || op instanceof BatchNorm || op instanceof Activation) {
            return i == 0;
        }
        if (op instanceof Binary b) {
            if (b.kind() == Binary.Kind.MUL || b.kind() == Binary.Kind.DIV) {
                for (int j = 0; j < node.inputs().size(); j++) {
                    if (j != i && needsGradient(node.input(j))) {
                        return true;
                    }
                }
                return b.kind() == Binary.Kind.DIV && i == 1 && needsGradient(node.input(0));
            }
            return false;
        }
        if (op instanceof Gather) {
            return i == 1;
        }
        if (op instanceof SoftmaxCrossEntropyWithLogits) {
            return i == 0;
        }
        if (op instanceof Softmax || op instanceof Dropout || op instanceof BiasAdd || op instanceof Reshape
                || op instanceof Transpose || op instanceof Cast || op instanceof Reduce) {
            return false;
        }
        return net.tensor(t).dtype().isFloating();
    }

    /** Bytes kept for the backward by the operators {@code ops} (each tensor once), without recompute. */
    public long keptBytes(Collection<String> ops) {
        Set<String> tensors = new HashSet<>();
        long sum = 0;
        for (String op : ops) {
            for (String t : savedBy.getOrDefault(op, List.of())) {
                if (tensors.add(t)) {
                    sum += saved.get(t).bytes();
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
                    sum += saved.get(t).bytes();
                }
            }
        }
        return sum;
    }

    private boolean dropped(String tensor) {
        String base = tensor.endsWith("#mask") ? tensor.substring(0, tensor.length() - 5) : tensor;
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
     * layer (the tensors its operators consume that come from outside it or are data inputs; not parameters) plus
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
                    boolean outer = p != null ? !inside.contains(p.name()) : net.inputs().contains(t);
                    if (outer && inputs.add(t)) {
                        sum += bytes(t, plan.op(op).inputLayouts().get(net.node(op).inputs().indexOf(t)));
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
            out.computeIfAbsent(layerIndex(op), k -> new ArrayList<>()).add(op);
        }
        return out;
    }

    /** The {@code i} of an operator named {@code layers.<i>.<rest>}, else -1. */
    public static int layerIndex(String op) {
        if (!op.startsWith("layers.")) {
            return -1;
        }
        int dot = op.indexOf('.', 7);
        if (dot < 0) {
            return -1;
        }
        try {
            return Integer.parseInt(op.substring(7, dot));
        } catch (NumberFormatException e) {
            return -1;
        }
    }
}
