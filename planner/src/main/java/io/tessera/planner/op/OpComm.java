package io.tessera.planner.op;

import io.tessera.layout.DeviceMatrix;
import io.tessera.layout.comm.CollectiveKind;
import io.tessera.layout.comm.Phase;
import io.tessera.layout.redistribution.ReduceOp;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * A communication an operator needs by itself (not a redistribution between operators): a reduction of partial
 * results over the ranks that split a contracted or reduced dimension (forward), or of partial gradients of an input
 * (backward). Immutable.
 *
 * @param kind   the collective: AllReduce, ReduceScatter or AllGather
 * @param reduce the reduction (for AllReduce and ReduceScatter)
 * @param phase  forward or backward
 * @param output true when the tensor is an output (forward), false for an input's gradient (backward)
 * @param index  the output or input index
 * @param axes   the device dimensions of the group, as map values of the operator's device matrix (from the right)
 * @param reason a one-line explanation
 * @param payload elements each rank contributes when that is not the attached tensor's slice (e.g. BatchNorm's
 *                per-channel statistics), else -1
 */
public record OpComm(CollectiveKind kind, ReduceOp reduce, Phase phase, boolean output, int index, int[] axes, String reason,
                     long payload) {

    /** A communication whose payload is the attached tensor's slice. */
    public OpComm(CollectiveKind kind, ReduceOp reduce, Phase phase, boolean output, int index, int[] axes, String reason) {
        this(kind, reduce, phase, output, index, axes, reason, -1);
    }

    /** The same communication with an explicit payload of {@code elements} per rank. */
    public OpComm withPayload(long elements) {
        return new OpComm(kind, reduce, phase, output, index, axes, reason, elements);
    }

    /**
     * Whether this communication moves the attached tensor's slice (in backward: the input's gradient itself), as
     * opposed to a {@link #payload()} of its own such as BatchNorm's per-channel gradient statistics. Only a backward
     * communication moving the tensor can be a parameter's gradient reduction.
     */
    public boolean movesTensor() {
        return payload < 0;
    }

    /** Validates a non-empty list of axes and copies it. */
    public OpComm {
        if (kind == null || phase == null || axes == null || axes.length == 0) {
            throw new IllegalArgumentException("OpComm: kind, phase and at least one device dimension are required");
        }
        if (kind != CollectiveKind.ALL_REDUCE && kind != CollectiveKind.REDUCE_SCATTER
                && kind != CollectiveKind.ALL_GATHER || phase == Phase.OPTIMIZER) {
            throw new IllegalArgumentException("OpComm: found " + kind + " in " + phase.jsonName() + "; an operator's "
                    + "own communication is an AllReduce, ReduceScatter or AllGather in forward or backward");
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

    /**
     * Bytes one member of an {@code n}-rank group receives in a ring algorithm, for a tensor slice of {@code slice}
     * bytes: AllReduce {@code 2 slice (n-1)/n}; ReduceScatter (its output is one piece) {@code slice (n-1)}; a forward
     * AllGather produces the output (slice = the gathered result) {@code slice (n-1)/n}, a backward one gathers the
     * output's gradient (slice = one member's piece) {@code slice (n-1)}. The planner records these and the search
     * costs them: one formula for both.
     */
    public long ringRecvBytes(long slice, int n) {
        return switch (kind) {
            case ALL_REDUCE -> 2 * slice * (n - 1) / n;
            case REDUCE_SCATTER -> slice * (n - 1);
            case ALL_GATHER -> phase == Phase.FORWARD ? slice * (n - 1) / n : slice * (n - 1);
            case ALL_TO_ALL, BROADCAST, COLLECTIVE_PERMUTE, SEND_RECV -> throw new IllegalStateException(
                    "unreachable: OpComm of kind " + kind);
        };
    }

    /**
     * The groups of ranks of {@code dev} differing only in the device dimensions {@code axes} (map values), in the
     * order of their lowest ranks, each ascending. One pass over the ranks on int arrays: a rank's group is found by
     * the mixed-radix number of its coordinates outside {@code axes}.
     */
    public static List<List<Integer>> groupsAlong(DeviceMatrix dev, int[] axes) {
        int[] dims = dev.dims();
        int k = dims.length;
        boolean[] inGroup = new boolean[k];
        for (int a : axes) {
            inGroup[k - 1 - a] = true;
        }
        int size = dev.size();
        int groupSize = 1;
        for (int d = 0; d < k; d++) {
            groupSize *= inGroup[d] ? dims[d] : 1;
        }
        int count = size / groupSize;
        int[] groupOfKey = new int[count];
        Arrays.fill(groupOfKey, -1);
        int[][] members = new int[count][groupSize];
        int[] filled = new int[count];
        int next = 0;
        int[] coord = new int[k];
        for (int r = 0; r < size; r++) {
            int key = 0;
            for (int d = 0; d < k; d++) {
                if (!inGroup[d]) {
                    key = key * dims[d] + coord[d];
                }
            }
            int g = groupOfKey[key];
            if (g < 0) {
                g = next++;
                groupOfKey[key] = g;
            }
            members[g][filled[g]++] = r;
            for (int d = k - 1; d >= 0 && ++coord[d] == dims[d]; d--) {
                coord[d] = 0;
            }
        }
        List<List<Integer>> out = new ArrayList<>(count);
        for (int[] m : members) {
            // List.of lists are null-free, so the List.copyOf of every holder (Communication, Bucket, ...) returns
            // them as they are instead of copying thousands of ranks per group
            Integer[] boxed = new Integer[m.length];
            for (int i = 0; i < m.length; i++) {
                boxed[i] = m[i];
            }
            out.add(List.of(boxed));
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
        return phase.name().toLowerCase(java.util.Locale.ROOT) + " " + kind.jsonName()
                + (reduce == null ? "" : "(" + reduce.jsonName() + ")") + " of " + (output ? "output " : "input ")
                + index + (output ? "" : " gradient") + " over device dims " + Arrays.toString(axes) + ": " + reason;
    }
}
