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
    /** The one-device run's trainable parameters before its first step, for {@link #updateScale}. */
    private final Map<String, NDArray> initial = new LinkedHashMap<>();

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
        for (ParamPlan p : plan.params()) {
            if (p.trainable()) {
                initial.put(p.name(), single.gatherParam(p.name()));
            }
        }
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
        return run(k -> { });
    }

    /**
     * As {@link #run()}, calling {@code beforeStep} with the step index before each step: a caller's time limit
     * throws from it (an unchecked exception, which ends the run).
     */
    public SimulationReport run(java.util.function.IntConsumer beforeStep) {
        List<SimulationReport.Step> steps = new ArrayList<>();
        Map<String, Double> paramErrors = new LinkedHashMap<>();
        double worst = 0;
        for (int k = 0; k < options.steps(); k++) {
            beforeStep.accept(k);
            double[] losses = parallel.step(k);
            double singleLoss = single.step(k)[0];
            double parallelLoss = parallelLoss(losses);
            double lossError = relative(parallelLoss, singleLoss);
            double stepWorst = lossError;
            Map<String, NDArray> reference = new LinkedHashMap<>();
            for (ParamPlan p : plan.params()) {
                if (p.trainable()) {
                    reference.put(p.name(), single.gatherParam(p.name()));
                }
            }
            double floor = roundOffFloor(reference);
            for (Map.Entry<String, NDArray> r : reference.entrySet()) {
                NDArray got = parallel.gatherParam(r.getKey());
                double e = got.relativeError(r.getValue());
                if (e > options.tolerance()) {
                    e = got.relativeError(r.getValue(), floor);
                }
                String name = r.getKey();
                paramErrors.merge(name, e, Math::max);
                stepWorst = Math.max(stepWorst, e);
            }
            worst = Math.max(worst, stepWorst);
            steps.add(new SimulationReport.Step(k, singleLoss, parallelLoss, stepWorst));
        }
        return new SimulationReport(pipe.devices(), pipe.stages(), pipe.microBatches(), options, steps, paramErrors,
                worst, worst <= options.tolerance());
    }

    /** Units of round-off of the largest update within which a difference counts as round-off. */
    static final double ROUND_OFF_UNITS = 16;

    /**
     * The floor of a parameter's relative error when its purely relative error exceeds the tolerance:
     * {@code ROUND_OFF_UNITS * u * U / tolerance}, with {@code u} the unit round-off of the dtype ({@code 2^-24}
     * float32, {@code 2^-53} float64) and {@code U} the largest change of any element of any trainable parameter of
     * the one-device run since its start (the size of the training's updates so far). Such a parameter then passes
     * when its largest difference is within {@code ROUND_OFF_UNITS} units of round-off of {@code U}. This is for
     * updates that are 0 in exact arithmetic: the attention key bias's gradient vanishes (softmax ignores the
     * constant {@code q . bk} added to a row of scores), so from a zero initialisation the bias stays at round-off
     * size, where a purely relative error measures round-off against round-off. A wrong gradient of such a parameter
     * (an update of the size of the others) still fails, and parameters within the tolerance keep their relative
     * error. Adam amplifies the round-off of a vanishing gradient by up to {@code lr / epsilon}, beyond this floor:
     * with Adam, start such a parameter away from 0.
     */
    private double roundOffFloor(Map<String, NDArray> reference) {
        double u = options.dtype() == io.tessera.layout.DType.FLOAT32 ? 0x1p-24 : 0x1p-53;
        return ROUND_OFF_UNITS * u * updateScale(reference) / options.tolerance();
    }

    /** The largest change of any element of the one-device run's trainable parameters since its start. */
    private double updateScale(Map<String, NDArray> reference) {
        double most = 0;
        for (Map.Entry<String, NDArray> r : reference.entrySet()) {
            double[] now = r.getValue().data();
            double[] start = initial.get(r.getKey()).data();
            for (int i = 0; i < now.length; i++) {
                most = Math.max(most, Math.abs(now[i] - start[i]));
            }
        }
        return most;
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

    /** The plan the parallel run executes. */
    public PipelinePlan pipelinePlan() {
        return pipe;
    }

    /** The one-device reference's tensors by slot name (whole parameters under {@code param/}). */
    public RankState referenceRank() {
        return single.cluster().state(0);
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
