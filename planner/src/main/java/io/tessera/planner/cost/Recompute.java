package io.tessera.planner.cost;

import io.tessera.planner.graph.Network;
import io.tessera.planner.graph.Node;
import io.tessera.planner.op.MatMul;
import io.tessera.planner.op.Softmax;

import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;

/** Which forward activations are dropped after the forward and recomputed in the backward. */
public enum Recompute {
    /** Every activation is kept until its backward. */
    NONE,
    /**
     * Megatron-LM's selective recompute: the core attention of each layer (QK^T, scale, mask and other elementwise
     * steps, softmax, dropout, the product with V: {@link #selectiveOps}) is re-run before its backward; what it
     * saves inside itself (scores, probabilities, dropout masks) is not kept, its inputs Q, K, V and its output are.
     */
    SELECTIVE,
    /**
     * Megatron-LM's full recompute, per transformer layer: only each layer's input is kept per micro-batch (plus what
     * the operators outside the layers keep); before a layer's backward its forward is re-run, so one layer's
     * activations are live at a time. Without layers (operators named {@code layers.<i>.*}), the stage or chunk is
     * one unit: its input is kept and its whole forward re-runs.
     */
    FULL;

    /** The name on the command line: {@code none}, {@code selective} or {@code full}. */
    public String cliName() {
        return name().toLowerCase(Locale.ROOT);
    }

    /**
     * The mode named {@code text} ({@code none}, {@code selective}, {@code full}, case-insensitive).
     *
     * @throws IllegalArgumentException for any other text
     */
    public static Recompute parse(String text) {
        for (Recompute r : values()) {
            if (r.cliName().equals(String.valueOf(text).toLowerCase(Locale.ROOT))) {
                return r;
            }
        }
        throw new IllegalArgumentException("recompute '" + text + "' is unknown; expected none, selective or full");
    }

    /**
     * The operators {@link #SELECTIVE} re-runs, in network order: each core attention, from the score {@code MatMul}
     * to the context {@code MatMul}. From every {@code Softmax}: up through its producers (the first input that an
     * operator produces: scale, mask, ...) to and including the first {@code MatMul}, at most
     * {@value #HOPS} operators up; down through its sole consumers (dropout, ...) to and including the first
     * {@code MatMul}, at most {@value #HOPS} operators down (nothing down when no {@code MatMul} is reached). A fused
     * attention core ({@code FlashAttention}, the zoo gpt's {@code fused_attention}) has no softmax operator and adds
     * nothing: it keeps no scores or probabilities and already recomputes them in its own backward (its backward
     * products include the recompute of {@code QK^T}), so selective recompute of such a network re-runs nothing and
     * keeps what {@link #NONE} keeps, as Megatron's selective recompute with FlashAttention does.
     */
    public static Set<String> selectiveOps(Network net) {
        Set<String> out = new LinkedHashSet<>();
        for (Node node : net.nodes()) {
            if (!(node.op() instanceof Softmax)) {
                continue;
            }
            List<String> region = new ArrayList<>();
            Node up = producerOfFirstInput(net, node);
            for (int hop = 0; hop < HOPS && up != null; hop++) {
                region.add(0, up.name());
                if (up.op() instanceof MatMul) {
                    break;
                }
                up = producerOfFirstInput(net, up);
            }
            region.add(node.name());
            List<String> down = new ArrayList<>();
            Node at = node;
            for (int hop = 0; hop < HOPS; hop++) {
                List<Node> next = net.consumers(at.output(0));
                if (next.size() != 1) {
                    break;
                }
                at = next.get(0);
                down.add(at.name());
                if (at.op() instanceof MatMul) {
                    region.addAll(down);
                    break;
                }
            }
            out.addAll(region);
        }
        Set<String> ordered = new LinkedHashSet<>();
        for (Node n : net.nodes()) {
            if (out.contains(n.name())) {
                ordered.add(n.name());
            }
        }
        return ordered;
    }

    /** How far {@link #selectiveOps} walks from a softmax. */
    public static final int HOPS = 4;

    private static Node producerOfFirstInput(Network net, Node node) {
        for (String in : node.inputs()) {
            Node p = net.producer(in);
            if (p != null) {
                return p;
            }
        }
        return null;
    }
}
