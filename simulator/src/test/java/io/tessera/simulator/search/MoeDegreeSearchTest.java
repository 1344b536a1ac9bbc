package io.tessera.simulator.search;

import io.tessera.planner.api.StrategyPlans;
import io.tessera.planner.cost.ClusterSpec;
import io.tessera.planner.strategy.StrategyFile;
import io.tessera.planner.strategy.StrategyFiles;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The degree search on a mixture of experts (a zoo llama with 8 experts, top-2): every candidate's expert degree is
 * the token-split group ({@code data x context}) when that divides the experts, else 1, the only two the expansion
 * plans; expert-parallel candidates are planned and the proposal fits.
 */
class MoeDegreeSearchTest {

    private static final String MOE = "{\"network\": {\"zoo\": \"llama\", \"args\": {\"layers\": 4, \"hidden\": 128, "
            + "\"heads\": 4, \"kv_heads\": 2, \"ffn\": 128, \"seq\": 256, \"vocab\": 256, \"experts\": 8, "
            + "\"top_k\": 2}}, \"devices\": 16, \"cluster\": \"h100-dgx\", \"parallelism\": {\"micro_batch_size\": 1, "
            + "\"global_batch_size\": 32, \"precision\": \"bf16\"}}";

    @Test
    void expertDegreeFollowsTheTokenSplitGroup() {
        StrategyFile file = StrategyFiles.parse(MOE, Path.of(""));
        ClusterSpec cluster = StrategyPlans.cluster(file, 16).orElseThrow();
        DegreeSearch.Result r = DegreeSearch.search(file, cluster, DegreeSearch.Options.defaults(), null);
        assertFalse(r.evaluated().isEmpty(), "candidates: " + r.skipped());
        boolean expertParallel = false;
        for (DegreeSearch.Candidate c : r.evaluated()) {
            int group = c.setting().data() * c.setting().context();
            int expected = group > 1 && 8 % group == 0 ? group : 1;
            assertEquals(expected, c.parallelism().expert(), c.setting().describe());
            expertParallel |= c.parallelism().expert() > 1;
        }
        assertTrue(expertParallel, "some candidate spreads the experts");
        assertTrue(r.best().isPresent() && r.best().get().fits(), "a fitting proposal");
    }
}
