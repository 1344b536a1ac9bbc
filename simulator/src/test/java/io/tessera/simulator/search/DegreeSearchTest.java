package io.tessera.simulator.search;

import io.tessera.planner.api.StrategyPlans;
import io.tessera.planner.cost.ClusterSpec;
import io.tessera.planner.plan.PipelinePlan;
import io.tessera.planner.strategy.Parallelism;
import io.tessera.planner.strategy.StrategyFile;
import io.tessera.planner.strategy.StrategyFiles;
import io.tessera.simulator.timeline.PipelineReport;
import io.tessera.simulator.timeline.StrategyStep;
import io.tessera.simulator.timeline.Timeline;
import io.tessera.simulator.timeline.TimelineOptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The degree search on a small Llama (zoo llama: 8 layers, hidden 256, 8 heads, 4 KV heads, ffn 512, seq 1024, vocab
 * 1024) on 32 h100-dgx devices with a global batch of 64: against a brute force over every tensor x pipeline x
 * recompute setting planned and simulated independently, its enumeration, pruning and ordering.
 */
class DegreeSearchTest {

    private static final String SMALL = "{\"network\": {\"zoo\": \"llama\", \"args\": {\"layers\": 8, \"hidden\": 256, "
            + "\"heads\": 8, \"kv_heads\": 4, \"ffn\": 512, \"seq\": 1024, \"vocab\": 1024}}, \"devices\": 32, "
            + "\"cluster\": \"h100-dgx\", \"parallelism\": {\"micro_batch_size\": 1, \"global_batch_size\": 64, "
            + "\"precision\": \"bf16\", \"distributed_optimizer\": true}}";

    private static StrategyFile file;
    private static ClusterSpec cluster;
    private static DegreeSearch.Result result;

    @BeforeAll
    static void search() {
        file = StrategyFiles.parse(SMALL, Path.of(""));
        cluster = StrategyPlans.cluster(file, 32).orElseThrow();
        result = DegreeSearch.search(file, cluster, DegreeSearch.Options.defaults(), null);
    }

    /** Step time as {@code tessera simulate} computes it for a file, planned and simulated from scratch. */
    private static double simulate(StrategyFile f) {
        PipelinePlan pipe = StrategyPlans.pipelinePlan(f, null);
        Parallelism p = f.parallelism().orElseThrow();
        if (pipe.stages() == 1 && pipe.microBatches() == 1 && p.recompute() == Parallelism.Recompute.NONE) {
            return Timeline.run(pipe.plan(), new TimelineOptions(cluster, true, 0)
                    .withPrefetchLayers(StrategyStep.prefetchLayers(f))).stepSeconds();
        }
        PipelineReport r = StrategyStep.run(f, pipe, cluster, null, null, true);
        return r.stepSeconds();
    }

    @Test
    void theProposalIsTheBruteForceMinimum() {
        // brute force: every tensor 1..8 x pipeline 1..4 x recompute mode, built by hand, planned and simulated
        double min = Double.POSITIVE_INFINITY;
        String argmin = null;
        int simulated = 0;
        for (int t = 1; t <= 8; t *= 2) {
            for (int pp = 1; pp <= 4; pp *= 2) {
                for (Parallelism.Recompute r : Parallelism.Recompute.values()) {
                    Parallelism p = file.parallelism().orElseThrow().toBuilder().tensor(t).sequenceParallel(t > 1)
                            .pipeline(pp).data(32 / (t * pp)).recompute(r).build();
                    double step;
                    try {
                        step = simulate(file.withParallelism(p));
                    } catch (IllegalArgumentException e) {
                        continue; // a setting the expansion or the planner refuses
                    }
                    simulated++;
                    if (step < min) {
                        min = step;
                        argmin = t + "/" + pp + "/" + r;
                    }
                }
            }
        }
        assertEquals(simulated, result.evaluated().size(), "the search evaluates every setting that simulates");
        DegreeSearch.Candidate best = result.best().orElseThrow();
        assertEquals(min, best.stepSeconds(), 0.0, "brute force's best: " + argmin);
        assertTrue(best.fits());
        assertEquals(best.stepSeconds(), simulate(file.withParallelism(best.parallelism())), 0.0);
    }

    @Test
    void everyCandidateReSimulatesToItsStepTime() {
        for (DegreeSearch.Candidate c : result.evaluated()) {
            assertEquals(c.stepSeconds(), simulate(file.withParallelism(c.parallelism())), 0.0,
                    c.setting().describe());
            assertEquals(64.0 * 1024 / c.stepSeconds(), c.tokensPerSecond(), 1e-6 * c.tokensPerSecond());
        }
    }

    @Test
    void candidatesAreSortedFittingFirstThenByStepTime() {
        List<DegreeSearch.Candidate> sorted = new ArrayList<>(result.evaluated());
        sorted.sort(DegreeSearch.order());
        assertEquals(sorted, result.evaluated());
        for (int i = 1; i < sorted.size(); i++) {
            DegreeSearch.Candidate a = sorted.get(i - 1);
            DegreeSearch.Candidate b = sorted.get(i);
            assertTrue(a.fits() && !b.fits() || a.fits() == b.fits() && a.stepSeconds() <= b.stepSeconds());
        }
        // the search is deterministic
        DegreeSearch.Result again = DegreeSearch.search(file, cluster, DegreeSearch.Options.defaults(), null);
        assertEquals(result.evaluated(), again.evaluated());
        assertEquals(result.skipped(), again.skipped());
    }

    @Test
    void aRefusedSettingIsSkippedWithItsReason() {
        // seq 16384 brings context 2 and 4, which the expansion refuses with micro_batch_size 2
        StrategyFile longSeq = StrategyFiles.parse("{\"network\": {\"zoo\": \"llama\", \"args\": {\"layers\": 2, "
                + "\"hidden\": 64, \"heads\": 4, \"kv_heads\": 2, \"ffn\": 128, \"seq\": 16384, \"vocab\": 128}}, "
                + "\"devices\": 8, \"cluster\": \"h100-dgx\", \"parallelism\": {\"micro_batch_size\": 2, "
                + "\"global_batch_size\": 16}}", Path.of(""));
        DegreeSearch.Result r = DegreeSearch.search(longSeq, cluster, DegreeSearch.Options.defaults(), null);
        List<DegreeSearch.Skipped> refused = r.skipped().stream()
                .filter(s -> s.why() == DegreeSearch.Why.REFUSED).toList();
        // tensor 1, 2, 4 x context 2, 4 (when the product divides 8) x pipeline 1
        assertEquals(5, refused.size(), r.skipped().toString());
        for (DegreeSearch.Skipped s : refused) {
            assertTrue(s.setting().context() > 1 && s.setting().recompute() == null, s.toString());
            assertTrue(s.reason().startsWith("parallelism.micro_batch_size: found 2 with context "), s.reason());
            assertFalse(s.reason().contains("\n"), s.reason());
        }
        assertEquals(r.plans() * 3, r.evaluated().size() + 3 * refused.size());
        assertTrue(r.evaluated().stream().allMatch(c -> c.setting().context() == 1));
    }

    @Test
    void theEnumerationFollowsTheModel() {
        LlamaModel m = LlamaModel.of(file);
        List<DegreeSearch.Setting> settings = DegreeSearch.settings(m, 32, 8, DegreeSearch.Options.defaults());
        // tensor 1, 2, 4, 8 (8 is a multiple of the 4 KV heads), pipeline up to layers / 2 = 4, no context at seq 1024
        assertEquals(12, settings.size(), settings.toString());
        assertTrue(settings.stream().allMatch(s -> s.context() == 1 && s.tensor() * s.pipeline() * s.data() == 32));
        assertEquals(List.of(1), m.contextDegrees());
        LlamaModel longSeq = new LlamaModel(m.config().withSeq(65536), m.parameters());
        // seq 65536: context 2..16 keep at least 4096 tokens per rank
        assertEquals(List.of(1, 2, 4, 8, 16), longSeq.contextDegrees());
        assertFalse(m.acceptsTensor(16));
        // a mixture of experts 20 wide (tensor 4 splits them, 8 does not), and a shared expert 6 wide (4 does not)
        io.tessera.planner.zoo.MoeConfig moe = io.tessera.planner.zoo.MoeConfig.of(8, 2, 0).withExpertFfn(20);
        LlamaModel experts = new LlamaModel(m.config().withMoe(moe), m.parameters());
        assertTrue(m.acceptsTensor(8));
        assertFalse(experts.acceptsTensor(8));
        assertTrue(experts.acceptsTensor(4));
        LlamaModel shared = new LlamaModel(m.config().withMoe(moe.withShared(
                new io.tessera.planner.zoo.MoeConfig.Shared(6, false))), m.parameters());
        assertFalse(shared.acceptsTensor(4));
        assertTrue(shared.acceptsTensor(2));
        assertEquals(4, DegreeSearch.settings(m, 32, 8, DegreeSearch.Options.defaults().withMaxPipeline(1)).size());
    }

    @Test
    void theMemoryBoundIsBelowThePlannedMemory() {
        LlamaModel m = LlamaModel.of(file);
        for (DegreeSearch.Candidate c : result.evaluated()) {
            long bound = DegreeSearch.modelStateLowerBound(m, file.parallelism().orElseThrow(), file.parallel(),
                    c.setting());
            assertTrue(bound <= c.memoryBytes(), c.setting().describe() + ": bound " + bound + " > "
                    + c.memoryBytes());
        }
    }

    @Test
    void tooBigAModelFitsNowhere() {
        // llama-3-70b on 8 devices: even tensor 8 leaves 8.8 B parameters per rank
        StrategyFile big = StrategyFiles.parse("{\"network\": {\"hf_config\": \"../strategies/models/llama-3-70b.json\", "
                + "\"args\": {\"seq\": 8192}}, \"devices\": 8, \"cluster\": \"h100-dgx\", \"parallelism\": "
                + "{\"global_batch_size\": 8, \"precision\": \"bf16\", \"distributed_optimizer\": true}}", Path.of(""));
        DegreeSearch.Result r = DegreeSearch.search(big, StrategyPlans.cluster(big, 8).orElseThrow(),
                DegreeSearch.Options.defaults(), null);
        assertTrue(r.best().isEmpty());
        assertEquals(0, r.plans());
        assertTrue(r.skipped().stream().allMatch(s -> s.why() == DegreeSearch.Why.MEMORY), r.skipped().toString());
    }

    @Test
    void theSearchNeedsAGlobalBatchAndALlama() {
        StrategyFile noGlobal = StrategyFiles.parse(SMALL.replace("\"global_batch_size\": 64, ", ""), Path.of(""));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> DegreeSearch.search(noGlobal, cluster, DegreeSearch.Options.defaults(), null));
        assertTrue(e.getMessage().startsWith("parallelism.global_batch_size: missing"), e.getMessage());
        StrategyFile gpt = StrategyFiles.parse("{\"network\": {\"zoo\": \"gpt\"}, \"devices\": 8, "
                + "\"parallelism\": {\"global_batch_size\": 8}}", Path.of(""));
        assertFalse(DegreeSearch.applies(gpt));
        assertFalse(DegreeSearch.applies(file.withParallelism(null)));
        assertTrue(DegreeSearch.applies(file));
    }

    @Test
    void thePlanLimitKeepsTheCheapestLookingSettings() {
        DegreeSearch.Result limited = DegreeSearch.search(file, cluster,
                DegreeSearch.Options.defaults().withMaxPlans(2), null);
        assertEquals(2, limited.plans());
        assertTrue(limited.skipped().stream().anyMatch(s -> s.why() == DegreeSearch.Why.LIMIT));
        // the cheapest-looking settings: no pipeline bubble, least tensor parallelism
        assertTrue(limited.evaluated().stream().allMatch(c -> c.setting().pipeline() == 1
                && c.setting().tensor() <= 2), limited.evaluated().toString());
    }
}
