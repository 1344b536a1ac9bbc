package io.tessera.planner.op;

import io.tessera.layout.DeviceMatrix;
import io.tessera.layout.redistribution.ReduceOp;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A communication an operator needs by itself (not a redistribution between operators): a reduction of partial
 * results over the ranks that split a contracted or reduced dimension (forward), or of partial gradients of an input
 * (backward). Immutable.
 *
 * @param kind   the collective
 * @param reduce the reduction (for AllReduce and ReduceScatter)
 * @param phase  forward or backward
 * @param output true when the tensor is an output (forward), false for an input's gradient (backward)
 * @param index  the output or input index
 * @param axes   the device dimensions of the group, as map values of the operator's device matrix (from the right)
 * @param reason a one-line explanation
 * @param payload elements each rank contributes when that is not the attached tensor's slice (e.g. BatchNorm's
 *                per-channel statistics), else -1
 */
public record OpComm(Kind kind, ReduceOp reduce, Phase phase, boolean output, int index, int[] axes, String reason,
                     long payload) {

    /** The collectives an operator may need. */
    public enum Kind {
        /** Every member ends with the reduction of all members' tensors. */
        ALL_REDUCE("AllReduce"),
        /** The reduction, scattered: each member keeps a part. */
        REDUCE_SCATTER("ReduceScatter"),
        /** Every member ends with the concatenation of all members' tensors. */
        ALL_GATHER("AllGather");

        private final String op;

        Kind(String op) {
            this.op = op;
        }

        /** The name as printed, e.g. {@code AllReduce}. */
        public String op() {
            return op;
        }
    }

    /** When the communication runs. */
    public enum Phase {
        /** In the forward pass. */
        FORWARD,
        /** In the backward pass. */
        BACKWARD
    }

    /** A communication whose payload is the attached tensor's slice. */
    public OpComm(Kind kind, ReduceOp reduce, Phase phase, boolean output, int index, int[] axes, String reason) {
        this(kind, reduce, phase, output, index, axes, reason, -1);
    }

    /** The same communication with an explicit payload of {@code elements} per rank. */
    public OpComm withPayload(long elements) {
        return new OpComm(kind, reduce, phase, output, index, axes, reason, elements);
    }

    /** Validates a non-empty list of axes and copies it. */
    public OpComm {
        if (kind == null || phase == null || axes == null || axes.length == 0) {
            throw new IllegalArgumentException("OpComm: kind, phase and at least one device dimension are required");
        }
        axes = axes.clone();
    }

    @Override
    public int[] axes() {
        return axes.clone();
    }

    /**
     * The rank groups of this communication: ranks of {@code dev} that differ only in the device dimensions of
     * {@link #axes()}, each group ascending, groups ordered by their first rank.
     */
    public List<List<Integer>> groups(DeviceMatrix dev) {
        return groupsAlong(dev, axes);
    }

    /** The groups of ranks of {@code dev} differing only in the device dimensions {@code axes} (map values). */
    public static List<List<Integer>> groupsAlong(DeviceMatrix dev, int[] axes) {
        boolean[] inGroup = new boolean[dev.rank()];
        for (int a : axes) {
            inGroup[dev.rank() - 1 - a] = true;
        }
        Map<List<Integer>, List<Integer>> byKey = new LinkedHashMap<>();
        for (int r = 0; r < dev.size(); r++) {
            int[] c = dev.coordinate(r);
            List<Integer> key = new ArrayList<>();
            for (int d = 0; d < c.length; d++) {
                if (!inGroup[d]) {
                    key.add(c[d]);
                }
            }
            byKey.computeIfAbsent(key, k -> new ArrayList<>()).add(r);
        }
        List<List<Integer>> out = new ArrayList<>();
        for (List<Integer> g : byKey.values()) {
            out.add(List.copyOf(g));
        }
        return List.copyOf(out);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof OpComm c && kind == c.kind && reduce == c.reduce && phase == c.phase
                && output == c.output && index == c.index && Arrays.equals(axes, c.axes) && reason.equals(c.reason)
                && payload == c.payload;
    }

    @Override
    public int hashCode() {
        return ((kind.hashCode() * 31 + phase.hashCode()) * 31 + index) * 31 + Arrays.hashCode(axes);
    }

    /** Prints as {@code forward AllReduce(sum) of output 0 over device dims [1]: reason}. */
    @Override
    public String toString() {
        return phase.name().toLowerCase(java.util.Locale.ROOT) + " " + kind.op()
                + (reduce == null ? "" : "(" + reduce.jsonName() + ")") + " of " + (output ? "output " : "input ")
                + index + (output ? "" : " gradient") + " over device dims " + Arrays.toString(axes) + ": " + reason;
    }
}
