package io.tessera.bench;

import io.tessera.planner.api.StrategyPlans;
import io.tessera.planner.cost.ClusterSpec;
import io.tessera.planner.plan.PipelinePlan;
import io.tessera.planner.plan.RankMemory;
import io.tessera.planner.strategy.StrategyFile;
import io.tessera.planner.strategy.StrategyFiles;
import io.tessera.simulator.timeline.PipelineReport;
import io.tessera.simulator.timeline.StrategyStep;

import java.nio.file.Path;

/**
 * The benchmark behind {@code tessera bench llama}: wall time to read a strategy file (expanding its
 * {@code parallelism} section and building the network, e.g. Llama-3.1-405B from its Hugging Face config), plan it
 * (every stage's layouts and communication) and simulate one training step analytically on the file's
 * {@code cluster}, with the simulated step time and the memory of the fullest rank.
 */
public final class StrategyBenchmark {

    private StrategyBenchmark() {
    }

    /**
     * One run.
     *
     * @param file            the strategy file
     * @param devices         the file's device count
     * @param stages          pipeline stages
     * @param microBatches    micro-batches per step
     * @param parameters      trainable parameter elements of the network
     * @param readSeconds     seconds to read and expand the file and build the network
     * @param planSeconds     seconds to plan every stage
     * @param simulateSeconds seconds to simulate the step
     * @param stepSeconds     the simulated step time, seconds
     * @param peakRank        the rank with the most memory (the first rank of its stage)
     * @param peakMemory      that rank's weights, gradients, optimizer state and master copies ({@link RankMemory})
     * @param peakActivations that rank's peak activation bytes
     */
    public record Run(Path file, int devices, int stages, int microBatches, long parameters, double readSeconds,
                      double planSeconds, double simulateSeconds, double stepSeconds, int peakRank,
                      RankMemory peakMemory, long peakActivations) {

        /** Read, plan and simulate: the wall time of the whole run, seconds. */
        public double totalSeconds() {
            return readSeconds + planSeconds + simulateSeconds;
        }

        /** The fullest rank's bytes: its {@link RankMemory#total()} plus its peak activations. */
        public long peakRankBytes() {
            return peakMemory.total() + peakActivations;
        }
    }

    /**
     * Reads, plans and simulates {@code file} on its {@code cluster}.
     *
     * @throws IllegalArgumentException (one line) when the file is invalid, names no cluster, or cannot be planned
     */
    public static Run run(Path file) {
        long t0 = System.nanoTime();
        StrategyFile f = StrategyFiles.read(file);
        long parameters = StrategyPlans.network(f).trainableElements();
        long t1 = System.nanoTime();
        PipelinePlan pipe = StrategyPlans.pipelinePlan(f, null);
        long t2 = System.nanoTime();
        ClusterSpec cluster = StrategyPlans.cluster(f, pipe.devices()).orElseThrow(() -> new IllegalArgumentException(
                "cluster: missing; expected the strategy file to name its cluster, e.g. \"cluster\": \"h100-dgx\""));
        PipelineReport report = StrategyStep.run(f, pipe, cluster, null, null, true);
        long t3 = System.nanoTime();
        StrategyStep.FullestRank peak = StrategyStep.fullestRank(f, pipe, report);
        return new Run(file, pipe.devices(), pipe.stages(), pipe.microBatches(), parameters, (t1 - t0) / 1e9,
                (t2 - t1) / 1e9, (t3 - t2) / 1e9, report.stepSeconds(), peak.rank(), peak.memory(),
                peak.activationBytes());
    }
}
