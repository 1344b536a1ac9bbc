package io.tessera.simulator.numeric;

import io.tessera.layout.param.ParallelMode;
import io.tessera.planner.plan.OpPlan;
import io.tessera.planner.plan.ParamPlan;
import io.tessera.planner.plan.PipelinePlan;
import io.tessera.planner.plan.Plan;
import io.tessera.planner.plan.PlanConfig;
import io.tessera.planner.plan.Planner;
import io.tessera.simulator.array.NDArray;
import io.tessera.simulator.cluster.RankState;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Simulated multi-card training runs: executes a plan's training steps on its ranks inside one JVM and compares
 * every step with the same network trained on one device from the same initial parameters (exact sharded
 * initialisation makes them bit-identical) and the same batches. Use it in JUnit tests:
 * <pre>{@code
 * SimulationReport report = Simulation.run(plan, SimulationOptions.defaults().withSteps(3));
 * assertTrue(report.passed(), report.summary());
 * }</pre>
 *
 * <p>A {@link PipelinePlan} runs on all its stages' ranks ({@code stages * n}), each step over its micro-batches with
 * gradient accumulation (see {@code Execution}); the one-device reference runs the same micro-batches with the same
 * accumulation. A {@link Plan} is a pipeline of one stage and one micro-batch.
 *
 * <p>The reference computes the gradient MindSpore computes with the plan's settings: in semi_auto / auto parallel
 * the one-device gradient, which {@code gradients_mean} multiplies by {@code 1 / size} of each parameter's gradient
 * reduction group (MindSpore's mirror operator with {@code mean_flag}); in data_parallel mode, where each rank's loss
 * is its batch shard's mean, the one-device gradient with {@code gradients_mean}, else that times the group size. So
 * a correct plan passes with either setting (see {@code GradientScales}).
 */
public final class Simulation {

    private final PipelinePlan pipe;
    private final Plan plan;
    private final Execution parallel;
    private final Execution single;
    private final SimulationOptions options;

    private Simulation(PipelinePlan pipe, SimulationOptions options) {
        this.pipe = pipe;
        this.plan = pipe.plan();
        this.options = options;
        this.parallel = new Execution(pipe, options);
        PlanConfig one = PlanConfig.builder(1).mode(ParallelMode.STAND_ALONE).optimizer(plan.config().optimizer())
                .build();
        Plan onePlan = Planner.plan(plan.network(), one);
        Map<String, Integer> stage0 = new LinkedHashMap<>();
        for (OpPlan op : onePlan.ops()) {
            stage0.put(op.name(), 0);
        }
        this.single = new Execution(new PipelinePlan(onePlan, 1, pipe.microBatches(), stage0, List.of()), options,
                GradientScales.of(plan));
    }

    /** Prepares a simulation of {@code plan} (ranks hold their parameter slices; nothing has run yet). */
    public static Simulation of(Plan plan, SimulationOptions options) {
        return new Simulation(PipelinePlan.single(plan), options);
    }

    /**
     * Prepares a simulation of a pipeline plan on its {@code pipe.devices()} ranks: global rank
     * {@code stage * n + local} holds its stage's parameter slices of local rank {@code local}; nothing has run yet.
     */
    public static Simulation of(PipelinePlan pipe, SimulationOptions options) {
        return new Simulation(pipe, options);
    }

    /** Runs {@code options.steps()} training steps of {@code plan} and of its one-device reference, and compares. */
    public static SimulationReport run(Plan plan, SimulationOptions options) {
        return of(plan, options).run();
    }

    /**
     * Runs {@code options.steps()} training steps of a pipeline plan (each over its micro-batches) and of its
     * one-device reference (the same micro-batches and gradient accumulation), and compares.
     */
    public static SimulationReport run(PipelinePlan pipe, SimulationOptions options) {
        return of(pipe, options).run();
    }

    /** Runs the configured number of steps and compares with one device after each. */
    public SimulationReport run() {
        List<SimulationReport.Step> steps = new ArrayList<>();
        Map<String, Double> paramErrors = new LinkedHashMap<>();
        double worst = 0;
        for (int k = 0; k < options.steps(); k++) {
            double[] losses = parallel.step(k);
            double singleLoss = single.step(k)[0];
            double parallelLoss = parallelLoss(losses);
            double lossError = relative(parallelLoss, singleLoss);
            double stepWorst = lossError;
            for (ParamPlan p : plan.params()) {
                if (!p.trainable()) {
                    continue;
                }
                double e = parallel.gatherParam(p.name()).relativeError(single.gatherParam(p.name()));
                paramErrors.merge(p.name(), e, Math::max);
                stepWorst = Math.max(stepWorst, e);
            }
            worst = Math.max(worst, stepWorst);
            steps.add(new SimulationReport.Step(k, singleLoss, parallelLoss, stepWorst));
        }
        return new SimulationReport(pipe.devices(), pipe.stages(), pipe.microBatches(), options, steps, paramErrors,
                worst, worst <= options.tolerance());
    }

    /**
     * Runs training step {@code step} (0-based: it selects the step's batches and Adam's bias correction) of the
     * parallel run alone, without the reference or a comparison: for timing the two runs separately. Call it with
     * steps 0, 1, ... in order; {@link #run()} on the same simulation would continue from the state it leaves.
     *
     * @return the loss the parallel run reports for the step (as {@link SimulationReport.Step#lossParallel()})
     */
    public double parallelStep(int step) {
        return parallelLoss(parallel.step(step));
    }

    /**
     * Runs training step {@code step} of the one-device reference alone (see {@link #parallelStep}).
     *
     * @return the reference's loss for the step (as {@link SimulationReport.Step#lossSingle()})
     */
    public double referenceStep(int step) {
        return single.step(step)[0];
    }

    /**
     * The loss the parallel run reports, from the ranks of the stage computing the loss (each rank's: the mean of its
     * micro-batch losses): every rank's in semi-auto; the mean of the ranks' in data_parallel.
     */
    private double parallelLoss(double[] losses) {
        if (plan.config().mode() != ParallelMode.DATA_PARALLEL) {
            return losses[0];
        }
        double s = 0;
        for (double l : losses) {
            s += l;
        }
        return s / losses.length;
    }

    private static double relative(double a, double b) {
        return a == b ? 0 : Math.abs(a - b) / Math.max(Math.abs(b), Double.MIN_NORMAL);
    }

    /**
     * Global rank {@code rank}'s local tensors by slot name (parameters under {@code param/}, activations of the
     * last micro-batch under {@code act/}); with pipeline stages only its stage's.
     */
    public RankState rank(int rank) {
        return parallel.cluster().state(rank);
    }

    /** The parallel run's parameter {@code name}, gathered from the ranks (of its stage). */
    public NDArray gatheredParameter(String name) {
        return parallel.gatherParam(name);
    }

    /** The one-device run's parameter {@code name}. */
    public NDArray referenceParameter(String name) {
        return single.gatherParam(name);
    }
}
