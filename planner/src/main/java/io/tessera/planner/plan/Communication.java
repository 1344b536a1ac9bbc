package io.tessera.planner.plan;

import io.tessera.layout.comm.Phase;

import io.tessera.layout.Layout;
import io.tessera.layout.comm.CollectiveKind;
import io.tessera.layout.redistribution.RedistributionPlan;
import io.tessera.layout.redistribution.ReduceOp;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * One communication the plan inserts, with its provenance: what needs it (operator and input, or parameter), the
 * phase, the layouts it converts between (for redistributions), its rank groups, the bytes each rank receives, and a
 * one-line reason. Immutable.
 *
 * @param kind      the collective: AllReduce, AllGather, ReduceScatter, AllToAll, CollectivePermute or SendRecv
 * @param origin    what inserted it
 * @param phase     forward, backward or optimizer
 * @param operator  the operator it serves (null for a parameter's gradient reduction when it has no single consumer)
 * @param input     the operator's input index it serves, or -1 for an output
 * @param tensor    the tensor (or gradient tensor) it moves
 * @param parameter the parameter it serves, or null
 * @param reduce    the reduction of AllReduce / ReduceScatter, else null
 * @param from      the source layout of a redistribution, else null
 * @param to        the target layout of a redistribution, else null
 * @param groups    the rank groups, each ascending
 * @param recvBytes bytes each rank receives (index = rank)
 * @param reason    a one-line explanation
 * @param redistribution the whole redistribution plan this communication is a step of (the steps an executor runs,
 *                  local ones included), or null when it is not a step of a redistribution plan (every other origin,
 *                  and a gradient reduce-scattered into its producer's layout)
 */
public record Communication(CollectiveKind kind, Origin origin, Phase phase, String operator, int input, String tensor,
                            String parameter, ReduceOp reduce, Layout from, Layout to,
                            List<List<Integer>> groups, long[] recvBytes, String reason,
                            RedistributionPlan redistribution) {

    /** What inserted a communication. */
    public enum Origin {
        /** A redistribution between a producer's layout and a consumer's (or its transpose in backward). */
        REDISTRIBUTION,
        /** An operator's own reduction (split contraction or reduced dimension, partial input gradient). */
        OPERATOR,
        /** The gradient reduction of a trainable parameter over its partial-gradient group. */
        GRADIENT,
        /** Optimizer parallel: a sharded parameter's AllGather, its gradient's ReduceScatter, the mirror AllReduce. */
        PARALLEL_OPTIMIZER;

        /** The JSON name, e.g. {@code redistribution}. */
        public String jsonName() {
            return name().toLowerCase(java.util.Locale.ROOT);
        }
    }

    /** Copies the lists and the array; only a redistribution carries a redistribution plan. */
    public Communication {
        if (redistribution != null && origin != Origin.REDISTRIBUTION) {
            throw new IllegalArgumentException("communication '" + tensor + "' of origin " + origin.jsonName()
                    + " carries a redistribution plan; expected one only on origin redistribution (pass null)");
        }
        List<List<Integer>> g = new ArrayList<>(groups.size());
        for (List<Integer> x : groups) {
            g.add(List.copyOf(x));
        }
        groups = List.copyOf(g);
        recvBytes = recvBytes.clone();
    }

    /** A communication that is not a step of a redistribution plan ({@code redistribution} null). */
    public Communication(CollectiveKind kind, Origin origin, Phase phase, String operator, int input, String tensor,
                         String parameter, ReduceOp reduce, Layout from, Layout to,
                         List<List<Integer>> groups, long[] recvBytes, String reason) {
        this(kind, origin, phase, operator, input, tensor, parameter, reduce, from, to, groups, recvBytes, reason,
                null);
    }

    /** This communication with reason {@code r} (everything else, the redistribution plan included, kept). */
    public Communication withReason(String r) {
        return new Communication(kind, origin, phase, operator, input, tensor, parameter, reduce, from, to, groups,
                recvBytes, r, redistribution);
    }

    @Override
    public long[] recvBytes() {
        return recvBytes.clone();
    }

    /**
     * Bytes rank {@code rank} receives, without copying the array.
     *
     * @throws IllegalArgumentException when the rank is outside {@code 0 .. recvBytes().length - 1}
     */
    public long recvBytes(int rank) {
        if (rank < 0 || rank >= recvBytes.length) {
            throw new IllegalArgumentException("communication '" + tensor + "': rank " + rank + " is out of range; "
                    + "expected 0.." + (recvBytes.length - 1));
        }
        return recvBytes[rank];
    }

    /** The number of ranks {@link #recvBytes()} covers. */
    public int ranks() {
        return recvBytes.length;
    }

    /** Bytes received by all ranks together. */
    public long totalRecvBytes() {
        long sum = 0;
        for (long b : recvBytes) {
            sum += b;
        }
        return sum;
    }

    /** The most bytes any one rank receives (0 without ranks). */
    public long maxRecvBytes() {
        long most = 0;
        for (long b : recvBytes) {
            most = Math.max(most, b);
        }
        return recvBytes.length == 0 ? 0 : most;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Communication c && kind == c.kind && origin == c.origin && phase == c.phase
                && java.util.Objects.equals(operator, c.operator) && input == c.input && tensor.equals(c.tensor)
                && java.util.Objects.equals(parameter, c.parameter) && reduce == c.reduce
                && java.util.Objects.equals(from, c.from) && java.util.Objects.equals(to, c.to)
                && groups.equals(c.groups) && Arrays.equals(recvBytes, c.recvBytes) && reason.equals(c.reason)
                && sameRedistribution(redistribution, c.redistribution);
    }

    /** Redistribution plans are functions of their layouts and dtype: compare those (steps hold arrays). */
    private static boolean sameRedistribution(RedistributionPlan a, RedistributionPlan b) {
        return a == null ? b == null : b != null && a.from().equals(b.from()) && a.to().equals(b.to())
                && a.dtype() == b.dtype();
    }

    @Override
    public int hashCode() {
        return java.util.Objects.hash(kind, origin, phase, operator, input, tensor, groups);
    }

    /** Prints as {@code forward AllReduce(sum) of 'h' for MatMul 'dense2' over 2 groups: reason}. */
    @Override
    public String toString() {
        return phase.jsonName() + " " + kind + (reduce == null ? "" : "(" + reduce.jsonName() + ")") + " of '" + tensor
                + "'" + (operator == null ? "" : " for '" + operator + "'" + (input >= 0 ? " input " + input : ""))
                + " over " + groups.size() + " group" + (groups.size() == 1 ? "" : "s") + ": " + reason;
    }
}
