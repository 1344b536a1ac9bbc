package io.tessera.bench;

import io.tessera.simulator.timeline.TimelineReport;

import io.tessera.simulator.timeline.TimelineOptions;

import io.tessera.simulator.timeline.Timeline;

import io.tessera.layout.DType;
import io.tessera.planner.cost.ClusterSpec;
import io.tessera.planner.cost.RankMapping;
import io.tessera.planner.graph.Network;
import io.tessera.planner.plan.Plan;
import io.tessera.planner.plan.Planner;
import io.tessera.planner.zoo.GptConfig;
import io.tessera.planner.handplan.HandPlans;
import io.tessera.planner.zoo.Zoo;

import java.util.Locale;
import java.util.Objects;

/**
 * The benchmark behind {@code tessera bench timeline}: wall time to build a Megatron-style {@code gpt}, plan it
 * ({@link HandPlans#megatronGptConfig}, data x tensor parallel) and simulate one training step with the analytic
 * {@link Timeline} (no events recorded), end to end in one JVM. The default is a ~1-trillion-parameter model: 128
 * layers, hidden 25600, 160 heads, ffn 4 x hidden, seq 2048, vocab 51200, float16, batch 384 (one sample per
 * data-parallel rank) on 3,072 devices (dp 384 x mp 8) of the {@code a100-80gb-dgx} preset (384 nodes).
 */
public final class TimelineBenchmark {

    private TimelineBenchmark() {
    }

    /**
     * What is benchmarked.
     *
     * @param layers      transformer layers, positive (default 128)
     * @param hidden      model width, positive, a multiple of {@code heads} (default 25600)
     * @param heads       attention heads, a multiple of {@code mp} dividing {@code hidden} (default 160)
     * @param seq         sequence length, positive (default 2048)
     * @param vocab       vocabulary size, positive, rounded up to a multiple of {@code mp} (default 51200)
     * @param devices     devices, a multiple of {@code mp}; the batch is {@code devices / mp} (default 3072)
     * @param mp          tensor-parallel degree (default 8); the data-parallel degree is {@code devices / mp}
     * @param cluster     a cluster preset, grown to {@code ceil(devices / devicesPerNode)} nodes (default
     *                    {@code a100-80gb-dgx})
     * @param rankMapping how ranks are placed on nodes (default {@link RankMapping#block()})
     * @param perRank     true to run the per-rank reference timeline instead of classes of ranks (default false)
     */
    public record Setup(int layers, int hidden, int heads, int seq, int vocab, int devices, int mp, String cluster,
                        RankMapping rankMapping, boolean perRank) {

        /** Validates the sizes and degrees. */
        public Setup {
            positive("layers", layers);
            positive("hidden", hidden);
            positive("heads", heads);
            positive("seq", seq);
            positive("vocab", vocab);
            positive("devices", devices);
            positive("mp", mp);
            if (devices % mp != 0) {
                throw new IllegalArgumentException("timeline benchmark: devices " + devices
                        + " is not a multiple of mp " + mp + "; choose devices = dp x mp");
            }
            if (hidden % heads != 0 || heads % mp != 0) {
                throw new IllegalArgumentException("timeline benchmark: heads " + heads + " must divide hidden "
                        + hidden + " and be a multiple of mp " + mp + "; choose another heads count");
            }
            Objects.requireNonNull(cluster, "cluster");
            Objects.requireNonNull(rankMapping, "rankMapping");
        }

        private static void positive(String what, int v) {
            if (v <= 0) {
                throw new IllegalArgumentException("timeline benchmark: " + what + " is " + v
                        + "; expected a positive number");
            }
        }

        /** The ~1-trillion-parameter default (see the class comment). */
        public static Setup defaults() {
            return new Setup(128, 25600, 160, 2048, 51200, 3072, 8, "a100-80gb-dgx", RankMapping.block(), false);
        }

        /** The data-parallel degree, {@code devices / mp}. */
        public int dp() {
            return devices / mp;
        }

        /** The model: ffn 4 x hidden, vocab rounded up to a multiple of mp, batch dp, float16. */
        public GptConfig model() {
            int v = (int) ((vocab + (long) mp - 1) / mp * mp);
            return new GptConfig(layers, hidden, heads, 4 * hidden, seq, v, dp(), DType.FLOAT16);
        }

        /**
         * The cluster: the preset grown to fit the devices, with the rank mapping.
         *
         * @throws IllegalArgumentException naming the presets when {@code cluster} is not one
         */
        public ClusterSpec clusterSpec() {
            ClusterSpec preset = ClusterSpec.preset(cluster);
            return preset.withNodesFor(devices).withRankMapping(rankMapping);
        }
    }

    /**
     * One measured run.
     *
     * @param parameters      the model's parameter elements
     * @param operators       operators planned
     * @param communications  communications the plan inserts
     * @param classes         the most classes of ranks the timeline kept at once (the ranks with {@code perRank})
     * @param buildSeconds    wall time to build the network, in seconds
     * @param planSeconds     wall time to plan it, in seconds
     * @param timelineSeconds wall time of the analytic timeline, in seconds
     * @param stepSeconds     the simulated step time, in seconds
     * @param mfu             the simulated model FLOP utilisation, in [0, 1]
     */
    public record Run(long parameters, int operators, int communications, int classes, double buildSeconds,
                      double planSeconds, double timelineSeconds, double stepSeconds, double mfu) {

        /** Build, plan and timeline together, in seconds. */
        public double totalSeconds() {
            return buildSeconds + planSeconds + timelineSeconds;
        }
    }

    /**
     * Builds, plans and simulates {@code setup} once, timing each phase.
     *
     * @throws IllegalArgumentException when the cluster is not a preset
     */
    public static Run run(Setup setup) {
        ClusterSpec cluster = setup.clusterSpec();
        GptConfig c = setup.model();
        long t0 = System.nanoTime();
        Network net = Zoo.gpt(c);
        long t1 = System.nanoTime();
        Plan plan = Planner.plan(net, HandPlans.megatronGptConfig(c, setup.dp(), setup.mp()));
        long t2 = System.nanoTime();
        TimelineOptions options = new TimelineOptions(cluster, true, 0, setup.perRank());
        Timeline.Result result = Timeline.simulate(plan, options, null, 0, 0);
        long t3 = System.nanoTime();
        return new Run(net.parameterCount(), plan.ops().size(), plan.comms().size(), result.classes(),
                (t1 - t0) / 1e9, (t2 - t1) / 1e9, (t3 - t2) / 1e9, result.report().stepSeconds(),
                result.report().mfu());
    }

    /** One line describing the model and the cluster of {@code setup}. */
    public static String describe(Setup setup, long parameters) {
        GptConfig c = setup.model();
        return String.format(Locale.ROOT, "gpt %d layers, hidden %d, %d heads, ffn %d, seq %d, vocab %d, batch %d, "
                        + "float16 (%.3g parameters); Megatron dp %d x mp %d on %d devices of %s (%s rank mapping)",
                c.layers(), c.hidden(), c.heads(), c.ffn(), c.seq(), c.vocab(), c.batch(), (double) parameters,
                setup.dp(), setup.mp(), setup.devices(), setup.cluster(), setup.rankMapping().kind().jsonName());
    }

    /** {@code step time 29.092 s, MFU 17.3%} (the step in s, ms or us). */
    public static String stepLine(Run r) {
        return "step time " + TimelineReport.seconds(r.stepSeconds()) + String.format(Locale.ROOT, ", MFU %.1f%%",
                100 * r.mfu());
    }

    /** Runs the default setup once and prints one line per phase. */
    public static void main(String[] args) {
        Setup s = Setup.defaults();
        Run r = run(s);
        System.out.println(describe(s, r.parameters()));
        System.out.printf(Locale.ROOT, "build    %.3f s%nplan     %.3f s%ntimeline %.3f s%ntotal    %.3f s%n%s%n",
                r.buildSeconds(), r.planSeconds(), r.timelineSeconds(), r.totalSeconds(), stepLine(r));
    }
}
