package io.tessera.planner.plan;

import io.tessera.planner.api.StrategyPlans;
import io.tessera.planner.strategy.StrategyFile;
import io.tessera.planner.strategy.StrategyFiles;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.concurrent.CancellationException;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Planning stops on an interrupted thread ({@link Interruption}), and planning with a given network and a shared
 * redistribution cache ({@code tessera explain}'s re-plans) gives the plan a planning from scratch gives.
 */
class InterruptionTest {

    private static final Path STRATEGIES = Path.of("..", "strategies");

    @Test
    void anInterruptedThreadStopsPlanningAndLeavesNothingBehind() {
        StrategyFile file = StrategyFiles.read(STRATEGIES.resolve("gpt-pipeline-2stages.json"));
        String expected = PlanJson.toJson(StrategyPlans.pipelinePlan(file, null)).toString();
        Thread.currentThread().interrupt();
        try {
            CancellationException e = assertThrows(CancellationException.class,
                    () -> StrategyPlans.pipelinePlan(file, null));
            assertTrue(e.getMessage().startsWith("planning was interrupted"), e.getMessage());
            assertTrue(Thread.currentThread().isInterrupted(), "the interrupt flag stays set for the caller");
        } finally {
            Thread.interrupted();
        }
        assertEquals(expected, PlanJson.toJson(StrategyPlans.pipelinePlan(file, null)).toString());
    }

    @Test
    void anInterruptedCallerStopsItsStrategySearchOnThePoolThreads() {
        StrategyFile file = StrategyFiles.read(STRATEGIES.resolve("gpt-auto-dynamic-programming.json"));
        Thread.currentThread().interrupt();
        try {
            assertThrows(CancellationException.class, () -> StrategyPlans.pipelinePlan(file, null));
        } finally {
            Thread.interrupted();
        }
        // work done on another thread on behalf of an owner runs while the owner is not interrupted
        Thread owner = Thread.currentThread();
        assertEquals("done", Interruption.workFor(owner, () -> {
            Interruption.check("work");
            return "done";
        }));
        // and stops at its next check once the owner is
        java.util.concurrent.atomic.AtomicReference<Throwable> thrown = new java.util.concurrent.atomic.AtomicReference<>();
        Thread pool = new Thread(() -> {
            try {
                Interruption.workFor(owner, () -> {
                    while (!owner.isInterrupted()) {
                        Thread.onSpinWait();
                    }
                    Interruption.check("work");
                    return null;
                });
            } catch (Throwable t) {
                thrown.set(t);
            }
        });
        pool.start();
        owner.interrupt();
        try {
            // join would throw on the interrupted thread: wait by spinning
            while (pool.isAlive()) {
                Thread.onSpinWait();
            }
        } finally {
            Thread.interrupted();
        }
        assertTrue(thrown.get() instanceof CancellationException, String.valueOf(thrown.get()));
        assertTrue(thrown.get().getMessage().startsWith("work was interrupted"), thrown.get().getMessage());
    }

    @Test
    void aGivenNetworkAndASharedCacheGiveTheSamePlans() {
        RedistributionCache cache = RedistributionCache.create();
        for (String name : new String[] {"gpt-pipeline-2stages.json", "gpt-megatron-tp4-dp2.json",
                "gpt-optimizer-parallel.json", "reshape-transpose-redistribution.json"}) {
            StrategyFile file = StrategyFiles.read(STRATEGIES.resolve(name));
            PipelinePlan fresh = StrategyPlans.pipelinePlan(file, null);
            for (int i = 0; i < 2; i++) {
                PipelinePlan reused = StrategyPlans.pipelinePlan(file, null, fresh.plan().network(), cache);
                assertEquals(PlanJson.toJson(fresh).toString(), PlanJson.toJson(reused).toString(), name);
            }
        }
        assertTrue(cache.size() > 0, "the cache was used");
    }
}
