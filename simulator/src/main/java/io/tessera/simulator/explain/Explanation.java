package io.tessera.simulator.explain;

import java.util.List;

/**
 * Why one communication of a plan is there and what removes it ({@link Explainer#explain}): its provenance, then
 * either the cheapest verified change of annotations that removes it ({@link Suggestion}) or what makes it necessary
 * ({@link Necessary}), and how much of the search ran.
 *
 * @param provenance the communication
 * @param outcome    the suggestion or the reason it is necessary
 * @param search     how many changes were tried
 */
public record Explanation(Provenance provenance, Outcome outcome, Search search) {

    /** Validates the parts. */
    public Explanation {
        if (provenance == null || outcome == null || search == null) {
            throw new IllegalArgumentException("explanation: provenance " + provenance + ", outcome " + outcome
                    + ", search " + search + "; expected all three");
        }
    }

    /** A suggestion or the reason there is none. */
    public sealed interface Outcome permits Suggestion, Necessary {
    }

    /**
     * The cheapest change that removes the communication, verified by re-planning with it applied: the lowest step
     * time among the changes tried that remove it without adding more bytes per rank than they remove, ties by fewest added
     * bytes.
     *
     * @param change            the change
     * @param removed           the communications of the plan the change removes (this one among them), ids of the
     *                          original plan
     * @param added             the communications the re-planned plan has and the original lacks, ids of the
     *                          re-planned plan
     * @param stepSecondsBefore the analytic step time of the original plan, seconds
     * @param stepSecondsAfter  the step time with the change, seconds
     * @param peakBytesBefore   the peak memory of the fullest rank of the original plan, bytes
     * @param peakBytesAfter    the same with the change, bytes
     */
    public record Suggestion(Change change, List<Provenance> removed, List<Provenance> added, double stepSecondsBefore,
                             double stepSecondsAfter, long peakBytesBefore, long peakBytesAfter) implements Outcome {

        /** Copies the lists. */
        public Suggestion {
            if (change == null) {
                throw new IllegalArgumentException("suggestion: found no change; expected one");
            }
            removed = List.copyOf(removed);
            added = List.copyOf(added);
        }

        /** Bytes per rank of the removed communications, summed. */
        public long removedBytes() {
            return removed.stream().mapToLong(Provenance::bytesPerRank).sum();
        }

        /** Bytes per rank of the added communications, summed. */
        public long addedBytes() {
            return added.stream().mapToLong(Provenance::bytesPerRank).sum();
        }
    }

    /**
     * No change tried removes the communication without adding more: what makes it necessary.
     *
     * @param reason one line, e.g. "the loss needs the full batch on every rank"
     */
    public record Necessary(String reason) implements Outcome {

        /** Validates the reason. */
        public Necessary {
            if (reason == null || reason.isBlank()) {
                throw new IllegalArgumentException("necessary: found an empty reason; expected one line");
            }
        }
    }

    /**
     * How the search over changes ran.
     *
     * @param tried            changes evaluated (re-planned, or taken from the explainer's cache)
     * @param candidates       changes generated
     * @param failed           changes whose re-plan threw (skipped)
     * @param timeLimitReached whether the time limit stopped the search before every candidate was tried
     */
    public record Search(int tried, int candidates, int failed, boolean timeLimitReached) {
    }
}
