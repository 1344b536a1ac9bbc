package io.tessera.simulator.validation;

import io.tessera.planner.api.StrategyPlans;
import io.tessera.planner.cost.ClusterSpec;
import io.tessera.planner.plan.PipelinePlan;
import io.tessera.planner.strategy.StrategyFile;
import io.tessera.planner.strategy.StrategyFiles;
import io.tessera.simulator.timeline.StrategyStep;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;
import java.util.function.ToDoubleFunction;

/**
 * Runs published training runs through Tessera and compares: each {@link PublishedRun}'s strategy file
 * ({@link PublishedRun#strategyJson()}) simulated analytically as {@code tessera simulate} does, against the
 * measured iteration time. The figures of the built-in runs are the error band every predicted step time carries.
 */
public final class Validation {

    private Validation() {
    }

    /**
     * Predicts every run of {@code table} with {@code predictor} (seconds per iteration), in order.
     *
     * @param progress receives {@code (i/n) model} before each run, or null
     */
    public static ValidationReport run(PublishedRuns.Table table, ToDoubleFunction<PublishedRun> predictor,
                                       Consumer<String> progress) {
        List<ValidationReport.Row> rows = new ArrayList<>();
        int n = table.runs().size();
        for (int i = 0; i < n; i++) {
            PublishedRun r = table.runs().get(i);
            if (progress != null) {
                progress.accept("(" + (i + 1) + "/" + n + ") " + r.table() + " " + r.model());
            }
            long t0 = System.nanoTime();
            double predicted = predictor.applyAsDouble(r);
            rows.add(new ValidationReport.Row(r, predicted, (System.nanoTime() - t0) / 1e9));
        }
        return new ValidationReport(rows, table.skipped());
    }

    /**
     * Tessera's iteration time of {@code run}, seconds: its strategy file planned and simulated analytically as
     * {@code tessera simulate} does.
     *
     * @throws IllegalArgumentException when the run cannot be planned (a degree that does not divide its dimension)
     */
    public static double predict(PublishedRun run) {
        StrategyFile file = StrategyFiles.parse(run.strategyJson(), Path.of("."));
        PipelinePlan pipe = StrategyPlans.pipelinePlan(file, null);
        ClusterSpec cluster = StrategyPlans.cluster(file, pipe.devices()).orElseThrow();
        return StrategyStep.run(file, pipe, cluster, null, null, true).stepSeconds();
    }
}
