package io.tessera.planner.cost;

import io.tessera.planner.graph.Network;
import io.tessera.planner.graph.Node;
import io.tessera.planner.op.MatMul;
import io.tessera.planner.op.Softmax;

import java.util.LinkedHashSet;
import java.util.Locale;
import java.util.Set;

/** Which forward activations are dropped after the forward and recomputed in the backward. */
public enum Recompute {
    /** Every activation is kept until its backward. */
    NONE,
    /**
     * The attention scores and softmax (each {@code Softmax} operator and its producers back to the score
     * {@code MatMul}) are recomputed before the backward; their activations are not kept.
     */
    SELECTIVE,
    /**
     * Only each micro-batch's stage input is kept; the backward first re-runs the stage's whole forward of that
     * micro-batch.
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
     * The operators {@link #SELECTIVE} re-runs, in network order: the attention scores and softmax, i.e. every
     * {@code Softmax} operator and its producers back to (and including) the first {@code MatMul}, at most three
     * operators up.
     */
    public static Set<String> selectiveOps(Network net) {
        Set<String> out = new LinkedHashSet<>();
        for (Node node : net.nodes()) {
            if (!(node.op() instanceof Softmax)) {
                continue;
            }
            out.add(node.name());
            Node up = net.producer(node.inputs().get(0));
            for (int hop = 0; hop < 3 && up != null; hop++) {
                out.add(up.name());
                if (up.op() instanceof MatMul) {
                    break;
                }
                up = net.producer(up.inputs().get(0));
            }
        }
        return out;
    }
}
