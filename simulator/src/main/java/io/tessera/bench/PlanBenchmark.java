package io.tessera.bench;

import io.tessera.layout.DType;
import io.tessera.planner.graph.Network;
import io.tessera.planner.plan.Plan;
import io.tessera.planner.plan.PlanConfig;
import io.tessera.planner.plan.Planner;
import io.tessera.planner.strategy.OptimizerKind;
import io.tessera.planner.strategy.ParallelOptimizerConfig;
import io.tessera.planner.zoo.GptConfig;
import io.tessera.planner.handplan.HandPlans;
import io.tessera.planner.zoo.Zoo;

import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;

/**
 * The planning benchmark behind {@code tessera bench plan}: wall time to plan (forward and backward) a Megatron-style
 * {@code gpt} of 24 and 96 layers on 8 x 8 and 64 x 64 device matrices (dp x mp), and the 96-layer 64 x 64 case again
 * with optimizer parallel (default threshold, Adam): sharding decisions, fusion buckets and memory included.
 */
public final class PlanBenchmark {

    private PlanBenchmark() {
    }

    /**
     * One measured case.
     *
     * @param layers         GPT layers
     * @param dp             data-parallel degree
     * @param mp             tensor-parallel degree
     * @param optimizerParallel whether optimizer parallel was enabled
     * @param operators      operators planned
     * @param communications communications inserted
     * @param buildSeconds     time to build the network, in seconds
     * @param firstPlanSeconds time of the first plan of the case, in seconds (includes JIT warm-up in a fresh JVM)
     * @param planSeconds      best time to plan it, in seconds (each run a fresh planner with empty caches)
     */
    public record Case(int layers, int dp, int mp, boolean optimizerParallel, int operators, int communications, double buildSeconds,
                       double firstPlanSeconds, double planSeconds) {
        /** Number of devices. */
        public int devices() {
            return dp * mp;
        }
    }

    /** The GPT shape planned: hidden 4096, 64 heads, ffn 16384, seq 2048, vocab 51200, batch 64 (metadata only). */
    public static GptConfig model(int layers) {
        return new GptConfig(layers, 4096, 64, 16384, 2048, 51200, 64, DType.FLOAT16);
    }

    /**
     * Plans each case {@code repeats} times (at least 1) and keeps the best time.
     *
     * @param progress receives one line per case
     */
    public static List<Case> run(int repeats, Consumer<String> progress) {
        List<Case> out = new ArrayList<>();
        int[][] cases = {{24, 8, 8, 0}, {96, 8, 8, 0}, {24, 64, 64, 0}, {96, 64, 64, 0}, {96, 64, 64, 1}};
        for (int[] k : cases) {
            progress.accept("gpt " + k[0] + " layers on " + k[1] + " x " + k[2]
                    + (k[3] == 1 ? " with optimizer parallel" : "") + " ...");
            out.add(measure(k[0], k[1], k[2], k[3] == 1, Math.max(1, repeats)));
        }
        return out;
    }

    /** Measures one case. */
    public static Case measure(int layers, int dp, int mp, boolean optimizerParallel, int repeats) {
        long t0 = System.nanoTime();
        GptConfig c = model(layers);
        Network net = Zoo.gpt(c);
        double build = (System.nanoTime() - t0) / 1e9;
        PlanConfig.Builder b = PlanConfig.builder(dp * mp).dataset(HandPlans.megatronGptConfig(c, dp, mp).dataset());
        HandPlans.megatronGpt(c, dp, mp).forEach(b::strategy);
        if (optimizerParallel) {
            b.parallelOptimizer(ParallelOptimizerConfig.defaults()).optimizer(OptimizerKind.ADAM);
        }
        PlanConfig config = b.build();
        double best = Double.MAX_VALUE;
        double first = 0;
        Plan plan = null;
        for (int i = 0; i < repeats; i++) {
            long s = System.nanoTime();
            plan = Planner.plan(net, config);
            double t = (System.nanoTime() - s) / 1e9;
            if (i == 0) {
                first = t;
            }
            best = Math.min(best, t);
        }
        return new Case(layers, dp, mp, optimizerParallel, plan.ops().size(), plan.comms().size(), build, first, best);
    }

    /** Prints the documented run (3 repeats). */
    public static void main(String[] args) {
        for (Case c : run(3, System.err::println)) {
            System.out.println(c);
        }
    }
}
