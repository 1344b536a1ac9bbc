package io.tessera.simulator.timeline;

import io.tessera.planner.api.StrategyPlans;
import io.tessera.planner.plan.PipelinePlan;
import io.tessera.planner.strategy.StrategyFile;
import io.tessera.planner.strategy.StrategyFiles;
import io.tessera.simulator.explain.Explainer;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.concurrent.CancellationException;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The analytic step stops on an interrupted thread, and a later run gives the same step. */
class TimelineInterruptionTest {

    @Test
    void anInterruptedThreadStopsTheTimeline() {
        StrategyFile file = StrategyFiles.read(Path.of("..", "strategies", "gpt-pipeline-2stages.json"));
        PipelinePlan pipe = StrategyPlans.pipelinePlan(file, null);
        var cluster = Explainer.cluster(file, pipe.devices());
        double step = StrategyStep.run(file, pipe, cluster, null, null, true).stepSeconds();
        Thread.currentThread().interrupt();
        try {
            CancellationException e = assertThrows(CancellationException.class,
                    () -> StrategyStep.run(file, pipe, cluster, null, null, true));
            assertTrue(e.getMessage().startsWith("the timeline was interrupted"), e.getMessage());
        } finally {
            Thread.interrupted();
        }
        assertEquals(step, StrategyStep.run(file, pipe, cluster, null, null, true).stepSeconds(), 0);
    }
}
