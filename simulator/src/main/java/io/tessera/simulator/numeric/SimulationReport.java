package io.tessera.simulator.numeric;

import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The comparison of a simulated multi-rank run with one device. Relative errors are per tensor: the largest
 * absolute difference divided by the largest absolute value of the one-device tensor. Immutable.
 *
 * @param ranks       the number of ranks
 * @param options     the options of the run
 * @param steps       per training step, the losses and the largest relative error after it
 * @param paramErrors per trainable parameter, its largest relative error over the steps
 * @param maxRelError the largest relative error over every step, the loss and every updated parameter
 * @param passed      whether {@code maxRelError} is within the tolerance of the dtype (1e-5 float32, 1e-12 float64)
 */
public record SimulationReport(int ranks, SimulationOptions options, List<Step> steps, Map<String, Double> paramErrors,
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

    /** Copies the collections. */
    public SimulationReport {
        steps = List.copyOf(steps);
        paramErrors = Map.copyOf(paramErrors);
    }

    /** A readable summary, one line per step and a verdict. */
    public String summary() {
        StringBuilder sb = new StringBuilder();
        sb.append(String.format(Locale.ROOT, "numeric simulation on %d ranks, %s, %d steps%n", ranks,
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
