package io.tessera.layout.redistribution;

import io.tessera.layout.Box;
import io.tessera.layout.comm.CollectiveKind;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * One step of a redistribution plan, from a closed set: the communication steps {@link AllGather}, {@link AllToAll},
 * {@link CollectivePermute}, {@link SendRecv} (these four move boxes of elements between ranks and are
 * {@link Exchange}s), the reductions {@link AllReduce} and {@link ReduceScatter}, and the local steps {@link Slice}
 * and {@link Concat}. Every step names its rank groups.
 */
public sealed interface Step {

    /** The operation's name as printed and written to JSON, e.g. {@code AllToAll}. */
    String op();

    /** Whether the step communicates between ranks. */
    boolean isCommunication();

    /**
     * The rank groups the step runs over, each ascending ({@link CollectivePermute}: {@code [src, dst]} pairs);
     * empty for local steps.
     */
    List<List<Integer>> groups();

    /** A step that communicates between ranks: an {@link Exchange} or a reduction. */
    sealed interface Collective extends Step {
        /** The collective's kind. */
        CollectiveKind kind();

        @Override
        default String op() {
            return kind().jsonName();
        }

        @Override
        default boolean isCommunication() {
            return true;
        }
    }

    /** A step that moves boxes of elements from rank to rank: each transfer is one point-to-point movement. */
    sealed interface Exchange extends Collective {
        /** Every movement of the step, ordered by receiving rank, then sending rank. */
        List<Transfer> transfers();

        /**
         * Bytes each of {@code ranks} ranks receives in this step (index = rank): the elements of its incoming
         * transfers times {@code elementBytes}.
         */
        default long[] recvBytes(int ranks, int elementBytes) {
            long[] r = new long[ranks];
            if (transfers() instanceof TransferList l) {
                for (int k = 0; k < l.size(); k++) {
                    r[l.dst(k)] += l.elements(k) * elementBytes;
                }
                return r;
            }
            for (Transfer t : transfers()) {
                r[t.dst()] += t.elements() * elementBytes;
            }
            return r;
        }
    }

    /** A step local to each rank: it communicates nothing and has no groups. */
    sealed interface Local extends Step {
        @Override
        default boolean isCommunication() {
            return false;
        }

        @Override
        default List<List<Integer>> groups() {
            return List.of();
        }
    }

    /**
     * Every member of a group sends the same box to every other member; each receives all the others' boxes.
     *
     * @param groups     the gather groups
     * @param transfers  the movements
     * @param concatDims tensor dimensions along which the members' boxes differ (where the pieces are concatenated)
     */
    record AllGather(List<List<Integer>> groups, List<Transfer> transfers, int[] concatDims) implements Exchange {
        /** Copies its arguments. */
        public AllGather {
            groups = copyGroups(groups);
            transfers = TransferList.copyOf(transfers);
            concatDims = concatDims.clone();
        }

        @Override
        public int[] concatDims() {
            return concatDims.clone();
        }

        @Override
        public CollectiveKind kind() {
            return CollectiveKind.ALL_GATHER;
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof AllGather a && groups.equals(a.groups) && transfers.equals(a.transfers)
                    && Arrays.equals(concatDims, a.concatDims);
        }

        @Override
        public int hashCode() {
            return groups.hashCode() * 31 + transfers.hashCode();
        }
    }

    /**
     * Every member of a group sends a distinct box to every other member.
     *
     * @param groups     the groups
     * @param transfers  the movements
     * @param splitDims  dimensions along which the boxes one rank sends differ
     * @param concatDims dimensions along which the boxes one rank receives differ
     */
    record AllToAll(List<List<Integer>> groups, List<Transfer> transfers, int[] splitDims, int[] concatDims)
            implements Exchange {
        /** Copies its arguments. */
        public AllToAll {
            groups = copyGroups(groups);
            transfers = TransferList.copyOf(transfers);
            splitDims = splitDims.clone();
            concatDims = concatDims.clone();
        }

        @Override
        public int[] splitDims() {
            return splitDims.clone();
        }

        @Override
        public int[] concatDims() {
            return concatDims.clone();
        }

        @Override
        public CollectiveKind kind() {
            return CollectiveKind.ALL_TO_ALL;
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof AllToAll a && groups.equals(a.groups) && transfers.equals(a.transfers)
                    && Arrays.equals(splitDims, a.splitDims) && Arrays.equals(concatDims, a.concatDims);
        }

        @Override
        public int hashCode() {
            return groups.hashCode() * 31 + transfers.hashCode();
        }
    }

    /**
     * A collective permute: every rank sends to at most one rank and receives from at most one.
     *
     * @param groups    the {@code [src, dst]} pairs
     * @param transfers the movements
     */
    record CollectivePermute(List<List<Integer>> groups, List<Transfer> transfers) implements Exchange {
        /** Copies its arguments. */
        public CollectivePermute {
            groups = copyGroups(groups);
            transfers = TransferList.copyOf(transfers);
        }

        @Override
        public CollectiveKind kind() {
            return CollectiveKind.COLLECTIVE_PERMUTE;
        }
    }

    /**
     * A batch of point-to-point sends and receives that fits no collective pattern (irregular split ratios).
     *
     * @param groups    the connected groups of ranks exchanging data
     * @param transfers the movements
     */
    record SendRecv(List<List<Integer>> groups, List<Transfer> transfers) implements Exchange {
        /** Copies its arguments. */
        public SendRecv {
            groups = copyGroups(groups);
            transfers = TransferList.copyOf(transfers);
        }

        @Override
        public CollectiveKind kind() {
            return CollectiveKind.SEND_RECV;
        }
    }

    /**
     * Every member of a group holds the same box; all end with the element-wise reduction over the group.
     *
     * @param groups   the reduction groups
     * @param reduce   the reduction
     * @param elements elements each member holds (for byte accounting)
     */
    record AllReduce(List<List<Integer>> groups, ReduceOp reduce, long elements) implements Collective {
        /** Copies its arguments; {@code elements >= 0}. */
        public AllReduce {
            groups = copyGroups(groups);
            if (reduce == null || elements < 0) {
                throw new IllegalArgumentException("AllReduce: expected a reduction and elements >= 0, found "
                        + reduce + " and " + elements);
            }
        }

        @Override
        public CollectiveKind kind() {
            return CollectiveKind.ALL_REDUCE;
        }
    }

    /**
     * Every member of a group holds the same box; the element-wise reduction is computed and each rank keeps its
     * result box of it.
     *
     * @param groups   the groups
     * @param reduce   the reduction
     * @param elements elements each member holds before the step (for byte accounting)
     * @param results  per rank (index = rank) the box it keeps, or null for ranks not in a group
     */
    record ReduceScatter(List<List<Integer>> groups, ReduceOp reduce, long elements, List<Box> results)
            implements Collective {
        /** Copies its arguments. */
        public ReduceScatter {
            groups = copyGroups(groups);
            results = java.util.Collections.unmodifiableList(new ArrayList<>(results));
            if (reduce == null || elements < 0) {
                throw new IllegalArgumentException("ReduceScatter: expected a reduction and elements >= 0, found "
                        + reduce + " and " + elements);
            }
        }

        @Override
        public CollectiveKind kind() {
            return CollectiveKind.REDUCE_SCATTER;
        }
    }

    /**
     * Local: each rank keeps a sub-box of the block it holds.
     *
     * @param boxes per rank (index = rank) the box kept
     */
    record Slice(List<Box> boxes) implements Local {
        /** Copies its argument. */
        public Slice {
            boxes = List.copyOf(boxes);
        }

        @Override
        public String op() {
            return "Slice";
        }

    }

    /**
     * Local: each rank assembles its box from the blocks it holds (its own and those received).
     *
     * @param boxes per rank (index = rank) the box assembled
     */
    record Concat(List<Box> boxes) implements Local {
        /** Copies its argument. */
        public Concat {
            boxes = List.copyOf(boxes);
        }

        @Override
        public String op() {
            return "Concat";
        }

    }

    private static List<List<Integer>> copyGroups(List<List<Integer>> groups) {
        List<List<Integer>> out = new ArrayList<>(groups.size());
        for (List<Integer> g : groups) {
            out.add(List.copyOf(g));
        }
        return List.copyOf(out);
    }
}
