package io.tessera.simulator.timeline;

import io.tessera.planner.cost.Recompute;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Objects;

/**
 * The event-driven layout of a pipeline step over model chunks (see {@link PipelineTimeline}): chunk
 * {@code k = c * p + d} runs on device {@code d} with its own per-micro-batch costs; each device runs its schedule's
 * fixed order of forwards and backwards; a unit starts when the device's compute stream is free and its input has
 * arrived; sends run on the sender's communication stream. Then each device's once-per-step tail.
 */
final class PipelineLayout {

    /**
     * One chunk's per-micro-batch costs as laid out.
     *
     * @param forward          forward seconds
     * @param backward         backward seconds
     * @param send             seconds of the send across the boundary to chunk {@code k + 1} (both directions)
     * @param attention        seconds {@link Recompute#SELECTIVE} re-runs
     * @param kept             bytes kept per in-flight micro-batch without recompute
     * @param attentionDropped of {@code kept}, the bytes {@link Recompute#SELECTIVE} does not keep
     * @param attentionWorking bytes live while one core attention is recomputed
     * @param fullKept         bytes {@link Recompute#FULL} keeps per in-flight micro-batch
     * @param fullWorking      bytes live while one layer is recomputed
     * @param tail             once-per-step work placed on this chunk's last backward
     */
    record ChunkCosts(double forward, double backward, double send, double attention, double kept,
                      double attentionDropped, double attentionWorking, double fullKept, double fullWorking,
                      List<StageCosts.TailStep> tail) {

        /** A planned chunk: its costs as they are. */
        static ChunkCosts of(StageCosts c) {
            return new ChunkCosts(c.forwardSeconds(), c.backwardSeconds(), c.sendSeconds(), c.attentionSeconds(),
                    c.activationBytes(), c.attentionBytes(), c.attentionWorkingBytes(), c.fullKeptBytes(),
                    c.fullWorkingBytes(), c.tail());
        }

        /**
         * One of {@code v} identical chunks of a stage costing {@code c}: times and activations divided by {@code v};
         * full recompute keeps at least the chunk input, the live sets at most the chunk's; the stage's tail only on
         * chunk 0 (its last backward ends the device's backwards).
         */
        static ChunkCosts split(StageCosts c, int v, boolean withTail) {
            double kept = (double) c.activationBytes() / v;
            double attention = (double) c.attentionBytes() / v;
            return new ChunkCosts(c.forwardSeconds() / v, c.backwardSeconds() / v, c.sendSeconds(),
                    c.attentionSeconds() / v, kept, attention, Math.min(c.attentionWorkingBytes(), attention),
                    Math.max(c.inputBytes(), (double) c.fullKeptBytes() / v), Math.min(c.fullWorkingBytes(), kept),
                    withTail ? c.tail() : List.of());
        }
    }

    /** One forward or backward of one micro-batch through one chunk on a device. */
    private record Unit(boolean forward, int chunk, int micro) {
    }

    private final List<ChunkCosts> chunkCosts;
    private final List<StageCosts> reported;
    private final PipelineOptions options;
    private final Recompute recompute;
    private final boolean overlap;
    private final int p;
    private final int v;
    private final int m;
    private final int chunks;
    private final double[][] forwardEnd;
    private final double[][] forwardArrival;
    private final double[][] backwardEnd;
    private final double[][] backwardArrival;
    private final double[] computeFree;
    private final double[] commFree;
    private final List<TimelineReport.Event> events = new ArrayList<>();

    /**
     * @param chunkCosts per chunk {@code k = c * p + d} its costs
     * @param reported   the per-stage (or per-chunk) costs the report carries
     */
    PipelineLayout(List<ChunkCosts> chunkCosts, List<StageCosts> reported, PipelineOptions options,
                   Recompute recompute, boolean overlap) {
        this.options = options;
        this.recompute = Objects.requireNonNull(recompute, "recompute");
        this.overlap = overlap;
        this.p = options.stages();
        this.v = options.virtualStages();
        this.m = options.microBatches();
        this.chunks = p * v;
        if (chunkCosts.size() != chunks) {
            throw new IllegalArgumentException("pipeline layout: " + chunkCosts.size() + " chunk costs; expected "
                    + chunks + " (" + p + " stages x " + v + " chunks)");
        }
        this.chunkCosts = List.copyOf(chunkCosts);
        this.reported = List.copyOf(reported);
        this.forwardEnd = nans(chunks, m);
        this.forwardArrival = nans(chunks, m);
        this.backwardEnd = nans(chunks, m);
        this.backwardArrival = nans(chunks, m);
        this.computeFree = new double[p];
        this.commFree = new double[p];
    }

    private static double[][] nans(int a, int b) {
        double[][] x = new double[a][b];
        for (double[] row : x) {
            Arrays.fill(row, Double.NaN);
        }
        return x;
    }

    /** The order of units on device {@code d}. */
    private List<Unit> order(int d) {
        List<Unit> out = new ArrayList<>();
        switch (options.schedule()) {
            case GPIPE -> {
                for (int i = 0; i < m; i++) {
                    out.add(new Unit(true, 0, i));
                }
                for (int i = 0; i < m; i++) {
                    out.add(new Unit(false, 0, i));
                }
            }
            case ONE_F_ONE_B -> {
                int warm = Math.min(p - 1 - d, m);
                for (int i = 0; i < warm; i++) {
                    out.add(new Unit(true, 0, i));
                }
                for (int i = 0; i < m - warm; i++) {
                    out.add(new Unit(true, 0, warm + i));
                    out.add(new Unit(false, 0, i));
                }
                for (int i = m - warm; i < m; i++) {
                    out.add(new Unit(false, 0, i));
                }
            }
            case INTERLEAVED_1F1B -> {
                int total = m * v;
                int warm = Math.min(total, (p - d - 1) * 2 + (v - 1) * p);
                for (int k = 0; k < warm; k++) {
                    out.add(interleaved(k, true));
                }
                for (int k = 0; k < total - warm; k++) {
                    out.add(interleaved(warm + k, true));
                    out.add(interleaved(k, false));
                }
                for (int k = total - warm; k < total; k++) {
                    out.add(interleaved(k, false));
                }
            }
        }
        return out;
    }

    /** Megatron-LM's k-th forward (or backward) on a device: groups of p micro-batches per chunk. */
    private Unit interleaved(int k, boolean forward) {
        int group = (k % (p * v)) / p;
        int chunk = forward ? group : v - 1 - group;
        int micro = (k / (p * v)) * p + k % p;
        return new Unit(forward, chunk, micro);
    }

    /** When the unit's input is available, or NaN when its producer is not laid out yet. */
    private double ready(Unit u, int k) {
        if (u.forward()) {
            return k == 0 ? 0 : forwardArrival[k - 1][u.micro()];
        }
        double own = forwardEnd[k][u.micro()];
        return k == chunks - 1 ? own : Math.max(own, backwardArrival[k + 1][u.micro()]);
    }

    private double extra(ChunkCosts c) {
        return switch (recompute) {
            case FULL -> c.forward();
            case SELECTIVE -> c.attention();
            case NONE -> 0;
        };
    }

    private double keptPerMicroBatch(ChunkCosts c) {
        return switch (recompute) {
            case FULL -> c.fullKept();
            case SELECTIVE -> c.kept() - c.attentionDropped();
            case NONE -> c.kept();
        };
    }

    private double working(ChunkCosts c) {
        return switch (recompute) {
            case FULL -> c.fullWorking();
            case SELECTIVE -> c.attentionWorking();
            case NONE -> 0;
        };
    }

    PipelineReport run() {
        List<List<Unit>> orders = new ArrayList<>();
        int remaining = 0;
        for (int d = 0; d < p; d++) {
            orders.add(order(d));
            remaining += orders.get(d).size();
        }
        int[] next = new int[p];
        double[] busy = new double[p];
        double[] lastBackwardEnd = new double[p];
        double[] chunkLastStart = new double[chunks];
        double[] chunkLastEnd = new double[chunks];
        List<List<double[]>> inFlight = new ArrayList<>();
        for (int d = 0; d < p; d++) {
            inFlight.add(new ArrayList<>());
        }
        while (remaining > 0) {
            boolean progress = false;
            for (int d = 0; d < p; d++) {
                List<Unit> order = orders.get(d);
                while (next[d] < order.size()) {
                    Unit u = order.get(next[d]);
                    int k = u.chunk() * p + d;
                    double ready = ready(u, k);
                    if (Double.isNaN(ready)) {
                        break;
                    }
                    ChunkCosts c = chunkCosts.get(k);
                    double start = Math.max(computeFree[d], ready);
                    String suffix = " mb " + u.micro() + (v > 1 ? " chunk " + u.chunk() : "");
                    double end;
                    if (u.forward()) {
                        end = start + c.forward();
                        compute(d, "forward" + suffix, "forward", start, c.forward());
                        forwardEnd[k][u.micro()] = end;
                        inFlight.get(d).add(new double[] {start, 1, keptPerMicroBatch(c)});
                        forwardArrival[k][u.micro()] = k + 1 < chunks
                                ? send(d, (k + 1) % p, c.send(), "forward" + suffix, end) : end;
                    } else {
                        double extra = extra(c);
                        if (extra > 0) {
                            compute(d, "recompute" + suffix, "recompute", start, extra);
                        }
                        double bStart = start + extra;
                        end = bStart + c.backward();
                        compute(d, "backward" + suffix, "backward", bStart, c.backward());
                        backwardEnd[k][u.micro()] = end;
                        inFlight.get(d).add(new double[] {end, -1, -keptPerMicroBatch(c)});
                        backwardArrival[k][u.micro()] = k > 0
                                ? send(d, (k - 1) % p, chunkCosts.get(k - 1).send(), "gradient" + suffix, end) : end;
                        if (end >= chunkLastEnd[k]) {
                            chunkLastStart[k] = bStart;
                            chunkLastEnd[k] = end;
                        }
                        lastBackwardEnd[d] = Math.max(lastBackwardEnd[d], end);
                    }
                    busy[d] += end - start;
                    computeFree[d] = end;
                    next[d]++;
                    remaining--;
                    progress = true;
                }
            }
            if (!progress) {
                throw new IllegalStateException("pipeline schedule " + options.schedule().cliName()
                        + " deadlocks with " + p + " stages, " + m + " micro-batches, " + v + " chunks");
            }
        }
        double span = 0;
        double totalBusy = 0;
        for (int d = 0; d < p; d++) {
            span = Math.max(span, computeFree[d]);
            totalBusy += busy[d];
        }
        for (int d = 0; d < p; d++) {
            tail(d, chunkLastStart, chunkLastEnd, lastBackwardEnd[d]);
        }
        double step = 0;
        for (int d = 0; d < p; d++) {
            step = Math.max(step, Math.max(computeFree[d], commFree[d]));
        }
        int[] peak = new int[p];
        long[] bytes = new long[p];
        for (int d = 0; d < p; d++) {
            List<double[]> deltas = inFlight.get(d);
            deltas.sort(Comparator.<double[]>comparingDouble(x -> x[0]).thenComparingDouble(x -> x[1]));
            int now = 0;
            double kept = 0;
            double peakKept = 0;
            for (double[] x : deltas) {
                now += (int) x[1];
                kept += x[2];
                peak[d] = Math.max(peak[d], now);
                peakKept = Math.max(peakKept, kept);
            }
            double work = 0;
            for (int c = 0; c < v; c++) {
                work = Math.max(work, working(chunkCosts.get(c * p + d)));
            }
            bytes[d] = Math.round(peakKept + work);
        }
        double bubble = span > 0 ? Math.max(0, 1 - totalBusy / (p * span)) : 0;
        return new PipelineReport(step, bubble, bytes, peak, reported.get(0), options, recompute, events, reported);
    }

    private void compute(int d, String name, String category, double start, double seconds) {
        events.add(new TimelineReport.Event(d, TimelineReport.Event.COMPUTE, name, category, start, seconds));
    }

    /** A send of {@code seconds} from device {@code d} to device {@code to} after {@code after}; its arrival. */
    private double send(int d, int to, double seconds, String what, double after) {
        if (to == d || seconds == 0) {
            return after;
        }
        double start = Math.max(commFree[d], after);
        commFree[d] = start + seconds;
        events.add(new TimelineReport.Event(d, TimelineReport.Event.COMM, "send " + what + " to stage " + to,
                "pipeline", start, seconds));
        return commFree[d];
    }

    /**
     * The once-per-step work of device {@code d}: its chunks' tails in the order their last backwards end. With
     * gradient overlap a reduction is ready where its chunk's backward issued it, mapped onto that chunk's last
     * backward; without, when the device's last backward ends. Compute work (the update) waits for every
     * communication issued before it.
     */
    private void tail(int d, double[] chunkLastStart, double[] chunkLastEnd, double deviceEnd) {
        List<Integer> mine = new ArrayList<>();
        for (int c = 0; c < v; c++) {
            mine.add(c * p + d);
        }
        mine.sort(Comparator.comparingDouble((Integer k) -> chunkLastEnd[k]).thenComparing(k -> -k));
        double afterUpdate = 0;
        for (int k : mine) {
            for (StageCosts.TailStep t : chunkCosts.get(k).tail()) {
                if (t.stream().equals(TimelineReport.Event.COMPUTE)) {
                    double start = Math.max(Math.max(computeFree[d], commFree[d]), deviceEnd);
                    events.add(new TimelineReport.Event(d, t.stream(), t.name(), t.category(), start, t.seconds()));
                    computeFree[d] = start + t.seconds();
                    afterUpdate = computeFree[d];
                    continue;
                }
                double ready = overlap
                        ? chunkLastStart[k] + t.backwardPosition() * (chunkLastEnd[k] - chunkLastStart[k]) : deviceEnd;
                double start = Math.max(commFree[d], Math.max(ready, afterUpdate));
                events.add(new TimelineReport.Event(d, t.stream(), t.name(), t.category(), start, t.seconds()));
                commFree[d] = start + t.seconds();
            }
        }
    }
}
