package io.tessera.planner.cost;

import io.tessera.layout.Layout;
import io.tessera.planner.graph.Network;
import io.tessera.planner.graph.Node;
import io.tessera.planner.op.Flops;
import io.tessera.planner.op.MatMul;
import io.tessera.planner.op.MoeCombine;
import io.tessera.planner.op.MoeDispatch;
import io.tessera.planner.plan.Communication;
import io.tessera.planner.plan.OpPlan;
import io.tessera.planner.plan.Plan;
import io.tessera.planner.strategy.Routing;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Deque;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The analytic costs of a plan's mixture-of-experts layers under a routing distribution ({@link Routing}); every
 * other operator and communication is priced by the {@link CostModel} unchanged (a network without
 * {@code MoeDispatch} gets exactly the cost model's figures).
 *
 * <p>A layer is the operators between a {@code MoeDispatch} and its {@code MoeCombine} (the expert region). Its
 * {@link ExpertLoad} follows from the routing's shares, the dispatch's experts, groups and capacity, and the expert
 * degree (the experts over the local experts of the region's batched products). Then:
 * <ul>
 *   <li>expert operators (every input and output a parameter or an expert activation, expert-major
 *       {@code [E, rows, .]} or the buffer's group-major {@code [G, E, C, .]}: the
 *       expert MatMuls {@code w1}, {@code w3}, {@code w2}, the activation and the product), forward and backward, are
 *       priced at the busiest expert-parallel rank's rows instead of the buffer's: a batched MatMul as one grouped
 *       GEMM of one product per local expert with that expert's rows ({@link CostModel#groupedSeconds}), an
 *       elementwise operator as one kernel over the rank's rows;</li>
 *   <li>communications of the region's activations and their gradients (the dispatch and combine AllToAlls, an
 *       expert tensor-parallel reduction) move the buffer's bytes times the busiest rank's
 *       {@link ExpertLoad#loadedFraction}: only filled rows are sent, and the busiest rank's receive volume bounds the
 *       collective;</li>
 *   <li>the dispatch, layout and combine operators keep the buffer's shape (they write and read it at capacity).</li>
 * </ul>
 * Immutable.
 */
public final class MoeCosts {

    /**
     * One mixture-of-experts layer of the plan.
     *
     * @param dispatch     the dispatch operator's name
     * @param load         the rows per expert and rank under the routing
     * @param bufferBytes  per rank, the dispatch and combine buffers and their AllToAll receive buffers, bytes, at
     *                     the buffer's shape ({@code [G, E, C, h]}, allocated at capacity or at the dropless worst
     *                     case): the dispatch output and the expert side's input, the expert side's output and the
     *                     combine's input, each at its layout's slice
     */
    public record Layer(String dispatch, ExpertLoad load, long bufferBytes) {
    }

    private final Network net;
    private final CostModel cost;
    private final List<Layer> layers;
    /** Expert operators by name: their layer. */
    private final Map<String, Layer> expertOps;
    /** Region activations by tensor name: their layer. */
    private final Map<String, Layer> tensors;

    private MoeCosts(Network net, CostModel cost, List<Layer> layers, Map<String, Layer> expertOps,
                     Map<String, Layer> tensors) {
        this.net = net;
        this.cost = cost;
        this.layers = layers;
        this.expertOps = expertOps;
        this.tensors = tensors;
    }

    /**
     * The mixture-of-experts costs of {@code plan} under {@code routing} on {@code cost}'s cluster; with no
     * {@code MoeDispatch} in the network, a model that defers to {@code cost} for everything.
     *
     * @param routing the routing distribution; null for uniform
     * @throws IllegalArgumentException when a histogram does not have one count per expert (one line)
     */
    public static MoeCosts of(Plan plan, Routing routing, CostModel cost) {
        Network net = plan.network();
        List<Node> dispatches = new ArrayList<>();
        for (Node n : net.nodes()) {
            if (n.op() instanceof MoeDispatch) {
                dispatches.add(n);
            }
        }
        if (dispatches.isEmpty()) {
            return new MoeCosts(net, cost, List.of(), Map.of(), Map.of());
        }
        Routing r = routing == null ? Routing.uniform() : routing;
        Map<String, OpPlan> ops = new HashMap<>();
        for (OpPlan op : plan.ops()) {
            ops.put(op.name(), op);
        }
        List<Layer> layers = new ArrayList<>();
        Map<String, Layer> expertOps = new HashMap<>();
        Map<String, Layer> tensors = new HashMap<>();
        for (Node d : dispatches) {
            MoeDispatch md = (MoeDispatch) d.op();
            long[] buffer = net.tensor(d.output(0)).shape();
            long tokens = net.tensor(d.input(0)).shape()[0];
            int k = (int) net.tensor(d.input(1)).shape()[1];
            Set<String> regionTensors = new HashSet<>();
            List<Node> region = region(net, d, regionTensors);
            int local = 0;
            for (Node n : region) {
                OpPlan op = ops.get(n.name());
                if (op != null && n.op() instanceof MatMul m && m.batch() && expertOp(net, n, md.experts(),
                        regionTensors)) {
                    long[] x = Flops.sliceShapes(op.inputLayouts()).get(0);
                    local = (int) x[x.length == 4 ? 1 : 0];
                    break;
                }
            }
            if (local < 1 || md.experts() % local != 0 || !ops.containsKey(d.name())) {
                continue; // no expert products in this plan (e.g. another pipeline stage): nothing to reprice
            }
            ExpertLoad load = ExpertLoad.of(r.weights(md.experts()), md.experts() / local, md.groups(), tokens, k,
                    md.capacityFactor(), buffer[2]);
            Layer layer = new Layer(d.name(), load, bufferBytes(net, ops, d, region));
            layers.add(layer);
            for (String t : regionTensors) {
                tensors.put(t, layer);
            }
            for (Node n : region) {
                if (ops.containsKey(n.name()) && expertOp(net, n, md.experts(), regionTensors)) {
                    expertOps.put(n.name(), layer);
                }
            }
        }
        return new MoeCosts(net, cost, Collections.unmodifiableList(layers), expertOps, tensors);
    }

    /** The mixture-of-experts layers found (empty for a dense network). */
    public List<Layer> layers() {
        return layers;
    }

    /** Whether the plan has a mixture-of-experts layer this model reprices. */
    public boolean any() {
        return !layers.isEmpty();
    }

    /**
     * Seconds of one rank's slice of {@code op}: an expert operator at the busiest rank's rows, anything else
     * {@link CostModel#computeSeconds}.
     */
    public double computeSeconds(OpPlan op, boolean backward) {
        Layer layer = expertOps.get(op.name());
        if (layer == null) {
            return cost.computeSeconds(net, op, backward);
        }
        Node node = net.node(op.name());
        List<long[]> in = Flops.sliceShapes(op.inputLayouts());
        List<long[]> out = Flops.sliceShapes(op.outputLayouts());
        long fullRows = rows(net.tensor(node.output(0)).shape());
        long sliceRows = rows(out.get(0));
        double[] rows = layer.load().busiestExpertRows();
        List<List<long[]>> ins = new ArrayList<>();
        List<List<long[]>> outs = new ArrayList<>();
        if (node.op() instanceof MatMul) {
            for (double r : rows) {
                long m = (long) Math.ceil(r * sliceRows / fullRows - 1e-9);
                if (m > 0) {
                    ins.add(shapes(node.inputs(), in, m));
                    outs.add(shapes(node.outputs(), out, m));
                }
            }
        } else {
            double sum = 0;
            for (double r : rows) {
                sum += r;
            }
            long m = (long) Math.ceil(sum * sliceRows / fullRows - 1e-9);
            if (m > 0) {
                ins.add(shapes(node.inputs(), in, m));
                outs.add(shapes(node.outputs(), out, m));
            }
        }
        return ins.isEmpty() ? 0 : cost.groupedSeconds(net, op, backward, ins, outs);
    }

    /**
     * Seconds of {@code c}: a communication of an expert region's activation (or its gradient) at the bytes its
     * layer's busiest rank really receives, anything else {@link CostModel#communicationSeconds(Communication)}.
     */
    public double communicationSeconds(Communication c) {
        if (tensors.isEmpty() || c.origin() == Communication.Origin.GRADIENT
                || c.origin() == Communication.Origin.PARALLEL_OPTIMIZER) {
            return cost.communicationSeconds(c);
        }
        String t = c.tensor() != null && c.tensor().startsWith("grad/") ? c.tensor().substring(5) : c.tensor();
        Layer layer = t == null ? null : tensors.get(t);
        return layer == null ? cost.communicationSeconds(c)
                : cost.communicationSeconds(c, layer.load().loadedFraction());
    }

    /**
     * The operators after {@code dispatch} up to (not including) its combine, in the network's order; their outputs
     * and the dispatch's output go to {@code tensors}.
     */
    private static List<Node> region(Network net, Node dispatch, Set<String> tensors) {
        Map<String, Node> found = new LinkedHashMap<>();
        Deque<String> todo = new ArrayDeque<>();
        todo.add(dispatch.output(0));
        tensors.add(dispatch.output(0));
        while (!todo.isEmpty()) {
            for (Node c : net.consumers(todo.poll())) {
                if (c.op() instanceof MoeCombine || c.op() instanceof MoeDispatch || found.containsKey(c.name())) {
                    continue;
                }
                found.put(c.name(), c);
                for (String o : c.outputs()) {
                    tensors.add(o);
                    todo.add(o);
                }
            }
        }
        List<Node> out = new ArrayList<>();
        for (Node n : net.nodes()) {
            if (found.containsKey(n.name())) {
                out.add(n);
            }
        }
        return out;
    }

    /**
     * Whether {@code n} is an expert operator: every input a parameter or a region activation, every output a region
     * activation, and the activations {@code [E, rows, .]}.
     */
    private static boolean expertOp(Network net, Node n, int experts, Set<String> region) {
        boolean any = false;
        List<String> all = new ArrayList<>(n.inputs());
        all.addAll(n.outputs());
        for (int i = 0; i < all.size(); i++) {
            String t = all.get(i);
            if (i < n.inputs().size() && net.isParameter(t)) {
                continue;
            }
            long[] s = net.tensor(t).shape();
            boolean expertMajor = s.length == 3 && s[0] == experts;
            boolean groupMajor = s.length == 4 && s[1] == experts;
            if (!region.contains(t) || !(expertMajor || groupMajor)) {
                return false;
            }
            any = true;
        }
        return any;
    }

    /**
     * The rows of an expert activation per expert: {@code rows} of an expert-major {@code [E, rows, last]}, or
     * {@code G x C} of the dispatch buffer's group-major {@code [G, E, C, last]}.
     */
    private static long rows(long[] shape) {
        return shape.length == 4 ? shape[0] * shape[2] : shape[1];
    }

    /** One expert's slice shapes: activations {@code [1, rows, last]}, parameters {@code [1, ...]}. */
    private List<long[]> shapes(List<String> names, List<long[]> slices, long rows) {
        List<long[]> out = new ArrayList<>(slices.size());
        for (int i = 0; i < slices.size(); i++) {
            long[] s = slices.get(i).clone();
            if (net.isParameter(names.get(i))) {
                s[0] = 1;
            } else {
                s = new long[] {1, rows, s[s.length - 1]};
            }
            out.add(s);
        }
        return out;
    }

    /**
     * Per rank, the layer's dispatch and combine buffers and their AllToAll receive buffers at their layouts' slices:
     * the dispatch output, the first region operator's input, the last region operator's output and the combine's
     * buffer input.
     */
    private static long bufferBytes(Network net, Map<String, OpPlan> ops, Node dispatch, List<Node> region) {
        long bytes = slice(ops.get(dispatch.name()).outputLayouts().get(0), net, dispatch.output(0));
        Node first = region.isEmpty() ? null : region.get(0);
        if (first != null && ops.containsKey(first.name())) {
            bytes += slice(ops.get(first.name()).inputLayouts().get(0), net, first.input(0));
        }
        Node last = region.isEmpty() ? null : region.get(region.size() - 1);
        if (last != null && ops.containsKey(last.name())) {
            bytes += slice(ops.get(last.name()).outputLayouts().get(0), net, last.output(0));
            for (Node c : net.consumers(last.output(0))) {
                if (c.op() instanceof MoeCombine && ops.containsKey(c.name())) {
                    bytes += slice(ops.get(c.name()).inputLayouts().get(0), net, c.input(0));
                }
            }
        }
        return bytes;
    }

    private static long slice(Layout l, Network net, String tensor) {
        return l.sliceBytes(net.tensor(tensor).dtype());
    }
}
