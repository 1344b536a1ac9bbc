package io.tessera.simulator.timeline;

import io.tessera.layout.DType;
import io.tessera.planner.cost.ClusterSpec;
import io.tessera.planner.cost.CollectiveAlgorithm;
import io.tessera.planner.cost.RankMapping;
import io.tessera.planner.plan.Plan;
import io.tessera.planner.plan.PlanConfig;
import io.tessera.planner.plan.Planner;
import io.tessera.planner.api.StrategyPlans;
import io.tessera.planner.strategy.OptimizerKind;
import io.tessera.planner.strategy.ParallelOptimizerConfig;
import io.tessera.planner.strategy.StrategyFiles;
import io.tessera.planner.zoo.GptConfig;
import io.tessera.planner.handplan.HandPlans;
import io.tessera.planner.zoo.Zoo;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The class-of-ranks engine of {@link Timeline} against the per-rank reference ({@link TimelineOptions#perRank()}):
 * identical figures, memory, volumes, per-rank events and forward / backward ends on plans and clusters where ranks
 * are not alike (stragglers, groups straddling nodes unevenly, shuffled rank mappings, optimizer shard groups,
 * data- vs tensor-parallel mixes), and one class for a symmetric plan.
 */
class TimelineClassesTest {

    private static final ClusterSpec A100 = ClusterSpec.preset("a100-80gb-dgx");

    /** Every shipped strategy, small zoo GPTs of several dp x mp mixes, and an MLP with one bucket per gradient. */
    private static Map<String, Plan> plans() throws IOException {
        Map<String, Plan> plans = new LinkedHashMap<>();
        try (Stream<Path> files = Files.list(Path.of("../strategies"))) {
            for (Path f : files.filter(p -> p.toString().endsWith(".json")).sorted().toList()) {
                plans.put(f.getFileName().toString(), StrategyPlans.plan(StrategyFiles.read(f)));
            }
        }
        GptConfig c = new GptConfig(2, 64, 8, 256, 16, 64, 16, DType.FLOAT16);
        for (int[] dpMp : new int[][] {{8, 1}, {1, 8}, {4, 2}, {2, 4}}) {
            plans.put("gpt dp " + dpMp[0] + " mp " + dpMp[1],
                    Planner.plan(Zoo.gpt(c), HandPlans.megatronGptConfig(c, dpMp[0], dpMp[1])));
        }
        // optimizer parallel with shard groups of 2 inside data-parallel groups of 8: sharded parameters, mirror
        // AllReduces over the ranks holding the same shard
        PlanConfig.Builder b = PlanConfig.builder(16).dataset(HandPlans.megatronGptConfig(c, 8, 2).dataset())
                .parallelOptimizer(ParallelOptimizerConfig.of(0, 2)).optimizer(OptimizerKind.ADAM);
        HandPlans.megatronGpt(c, 8, 2).forEach(b::strategy);
        plans.put("gpt dp 8 mp 2 optimizer shards of 2", Planner.plan(Zoo.gpt(c), b.build()));
        plans.put("mlp dp 4 unfused", TimelineTest.dataParallelMlp(4));
        return plans;
    }

    /**
     * Clusters fitting {@code devices}: the preset (block), 3 devices per node (groups straddle nodes unevenly), the
     * preset with round-robin placement, and one with a seeded shuffled explicit placement, hierarchical collectives.
     */
    private static Map<String, ClusterSpec> clusters(int devices) {
        Map<String, ClusterSpec> out = new LinkedHashMap<>();
        int nodes = Math.max(1, (devices + 7) / 8);
        out.put("preset", A100.withNodes(nodes));
        out.put("3 per node", new ClusterSpec("three", 3, (devices + 2) / 3, A100.device(), A100.intraNode(),
                A100.interNode(), CollectiveAlgorithm.AUTO));
        out.put("round robin", A100.withNodes(Math.max(2, nodes)).withRankMapping(RankMapping.roundRobin()));
        ClusterSpec two = A100.withNodes(Math.max(2, nodes)).withAlgorithm(CollectiveAlgorithm.HIERARCHICAL);
        List<Integer> slots = new ArrayList<>();
        for (int r = 0; r < two.devices(); r++) {
            slots.add(r / two.devicesPerNode());
        }
        Collections.shuffle(slots, new Random(devices));
        out.put("shuffled", two.withRankMapping(RankMapping.explicit(slots)));
        return out;
    }

    /** No scale, one straggler, and seeded random speeds. */
    private static Map<String, double[]> scales(int devices) {
        Map<String, double[]> out = new LinkedHashMap<>();
        out.put("even", null);
        double[] straggler = new double[devices];
        Arrays.fill(straggler, 1);
        straggler[devices - 1] = 1.5;
        out.put("straggler", straggler);
        Random random = new Random(7);
        double[] noisy = new double[devices];
        for (int r = 0; r < devices; r++) {
            noisy[r] = 1 + 0.2 * random.nextDouble();
        }
        out.put("noisy", noisy);
        return out;
    }

    @Test
    void classesMatchThePerRankReferenceOnAsymmetricPlans() throws IOException {
        int cases = 0;
        int split = 0;
        Map<String, Plan> plans = plans();
        // the shipped strategy files (five or more) and the six hand-made plans
        assertTrue(plans.size() >= 11, plans.keySet().toString());
        for (Map.Entry<String, Plan> p : plans.entrySet()) {
            Plan plan = p.getValue();
            int n = plan.devices();
            for (Map.Entry<String, ClusterSpec> c : clusters(n).entrySet()) {
                for (Map.Entry<String, double[]> s : scales(n).entrySet()) {
                    for (boolean overlap : new boolean[] {true, false}) {
                        String label = p.getKey() + " on " + c.getKey() + ", " + s.getKey() + ", overlap " + overlap;
                        TimelineOptions options = new TimelineOptions(c.getValue(), overlap, n);
                        Timeline.Result fast = Timeline.simulate(plan, options, s.getValue(), 0, n);
                        Timeline.Result reference = Timeline.simulate(plan, options.withPerRank(true), s.getValue(),
                                0, n);
                        assertSame(reference, fast, label);
                        cases++;
                        if (fast.classes() > 1) {
                            split++;
                        }
                    }
                }
            }
        }
        assertEquals(plans.size() * 4 * 3 * 2, cases);
        // the asymmetric cases really split the ranks into several classes
        assertTrue(split > cases / 2, split + " of " + cases + " cases had more than one class");
    }

    @Test
    void classesMatchThePerRankReferenceWithAPrefetchLimitAndSharedNics() throws IOException {
        Map<String, Plan> all = plans();
        Map<String, Plan> plans = new LinkedHashMap<>();
        plans.put("gpt-zero3.json", all.get("gpt-zero3.json"));
        plans.put("gpt-optimizer-parallel.json", all.get("gpt-optimizer-parallel.json"));
        plans.put("gpt dp 8 mp 2 optimizer shards of 2", all.get("gpt dp 8 mp 2 optimizer shards of 2"));
        plans.put("zero3 data 16", PrefetchLimitTest.zero3Plan());
        int cases = 0;
        for (Map.Entry<String, Plan> p : plans.entrySet()) {
            Plan plan = p.getValue();
            int n = plan.devices();
            Map<String, ClusterSpec> clusters = clusters(n);
            clusters.put("one NIC per node", clusters.get("round robin").withNicsPerNode(1));
            clusters.put("two NICs, 3 per node", clusters.get("3 per node").withNicsPerNode(2));
            for (Map.Entry<String, ClusterSpec> c : clusters.entrySet()) {
                for (Map.Entry<String, double[]> s : scales(n).entrySet()) {
                    for (int k : new int[] {0, 1, 2}) {
                        String label = p.getKey() + " on " + c.getKey() + ", " + s.getKey() + ", prefetch " + k;
                        TimelineOptions options = new TimelineOptions(c.getValue(), true, n).withPrefetchLayers(k);
                        Timeline.Result fast = Timeline.simulate(plan, options, s.getValue(), 0, n);
                        Timeline.Result reference = Timeline.simulate(plan, options.withPerRank(true), s.getValue(),
                                0, n);
                        assertSame(reference, fast, label);
                        cases++;
                    }
                }
            }
        }
        assertEquals(4 * 6 * 3 * 3, cases);
    }

    @Test
    void unevenPlacementAloneSplitsTheRanks() throws IOException {
        // no straggler: only the placement makes ranks differ, through the per-group costs of the gradient buckets:
        // data-parallel group {0, 2, 4, 6} within node 0, group {1, 3, 5, 7} across both nodes
        Plan plan = plans().get("gpt dp 4 mp 2");
        assertTrue(plan.buckets().stream().anyMatch(b -> b.groups().equals(List.of(List.of(0, 2, 4, 6),
                List.of(1, 3, 5, 7)))), plan.buckets().toString());
        ClusterSpec uneven = A100.withNodes(2).withRankMapping(
                RankMapping.explicit(0, 0, 0, 0, 0, 1, 0, 1, 0, 0, 1, 1, 1, 1, 1, 1));
        Timeline.Result fast = Timeline.simulate(plan, new TimelineOptions(uneven, true, 8), null, 0, 8);
        Timeline.Result reference = Timeline.simulate(plan, new TimelineOptions(uneven, true, 8, true), null, 0, 8);
        assertSame(reference, fast, "uneven");
        assertTrue(fast.classes() > 1, "classes " + fast.classes());
        // the bucket over the group within one node is faster
        List<Double> rank0 = commDurations(fast.report(), 0);
        List<Double> rank1 = commDurations(fast.report(), 1);
        assertEquals(rank0.size(), rank1.size());
        assertTrue(rank0.get(rank0.size() - 1) < rank1.get(rank1.size() - 1), rank0 + " vs " + rank1);
    }

    @Test
    void aSymmetricMegatronPlanKeepsOneClassOnThousandsOfRanks() {
        GptConfig c = new GptConfig(2, 64, 8, 256, 16, 64, 384, DType.FLOAT16);
        Plan plan = Planner.plan(Zoo.gpt(c), HandPlans.megatronGptConfig(c, 384, 8));
        for (RankMapping mapping : List.of(RankMapping.block(), RankMapping.roundRobin())) {
            ClusterSpec cluster = A100.withNodes(384).withRankMapping(mapping);
            TimelineOptions options = new TimelineOptions(cluster, true, 16);
            Timeline.Result fast = Timeline.simulate(plan, options, null, 0, 16);
            assertEquals(1, fast.classes(), mapping.toString());
            Timeline.Result reference = Timeline.simulate(plan, options.withPerRank(true), null, 0, 16);
            assertSame(reference, fast, mapping.toString());
            assertEquals(3072, reference.classes());
            assertEquals(reference.report().stepSeconds(), Timeline.run(plan, options).stepSeconds());
        }
    }

    @Test
    void noEventsWhenNoneAreRecorded() throws Exception {
        Plan plan = TimelineTest.gpt();
        TimelineReport quiet = Timeline.run(plan, TimelineOptions.of(A100).withRecordedRanks(0));
        TimelineReport all = Timeline.run(plan, TimelineOptions.of(A100));
        assertTrue(quiet.events().isEmpty());
        assertTrue(all.events().size() > 0);
        assertEquals(all.stepSeconds(), quiet.stepSeconds());
        assertEquals(all.mfu(), quiet.mfu());
        assertArrayEquals(all.peakMemoryBytes(), quiet.peakMemoryBytes());
    }

    private static List<Double> commDurations(TimelineReport r, int rank) {
        return r.events().stream().filter(e -> e.rank() == rank && e.stream().equals(TimelineReport.Event.COMM))
                .map(TimelineReport.Event::duration).toList();
    }

    /** Every figure, the per-rank memory, the events and the per-rank forward / backward ends are identical. */
    private static void assertSame(Timeline.Result expected, Timeline.Result actual, String label) {
        TimelineReport e = expected.report();
        TimelineReport a = actual.report();
        assertEquals(e.stepSeconds(), a.stepSeconds(), label);
        assertEquals(e.mfu(), a.mfu(), label);
        assertEquals(e.computeSeconds(), a.computeSeconds(), label);
        assertEquals(e.exposedCommSeconds(), a.exposedCommSeconds(), label);
        assertArrayEquals(e.peakMemoryBytes(), a.peakMemoryBytes(), label);
        assertEquals(e.commBytesByKind(), a.commBytesByKind(), label);
        assertEquals(e.events(), a.events(), label);
        assertArrayEquals(expected.forwardEnd(), actual.forwardEnd(), label);
        assertArrayEquals(expected.backwardEnd(), actual.backwardEnd(), label);
    }
}
