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
    void theSearchTriesEveryExpertDegreeDividingTheTokenSplitAndTheExperts() {
        StrategyFile file = StrategyFiles.parse(MOE, Path.of(""));
        ClusterSpec cluster = StrategyPlans.cluster(file, 16).orElseThrow();
        DegreeSearch.Result r = DegreeSearch.search(file, cluster, DegreeSearch.Options.defaults(), null);
        assertFalse(r.evaluated().isEmpty(), "candidates: " + r.skipped());
        java.util.Map<String, java.util.Set<Integer>> tried = new java.util.TreeMap<>();
        for (DegreeSearch.Candidate c : r.evaluated()) {
            DegreeSearch.Setting s = c.setting();
            assertEquals(s.expert(), c.parallelism().expert(), s.describe());
            int group = s.data() * s.context();
            assertEquals(0, group % s.expert(), s.describe());
            tried.computeIfAbsent(s.tensor() + "/" + s.context() + "/" + s.pipeline(), k -> new java.util.TreeSet<>())
                    .add(s.expert());
        }
        // brute force: for each (tensor, context, pipeline) every power of 2 dividing data x context and the 8 experts
        for (DegreeSearch.Candidate c : r.evaluated()) {
            DegreeSearch.Setting s = c.setting();
            java.util.Set<Integer> expected = new java.util.TreeSet<>();
            for (int e = 1; e <= 8; e *= 2) {
                if ((s.data() * s.context()) % e == 0) {
                    expected.add(e);
                }
            }
            assertEquals(expected, tried.get(s.tensor() + "/" + s.context() + "/" + s.pipeline()), s.describe());
        }
        assertTrue(r.evaluated().stream().anyMatch(c -> c.setting().expert() > 1
                && c.setting().expert() < c.setting().data() * c.setting().context()),
                "an expert degree between 1 and data x context is tried");
        assertTrue(r.best().isPresent() && r.best().get().fits(), "a fitting proposal");
    }

    @Test
    void theSearchPricesTheFilesRouting() {
        StrategyFile uniform = StrategyFiles.parse(MOE, Path.of(""));
        StrategyFile skewed = StrategyFiles.parse(MOE.substring(0, MOE.length() - 1)
                + ", \"routing\": {\"distribution\": \"skew\", \"skew\": 2.0}}", Path.of(""));
        ClusterSpec cluster = StrategyPlans.cluster(uniform, 16).orElseThrow();
        DegreeSearch.Options one = DegreeSearch.Options.defaults();
        java.util.Map<String, Double> a = new java.util.HashMap<>();
        DegreeSearch.search(uniform, cluster, one, null).evaluated()
                .forEach(c -> a.put(c.setting().describe(), c.stepSeconds()));
        int compared = 0;
        for (DegreeSearch.Candidate c : DegreeSearch.search(skewed, cluster, one, null).evaluated()) {
            if (c.setting().expert() > 1) {
                assertTrue(c.stepSeconds() > a.get(c.setting().describe()), c.setting().describe()
                        + ": skewed routing loads one expert rank more than uniform routing");
                compared++;
            }
        }
        assertTrue(compared > 0);
    }

    @Test
    void theMemoryBoundCountsTheExpertSplitAndStaysBelowThePlannedMemory() {
        StrategyFile file = StrategyFiles.parse(MOE.replace("\"precision\": \"bf16\"", "\"precision\": \"bf16\", "
                + "\"distributed_optimizer\": true"), Path.of(""));
        ClusterSpec cluster = StrategyPlans.cluster(file, 16).orElseThrow();
        LlamaModel m = LlamaModel.of(file);
        // 4 sparse layers of 8 experts, each 3 x 128 x 128
        assertEquals(4L * 8 * 3 * 128 * 128, m.expertParameters());
        DegreeSearch.Result r = DegreeSearch.search(file, cluster, DegreeSearch.Options.defaults(), null);
        java.util.Map<Integer, Long> boundByExpert = new java.util.TreeMap<>();
        for (DegreeSearch.Candidate c : r.evaluated()) {
            long bound = DegreeSearch.modelStateLowerBound(m, file.parallelism().orElseThrow(), file.parallel(),
                    c.setting());
            assertTrue(bound <= c.memoryBytes(), c.setting().describe() + ": bound " + bound + " > "
                    + c.memoryBytes());
            if (c.setting().tensor() == 1 && c.setting().pipeline() == 1) {
                boundByExpert.put(c.setting().expert(), bound);
            }
        }
        long previous = Long.MAX_VALUE;
        for (long b : boundByExpert.values()) {
            assertTrue(b < previous, "a larger expert degree lowers the bound: " + boundByExpert);
            previous = b;
        }
    }
}
