package io.tessera.simulator.numeric;

import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The comparison of a simulated multi-rank run with one device. Relative errors are per tensor: the largest
 * absolute difference divided by the largest absolute value of the one-device tensor; a parameter whose relative error
 * exceeds the tolerance is measured instead against the larger of that value and a round-off floor (16 units of
 * round-off of the run's largest parameter update, see {@code Simulation}), so that a parameter whose update is 0 in
 * exact arithmetic is not judged by its round-off alone. Immutable.
 *
 * @param ranks        the number of ranks (all stages)
 * @param stages       the pipeline stages (1 without pipeline parallelism)
 * @param microBatches the micro-batches per step (1 without gradient accumulation)
 * @param options     the options of the run
 * @param steps       per training step, the losses and the largest relative error after it
 * @param paramErrors per trainable parameter, its largest relative error over the steps
 * @param maxRelError the largest relative error over every step, the loss and every updated parameter
 * @param passed      whether {@code maxRelError} is within the tolerance of the dtype (1e-5 float32, 1e-12 float64)
 */
public record SimulationReport(int ranks, int stages, int microBatches, SimulationOptions options, List<Step> steps, Map<String, Double> paramErrors,
                               double maxRelError, boolean passed) {

    /**
     * One training step.
     *
     * @param step         the step number, from 0
     * @param lossSingle   the loss on one device
     * @param lossParallel the loss of the parallel run
     * @param maxRelError  the largest relative error after this step (loss and parameters)
     */
    public record Step(int step, double lossSingle, double lossParallel, double maxRelError) {
    }

    /** Validates the counts and copies the collections. */
    public SimulationReport {
        if (stages < 1 || microBatches < 1 || ranks % stages != 0) {
            throw new IllegalArgumentException("SimulationReport: found " + ranks + " ranks, " + stages + " stages, "
                    + microBatches + " micro-batches; expected stages >= 1 dividing the ranks and micro-batches >= 1");
        }
        steps = List.copyOf(steps);
        paramErrors = Map.copyOf(paramErrors);
    }

    /** A report without pipeline stages or micro-batches (one stage, one micro-batch per step). */
    public SimulationReport(int ranks, SimulationOptions options, List<Step> steps, Map<String, Double> paramErrors,
                            double maxRelError, boolean passed) {
        this(ranks, 1, 1, options, steps, paramErrors, maxRelError, passed);
    }

    /** Whether the run had pipeline stages or several micro-batches per step. */
    public boolean pipelined() {
        return stages > 1 || microBatches > 1;
    }

    /**
     * A readable summary, one line per step and a verdict; with pipeline stages or micro-batches the first line gives
     * them, e.g. {@code numeric simulation on 16 ranks (2 pipeline stages of 8 ranks, 4 micro-batches per step), ...}.
     */
    public String summary() {
        StringBuilder sb = new StringBuilder();
        String pipeline = !pipelined() ? "" : String.format(Locale.ROOT, " (%d pipeline stage%s of %d ranks, "
                + "%d micro-batch%s per step)", stages, stages == 1 ? "" : "s", ranks / stages, microBatches,
                microBatches == 1 ? "" : "es");
        sb.append(String.format(Locale.ROOT, "numeric simulation on %d ranks%s, %s, %d steps%n", ranks, pipeline,
                options.dtype().jsonName(), steps.size()));
        sb.append(String.format(Locale.ROOT, "  %4s %16s %16s %12s%n", "step", "loss (1 device)", "loss (parallel)",
                "max rel err"));
        for (Step s : steps) {
            sb.append(String.format(Locale.ROOT, "  %4d %16.9g %16.9g %12.3e%n", s.step(), s.lossSingle(),
                    s.lossParallel(), s.maxRelError()));
        }
        sb.append(String.format(Locale.ROOT, "%s: max relative error %.3e (tolerance %.0e)%n",
                passed ? "PASSED" : "FAILED", maxRelError, options.tolerance()));
        return sb.toString();
    }
}
