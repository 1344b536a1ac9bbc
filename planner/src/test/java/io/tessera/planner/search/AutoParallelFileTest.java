package io.tessera.planner.search;

import io.tessera.layout.param.ParallelMode;
import io.tessera.planner.op.Strategy;
import io.tessera.planner.plan.Plan;
import io.tessera.planner.api.StrategyPlans;
import io.tessera.planner.strategy.StrategyFile;
import io.tessera.planner.strategy.StrategyFiles;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class AutoParallelFileTest {

    private static final String MLP = "{\"network\": {\"zoo\": \"mlp\", \"args\": {\"widths\": [64, 256, 64], "
            + "\"batch\": 32}}, \"devices\": 4, \"parallel\": {\"parallel_mode\": \"%s\"%s}%s}";

    private static StrategyFile file(String mode, String extra, String ops) {
        return StrategyFiles.parse(String.format(MLP, mode, extra, ops), Path.of("."));
    }

    @Test
    void autoParallelFilePlansThroughTheSearch() {
        Plan plan = StrategyPlans.plan(file("auto_parallel", "", ""));
        assertEquals(ParallelMode.SEMI_AUTO_PARALLEL, plan.config().mode());
        assertEquals(plan.ops().size(), plan.config().inStrategies().size());
        SearchResult r = StrategyPlans.search(file("auto_parallel", "", ""),
                StrategyPlans.network(file("auto_parallel", "", "")), null);
        assertEquals(r.best(), plan.config());
        assertTrue(r.explanation().contains("cluster 'a100-80gb-dgx'"), r.explanation());
    }

    @Test
    void shardingPropagationKeepsTheFilesStrategies() {
        String ops = ", \"operators\": {\"layers.0.dense\": {\"in_strategy\": [[1, 1], [1, 4]]}}";
        Plan plan = StrategyPlans.plan(file("auto_parallel", ", \"search_mode\": \"sharding_propagation\"", ops));
        assertEquals(Strategy.of(new int[] {1, 1}, new int[] {1, 4}), plan.op("layers.0.dense").inStrategy());
        assertTrue(plan.op("layers.0.dense").userStrategy());
    }

    @Test
    void semiAutoIsUnchanged() {
        Plan plan = StrategyPlans.plan(file("semi_auto_parallel", "", ""));
        assertEquals(ParallelMode.SEMI_AUTO_PARALLEL, plan.config().mode());
        assertTrue(plan.config().inStrategies().isEmpty());
    }
}
