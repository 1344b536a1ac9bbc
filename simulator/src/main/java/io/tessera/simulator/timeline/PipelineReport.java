package io.tessera.simulator.timeline;

import io.tessera.planner.cost.Recompute;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;

/**
 * The result of a pipeline-parallel step simulation. Immutable (arrays are copied in and out). Event ranks are
 * stages.
 *
 * @param stepSeconds         the step time in seconds: when the last stream of the last stage finishes
 * @param bubbleFraction      the idle share of the stages' compute during the micro-batches: {@code 1 - busy /
 *                            (stages * span)} where {@code span} ends with the last backward (tails excluded)
 * @param peakActivationBytes per stage the peak bytes of activations kept for the backward, per rank
 * @param peakInFlight        per stage the most micro-batch chunks whose forward started and backward has not ended
 * @param costs               the per-micro-batch costs laid out
 * @param options             the pipeline split
 * @param recompute           the recompute mode
 * @param events              per stage the compute (forward, recompute, backward, optimizer) and communication (send,
 *                            gradient reduction) spans
 * @param stageCosts          the per-micro-batch costs of each stage ({@code costs} repeated for identical stages), or
 *                            of each model chunk of a planned interleaved pipeline (chunk {@code c * stages + d} at
 *                            that index)
 */
public record PipelineReport(double stepSeconds, double bubbleFraction, long[] peakActivationBytes,
                             int[] peakInFlight, StageCosts costs, PipelineOptions options, Recompute recompute,
                             List<TimelineReport.Event> events, List<StageCosts> stageCosts) {

    /** Validates and copies. */
    public PipelineReport {
        Objects.requireNonNull(costs, "costs");
        Objects.requireNonNull(options, "options");
        Objects.requireNonNull(recompute, "recompute");
        if (peakActivationBytes.length != options.stages() || peakInFlight.length != options.stages()) {
            throw new IllegalArgumentException("pipeline report: " + peakActivationBytes.length + " and "
                    + peakInFlight.length + " per-stage entries; expected " + options.stages());
        }
        peakActivationBytes = peakActivationBytes.clone();
        peakInFlight = peakInFlight.clone();
        events = List.copyOf(events);
        stageCosts = stageCosts == null ? java.util.Collections.nCopies(options.stages(), costs)
                : List.copyOf(stageCosts);
        if (stageCosts.size() != options.stages() && stageCosts.size() != options.chunks()) {
            throw new IllegalArgumentException("pipeline report: " + stageCosts.size() + " stage costs; expected "
                    + options.stages() + " (one per stage) or " + options.chunks() + " (one per chunk)");
        }
    }

    /** A report of identical stages, each costing {@code costs}. */
    public PipelineReport(double stepSeconds, double bubbleFraction, long[] peakActivationBytes, int[] peakInFlight,
                          StageCosts costs, PipelineOptions options, Recompute recompute,
                          List<TimelineReport.Event> events) {
        this(stepSeconds, bubbleFraction, peakActivationBytes, peakInFlight, costs, options, recompute, events, null);
    }

    @Override
    public long[] peakActivationBytes() {
        return peakActivationBytes.clone();
    }

    @Override
    public int[] peakInFlight() {
        return peakInFlight.clone();
    }

    /** The events as a {@link TimelineReport} with one "rank" per stage, for {@link ChromeTrace}. */
    public TimelineReport toTimelineReport() {
        double busy = 0;
        for (int s = 0; s < options.stages(); s++) {
            double b = 0;
            for (TimelineReport.Event e : events) {
                if (e.rank() == s && TimelineReport.Event.COMPUTE.equals(e.stream())) {
                    b += e.duration();
                }
            }
            busy = Math.max(busy, b);
        }
        return new TimelineReport(stepSeconds, 0, peakActivationBytes, Map.of(), busy,
                Math.max(0, stepSeconds - busy), events);
    }

    /** A few lines for a terminal: the split, step time, bubble, per-micro-batch costs, activation memory. */
    public String summary() {
        StringBuilder s = new StringBuilder();
        s.append(String.format(Locale.ROOT, "pipeline: %d stages x %d chunk(s), %d micro-batches, schedule %s, "
                        + "recompute %s%n", options.stages(), options.virtualStages(), options.microBatches(),
                options.schedule().cliName(), recompute.cliName()));
        s.append(String.format(Locale.ROOT, "step time: %s%n", TimelineReport.seconds(stepSeconds)));
        s.append(String.format(Locale.ROOT, "bubble: %.1f%%%n", 100 * bubbleFraction));
        if (stageCosts.stream().allMatch(costs::equals)) {
            s.append(String.format(Locale.ROOT, "per micro-batch and stage: forward %s, backward %s, send %s%n",
                    TimelineReport.seconds(costs.forwardSeconds()), TimelineReport.seconds(costs.backwardSeconds()),
                    TimelineReport.seconds(costs.sendSeconds())));
        } else {
            boolean chunks = stageCosts.size() != options.stages();
            for (int st = 0; st < stageCosts.size(); st++) {
                StageCosts c = stageCosts.get(st);
                String who = chunks ? String.format(Locale.ROOT, "chunk %d (stage %d)", st, st % options.stages())
                        : "stage " + st;
                s.append(String.format(Locale.ROOT, "%s per micro-batch: forward %s, backward %s, send %s%n", who,
                        TimelineReport.seconds(c.forwardSeconds()), TimelineReport.seconds(c.backwardSeconds()),
                        TimelineReport.seconds(c.sendSeconds())));
            }
        }
        s.append(String.format(Locale.ROOT, "peak activations per rank: %s (stage 0) .. %s (stage %d); in flight: %s%n",
                TimelineReport.bytes(peakActivationBytes[0]),
                TimelineReport.bytes(peakActivationBytes[peakActivationBytes.length - 1]), options.stages() - 1,
                Arrays.toString(peakInFlight)));
        return s.toString();
    }
}
