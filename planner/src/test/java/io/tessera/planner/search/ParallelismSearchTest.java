package io.tessera.planner.search;

import io.tessera.layout.DType;
import io.tessera.planner.cost.ClusterSpec;
import io.tessera.planner.cost.ClusterSpecs;
import io.tessera.planner.cost.Recompute;
import io.tessera.planner.graph.Network;
import io.tessera.planner.plan.PipelinePlan;
import io.tessera.planner.plan.PlanConfig;
import io.tessera.planner.zoo.GptConfig;
import io.tessera.planner.zoo.Zoo;
import org.junit.jupiter.api.Test;

import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.IntFunction;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The search over pipeline stages, micro-batches, recompute and optimizer parallelism. */
class ParallelismSearchTest {

    private static final int BATCH = 16;

    private static GptConfig gpt(int batch) {
        return new GptConfig(4, 256, 8, 1024, 64, 512, batch, DType.FLOAT16);
    }

    private static final IntFunction<Network> NET = b -> Zoo.gpt(gpt(b));

    private static ClusterSpec cluster(long memoryBytes) {
        return ClusterSpecs.parse("{\"preset\": \"a100-80gb-dgx\", \"nodes\": 2, \"device\": {\"memory_bytes\": "
                + memoryBytes + "}}");
    }

    @Test
    void withoutStagesOrRecomputeTheEstimateIsTheStrategySearchObjective() {
        ClusterSpec c = cluster(80L << 30);
        Network net = NET.apply(BATCH);
        PlanConfig config = Search.search(net, PlanConfig.builder(16).build(), c,
                io.tessera.planner.strategy.SearchMode.DYNAMIC_PROGRAMMING, null, 8).best();
        Candidate exact = Search.evaluate(net, config, c, "x");
        PipelinePlan one = PipelinePlan.plan(net, config, 1, 1, x -> Optional.empty());
        ParallelismSearch.Choice est = ParallelismSearch.estimate(one, Recompute.NONE, false, c);
        // both cost fusion buckets as one collective each; the estimate adds the optimizer update
        double update = SearchSetup.objective(c).updateSeconds(one.plan().params(),
                one.plan().config().optimizer());
        assertTrue(update > 0);
        assertEquals(exact.seconds() + update, est.stepSeconds(), exact.seconds() * 1e-12);
        assertEquals(exact.memoryBytes(), est.memoryBytes());
        assertEquals(0, est.bubbleFraction());
    }

    @Test
    void recomputeTradesTimeForMemoryAndStagesAddABubble() {
        ClusterSpec c = cluster(80L << 30);
        ParallelismSearch.Result r = ParallelismSearch.search(NET, BATCH, PlanConfig.builder(16).build(), c,
                new ParallelismSearch.Options(4, io.tessera.planner.strategy.SearchMode.DYNAMIC_PROGRAMMING, 8), null);
        System.out.print(r.explanation());
        Map<String, Map<Recompute, ParallelismSearch.Choice>> bySetting = new HashMap<>();
        for (ParallelismSearch.Choice ch : r.evaluated()) {
            String key = ch.stages() + "/" + ch.microBatches() + "/" + ch.optimizerParallel();
            bySetting.computeIfAbsent(key, k -> new HashMap<>()).put(ch.recompute(), ch);
            if (ch.stages() == 1) {
                assertEquals(0, ch.bubbleFraction(), 1e-12);
            } else {
                // (p - 1) idle slots per stage out of (m + p - 1) for equal stages; unequal stages idle more
                double equal = (ch.stages() - 1.0) / (ch.microBatches() + ch.stages() - 1.0);
                assertTrue(ch.bubbleFraction() >= equal - 1e-9, ch.toString());
            }
        }
        // p = 1 with m = 1; p = 2 and 4 with m = p, 2p and 4p; each with and without optimizer parallel, 3 recomputes
        assertEquals(7 * 2 * 3, r.evaluated().size(), r.explanation());
        for (Map<Recompute, ParallelismSearch.Choice> m : bySetting.values()) {
            ParallelismSearch.Choice none = m.get(Recompute.NONE);
            ParallelismSearch.Choice sel = m.get(Recompute.SELECTIVE);
            ParallelismSearch.Choice full = m.get(Recompute.FULL);
            assertTrue(none.stepSeconds() < sel.stepSeconds() && sel.stepSeconds() < full.stepSeconds(), none.label());
            assertTrue(sel.memoryBytes() < none.memoryBytes(), none.label());
        }
        // with plenty of memory nothing is recomputed, and the choice is the fastest of all
        assertEquals(Recompute.NONE, r.best().recompute());
        for (ParallelismSearch.Choice ch : r.evaluated()) {
            assertTrue(r.best().stepSeconds() <= ch.stepSeconds(), ch.toString());
        }
    }

    @Test
    void underATightMemoryLimitTheFastestSettingThatFitsWins() {
        ClusterSpec roomy = cluster(80L << 30);
        ParallelismSearch.Options o = new ParallelismSearch.Options(4,
                io.tessera.planner.strategy.SearchMode.DYNAMIC_PROGRAMMING, 8);
        ParallelismSearch.Result free = ParallelismSearch.search(NET, BATCH, PlanConfig.builder(16).build(), roomy, o,
                null);
        // a limit just below the unconstrained choice's memory
        long limit = free.best().memoryBytes() - 1;
        ParallelismSearch.Result tight = ParallelismSearch.search(NET, BATCH, PlanConfig.builder(16).build(),
                cluster(limit), o, null);
        System.out.print(tight.explanation());
        assertTrue(tight.best().fits());
        assertTrue(tight.best().memoryBytes() <= limit);
        assertNotEquals(free.best().label(), tight.best().label());
        // brute force over every evaluated setting: nothing faster fits
        for (ParallelismSearch.Choice ch : tight.evaluated()) {
            if (ch.stepSeconds() < tight.best().stepSeconds()) {
                assertFalse(ch.memoryBytes() <= limit, ch.toString());
            }
        }
        IllegalArgumentException none = assertThrows(IllegalArgumentException.class, () -> ParallelismSearch.search(
                NET, BATCH, PlanConfig.builder(16).build(), cluster(1L << 20), o, null));
        assertTrue(none.getMessage().startsWith("parallelism search: no setting fits the 1048576-byte device memory "
                + "of cluster"), none.getMessage());
    }

    @Test
    void whenEverySettingIsSkippedForAnInputErrorTheMessageNamesItNotTheMemory() {
        ParallelismSearch.Options o = new ParallelismSearch.Options(2,
                io.tessera.planner.strategy.SearchMode.DYNAMIC_PROGRAMMING, 8);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ParallelismSearch.search(
                b -> {
                    throw new IllegalArgumentException("zoo model 'gpt': heads 3 does not divide hidden 64");
                }, BATCH, PlanConfig.builder(16).build(), cluster(80L << 30), o, null));
        assertEquals("parallelism search: every setting was skipped, none was planned; the first: 1 stages, 1 "
                + "micro-batches: zoo model 'gpt': heads 3 does not divide hidden 64 (and 3 more)", e.getMessage());
        assertFalse(e.getMessage().contains("memory"), e.getMessage());
    }

    @Test
    void progressNamesEverySearchedSplit() {
        List<String> lines = new java.util.ArrayList<>();
        ParallelismSearch.search(NET, BATCH, PlanConfig.builder(16).build(), cluster(80L << 30),
                new ParallelismSearch.Options(2, io.tessera.planner.strategy.SearchMode.DYNAMIC_PROGRAMMING, 8),
                lines::add);
        assertEquals(List.of("parallelism search: 1 stage x 16 devices, 1 micro-batch",
                "parallelism search: 2 stages x 8 devices, 2 micro-batches",
                "parallelism search: 2 stages x 8 devices, 4 micro-batches",
                "parallelism search: 2 stages x 8 devices, 8 micro-batches"), lines);
    }
}
