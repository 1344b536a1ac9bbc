package io.tessera.simulator.cluster;

import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.function.Consumer;

/**
 * One step of a rank's program: local {@link Compute} on the rank's own memory, or a {@link Collective} that runs
 * once every member of its group has reached it.
 */
public sealed interface Instruction permits Instruction.Compute, Instruction.Collective {

    /** The step's name for messages. */
    String label();

    /** A local computation step. */
    static Compute compute(String label, Consumer<RankState> action) {
        return new Compute(label, action);
    }

    /** A collective step. */
    static Collective collective(long id, String op, List<Integer> group, String signature, CollectiveFn fn) {
        return new Collective(id, op, group, signature, fn);
    }

    /**
     * Local work on the rank's own memory.
     *
     * @param label  the name for messages
     * @param action the work; touches only the given state
     */
    record Compute(String label, Consumer<RankState> action) implements Instruction {
        /** Validates that both are given. */
        public Compute {
            if (label == null || action == null) {
                throw new IllegalArgumentException("Compute: label and action are required");
            }
        }
    }

    /**
     * A collective over a group of ranks.
     *
     * @param id        the plan-wide sequence number of the collective (equal on every member)
     * @param op        the operation's name for messages, e.g. {@code AllReduce(sum) grad/w1}
     * @param group     the member ranks in order: distinct, non-negative
     * @param signature a description that must be equal on every member (shapes, dtype, ...)
     * @param fn        the data movement, run once when all members arrived
     */
    record Collective(long id, String op, List<Integer> group, String signature, CollectiveFn fn)
            implements Instruction {
        /** Validates the group and copies it. */
        public Collective {
            if (op == null || group == null || signature == null || fn == null) {
                throw new IllegalArgumentException("Collective #" + id + ": op, group, signature and fn are required");
            }
            group = List.copyOf(group);
            if (group.isEmpty()) {
                throw new IllegalArgumentException("Collective #" + id + " " + op + ": the group is empty");
            }
            Set<Integer> seen = new HashSet<>();
            for (int r : group) {
                if (r < 0 || !seen.add(r)) {
                    throw new IllegalArgumentException("Collective #" + id + " " + op + ": group " + group
                            + " must hold distinct non-negative ranks");
                }
            }
        }

        @Override
        public String label() {
            return op;
        }

        /** {@code #id op}, for messages. */
        public String describe() {
            return "#" + id + " " + op;
        }
    }
}
