package io.tessera.simulator.timeline;

import io.tessera.planner.cost.Recompute;
import java.util.List;
import java.util.Objects;

/**
 * What one pipeline stage costs for one micro-batch on its slowest rank, the input of
 * {@link PipelineTimeline#layout}. Immutable.
 *
 * @param forwardSeconds   the stage's forward of one micro-batch, in seconds (including the communication it waits
 *                         for)
 * @param backwardSeconds  the stage's backward of one micro-batch, in seconds (without gradient reductions, which run
 *                         once per step in {@code tail})
 * @param sendSeconds      one send of the boundary tensor of one micro-batch to the next (or previous) stage, in
 *                         seconds, on the slowest link between neighbouring stages
 * @param activationBytes  forward activations one micro-batch keeps for the stage's backward, in bytes per rank
 * @param inputBytes       the stage input of one micro-batch (the boundary tensor), in bytes per rank
 * @param attentionSeconds the forward of the attention scores and softmax of one micro-batch, in seconds (what
 *                         {@link Recompute#SELECTIVE} re-runs)
 * @param attentionBytes   the activations of those operators for one micro-batch, in bytes per rank (what
 *                         {@link Recompute#SELECTIVE} does not keep)
 * @param tail             the once-per-step work after the stage's last backward, in order: gradient reductions and
 *                         the optimizer update
 */
public record StageCosts(double forwardSeconds, double backwardSeconds, double sendSeconds, long activationBytes,
                         long inputBytes, double attentionSeconds, long attentionBytes, List<TailStep> tail) {

    /** Validates and copies. */
    public StageCosts {
        if (!(forwardSeconds >= 0) || !(backwardSeconds >= 0) || !(sendSeconds >= 0) || !(attentionSeconds >= 0)
                || Double.isInfinite(forwardSeconds + backwardSeconds + sendSeconds + attentionSeconds)) {
            throw new IllegalArgumentException("stage costs: forward " + forwardSeconds + " s, backward "
                    + backwardSeconds + " s, send " + sendSeconds + " s, attention " + attentionSeconds
                    + " s; expected finite values >= 0");
        }
        if (activationBytes < 0 || inputBytes < 0 || attentionBytes < 0 || attentionBytes > activationBytes) {
            throw new IllegalArgumentException("stage costs: activations " + activationBytes + " B, input "
                    + inputBytes + " B, attention " + attentionBytes + " B; expected values >= 0 with attention "
                    + "<= activations");
        }
        tail = List.copyOf(tail);
    }

    /** Equal micro-batch costs without communication, attention or tail: the toy case of the closed forms. */
    public static StageCosts uniform(double forwardSeconds, double backwardSeconds, long activationBytes,
                                     long inputBytes) {
        return new StageCosts(forwardSeconds, backwardSeconds, 0, activationBytes, inputBytes, 0, 0, List.of());
    }

    /** A copy whose sends take {@code seconds}. */
    public StageCosts withSendSeconds(double seconds) {
        return new StageCosts(forwardSeconds, backwardSeconds, seconds, activationBytes, inputBytes, attentionSeconds,
                attentionBytes, tail);
    }

    /**
     * One piece of once-per-step work after a stage's micro-batches.
     *
     * @param name             the event's name
     * @param stream           {@link TimelineReport.Event#COMPUTE} (the optimizer update: it waits for every
     *                         communication before it) or {@link TimelineReport.Event#COMM}
     * @param category         the event's category
     * @param backwardPosition where in the one-stage backward the work was issued, 0 (start) to 1 (end): with
     *                         gradient overlap a communication is ready at that fraction of the stage's last backward
     * @param seconds          its duration in seconds
     */
    public record TailStep(String name, String stream, String category, double backwardPosition, double seconds) {

        /** Validates the values. */
        public TailStep {
            Objects.requireNonNull(name, "name");
            Objects.requireNonNull(category, "category");
            if (!TimelineReport.Event.COMPUTE.equals(stream) && !TimelineReport.Event.COMM.equals(stream)) {
                throw new IllegalArgumentException("tail step stream: found " + stream + "; expected compute or comm");
            }
            if (!(backwardPosition >= 0 && backwardPosition <= 1) || !(seconds >= 0) || Double.isInfinite(seconds)) {
                throw new IllegalArgumentException("tail step '" + name + "': position " + backwardPosition
                        + " and " + seconds + " s; expected a position in [0, 1] and finite seconds >= 0");
            }
        }
    }
}
