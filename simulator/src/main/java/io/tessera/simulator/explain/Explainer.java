package io.tessera.simulator.explain;

import io.tessera.planner.api.StrategyPlans;
import io.tessera.planner.cost.ClusterPreset;
import io.tessera.planner.cost.ClusterSpec;
import io.tessera.planner.plan.Communication;
import io.tessera.planner.plan.PipelinePlan;
import io.tessera.planner.strategy.StrategyFile;
import io.tessera.simulator.timeline.PipelineReport;
import io.tessera.simulator.timeline.StrategyStep;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Explains the communications of a planned strategy file: for one communication, its provenance and the cheapest
 * change of annotations that removes it, verified by re-planning the file with the change applied
 * ({@link StrategyPlans#pipelinePlan}) and simulating the step ({@link StrategyStep#run}, as {@code tessera simulate}
 * does), or what makes it necessary. The search over changes ({@link Candidates}) is bounded by a time limit per
 * communication; re-plans are cached, so explaining every communication of a file re-plans each change once.
 * Not thread-safe.
 */
public final class Explainer {

    /** The default time limit per communication, seconds. */
    public static final double DEFAULT_TIME_LIMIT_SECONDS = 5;

    /** The cluster used when the strategy file names none. */
    public static final ClusterPreset DEFAULT_CLUSTER = ClusterPreset.A100_80GB_DGX;

    private final StrategyFile file;
    private final PipelinePlan pipe;
    private final ClusterSpec cluster;
    private final List<Communication> comms;
    private final Set<Provenance.Key> keys = new HashSet<>();
    private final double stepSeconds;
    private final long peakBytes;
    private final Map<Change, Replan> cache = new HashMap<>();
    /** The mean seconds of one uncached evaluation (re-plan, and the step when it removes), 0 before the first. */
    private double meanEvaluationSeconds;
    private int evaluations;

    private Explainer(StrategyFile file, PipelinePlan pipe, ClusterSpec cluster) {
        this.file = file;
        this.pipe = pipe;
        this.cluster = cluster;
        this.comms = pipe.plan().comms();
        comms.forEach(c -> keys.add(Provenance.Key.of(c)));
        PipelineReport r = StrategyStep.run(file, pipe, cluster, null, null, true);
        this.stepSeconds = r.stepSeconds();
        this.peakBytes = StrategyStep.fullestRank(file, pipe, r).totalBytes();
    }

    /**
     * An explainer of {@code pipe}, the plan of {@code file}, simulated on {@code cluster}. Simulates the step once.
     *
     * @throws IllegalArgumentException when an argument is null or the step cannot be simulated on the cluster
     */
    public static Explainer of(StrategyFile file, PipelinePlan pipe, ClusterSpec cluster) {
        if (file == null || pipe == null || cluster == null) {
            throw new IllegalArgumentException("explainer: file " + file + ", plan " + pipe + ", cluster " + cluster
                    + "; expected all three (plan the file with StrategyPlans.pipelinePlan)");
        }
        return new Explainer(file, pipe, cluster);
    }

    /** An explainer of {@code file}: plans it and simulates it on {@link #cluster(StrategyFile, int)}. */
    public static Explainer of(StrategyFile file) {
        PipelinePlan pipe = StrategyPlans.pipelinePlan(file, null);
        return of(file, pipe, cluster(file, pipe.devices()));
    }

    /**
     * The cluster {@code tessera simulate} uses for a file without {@code --cluster}: the file's {@code cluster}, else
     * {@link #DEFAULT_CLUSTER}, grown to {@code devices}.
     */
    public static ClusterSpec cluster(StrategyFile file, int devices) {
        return StrategyPlans.cluster(file, devices)
                .orElseGet(() -> ClusterSpec.preset(DEFAULT_CLUSTER).withNodesFor(devices));
    }

    /** The plan explained. */
    public PipelinePlan plan() {
        return pipe;
    }

    /** The cluster the step is simulated on. */
    public ClusterSpec cluster() {
        return cluster;
    }

    /** The number of communications of the plan (ids {@code 0 .. communications() - 1}). */
    public int communications() {
        return comms.size();
    }

    /** The ids of the communications serving operator {@code name} ({@link Communication#operator()}), ascending. */
    public List<Integer> communicationsOf(String name) {
        List<Integer> out = new ArrayList<>();
        for (int i = 0; i < comms.size(); i++) {
            if (name.equals(comms.get(i).operator())) {
                out.add(i);
            }
        }
        return out;
    }

    /** The provenance of communication {@code id}. */
    public Provenance provenance(int id) {
        checkId(id);
        return Provenance.of(id, comms.get(id));
    }

    /** The analytic step time of the plan, seconds. */
    public double stepSeconds() {
        return stepSeconds;
    }

    /** The peak memory of the plan's fullest rank ({@link StrategyStep#fullestRank}), bytes. */
    public long peakBytes() {
        return peakBytes;
    }

    /**
     * Explains communication {@code commIndex} (its index in {@code plan().plan().comms()}, the {@code id} of
     * PLAN.json): tries the candidate changes in order of a cheap estimate while the mean evaluation so far still fits
     * in {@code timeLimitSeconds} (re-plans cached from earlier calls cost nothing; a change whose re-plan throws is
     * skipped), and suggests the one
     * that removes the communication with the lowest step time, ties by fewest added bytes; a change counts when it
     * adds no more bytes per rank than it removes. Without one, the reason it is necessary (naming the
     * cheapest change found that removes it but adds more).
     *
     * @param commIndex        the communication's id
     * @param timeLimitSeconds the time limit, seconds, above 0 (default {@link #DEFAULT_TIME_LIMIT_SECONDS})
     * @throws IllegalArgumentException when the id is out of range or the time limit is not positive
     */
    public Explanation explain(int commIndex, double timeLimitSeconds) {
        checkId(commIndex);
        if (!(timeLimitSeconds > 0)) {
            throw new IllegalArgumentException("time limit: found " + timeLimitSeconds + " s; expected seconds > 0, "
                    + "e.g. " + DEFAULT_TIME_LIMIT_SECONDS);
        }
        long start = System.nanoTime();
        long budget = Double.isInfinite(timeLimitSeconds) ? Long.MAX_VALUE
                : (long) Math.min(Long.MAX_VALUE / 2.0, timeLimitSeconds * 1e9);
        Communication c = comms.get(commIndex);
        Provenance prov = Provenance.of(commIndex, c);
        Provenance.Key key = prov.key();
        List<Change> candidates = Candidates.of(file, pipe, c);
        int tried = 0;
        int failed = 0;
        boolean stopped = false;
        Explanation.Suggestion best = null;
        Explanation.Suggestion bestAdding = null;
        for (Change change : candidates) {
            Replan r = cache.get(change);
            boolean fresh = r == null || !r.measured() && r.removes(key);
            // an evaluation is started only when the mean one still fits in the time limit
            if (fresh && System.nanoTime() - start + (long) (meanEvaluationSeconds * 1e9) >= budget) {
                stopped = true;
                break;
            }
            long began = System.nanoTime();
            if (r == null) {
                r = replan(change);
            }
            tried++;
            boolean measurable = !r.failed() && r.removes(key) && r.measure();
            if (fresh) {
                evaluations++;
                meanEvaluationSeconds += ((System.nanoTime() - began) / 1e9 - meanEvaluationSeconds) / evaluations;
            }
            if (r.failed() || !r.removes(key)) {
                failed += r.failed() ? 1 : 0;
                continue;
            }
            if (!measurable) {
                failed++;
                continue;
            }
            Explanation.Suggestion s = suggestion(r);
            boolean counts = s.addedBytes() <= s.removedBytes();
            if (counts) {
                best = cheaper(best, s);
            } else {
                bestAdding = cheaper(bestAdding, s);
            }
        }
        Explanation.Search search = new Explanation.Search(tried, candidates.size(), failed, stopped);
        Explanation.Outcome outcome = best != null ? best
                : new Explanation.Necessary(Reasons.necessary(pipe, c, bestAdding, search));
        return new Explanation(prov, outcome, search);
    }

    /** The cheaper of two suggestions: lower step time, then fewer added bytes; {@code a} among equals. */
    private static Explanation.Suggestion cheaper(Explanation.Suggestion a, Explanation.Suggestion b) {
        if (a == null) {
            return b;
        }
        int byStep = Double.compare(b.stepSecondsAfter(), a.stepSecondsAfter());
        if (byStep != 0) {
            return byStep < 0 ? b : a;
        }
        return b.addedBytes() < a.addedBytes() ? b : a;
    }

    /** The suggestion of a measured re-plan: what it removes and adds, step and peak before and after. */
    private Explanation.Suggestion suggestion(Replan r) {
        List<Provenance> removed = new ArrayList<>();
        for (int i = 0; i < comms.size(); i++) {
            if (!r.keys.contains(Provenance.Key.of(comms.get(i)))) {
                removed.add(Provenance.of(i, comms.get(i)));
            }
        }
        List<Provenance> added = new ArrayList<>();
        List<Communication> after = r.pipe.plan().comms();
        for (int i = 0; i < after.size(); i++) {
            if (!keys.contains(Provenance.Key.of(after.get(i)))) {
                added.add(Provenance.of(i, after.get(i)));
            }
        }
        return new Explanation.Suggestion(r.change, removed, added, stepSeconds, r.stepSeconds, peakBytes,
                r.peakBytes);
    }

    /**
     * Re-plans with {@code change}; an operator override alongside a {@code parallelism} section that the re-plan
     * refuses is retried on the expanded file. Cached.
     */
    private Replan replan(Change change) {
        Replan r = tryReplan(change);
        if (r.failed() && change instanceof Change.OperatorStrategy o && !o.expandedFirst()
                && file.parallelism().isPresent()) {
            Change expanded = new Change.OperatorStrategy(o.operator(), o.in(), o.out(), true);
            Replan e = cache.computeIfAbsent(expanded, this::tryReplan);
            if (!e.failed()) {
                r = e;
            }
        }
        cache.put(change, r);
        return r;
    }

    private Replan tryReplan(Change change) {
        try {
            StrategyFile changed = change.apply(file);
            PipelinePlan p = StrategyPlans.pipelinePlan(changed, null);
            Set<Provenance.Key> k = new HashSet<>();
            p.plan().comms().forEach(x -> k.add(Provenance.Key.of(x)));
            return new Replan(change, changed, p, k);
        } catch (RuntimeException e) {
            return new Replan(change, null, null, Set.of());
        }
    }

    private void checkId(int id) {
        if (id < 0 || id >= comms.size()) {
            throw new IllegalArgumentException("communication " + id + " is out of range; the plan has "
                    + comms.size() + " communications (ids 0.." + (comms.size() - 1) + ", as in PLAN.json)");
        }
    }

    /** One re-planned change: the plan's communication keys, and its step and peak once measured. */
    private final class Replan {
        final Change change;
        final StrategyFile changed;
        final PipelinePlan pipe;
        final Set<Provenance.Key> keys;
        double stepSeconds = Double.NaN;
        long peakBytes = -1;
        boolean unmeasurable;

        Replan(Change change, StrategyFile changed, PipelinePlan pipe, Set<Provenance.Key> keys) {
            this.change = change;
            this.changed = changed;
            this.pipe = pipe;
            this.keys = keys;
        }

        boolean failed() {
            return pipe == null || unmeasurable;
        }

        boolean removes(Provenance.Key key) {
            return pipe != null && !keys.contains(key);
        }

        boolean measured() {
            return !Double.isNaN(stepSeconds) || unmeasurable;
        }

        /** Simulates the step once; false when it cannot be simulated. */
        boolean measure() {
            if (!measured()) {
                try {
                    PipelineReport r = StrategyStep.run(changed, pipe, cluster, null, null, true);
                    peakBytes = StrategyStep.fullestRank(changed, pipe, r).totalBytes();
                    stepSeconds = r.stepSeconds();
                } catch (RuntimeException e) {
                    unmeasurable = true;
                }
            }
            return !unmeasurable;
        }
    }
}
