package io.tessera.simulator.timeline;

import io.tessera.planner.api.StrategyPlans;
import io.tessera.planner.cost.ClusterSpec;
import io.tessera.planner.plan.PipelinePlan;
import io.tessera.planner.strategy.Routing;
import io.tessera.planner.strategy.StrategyFile;
import io.tessera.planner.strategy.StrategyFiles;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The analytic step of the shipped tiny Mixtral (expert 2 x tensor 2 x data 2 x pipeline 2) under routing
 * distributions: a skew raises the dropless step monotonically, and a capacity factor caps what the skew can cost
 * (at most the busiest rank's full buffer; past saturation more skew can even starve that rank's later experts).
 */
class MoeRoutingCostTest {

    private static final Path TINY = Path.of("..", "strategies", "models", "mixtral-tiny.json").toAbsolutePath();

    private static StrategyFile file(Path dir, double capacityFactor) throws IOException {
        Path f = dir.resolve("mixtral-" + capacityFactor + ".json");
        Files.writeString(f, String.format(Locale.ROOT, "{\"network\": {\"hf_config\": \"%s\", \"args\": "
                + "{\"capacity_factor\": %s, \"seq\": 256}}, \"devices\": 8, \"cluster\": \"h100-dgx\", "
                + "\"parallel\": {\"optimizer\": \"momentum\"}, \"parallelism\": {\"tensor\": 2, "
                + "\"sequence_parallel\": true, \"expert\": 2, \"pipeline\": 2, \"data\": 2, \"micro_batch_size\": 1, "
                + "\"global_batch_size\": 4}}", TINY.toString().replace("\\", "\\\\"), capacityFactor));
        return StrategyFiles.read(f);
    }

    private static double step(StrategyFile file, PipelinePlan pipe, Routing routing) {
        ClusterSpec spec = StrategyPlans.cluster(file, pipe.devices()).orElseThrow();
        return StrategyStep.run(file.withRouting(routing), pipe, spec, null, null, true).stepSeconds();
    }

    @Test
    void skewRaisesTheStepMonotonicallyAndCapacityCapsIt(@TempDir Path dir) throws IOException {
        StrategyFile dropless = file(dir, 0);
        PipelinePlan droplessPipe = StrategyPlans.pipelinePlan(dropless, null);
        StrategyFile capped = file(dir, 1.25);
        PipelinePlan cappedPipe = StrategyPlans.pipelinePlan(capped, null);
        double[] skews = {0, 0.5, 1, 2, 4};
        double[] free = new double[skews.length];
        double[] cap = new double[skews.length];
        for (int i = 0; i < skews.length; i++) {
            free[i] = step(dropless, droplessPipe, Routing.skew(skews[i]));
            cap[i] = step(capped, cappedPipe, Routing.skew(skews[i]));
            System.out.printf(Locale.ROOT, "mixtral-tiny skew %.1f: dropless %.6f ms, capacity 1.25 %.6f ms%n",
                    skews[i], free[i] * 1e3, cap[i] * 1e3);
        }
        assertEquals(step(dropless, droplessPipe, Routing.uniform()), free[0], 0, "skew 0 is uniform");
        for (int i = 1; i < skews.length; i++) {
            assertTrue(free[i] > free[i - 1], "dropless step rises with the skew: " + free[i - 1] + " -> " + free[i]);
        }
        // with capacity 1.25 the busiest rank computes at most its buffer: every one of its 4 experts at capacity
        // (all slots to experts 0-3), whatever the skew; dropless, the skew costs more than that
        double full = step(capped, cappedPipe, Routing.histogram(1, 1, 1, 1, 0, 0, 0, 0));
        System.out.printf(Locale.ROOT, "mixtral-tiny capacity 1.25 with the busiest rank's buffer full: %.6f ms%n",
                full * 1e3);
        for (int i = 0; i < skews.length; i++) {
            assertTrue(cap[i] <= full * (1 + 1e-12), "capped " + cap[i] + " <= full buffer " + full);
            assertTrue(cap[i] <= free[i] * (1 + 1e-12), "capped " + cap[i] + " <= dropless " + free[i]);
        }
        assertTrue(cap[1] > cap[0], "below capacity the skew still costs: " + cap[0] + " -> " + cap[1]);
        assertTrue(free[4] > full, "dropless skew 4 " + free[4] + " > the capped bound " + full);
        // a recorded histogram equal to the skew's shares gives the same step
        double[] w = Routing.skew(1).weights(8);
        long[] counts = new long[8];
        for (int i = 0; i < 8; i++) {
            counts[i] = Math.round(w[i] * 840 * 1e6);
        }
        assertEquals(free[2], step(dropless, droplessPipe, Routing.histogram(counts)), free[2] * 1e-9);
    }

    @Test
    void droplessUniformCostsLessThanTheFullBuffer(@TempDir Path dir) throws IOException {
        // the expert products at k/E of the buffer's rows: the step is well below one with every expert full
        // (a histogram sending every slot to expert 0 fills the busiest rank's first expert to the tokens)
        StrategyFile dropless = file(dir, 0);
        PipelinePlan pipe = StrategyPlans.pipelinePlan(dropless, null);
        double uniform = step(dropless, pipe, Routing.uniform());
        double hot = step(dropless, pipe, Routing.histogram(1, 0, 0, 0, 0, 0, 0, 0));
        assertTrue(uniform < hot, uniform + " < " + hot);
    }
}
