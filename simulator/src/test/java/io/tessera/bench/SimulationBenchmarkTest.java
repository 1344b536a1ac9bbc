package io.tessera.bench;

import io.tessera.planner.plan.Planner;
import io.tessera.simulator.numeric.Simulation;
import io.tessera.simulator.numeric.SimulationOptions;
import io.tessera.simulator.numeric.SimulationReport;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The numeric-simulation benchmark, on a small MLP, through the public simulation API. */
class SimulationBenchmarkTest {

    @Test
    void aSmallCaseTimesBothRunsAndTheyAgree() {
        List<String> progress = new ArrayList<>();
        List<SimulationBenchmark.Case> cases = SimulationBenchmark.run(new int[] {8}, 16, 64, 1, progress::add);
        assertEquals(List.of("batch 8 on 8 ranks ...", "batch 8 on 64 ranks ..."), progress);
        assertEquals(2, cases.size());
        for (SimulationBenchmark.Case c : cases) {
            assertTrue(c.singleSeconds() > 0 && c.parallelSeconds() > 0, c.toString());
            assertTrue(c.maxRelError() < 1e-5, c.toString());
            assertEquals(c.parallelSeconds() / c.singleSeconds(), c.ratio(), 1e-12);
        }
    }

    @Test
    void separatelyRunStepsEqualTheComparedRun() {
        SimulationOptions o = SimulationOptions.defaults().withSteps(2);
        var plan = Planner.plan(SimulationBenchmark.mlp(8, 16, 64), SimulationBenchmark.megatron(1, 8));
        SimulationReport report = Simulation.run(plan, o);
        Simulation sim = Simulation.of(plan, o);
        for (int k = 0; k < 2; k++) {
            assertEquals(report.steps().get(k).lossParallel(), sim.parallelStep(k));
            assertEquals(report.steps().get(k).lossSingle(), sim.referenceStep(k));
        }
        assertEquals(0.0, sim.gatheredParameter("w1").relativeError(sim.referenceParameter("w1")), 1e-5);
    }
}
