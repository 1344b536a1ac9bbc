package io.tessera.simulator.report;

import io.tessera.planner.api.StrategyPlans;
import io.tessera.planner.cost.ClusterSpec;
import io.tessera.planner.cost.Recompute;
import io.tessera.planner.plan.PipelinePlan;
import io.tessera.planner.strategy.StrategyFile;
import io.tessera.simulator.timeline.PipelineReport;
import io.tessera.simulator.timeline.StrategyStep;
import io.tessera.simulator.timeline.Timeline;
import io.tessera.simulator.timeline.TimelineOptions;
import io.tessera.simulator.timeline.TimelineReport;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * The simulated step of a report, as {@code tessera simulate FILE} runs it: the planned pipeline's timeline
 * ({@link StrategyStep#run}) for a plan with pipeline stages, or one stage of a {@code parallelism} section with
 * micro-batches or recompute; otherwise the one-step {@link Timeline} with the file's options. Gives the step time,
 * the schedule's events, the breakdown and each rank's activation bytes.
 */
final class ReportStep {

    /** Most boxes per row and stream of the schedule; longer rows merge neighbouring events of one category. */
    static final int MAX_BOXES_PER_ROW = 2000;
    /** The gap, as a share of the step, below which neighbouring events of one category share a box: 0.0005. */
    static final double MERGE_GAP = 5e-4;

    private final double stepSeconds;
    private final String description;
    private final ReportData.Schedule schedule;
    private final ReportData.Breakdown breakdown;
    /** Per stage (pipeline) or per rank (one-step timeline) the activation bytes at the peak. */
    private final long[] activations;
    private final boolean perStage;
    private final int stageDevices;

    private ReportStep(double stepSeconds, String description, ReportData.Schedule schedule,
                       ReportData.Breakdown breakdown, long[] activations, boolean perStage, int stageDevices) {
        this.stepSeconds = stepSeconds;
        this.description = description;
        this.schedule = schedule;
        this.breakdown = breakdown;
        this.activations = activations;
        this.perStage = perStage;
        this.stageDevices = stageDevices;
    }

    /** Whether {@code tessera simulate} runs {@code file}'s step on the pipeline timeline. */
    static boolean pipelined(StrategyFile file, PipelinePlan pipe) {
        return pipe.stages() > 1 || file.parallelism().isPresent()
                && (pipe.microBatches() > 1 || StrategyPlans.recompute(file) != Recompute.NONE);
    }

    /**
     * Simulates the step.
     *
     * @throws IllegalArgumentException when the cluster is too small or the schedule cannot run on the plan
     */
    static ReportStep run(StrategyFile file, PipelinePlan pipe, ClusterSpec cluster) {
        if (pipelined(file, pipe)) {
            PipelineReport r = StrategyStep.run(file, pipe, cluster, null, null, true);
            String what = String.format(java.util.Locale.ROOT, "pipeline timeline: %d stage(s) x %d chunk(s), %d "
                            + "micro-batches, schedule %s, recompute %s", r.options().stages(),
                    r.options().virtualStages(), r.options().microBatches(), r.options().schedule().cliName(),
                    r.recompute().cliName());
            ReportData.Schedule s = schedule("stage", pipe.stages(), r.stepSeconds(), r.events());
            return new ReportStep(r.stepSeconds(), what, s, breakdown(r.events(), pipe.stages(), r.stepSeconds(),
                    r.bubbleFraction()), r.peakActivationBytes(), true, pipe.stageDevices());
        }
        TimelineOptions options = StrategyStep.timelineOptions(file, cluster, true, 1);
        TimelineReport r = Timeline.run(pipe.plan(), options);
        long[] peak = r.peakMemoryBytes();
        long[] act = new long[peak.length];
        int shards = StrategyStep.optimizerShards(file);
        for (int rank = 0; rank < peak.length; rank++) {
            act[rank] = Math.max(0, peak[rank] - pipe.memory(rank, shards).total());
        }
        ReportData.Schedule s = schedule("rank", 1, r.stepSeconds(), r.events());
        ReportData.Breakdown b = new ReportData.Breakdown(List.of(
                new ReportData.Breakdown.Item("compute (busiest rank)", r.computeSeconds()),
                new ReportData.Breakdown.Item("exposed communication", r.exposedCommSeconds())), 0,
                Optional.of(r.mfu()));
        return new ReportStep(r.stepSeconds(), "one-step timeline (rank 0 shown in the schedule)", s, b, act, false,
                pipe.stageDevices());
    }

    double stepSeconds() {
        return stepSeconds;
    }

    String description() {
        return description;
    }

    ReportData.Schedule schedule() {
        return schedule;
    }

    ReportData.Breakdown breakdown() {
        return breakdown;
    }

    /** The activation bytes global rank {@code rank} holds at its peak. */
    long activationBytes(int rank) {
        if (perStage) {
            return activations[Math.min(rank / stageDevices, activations.length - 1)];
        }
        return activations[rank];
    }

    /**
     * The events of rows {@code 0 .. rows - 1} in start order per row and stream, neighbouring events of one category
     * merged when less than {@link #MERGE_GAP} of the step lies between them (they would touch on the chart anyway),
     * and on a row with more than {@link #MAX_BOXES_PER_ROW} events on a stream whatever lies between them. A merged
     * box is named after its first event, with the number of further events.
     */
    static ReportData.Schedule schedule(String label, int rows, double step, List<TimelineReport.Event> events) {
        List<ReportData.Event> out = new ArrayList<>();
        double gap = step * MERGE_GAP;
        for (int row = 0; row < rows; row++) {
            for (boolean compute : new boolean[] {true, false}) {
                final int rr = row;
                List<TimelineReport.Event> mine = events.stream().filter(e -> e.rank() == rr
                                && TimelineReport.Event.COMPUTE.equals(e.stream()) == compute)
                        .sorted(Comparator.comparingDouble(TimelineReport.Event::start)).toList();
                boolean any = mine.size() > MAX_BOXES_PER_ROW;
                TimelineReport.Event first = null;
                String category = null;
                double end = 0;
                int merged = 0;
                for (TimelineReport.Event e : mine) {
                    String c = category(e, compute);
                    if (first != null && c.equals(category) && (any || e.start() - end <= gap)) {
                        end = Math.max(end, e.end());
                        merged++;
                        continue;
                    }
                    if (first != null) {
                        out.add(box(row, compute, category, first, end, merged));
                    }
                    first = e;
                    category = c;
                    end = e.end();
                    merged = 0;
                }
                if (first != null) {
                    out.add(box(row, compute, category, first, end, merged));
                }
            }
        }
        return new ReportData.Schedule(label, rows, step, out);
    }

    private static ReportData.Event box(int row, boolean compute, String category, TimelineReport.Event first,
                                        double end, int merged) {
        return new ReportData.Event(row, compute, category, merged == 0 ? first.name()
                : first.name() + " and " + merged + " more", first.start(), end - first.start());
    }

    private static String category(TimelineReport.Event e, boolean compute) {
        if (!compute && e.name().startsWith("send ")) {
            return "send";
        }
        return e.category();
    }

    /**
     * The compute seconds per category on the busiest stage (the most compute), then what the step spends beyond
     * that compute: exposed communication and the bubble ({@code PipelineReport.toTimelineReport()}'s split).
     */
    static ReportData.Breakdown breakdown(List<TimelineReport.Event> events, int stages, double step,
                                          double bubble) {
        Map<String, Double> busiest = new LinkedHashMap<>();
        double most = -1;
        for (int stage = 0; stage < stages; stage++) {
            Map<String, Double> per = new LinkedHashMap<>();
            for (String c : List.of("forward", "recompute", "backward", "optimizer")) {
                per.put(c, 0.0);
            }
            double busy = 0;
            for (TimelineReport.Event e : events) {
                if (e.rank() == stage && TimelineReport.Event.COMPUTE.equals(e.stream())) {
                    per.merge(e.category(), e.duration(), Double::sum);
                    busy += e.duration();
                }
            }
            if (busy > most) {
                most = busy;
                busiest = per;
            }
        }
        List<ReportData.Breakdown.Item> items = new ArrayList<>();
        double busy = 0;
        for (Map.Entry<String, Double> e : busiest.entrySet()) {
            busy += e.getValue();
            if (e.getValue() > 0 || !e.getKey().equals("recompute")) {
                items.add(new ReportData.Breakdown.Item(e.getKey() + " compute", e.getValue()));
            }
        }
        items.add(new ReportData.Breakdown.Item(stages > 1 ? "exposed communication and bubble"
                : "exposed communication", Math.max(0, step - busy)));
        return new ReportData.Breakdown(items, bubble, Optional.empty());
    }
}
