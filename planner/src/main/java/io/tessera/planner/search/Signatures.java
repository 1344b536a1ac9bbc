package io.tessera.planner.search;

import io.tessera.layout.Layout;
import io.tessera.planner.graph.Network;
import io.tessera.planner.graph.Node;
import io.tessera.planner.op.OpSharding;
import io.tessera.planner.op.Operator;
import io.tessera.planner.op.Strategy;
import io.tessera.planner.op.TensorType;
import io.tessera.planner.plan.PlanConfig;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The candidate signatures of a network's operators (see {@link Search}): operators with the same type, attributes,
 * input shapes and gradient needs (the repeated layers of a transformer) share one signature, whose
 * {@link Options} are its candidate strategies with their interned layouts, own seconds and memory. Also the
 * network's wiring: per operator input, the producing operator and its output index. Immutable once made.
 */
final class Signatures {

    private final Network net;
    private final PlanConfig template;
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

    /**
     * The candidates of one operator signature with their own costs, by candidate index.
     *
     * @param strategies     the candidate in_strategies
     * @param in             per candidate, the layout id of each input
     * @param out            per candidate, the layout id of each output
     * @param unary          per candidate, its own seconds
     * @param memory         per candidate, its memory bytes
     * @param buckets        per candidate, the fusion buckets (ids) of its fused gradient reductions
     * @param bucketBytes    per candidate and fused reduction, its bytes
     * @param bucketMarginal per candidate and fused reduction, what it adds to its bucket on its own,
     *                       {@code t(bytes) - t(0)}
     * @param partial        per candidate and input, the groups its gradient is partial over (null: none)
     * @param partialSeconds per candidate and input, the seconds of that reduction charged in {@code unary}
     */
    record Options(List<Strategy> strategies, List<int[]> in, List<int[]> out, double[] unary, double[] memory,
                   int[][] buckets, long[][] bucketBytes, double[][] bucketMarginal,
                   List<List<List<List<Integer>>>> partial, double[][] partialSeconds) {

        /** Validates one entry per candidate in every component. */
        Options {
            int m = strategies.size();
            if (in.size() != m || out.size() != m || unary.length != m || memory.length != m || buckets.length != m
                    || bucketBytes.length != m || bucketMarginal.length != m || partial.size() != m
                    || partialSeconds.length != m) {
                throw new IllegalArgumentException("signature options: found " + m + " strategies but " + in.size()
                        + " input layouts, " + out.size() + " output layouts, " + unary.length + " costs, "
                        + memory.length + " memory sizes, " + buckets.length + " bucket lists, " + partial.size()
                        + " partial lists; expected one of each per strategy");
            }
            strategies = Collections.unmodifiableList(new ArrayList<>(strategies));
        }
    }

    private record SigKey(Operator op, List<TensorType> types, Strategy fixed, List<Boolean> gradIn,
                          List<Boolean> paramIn, List<Integer> consumersIn, List<Integer> fusionIn) {
    }

    /** One distinct signature before its layouts are interned. */
    private record Pending(List<Strategy> strategies, List<Layout[]> in, List<Layout[]> out,
                           List<OperatorCosts.Own> own) {
    }

    /**
     * The signatures of {@code setup}'s network: its operators grouped by signature, the candidates of each
     * signature enumerated and costed by {@code costs} in parallel, then their layouts interned in signature order
     * (deterministic ids).
     */
    Signatures(SearchSetup setup, OperatorCosts costs) {
        this.net = setup.net();
        this.template = setup.template();
        this.nodes = net.nodes();
        this.n = nodes.size();
        this.sigOf = new int[n];
        this.producer = new int[n][];
        this.producerOut = new int[n][];
        prepare(setup, costs);
    }

    /** The number of operators. */
    int count() {
        return n;
    }

    /** The operators in execution order. */
    List<Node> nodes() {
        return nodes;
    }

    /** The candidates of operator {@code i}. */
    Options options(int i) {
        return sigs.get(sigOf[i]);
    }

    /** The distinct signatures' candidates, by signature index. */
    List<Options> signatures() {
        return sigs;
    }

    /** Per operator: its signature's index into {@link #signatures()} (shared, not to be modified). */
    int[] sigOf() {
        return sigOf;
    }

    /** Per operator and input: the producing operator's index, or -1 (shared, not to be modified). */
    int[][] producer() {
        return producer;
    }

    /** Per operator and input: the producer's output index, or -1 (shared, not to be modified). */
    int[][] producerOut() {
        return producerOut;
    }

    /** The interned layouts, by layout id. */
    List<Layout> layouts() {
        return Collections.unmodifiableList(layouts);
    }

    /** The most candidates of any signature. */
    int maxOptions() {
        int maxOptions = 0;
        for (Options o : sigs) {
            maxOptions = Math.max(maxOptions, o.strategies().size());
        }
        return maxOptions;
    }

    private void prepare(SearchSetup setup, OperatorCosts costs) {
        Map<String, Integer> index = new HashMap<>();
        for (int i = 0; i < n; i++) {
            index.put(nodes.get(i).name(), i);
        }
        Map<SigKey, Integer> sigIds = new HashMap<>();
        List<Integer> firstNode = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            Node node = nodes.get(i);
            List<TensorType> types = types(node);
            int k = node.inputs().size();
            producer[i] = new int[k];
            producerOut[i] = new int[k];
            List<Boolean> gradIn = new ArrayList<>();
            List<Boolean> paramIn = new ArrayList<>();
            List<Integer> consumersIn = new ArrayList<>();
            List<Integer> fusionIn = new ArrayList<>();
            for (int j = 0; j < k; j++) {
                String t = node.input(j);
                Node p = net.isParameter(t) ? null : net.producer(t);
                producer[i][j] = p == null ? -1 : index.get(p.name());
                producerOut[i][j] = p == null ? -1 : p.outputs().indexOf(t);
                gradIn.add(setup.bg().needsGradient(t));
                paramIn.add(net.isParameter(t) && net.parameter(t).layerwiseParallel());
                consumersIn.add(net.isParameter(t) ? 1 : net.consumers(t).size());
                fusionIn.add(net.isParameter(t) ? net.parameter(t).commFusion() : -1);
            }
            Strategy fixed = template.inStrategies().get(node.name());
            SigKey key = new SigKey(node.op(), types, fixed, gradIn, paramIn, consumersIn, fusionIn);
            Integer id = sigIds.get(key);
            if (id == null) {
                id = firstNode.size();
                sigIds.put(key, id);
                firstNode.add(i);
            }
            sigOf[i] = id;
        }
        // the candidates of distinct signatures are independent: enumerate and cost them in parallel, then intern
        // their layouts in signature order (deterministic ids)
        int count = firstNode.size();
        int devices = setup.devices();
        List<List<Strategy>> valid = Parallel.map(count, s -> {
            Node node = nodes.get(firstNode.get(s));
            Strategy fixed = template.inStrategies().get(node.name());
            return fixed != null ? List.of(fixed)
                    : StrategyCandidates.valid(node.name(), node.op(), types(node), devices);
        });
        // every valid strategy's own cost, the signatures' strategies flattened so that both cores share the work
        int[] offset = new int[count + 1];
        for (int s = 0; s < count; s++) {
            offset[s + 1] = offset[s] + valid.get(s).size();
        }
        int total = offset[count];
        AtomicInteger finished = new AtomicInteger();
        int step = Math.max(1, total / 100);
        setup.progress().advance(0, total);
        int[] sigOfFlat = new int[total];
        for (int s = 0; s < count; s++) {
            Arrays.fill(sigOfFlat, offset[s], offset[s + 1], s);
        }
        List<OperatorCosts.Own> scored = Parallel.map(total, x -> {
            int s = sigOfFlat[x];
            Node node = nodes.get(firstNode.get(s));
            List<TensorType> types = types(node);
            OperatorCosts.Own own = costs.own(node, types, node.op().outputs(node.name(), types),
                    valid.get(s).get(x - offset[s]));
            int f = finished.incrementAndGet();
            if (f % step == 0 || f == total) {
                setup.progress().advance(f, total);
            }
            return own;
        });
        List<Pending> pending = Parallel.map(count, s -> options(nodes.get(firstNode.get(s)), valid.get(s),
                scored.subList(offset[s], offset[s + 1]), setup.cap(), devices));
        for (Pending p : pending) {
            int m = p.strategies().size();
            List<int[]> in = new ArrayList<>();
            List<int[]> out = new ArrayList<>();
            double[] unary = new double[m];
            double[] memory = new double[m];
            int[][] buckets = new int[m][];
            long[][] bucketBytes = new long[m][];
            double[][] bucketMarginal = new double[m][];
            List<List<List<List<Integer>>>> partial = new ArrayList<>();
            double[][] partialSeconds = new double[m][];
            for (int c = 0; c < m; c++) {
                in.add(Arrays.stream(p.in().get(c)).mapToInt(this::intern).toArray());
                out.add(Arrays.stream(p.out().get(c)).mapToInt(this::intern).toArray());
                OperatorCosts.Own own = p.own().get(c);
                unary[c] = own.seconds();
                memory[c] = own.memory();
                buckets[c] = own.buckets();
                bucketBytes[c] = own.bucketBytes();
                bucketMarginal[c] = own.bucketMarginal();
                partial.add(own.partial());
                partialSeconds[c] = own.partialSeconds();
            }
            sigs.add(new Options(p.strategies(), in, out, unary, memory, buckets, bucketBytes, bucketMarginal,
                    partial, partialSeconds));
        }
    }

    private List<TensorType> types(Node node) {
        List<TensorType> types = new ArrayList<>();
        for (String t : node.inputs()) {
            types.add(net.tensor(t));
        }
        return types;
    }

    /**
     * The candidates of one signature: of its {@code valid} strategies (the user's alone when annotated) the
     * {@link StrategyCandidates#select cap} of least own seconds, with their layouts.
     */
    private Pending options(Node node, List<Strategy> valid, List<OperatorCosts.Own> owns, int cap, int devices) {
        List<TensorType> types = types(node);
        List<TensorType> outTypes = node.op().outputs(node.name(), types);
        Map<Strategy, OperatorCosts.Own> scored = new HashMap<>();
        for (int k = 0; k < valid.size(); k++) {
            scored.put(valid.get(k), owns.get(k));
        }
        List<Strategy> chosen = valid.size() == 1 && template.inStrategies().containsKey(node.name()) ? valid
                : StrategyCandidates.select(valid, node.op().dataParallel(types, devices), cap,
                s -> scored.get(s).seconds());
        List<Layout[]> in = new ArrayList<>();
        List<Layout[]> out = new ArrayList<>();
        List<OperatorCosts.Own> own = new ArrayList<>();
        for (Strategy s : chosen) {
            own.add(scored.get(s));
            OpSharding sh = node.op().shard(node.name(), types, s, template.outStrategies().get(node.name()),
                    devices);
            Layout[] li = new Layout[types.size()];
            for (int j = 0; j < li.length; j++) {
                li[j] = sh.inputLayout(j, types.get(j));
            }
            Layout[] lo = new Layout[outTypes.size()];
            for (int j = 0; j < lo.length; j++) {
                lo[j] = sh.outputLayout(j, outTypes.get(j));
            }
            in.add(li);
            out.add(lo);
        }
        return new Pending(chosen, in, out, own);
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
}
