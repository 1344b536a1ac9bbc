package io.tessera.simulator.explain;

import io.tessera.planner.api.StrategyPlans;
import io.tessera.planner.cost.ClusterPreset;
import io.tessera.planner.cost.ClusterSpec;
import io.tessera.planner.plan.Communication;
import io.tessera.planner.plan.PipelinePlan;
import io.tessera.planner.plan.RedistributionCache;
import io.tessera.planner.strategy.StrategyFile;
import io.tessera.simulator.timeline.PipelineReport;
import io.tessera.simulator.timeline.StrategyStep;

import java.lang.ref.SoftReference;
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

    /** A numbered copy of a repeated block in operator, tensor and parameter names ({@code layers.3.}, {@code h.0.}). */
    private static final java.util.regex.Pattern LAYER = java.util.regex.Pattern.compile("(^|\\.)\\d+\\.");

    /** At least this long (and a tenth of the limit) before the time limit a running evaluation is interrupted, ns. */
    private static final long RESERVE_NANOS = 100_000_000L;

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
    /** Per communication family ({@link #family}), per layerless change snippet: whether it removed the member tried. */
    private final Map<String, Map<String, Boolean>> learned = new HashMap<>();
    /** Redistribution plans shared by the re-plans. */
    private final RedistributionCache redistributions = RedistributionCache.create();
    /** The longest time an interrupted evaluation took to stop, nanoseconds. */
    private long stopNanos;
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

    /**
     * The communications by family ({@link #family}), each family's ids ascending, families in the order of their first
     * communication.
     */
    public Map<String, List<Integer>> families() {
        Map<String, List<Integer>> out = new java.util.LinkedHashMap<>();
        for (int i = 0; i < comms.size(); i++) {
            out.computeIfAbsent(family(Provenance.Key.of(comms.get(i))), k -> new ArrayList<>()).add(i);
        }
        return out;
    }

    /** The provenance of communication {@code id}. */
    public Provenance provenance(int id) {
        checkId(id);
        return Provenance.of(id, comms.get(id));
    }

    /** How many changes this explainer has re-planned (and simulated when they removed the communication). */
    public int evaluations() {
        return evaluations;
    }

    /** The mean seconds of one evaluation ({@link #evaluations}) so far, 0 before the first. */
    public double meanEvaluationSeconds() {
        return meanEvaluationSeconds;
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
     * skipped); each evaluation runs on a worker thread and is interrupted just before the limit, so the call returns
     * within it. Changes that removed a communication of the same family ({@link #family}: the same communication of
     * another copy of a repeated layer) are tried first. It suggests the one
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
        // an evaluation is interrupted this long before the limit: the time to stop it and to write the answer (the
        // longest stop seen so far and half again, at least a tenth of the limit or 100 ms, at most a quarter of it;
        // a strategy search stops between redistribution plans, which take up to half a second on large meshes)
        long reserve = budget == Long.MAX_VALUE ? 0
                : Math.min(budget / 4, Math.max(Math.max(RESERVE_NANOS, budget / 10), stopNanos + stopNanos / 2));
        Communication c = comms.get(commIndex);
        Provenance prov = Provenance.of(commIndex, c);
        Provenance.Key key = prov.key();
        List<Change> candidates = Candidates.of(file, pipe, c);
        Map<Change, Integer> estimateOrder = new HashMap<>();
        for (Change change : candidates) {
            estimateOrder.put(change, estimateOrder.size());
        }
        String family = family(key);
        Map<String, Boolean> known = learned.computeIfAbsent(family, k -> new HashMap<>());
        candidates = byFamily(candidates, known);
        int tried = 0;
        int failed = 0;
        boolean stopped = false;
        Explanation.Suggestion best = null;
        Explanation.Suggestion bestAdding = null;
        for (Change change : candidates) {
            Replan r = cache.get(change);
            boolean fresh = r == null || !r.measured() && r.removes(key);
            // an evaluation is started only when the mean one still fits in the time limit
            long elapsed = System.nanoTime() - start;
            if (fresh && elapsed + (long) (meanEvaluationSeconds * 1e9) >= budget) {
                stopped = true;
                break;
            }
            if (fresh) {
                long began = System.nanoTime();
                Replan done = evaluate(change, r, key,
                        budget == Long.MAX_VALUE ? Long.MAX_VALUE : budget - reserve - elapsed);
                if (done == null) {
                    // interrupted at the time limit: nothing of it is kept
                    stopped = true;
                    break;
                }
                r = done;
                evaluations++;
                meanEvaluationSeconds += ((System.nanoTime() - began) / 1e9 - meanEvaluationSeconds) / evaluations;
            }
            tried++;
            if (!r.failed()) {
                known.put(layerless(change.snippet()), r.removes(key));
            }
            boolean measurable = !r.failed() && r.removes(key) && r.measure();
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
                best = cheaper(best, s, estimateOrder);
            } else {
                bestAdding = cheaper(bestAdding, s, estimateOrder);
            }
        }
        Explanation.Search search = new Explanation.Search(tried, candidates.size(), failed, stopped);
        Explanation.Outcome outcome = best != null ? best
                : new Explanation.Necessary(Reasons.necessary(pipe, c, bestAdding, search));
        return new Explanation(prov, outcome, search);
    }

    /**
     * Re-plans {@code change} (unless {@code known} is its re-plan) and, when it removes {@code key}, simulates its
     * step, on a worker thread stopped by an interrupt after {@code nanos}; null when it was stopped (a re-plan that
     * completed before is kept in the cache, its step not measured).
     */
    private Replan evaluate(Change change, Replan known, Provenance.Key key, long nanos) {
        java.util.concurrent.Callable<Replan> task = () -> {
            Replan r = known != null ? known : replan(change);
            if (!r.failed() && r.removes(key)) {
                r.measure();
            }
            return r;
        };
        if (nanos == Long.MAX_VALUE) {
            try {
                return task.call();
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        }
        java.util.concurrent.FutureTask<Replan> future = new java.util.concurrent.FutureTask<>(task);
        Thread worker = new Thread(future, "tessera-explain");
        worker.setDaemon(true);
        worker.start();
        try {
            return future.get(Math.max(0, nanos), java.util.concurrent.TimeUnit.NANOSECONDS);
        } catch (java.util.concurrent.TimeoutException | java.util.concurrent.CancellationException e) {
            long interrupted = System.nanoTime();
            worker.interrupt();
            joinQuietly(worker);
            stopNanos = Math.max(stopNanos, System.nanoTime() - interrupted);
            return null;
        } catch (InterruptedException e) {
            worker.interrupt();
            joinQuietly(worker);
            Thread.currentThread().interrupt();
            throw new java.util.concurrent.CancellationException("explain was interrupted");
        } catch (java.util.concurrent.ExecutionException e) {
            joinQuietly(worker);
            if (e.getCause() instanceof java.util.concurrent.CancellationException) {
                return null;
            }
            throw e.getCause() instanceof RuntimeException x ? x : new IllegalStateException(e.getCause());
        }
    }

    /** Waits for a stopped worker to end, so that no two evaluations run at once (the cache is not thread-safe). */
    private static void joinQuietly(Thread worker) {
        boolean interrupted = false;
        while (worker.isAlive()) {
            try {
                worker.join();
            } catch (InterruptedException e) {
                interrupted = true;
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
    }

    /**
     * The cheaper of two suggestions: lower step time, then fewer added bytes, then the earlier in the estimate's order
     * (so the order in which they were tried does not matter).
     */
    private static Explanation.Suggestion cheaper(Explanation.Suggestion a, Explanation.Suggestion b,
                                                  Map<Change, Integer> estimateOrder) {
        if (a == null) {
            return b;
        }
        int byStep = Double.compare(b.stepSecondsAfter(), a.stepSecondsAfter());
        if (byStep != 0) {
            return byStep < 0 ? b : a;
        }
        if (b.addedBytes() != a.addedBytes()) {
            return b.addedBytes() < a.addedBytes() ? b : a;
        }
        return estimateOrder.get(b.change()) < estimateOrder.get(a.change()) ? b : a;
    }

    /**
     * The family of a communication: its key with layer numbers dropped from the operator, tensor and parameter
     * ({@code layers.3.} and {@code layers.40.} alike, as {@code h.0.} and {@code h.11.}), so that the communications a
     * repeated layer makes in every copy are one family.
     */
    public static String family(Provenance.Key key) {
        return key.kind() + "|" + key.origin() + "|" + key.phase() + "|" + key.input() + "|"
                + layerless(key.operator()) + "|" + layerless(key.tensor()) + "|" + layerless(key.parameter());
    }

    /** {@code name} with every number between dots written {@code N} ({@code layers.N.}, {@code h.N.}); "" for null. */
    static String layerless(String name) {
        return name == null ? "" : LAYER.matcher(name).replaceAll("$1N.");
    }

    /**
     * The candidates reordered by what the same change (up to its layer number) did to another communication of the
     * family: those that removed it first, then those not tried there, then those that did not remove it; the
     * estimate's order within each. A search cut by the time limit thus reaches first what worked on a sibling layer.
     */
    static List<Change> byFamily(List<Change> candidates, Map<String, Boolean> known) {
        if (known.isEmpty()) {
            return candidates;
        }
        List<Change> out = new ArrayList<>(candidates);
        out.sort(java.util.Comparator.comparingInt(ch -> {
            Boolean removed = known.get(layerless(ch.snippet()));
            return removed == null ? 1 : removed ? 0 : 2;
        }));
        return out;
    }

    /** The suggestion of a measured re-plan: what it removes and adds, step and peak before and after. */
    private Explanation.Suggestion suggestion(Replan r) {
        List<Provenance> removed = new ArrayList<>();
        for (int i = 0; i < comms.size(); i++) {
            if (r.removed.contains(Provenance.Key.of(comms.get(i)))) {
                removed.add(Provenance.of(i, comms.get(i)));
            }
        }
        return new Explanation.Suggestion(r.change, removed, r.added, stepSeconds, r.stepSeconds, peakBytes,
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
            return new Replan(change, changed, plan(change, changed));
        } catch (java.util.concurrent.CancellationException e) {
            throw e;
        } catch (RuntimeException e) {
            return new Replan(change, null, null);
        }
    }

    /**
     * Plans a changed file: an operator strategy leaves the network and its parameter settings alone, so its re-plan
     * reuses the explained plan's network; every re-plan shares one redistribution cache.
     */
    private PipelinePlan plan(Change change, StrategyFile changed) {
        return StrategyPlans.pipelinePlan(changed, null,
                change instanceof Change.OperatorStrategy ? pipe.plan().network() : null, redistributions);
    }

    private void checkId(int id) {
        if (id < 0 || id >= comms.size()) {
            throw new IllegalArgumentException("communication " + id + " is out of range; the plan has "
                    + comms.size() + " communications (ids 0.." + (comms.size() - 1) + ", as in PLAN.json)");
        }
    }

    /**
     * One re-planned change: the communications it removes and adds against the explained plan, and its step and peak
     * once measured. The re-planned plan itself is held softly (a plan of thousands of ranks is large, and a search
     * keeps hundreds of re-plans): when it was collected before the step is measured, the file is planned again.
     */
    private final class Replan {
        final Change change;
        final StrategyFile changed;
        /** The keys of the explained plan that the re-plan has not; empty when it failed. */
        final Set<Provenance.Key> removed = new HashSet<>();
        /** The re-plan's communications whose keys the explained plan has not, in its order. */
        final List<Provenance> added = new ArrayList<>();
        final boolean planned;
        SoftReference<PipelinePlan> pipe;
        double stepSeconds = Double.NaN;
        long peakBytes = -1;
        boolean unmeasurable;

        Replan(Change change, StrategyFile changed, PipelinePlan plan) {
            this.change = change;
            this.changed = changed;
            this.planned = plan != null;
            if (plan != null) {
                Set<Provenance.Key> now = new HashSet<>();
                List<Communication> after = plan.plan().comms();
                for (int i = 0; i < after.size(); i++) {
                    Provenance.Key k = Provenance.Key.of(after.get(i));
                    now.add(k);
                    if (!keys.contains(k)) {
                        added.add(Provenance.of(i, after.get(i)));
                    }
                }
                for (Provenance.Key k : keys) {
                    if (!now.contains(k)) {
                        removed.add(k);
                    }
                }
                pipe = new SoftReference<>(plan);
            }
        }

        boolean failed() {
            return !planned || unmeasurable;
        }

        boolean removes(Provenance.Key key) {
            return planned && removed.contains(key);
        }

        boolean measured() {
            return !Double.isNaN(stepSeconds) || unmeasurable;
        }

        /** Simulates the step once; false when it cannot be simulated. */
        boolean measure() {
            if (!measured()) {
                try {
                    PipelinePlan p = pipe.get();
                    if (p == null) {
                        p = plan(change, changed);
                    }
                    PipelineReport r = StrategyStep.run(changed, p, cluster, null, null, true);
                    peakBytes = StrategyStep.fullestRank(changed, p, r).totalBytes();
                    stepSeconds = r.stepSeconds();
                } catch (java.util.concurrent.CancellationException e) {
                    throw e;
                } catch (RuntimeException e) {
                    unmeasurable = true;
                }
                pipe = null;
            }
            return !unmeasurable;
        }
    }
}
