package io.tessera.planner.op;

import io.tessera.layout.DType;

/**
 * The slot assignment of mixture-of-experts token dispatch, shared by {@link MoeDispatch}, {@link MoeCombine} and
 * their kernels, so that the combine recomputes exactly the slots the dispatch filled (GShard's groups and capacity).
 *
 * <p>Tokens {@code [T, h]} are cut into {@code G} contiguous groups of {@code T / G} tokens. Each (group, expert)
 * has room for {@link #capacity} tokens. Within a group the (token, slot) pairs claim room in GShard's priority
 * order: first every token's slot 0 in token order, then every token's slot 1, and so on; a pair whose expert is
 * already full in its group is dropped (it contributes nothing). The row a kept pair takes is the number of pairs of
 * that expert in that group that claimed room before it. Groups are independent, so a rank holding whole groups
 * assigns its tokens exactly as one device does.
 */
public final class MoeSlots {

    /** The slot of a dropped (token, slot) pair in {@link #assign}'s result. */
    public static final int DROPPED = -1;

    private MoeSlots() {
    }

    /**
     * Rows per (group, expert): {@code ceil(capacityFactor * groupSize * k / experts)} when {@code capacityFactor > 0};
     * {@code groupSize} when it is 0 (dropless: a token's k experts are distinct, so an expert receives each token of
     * its group at most once).
     *
     * @param groupSize      tokens per group, {@code T / G}
     * @param k              experts per token (the router's top-k)
     * @param experts        the number of experts E
     * @param capacityFactor 0 (dropless) or a positive factor
     */
    public static int capacity(long groupSize, int k, int experts, double capacityFactor) {
        if (capacityFactor <= 0) {
            return Math.toIntExact(groupSize);
        }
        return Math.toIntExact((long) Math.ceil(capacityFactor * groupSize * k / experts));
    }

    /**
     * The row of every (token, slot) pair of {@code indices}, or {@link #DROPPED}.
     *
     * @param indices   the expert ids, row-major {@code [tokens, k]} (integral values in {@code [0, experts)})
     * @param tokens    the number of tokens (a multiple of {@code groupSize})
     * @param k         the slots per token
     * @param groupSize the tokens per group
     * @param experts   the number of experts
     * @param capacity  the rows per (group, expert)
     * @param who       the kernel or operator, for messages
     * @return {@code [tokens * k]} rows in {@code [0, capacity)} or {@link #DROPPED}; the group of token t is
     *         {@code t / groupSize}
     * @throws IllegalArgumentException for an expert id out of range or not an integer
     */
    public static int[] assign(double[] indices, int tokens, int k, int groupSize, int experts, int capacity,
                               String who) {
        if (tokens % groupSize != 0) {
            throw new IllegalArgumentException(who + ": " + tokens + " tokens do not form whole groups of "
                    + groupSize + "; each rank must hold whole groups (the token split must divide groups)");
        }
        int[] rows = new int[tokens * k];
        int[] used = new int[experts];
        for (int g0 = 0; g0 < tokens; g0 += groupSize) {
            java.util.Arrays.fill(used, 0);
            for (int j = 0; j < k; j++) {
                for (int t = g0; t < g0 + groupSize; t++) {
                    int e = expert(indices, t, j, k, experts, who);
                    rows[t * k + j] = used[e] < capacity ? used[e]++ : DROPPED;
                }
            }
        }
        return rows;
    }

    /** Expert id {@code indices[t, j]}, checked to be an integer in {@code [0, experts)}. */
    public static int expert(double[] indices, int t, int j, int k, int experts, String who) {
        double v = indices[t * k + j];
        if (!(v >= 0 && v < experts) || v != Math.rint(v)) {
            throw new IllegalArgumentException(who + ": indices[" + t + ", " + j + "] is " + v + "; expected an "
                    + "expert id, an integer in [0, " + experts + ") (the router's top-k output)");
        }
        return (int) v;
    }

    /** Validates the attributes shared by the two operators. */
    static void checkAttrs(String type, int experts, double capacityFactor, int groups) {
        if (experts < 1) {
            throw new IllegalArgumentException(type + ": experts is " + experts
                    + "; expected a positive number of experts, e.g. 8");
        }
        if (!(capacityFactor >= 0) || Double.isInfinite(capacityFactor)) {
            throw new IllegalArgumentException(type + ": capacity_factor is " + capacityFactor
                    + "; expected 0 (dropless) or a positive finite factor such as 1.25");
        }
        if (groups < 1) {
            throw new IllegalArgumentException(type + ": groups is " + groups
                    + "; expected a positive number of token groups (1, or the token split of the plan)");
        }
    }

    /**
     * Checks {@code indices [T, k]} (integer, k in [1, experts]) and that {@code groups} divides T; returns T.
     *
     * @param what the input's position and name in messages, e.g. {@code input 1 (indices)}
     */
    static long checkIndices(String label, TensorType indices, String what, int experts, int groups) {
        if (indices.rank() != 2) {
            throw new IllegalArgumentException(label + ": " + what + " " + indices + " has " + indices.rank()
                    + " dims; expected [tokens, k] expert ids from the router");
        }
        DType it = indices.dtype();
        if (it.isFloating() || it == DType.BOOL) {
            throw new IllegalArgumentException(label + ": " + what + " has dtype " + it
                    + "; expected an integer dtype such as Int32 (expert ids)");
        }
        long k = indices.dim(1);
        if (k < 1 || k > experts) {
            throw new IllegalArgumentException(label + ": " + what + " " + indices + " picks k = " + k
                    + " experts per token but experts is " + experts + "; expected 1 <= k <= experts");
        }
        long tokens = indices.dim(0);
        if (tokens % groups != 0) {
            throw new IllegalArgumentException(label + ": groups " + groups + " does not divide the " + tokens
                    + " tokens of " + what + "; choose groups dividing " + tokens);
        }
        return tokens;
    }

    /** Checks a floating tensor of rank {@code rank}. */
    static void checkFloating(String label, TensorType t, String what, int rank, String expected) {
        if (t.rank() != rank) {
            throw new IllegalArgumentException(label + ": " + what + " " + t + " has " + t.rank() + " dims; expected "
                    + expected);
        }
        if (!t.dtype().isFloating()) {
            throw new IllegalArgumentException(label + ": " + what + " has dtype " + t.dtype()
                    + "; expected a floating dtype");
        }
    }

    /**
     * The sharding rule's check of the token split: it divides {@code groups}, so that every rank holds whole
     * groups.
     */
    static void checkTokenSplit(String label, String what, int split, int groups) {
        if (groups % split != 0) {
            throw new IllegalArgumentException(label + ": " + what + " dim 0 (tokens) is split " + split
                    + " ways but groups is " + groups + "; each rank must hold whole token groups, so set groups to a"
                    + " multiple of " + split + " (the plan's token split) or split the tokens by a divisor of "
                    + groups);
        }
    }

    /** The data-parallel split of the tokens: {@link Sharding#fit} of {@code groups}. */
    static int dataParallelSplit(int groups, int devices) {
        return Sharding.fit(groups, devices);
    }
}
