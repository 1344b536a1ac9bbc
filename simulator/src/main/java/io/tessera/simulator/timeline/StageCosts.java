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
 *                         (what its operators save for their backward, {@link io.tessera.planner.cost.ActivationMemory})
 * @param inputBytes       the stage input of one micro-batch (the boundary tensor), in bytes per rank
 * @param attentionSeconds the forward of the core attention of one micro-batch ({@link Recompute#selectiveOps}), in
 *                         seconds (what {@link Recompute#SELECTIVE} re-runs)
 * @param attentionBytes   of {@code activationBytes}, what the core attention saves inside itself for one
 *                         micro-batch, in bytes per rank (what {@link Recompute#SELECTIVE} does not keep)
 * @param tail             the once-per-step work after the stage's last backward, in order: gradient reductions and
 *                         the optimizer update
 * @param fullKeptBytes    what {@link Recompute#FULL} keeps per micro-batch, in bytes per rank: each transformer
 *                         layer's input plus what the operators outside layers keep (the stage input without layers)
 * @param fullWorkingBytes what {@link Recompute#FULL} has live while one layer is recomputed and back-propagated, in
 *                         bytes per rank (one layer's activations; the whole stage's without layers)
 * @param attentionWorkingBytes what {@link Recompute#SELECTIVE} has live while one core attention is recomputed, in
 *                         bytes per rank
 */
public record StageCosts(double forwardSeconds, double backwardSeconds, double sendSeconds, long activationBytes,
                         long inputBytes, double attentionSeconds, long attentionBytes, List<TailStep> tail,
                         long fullKeptBytes, long fullWorkingBytes, long attentionWorkingBytes) {

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
        if (fullKeptBytes < 0 || fullWorkingBytes < 0 || attentionWorkingBytes < 0) {
            throw new IllegalArgumentException("stage costs: full recompute keeps " + fullKeptBytes + " B with "
                    + fullWorkingBytes + " B live, selective " + attentionWorkingBytes + " B live; expected values "
                    + ">= 0");
        }
        tail = List.copyOf(tail);
    }

    /**
     * Costs whose recompute figures are the stage-level ones: full recompute keeps the stage input and has the whole
     * stage's activations live, selective has all of the stage's attention activations live.
     */
    public StageCosts(double forwardSeconds, double backwardSeconds, double sendSeconds, long activationBytes,
                      long inputBytes, double attentionSeconds, long attentionBytes, List<TailStep> tail) {
        this(forwardSeconds, backwardSeconds, sendSeconds, activationBytes, inputBytes, attentionSeconds,
                attentionBytes, tail, inputBytes, activationBytes, attentionBytes);
    }

    /** Equal micro-batch costs without communication, attention or tail: the toy case of the closed forms. */
    public static StageCosts uniform(double forwardSeconds, double backwardSeconds, long activationBytes,
                                     long inputBytes) {
        return new StageCosts(forwardSeconds, backwardSeconds, 0, activationBytes, inputBytes, 0, 0, List.of());
    }

    /** A copy whose sends take {@code seconds}. */
    public StageCosts withSendSeconds(double seconds) {
        return new StageCosts(forwardSeconds, backwardSeconds, seconds, activationBytes, inputBytes, attentionSeconds,
                attentionBytes, tail, fullKeptBytes, fullWorkingBytes, attentionWorkingBytes);
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
