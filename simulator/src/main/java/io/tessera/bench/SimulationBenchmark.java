package io.tessera.bench;

import io.tessera.layout.DType;
import io.tessera.layout.param.Parameter;
import io.tessera.planner.graph.Network;
import io.tessera.planner.op.Activation;
import io.tessera.planner.op.MatMul;
import io.tessera.planner.op.Reduce;
import io.tessera.planner.op.SoftmaxCrossEntropyWithLogits;
import io.tessera.planner.op.Strategy;
import io.tessera.planner.op.TensorType;
import io.tessera.planner.plan.Plan;
import io.tessera.planner.plan.PlanConfig;
import io.tessera.planner.plan.Planner;
import io.tessera.planner.strategy.DatasetStrategy;
import io.tessera.simulator.numeric.Simulation;
import io.tessera.simulator.numeric.SimulationOptions;

import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;

/**
 * The numeric-simulation benchmark behind {@code tessera bench simulate}: one training step of the MLP
 * {@code in -> hidden (GeLU) -> in} with a softmax cross-entropy loss, column- then row-parallel over 8 ranks and batch
 * over the rest, simulated on 8 and 64 ranks, against the one-device step of the same model in the same run. It
 * times the two runs of one {@link Simulation} separately ({@link Simulation#parallelStep},
 * {@link Simulation#referenceStep}).
 */
public final class SimulationBenchmark {

    private SimulationBenchmark() {
    }

    /**
     * One measured case.
     *
     * @param batch          the batch size
     * @param ranks          simulated ranks (tensor parallel 8 x data parallel ranks / 8)
     * @param singleSeconds  one training step on one device, in seconds (best of the timed steps)
     * @param parallelSeconds one training step on the simulated ranks, in seconds (best of the timed steps)
     * @param maxRelError    the comparison of the two runs after the timed steps
     */
    public record Case(int batch, int ranks, double singleSeconds, double parallelSeconds, double maxRelError) {
        /** {@code parallelSeconds / singleSeconds}; the goal is at most 1.5. */
        public double ratio() {
            return parallelSeconds / singleSeconds;
        }
    }

    /** The MLP of the benchmark: x [batch, width] -> [width, hidden] -> GeLU -> [hidden, width] -> loss. */
    public static Network mlp(int batch, int width, int hidden) {
        Network.Builder b = Network.builder("bench_mlp");
        b.input("x", TensorType.of(DType.FLOAT32, batch, width));
        b.input("labels", TensorType.of(DType.FLOAT32, batch, width));
        String w1 = b.parameter(Parameter.fromInitializer("xavier_uniform", new long[] {width, hidden}, DType.FLOAT32,
                "w1"));
        String w2 = b.parameter(Parameter.fromInitializer("xavier_uniform", new long[] {hidden, width}, DType.FLOAT32,
                "w2"));
        String h = b.op("fc1", MatMul.of(false, false), "x", w1);
        String g = b.op("gelu", Activation.gelu(), h);
        String y = b.op("fc2", MatMul.of(false, false), g, w2);
        String l = b.op("loss_fn", new SoftmaxCrossEntropyWithLogits(), y, "labels");
        b.loss(b.op("loss", Reduce.mean(false), l));
        return b.build();
    }

    /** Column- then row-parallel over {@code mp} ranks, batch over {@code dp}. */
    public static PlanConfig megatron(int dp, int mp) {
        return PlanConfig.builder(dp * mp)
                .dataset(new DatasetStrategy.Explicit(Strategy.of(new int[] {dp, 1}, new int[] {dp, 1})))
                .strategy("fc1", new int[] {dp, 1}, new int[] {1, mp})
                .strategy("gelu", new int[] {dp, mp})
                .strategy("fc2", new int[] {dp, mp}, new int[] {mp, 1})
                .strategy("loss_fn", new int[] {dp, 1}, new int[] {dp, 1})
                .strategy("loss", new int[] {dp})
                .build();
    }

    /**
     * Measures batches {@code batches} on 8 and 64 ranks for an MLP of {@code width -> hidden -> width}: one warm-up
     * step, then {@code steps} timed steps of each run.
     */
    public static List<Case> run(int[] batches, int width, int hidden, int steps, Consumer<String> progress) {
        List<Case> out = new ArrayList<>();
        for (int batch : batches) {
            for (int ranks : new int[] {8, 64}) {
                progress.accept("batch " + batch + " on " + ranks + " ranks ...");
                out.add(measure(batch, width, hidden, ranks, steps));
            }
        }
        return out;
    }

    /** One case: {@code ranks} = 8 x (ranks / 8). */
    public static Case measure(int batch, int width, int hidden, int ranks, int steps) {
        Network net = mlp(batch, width, hidden);
        Plan plan = Planner.plan(net, megatron(ranks / 8, 8));
        SimulationOptions options = new SimulationOptions(steps + 1, DType.FLOAT32, 0.01, 1,
                Runtime.getRuntime().availableProcessors());
        // the simulation's reference is the one-device plan of the same network, planned stand-alone
        Simulation sim = Simulation.of(plan, options);
        sim.parallelStep(0);
        sim.referenceStep(0);
        double bestParallel = Double.MAX_VALUE;
        double bestSingle = Double.MAX_VALUE;
        for (int k = 1; k <= steps; k++) {
            long t0 = System.nanoTime();
            sim.referenceStep(k);
            bestSingle = Math.min(bestSingle, (System.nanoTime() - t0) / 1e9);
            t0 = System.nanoTime();
            sim.parallelStep(k);
            bestParallel = Math.min(bestParallel, (System.nanoTime() - t0) / 1e9);
        }
        double err = 0;
        for (String p : List.of("w1", "w2")) {
            err = Math.max(err, sim.gatheredParameter(p).relativeError(sim.referenceParameter(p)));
        }
        return new Case(batch, ranks, bestSingle, bestParallel, err);
    }
}
