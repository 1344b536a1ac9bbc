package io.tessera.bench;

import io.tessera.layout.RandomLayouts;

import io.tessera.layout.Box;
import io.tessera.layout.Layout;
import io.tessera.layout.redistribution.Redistribution;
import io.tessera.layout.redistribution.RedistributionExecutor;
import io.tessera.layout.redistribution.RedistributionPlan;
import io.tessera.layout.redistribution.Step;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.Consumer;

/**
 * The layout benchmark behind {@code tessera bench layout}: slice-query and planning throughput, and the quality of
 * plans on a seeded set of random redistribution cases (see {@link RandomLayouts}).
 */
public final class LayoutBenchmark {

    /** Wall time spent measuring each throughput figure, in nanoseconds (1 s). */
    private static final long MEASURE_NANOS = 1_000_000_000L;

    private LayoutBenchmark() {
    }

    /**
     * The figures of one benchmark run.
     *
     * @param seed                   the seed of the case set
     * @param cases                  number of random redistribution cases
     * @param sliceQueriesPerSecond  {@code sliceBox(rank)} queries per second, over random layouts
     * @param plansPerSecond         redistribution plans per second, over the case set
     * @param byteMinimalShare       share of plans whose every rank receives exactly its physical minimum (0..1)
     * @param verifiedShare          share of plans that, executed on distinct real values, give every rank exactly
     *                               its target slice (0..1)
     * @param meanSteps              mean number of steps per plan, local steps included
     * @param meanCommunicationSteps mean number of communication steps per plan
     * @param bytesVsGatherAll       total bytes received by all plans divided by the bytes a "gather the whole
     *                               tensor, then slice" plan would receive (lower is better)
     * @param opCounts               number of steps of each operation over all plans
     */
    public record Report(long seed, int cases, double sliceQueriesPerSecond, double plansPerSecond,
                         double byteMinimalShare, double verifiedShare, double meanSteps,
                         double meanCommunicationSteps, double bytesVsGatherAll, Map<String, Integer> opCounts) {
        /** Copies the map. */
        public Report {
            opCounts = Map.copyOf(opCounts);
        }
    }

    /**
     * Runs the benchmark.
     *
     * @param seed     seed of the random case set (the same seed gives the same cases)
     * @param cases    number of redistribution cases, at least 1 (1,000 in the documented run)
     * @param progress receives one line per phase (may ignore it)
     */
    public static Report run(long seed, int cases, Consumer<String> progress) {
        if (cases < 1) {
            throw new IllegalArgumentException("bench layout: --cases is " + cases + "; expected at least 1");
        }
        RandomLayouts gen = RandomLayouts.seeded(seed);
        List<RandomLayouts.Case> set = new ArrayList<>(cases);
        for (int i = 0; i < cases; i++) {
            set.add(gen.nextCase());
        }

        progress.accept("slice queries ...");
        List<Layout> layouts = new ArrayList<>();
        for (RandomLayouts.Case c : set) {
            layouts.add(c.from());
        }
        long queries = 0;
        long sink = 0;
        long t0 = System.nanoTime();
        long elapsed;
        do {
            for (Layout l : layouts) {
                int n = l.deviceCount();
                for (int r = 0; r < n; r++) {
                    Box b = l.sliceBox(r);
                    sink += b.start(0);
                }
                queries += n;
            }
            elapsed = System.nanoTime() - t0;
        } while (elapsed < MEASURE_NANOS);
        double qps = queries / (elapsed / 1e9);

        progress.accept("planning ...");
        long plans = 0;
        t0 = System.nanoTime();
        do {
            for (RandomLayouts.Case c : set) {
                sink += Redistribution.plan(c.from(), c.to(), c.dtype()).stepCount();
                plans++;
            }
            elapsed = System.nanoTime() - t0;
        } while (elapsed < MEASURE_NANOS);
        double pps = plans / (elapsed / 1e9);

        progress.accept("checking " + cases + " plans ...");
        int minimal = 0;
        int verified = 0;
        long steps = 0;
        long commSteps = 0;
        double bytes = 0;
        double gatherAll = 0;
        Map<String, Integer> ops = new TreeMap<>();
        for (RandomLayouts.Case c : set) {
            RedistributionPlan p = Redistribution.plan(c.from(), c.to(), c.dtype());
            minimal += p.isByteMinimal() ? 1 : 0;
            verified += RedistributionExecutor.verify(p) ? 1 : 0;
            steps += p.stepCount();
            commSteps += p.communicationStepCount();
            bytes += p.totalRecvBytes();
            long full = 1;
            for (long d : c.from().shape()) {
                full *= d;
            }
            long own = c.from().sliceVolume();
            gatherAll += (double) (full - own) * c.dtype().bytes() * p.ranks();
            for (Step s : p.steps()) {
                ops.merge(s.op(), 1, Integer::sum);
            }
        }
        if (sink == 42) {
            progress.accept("");
        }
        return new Report(seed, cases, qps, pps, (double) minimal / cases, (double) verified / cases,
                (double) steps / cases, (double) commSteps / cases, gatherAll == 0 ? 0 : bytes / gatherAll, ops);
    }

    /** Runs the documented configuration (seed 42, 1,000 cases) and prints the report. */
    public static void main(String[] args) {
        System.out.println(run(42, 1000, System.err::println));
    }
}
