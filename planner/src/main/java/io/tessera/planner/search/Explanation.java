package io.tessera.planner.search;

import io.tessera.planner.cost.ClusterSpec;
import io.tessera.planner.graph.Network;
import io.tessera.planner.graph.Node;
import io.tessera.planner.plan.PlanConfig;
import io.tessera.planner.strategy.SearchMode;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/** The explanation text of a search's result ({@link SearchResult#explanation()}). */
final class Explanation {

    private final Network net;
    private final ClusterSpec cluster;
    private final int devices;
    private final List<Node> nodes;
    private final int n;
    /** How many distinct operator signatures there are. */
    private final int distinct;

    /** Explains searches of {@code setup} whose candidates are {@code signatures}. */
    Explanation(SearchSetup setup, Signatures signatures) {
        this.net = setup.net();
        this.cluster = setup.cluster();
        this.devices = setup.devices();
        this.nodes = signatures.nodes();
        this.n = signatures.count();
        this.distinct = signatures.signatures().size();
    }

    /**
     * The explanation of a search in {@code mode}: what was searched and how long it took, the objective, the notes,
     * the chosen plan with its strategies, the runners-up and the plans rejected for memory.
     */
    String explain(SearchMode mode, Candidate best, List<Candidate> fits, List<Candidate> rejected,
                   List<String> notes, double ms, int maxOptions) {
        StringBuilder sb = new StringBuilder();
        sb.append(String.format(Locale.ROOT, "search (%s) of '%s' on %d devices of cluster '%s': %d operators, %d "
                + "distinct, at most %d candidates each, %.0f ms%n", mode, net.name(), devices, cluster.name(), n,
                distinct, maxOptions, ms));
        sb.append("objective: estimated step seconds = sum over operators of one rank's forward + backward compute "
                + "+ the seconds of every planned communication, a fusion bucket once (no overlap); "
                + "memory = parameters, gradients, optimizer state and buffers of rank 0 + its activations, limit ")
                .append(gib(cluster.device().memoryBytes())).append(String.format("%n"));
        for (String note : notes) {
            sb.append("note: ").append(note).append(String.format("%n"));
        }
        sb.append("chosen: ").append(best).append(String.format("%n"));
        Map<String, String> grouped = groupStrategies(best.config());
        grouped.forEach((k, v) -> sb.append("  ").append(k).append(' ').append(v).append(String.format("%n")));
        int r = 1;
        for (Candidate c : fits) {
            if (c != best) {
                sb.append("runner-up ").append(r++).append(": ").append(c).append(String.format("%n"));
            }
        }
        for (Candidate c : rejected) {
            sb.append("rejected: ").append(c.label()).append(": needs ").append(gib(c.memoryBytes()))
                    .append(" but a device holds ").append(gib(cluster.device().memoryBytes()))
                    .append(String.format(Locale.ROOT, " (%.3f ms)%n", c.seconds() * 1e3));
        }
        return sb.toString();
    }

    /** Strategies by operator, layers with the same strategy printed once as {@code layers.*.name} ({@code model.layers.*.name}, ...). */
    private Map<String, String> groupStrategies(PlanConfig config) {
        Map<String, List<String>> byPattern = new LinkedHashMap<>();
        for (Node node : nodes) {
            String prefix = Network.layerPrefix(node.name());
            String pattern = prefix == null ? node.name()
                    : prefix.substring(0, prefix.lastIndexOf('.', prefix.length() - 2) + 1) + "*."
                    + node.name().substring(prefix.length());
            byPattern.computeIfAbsent(pattern, k -> new ArrayList<>()).add(node.name());
        }
        Map<String, String> out = new LinkedHashMap<>();
        for (Map.Entry<String, List<String>> e : byPattern.entrySet()) {
            Set<String> distinct = new LinkedHashSet<>();
            e.getValue().forEach(name -> distinct.add(config.inStrategies().get(name).toString()));
            if (distinct.size() == 1) {
                out.put(e.getKey(), distinct.iterator().next());
            } else {
                e.getValue().forEach(name -> out.put(name, config.inStrategies().get(name).toString()));
            }
        }
        return out;
    }

    /** {@code bytes} in MiB below a GiB, else in GiB, with two decimals. */
    static String gib(long bytes) {
        if (bytes < (1L << 30)) {
            return String.format(Locale.ROOT, "%.2f MiB", bytes / (double) (1L << 20));
        }
        return String.format(Locale.ROOT, "%.2f GiB", bytes / (double) (1L << 30));
    }
}
