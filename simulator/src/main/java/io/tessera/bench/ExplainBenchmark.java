package io.tessera.bench;

import io.tessera.planner.api.StrategyPlans;
import io.tessera.planner.plan.PipelinePlan;
import io.tessera.planner.strategy.StrategyFile;
import io.tessera.planner.strategy.StrategyFiles;
import io.tessera.simulator.explain.Explainer;
import io.tessera.simulator.explain.Explanation;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;

/**
 * What {@code tessera explain --per-family} costs on a strategy file: the setup (read, plan, simulate the step once),
 * then one communication per family explained within the time limit, with how many changes fit in it.
 */
public final class ExplainBenchmark {

    private ExplainBenchmark() {
    }

    /**
     * The figures of one file.
     *
     * @param file                  the strategy file
     * @param devices               devices of the plan
     * @param communications        communications of the plan
     * @param explained             communications explained: the first of each family
     * @param suggestions           of them, with a verified suggestion
     * @param stopped               of them, whose search the time limit cut
     * @param setupSeconds          seconds to read, plan and simulate the file once
     * @param meanSeconds           mean seconds of one explanation
     * @param slowestSeconds        seconds of the slowest explanation
     * @param overLimit             explanations that took longer than the limit
     * @param evaluations           changes re-planned (and simulated when they removed the communication)
     * @param meanEvaluationSeconds mean seconds of one evaluation
     * @param limitSeconds          the time limit per communication, seconds
     */
    public record Case(Path file, int devices, int communications, int explained, int suggestions, int stopped,
                       double setupSeconds, double meanSeconds, double slowestSeconds, int overLimit,
                       int evaluations, double meanEvaluationSeconds, double limitSeconds) {
    }

    /**
     * Explains one communication per family of each file.
     *
     * @param files        the strategy files
     * @param limitSeconds the time limit per communication, seconds
     * @param progress     receives one line per file before it runs
     * @throws IllegalArgumentException when a file cannot be read or planned
     */
    public static List<Case> run(List<Path> files, double limitSeconds, Consumer<String> progress) {
        List<Case> out = new ArrayList<>();
        for (Path f : files) {
            progress.accept(f.toString());
            long t0 = System.nanoTime();
            StrategyFile file = StrategyFiles.read(f);
            PipelinePlan pipe = StrategyPlans.pipelinePlan(file, null);
            Explainer x = Explainer.of(file, pipe, Explainer.cluster(file, pipe.devices()));
            double setup = (System.nanoTime() - t0) / 1e9;
            int explained = 0;
            int suggestions = 0;
            int stopped = 0;
            int over = 0;
            double total = 0;
            double slowest = 0;
            for (List<Integer> family : x.families().values()) {
                long t = System.nanoTime();
                Explanation e = x.explain(family.get(0), limitSeconds);
                double took = (System.nanoTime() - t) / 1e9;
                explained++;
                total += took;
                slowest = Math.max(slowest, took);
                over += took > limitSeconds ? 1 : 0;
                suggestions += e.outcome() instanceof Explanation.Suggestion ? 1 : 0;
                stopped += e.search().timeLimitReached() ? 1 : 0;
            }
            out.add(new Case(f, pipe.devices(), x.communications(), explained, suggestions, stopped, setup,
                    explained == 0 ? 0 : total / explained, slowest, over, x.evaluations(),
                    x.meanEvaluationSeconds(), limitSeconds));
        }
        return out;
    }
}
