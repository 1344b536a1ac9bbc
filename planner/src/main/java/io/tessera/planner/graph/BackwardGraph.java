package io.tessera.planner.graph;

import io.tessera.layout.param.Parameter;
import io.tessera.planner.op.TensorRef;
import io.tessera.planner.op.TensorType;

import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The backward graph of a {@link Network}'s loss (reverse-mode differentiation). A tensor needs a gradient iff it is
 * a trainable floating parameter or computed (through differentiable inputs) from one, and the loss depends on it
 * (through differentiable outputs). The loss's own gradient is the seed {@code "grad/" + loss} (ones), produced by no
 * step. Every other tensor needing a gradient gets {@code "grad/" + tensor}: written by a single {@link GradStep}
 * when one node contributes to it, else summed by an {@link Accumulate} from partials.
 *
 * <p>Not differentiable: Gather's indices; BatchNorm's mean and variance inputs; the labels of
 * SoftmaxCrossEntropyWithLogits; LayerNorm's mean and variance outputs; Dropout's mask output; integer tensors.
 * Immutable.
 */
public final class BackwardGraph {

    /** The prefix of gradient tensor names. */
    public static final String GRAD_PREFIX = "grad/";

    private final Network network;
    private final Set<String> needs;
    private final List<BackwardStep> steps;
    private final Map<String, TensorType> gradTensors;
    private final Map<String, BackwardStep> producers;

    private BackwardGraph(Network network, Set<String> needs, List<BackwardStep> steps,
            Map<String, TensorType> gradTensors, Map<String, BackwardStep> producers) {
        this.network = network;
        this.needs = Collections.unmodifiableSet(needs);
        this.steps = List.copyOf(steps);
        this.gradTensors = Collections.unmodifiableMap(gradTensors);
        this.producers = Collections.unmodifiableMap(producers);
    }

    /**
     * The backward graph of {@code network}.
     *
     * @throws IllegalArgumentException when the network has no loss
     */
    public static BackwardGraph of(Network network) {
        String loss = network.loss();
        if (loss == null) {
            throw new IllegalArgumentException("network '" + network.name() + "': found no loss tensor; expected one "
                    + "to differentiate: set it with Builder.loss(tensor) or \"loss\" in the network JSON");
        }
        List<Node> nodes = network.nodes();
        Set<String> varying = new HashSet<>();
        for (Map.Entry<String, Parameter> e : network.parametersAndNames()) {
            if (e.getValue().requiresGrad() && network.tensor(e.getKey()).dtype().isFloating()) {
                varying.add(e.getKey());
            }
        }
        for (Node n : nodes) {
            boolean any = false;
            for (int i = 0; i < n.inputs().size(); i++) {
                any |= n.op().differentiableInput(i) && varying.contains(n.input(i));
            }
            if (any) {
                for (int o = 0; o < n.outputs().size(); o++) {
                    if (n.op().differentiableOutput(o)
                            && network.tensor(n.output(o)).dtype().isFloating()) {
                        varying.add(n.output(o));
                    }
                }
            }
        }
        Set<String> needs = new HashSet<>();
        if (varying.contains(loss)) {
            needs.add(loss);
        }
        Map<String, Integer> contributions = new HashMap<>();
        for (int k = nodes.size() - 1; k >= 0; k--) {
            Node n = nodes.get(k);
            if (!hasOutputGradient(n, needs)) {
                continue;
            }
            for (int i = 0; i < n.inputs().size(); i++) {
                if (n.op().differentiableInput(i) && varying.contains(n.input(i))) {
                    needs.add(n.input(i));
                    contributions.merge(n.input(i), 1, Integer::sum);
                }
            }
        }
        List<BackwardStep> steps = new ArrayList<>();
        Map<String, TensorType> gradTensors = new LinkedHashMap<>();
        Map<String, BackwardStep> producers = new HashMap<>();
        Map<String, List<String>> parts = new HashMap<>();
        if (needs.contains(loss)) {
            gradTensors.put(GRAD_PREFIX + loss, network.tensor(loss));
        }
        for (int k = nodes.size() - 1; k >= 0; k--) {
            Node n = nodes.get(k);
            if (!hasOutputGradient(n, needs)) {
                continue;
            }
            for (int i = 0; i < n.inputs().size(); i++) {
                String t = n.input(i);
                if (!n.op().differentiableInput(i) || !varying.contains(t)) {
                    continue;
                }
                int total = contributions.get(t);
                String grad;
                if (total == 1) {
                    grad = GRAD_PREFIX + t;
                } else {
                    grad = GRAD_PREFIX + t + "@" + n.name();
                    if (n.inputs().indexOf(t) != n.inputs().lastIndexOf(t)) {
                        grad += "#" + i;
                    }
                }
                GradStep step = new GradStep(n.name() + "/grad" + i, n, i, grad, reads(n, i));
                steps.add(step);
                producers.put(grad, step);
                gradTensors.put(grad, network.tensor(t));
                if (total > 1) {
                    List<String> p = parts.computeIfAbsent(t, x -> new ArrayList<>());
                    p.add(grad);
                    if (p.size() == total) {
                        Accumulate acc = new Accumulate(GRAD_PREFIX + t, p);
                        steps.add(acc);
                        producers.put(acc.gradTensor(), acc);
                        gradTensors.put(acc.gradTensor(), network.tensor(t));
                    }
                }
            }
        }
        return new BackwardGraph(network, needs, steps, gradTensors, producers);
    }

    /**
     * The names of the forward tensors the gradient of input {@code i} of {@code n} reads: the operator's gradient
     * rule ({@link io.tessera.planner.op.Operator#gradientReads}) mapped from positions to the node's tensors.
     */
    private static List<String> reads(Node n, int i) {
        List<String> out = new ArrayList<>();
        for (TensorRef r : n.op().gradientReads(i)) {
            if (r instanceof TensorRef.Input in) {
                out.add(n.input(in.index()));
            } else {
                out.add(n.output(r.index()));
            }
        }
        return List.copyOf(out);
    }

    private static boolean hasOutputGradient(Node n, Set<String> needs) {
        for (int o = 0; o < n.outputs().size(); o++) {
            if (n.op().differentiableOutput(o) && needs.contains(n.output(o))) {
                return true;
            }
        }
        return false;
    }

    /** The forward network. */
    public Network network() {
        return network;
    }

    /** The steps in execution order: nodes in reverse topological order, each sum right after its last part. */
    public List<BackwardStep> steps() {
        return steps;
    }

    /** The grad steps only, in execution order. */
    public List<GradStep> gradSteps() {
        List<GradStep> out = new ArrayList<>();
        for (BackwardStep s : steps) {
            if (s instanceof GradStep g) {
                out.add(g);
            }
        }
        return List.copyOf(out);
    }

    /** Whether forward tensor {@code tensor} needs a gradient (see the class comment). */
    public boolean needsGradient(String tensor) {
        network.tensor(tensor);
        return needs.contains(tensor);
    }

    /**
     * The final gradient tensor of forward tensor {@code tensor} ({@code "grad/" + tensor}), or null when it needs
     * none.
     *
     * @throws IllegalArgumentException when the network has no such tensor
     */
    public String gradientOf(String tensor) {
        return needsGradient(tensor) ? GRAD_PREFIX + tensor : null;
    }

    /** The seed gradient {@code "grad/" + loss}, or null when the loss depends on no trainable parameter. */
    public String seed() {
        return needs.contains(network.loss()) ? GRAD_PREFIX + network.loss() : null;
    }

    /** Every gradient tensor (seed, partials, finals) with its type (that of its forward tensor), seed first. */
    public Map<String, TensorType> gradTensors() {
        return gradTensors;
    }

    /** The step writing gradient tensor {@code gradTensor}, or null for the seed and unknown names. */
    public BackwardStep producer(String gradTensor) {
        return producers.get(gradTensor);
    }

    /** The trainable parameters with a gradient, by name, mapped to their gradient tensors, in declaration order. */
    public Map<String, String> parameterGradients() {
        Map<String, String> out = new LinkedHashMap<>();
        for (Map.Entry<String, Parameter> e : network.parametersAndNames()) {
            if (needs.contains(e.getKey())) {
                out.put(e.getKey(), GRAD_PREFIX + e.getKey());
            }
        }
        return Collections.unmodifiableMap(out);
    }

    /** One step per line. */
    @Override
    public String toString() {
        StringBuilder sb = new StringBuilder("BackwardGraph of " + network.name() + " (seed " + seed() + ")\n");
        for (BackwardStep s : steps) {
            sb.append("  ").append(s).append('\n');
        }
        return sb.toString();
    }
}
