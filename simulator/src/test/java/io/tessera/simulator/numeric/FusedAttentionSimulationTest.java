package io.tessera.simulator.numeric;

import io.tessera.layout.DType;
import io.tessera.planner.handplan.HandPlans;
import io.tessera.planner.plan.PipelinePlan;
import io.tessera.planner.plan.Plan;
import io.tessera.planner.plan.Planner;
import io.tessera.planner.zoo.GptConfig;
import io.tessera.planner.zoo.Zoo;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.util.Locale;
import java.util.Optional;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The zoo gpt with fused attention ({@code fused_attention}: one FlashAttention per layer, causal, with dropout, and
 * biases) executed on simulated ranks under Megatron's hand plan: the training steps equal the one-device steps
 * (float64 within 1e-12, float32 within 1e-5) with tensor x data parallelism, with sequence parallelism and in a
 * 2-stage pipeline. The biases start "normal" ({@link TrainedGptSimulationTest#withNormalBiases}).
 */
class FusedAttentionSimulationTest {

    private static final SimulationOptions F32 = SimulationOptions.defaults().withSteps(2);
    private static final SimulationOptions F64 = F32.withDtype(DType.FLOAT64);

    /** 2 layers, hidden 32, 4 heads, ffn 64, seq 8, vocab 64, batch 4, every switch on, dropout 0.25, fused. */
    private static GptConfig fused(DType d) {
        return new GptConfig(2, 32, 4, 64, 8, 64, 4, d).asTrained(0.25).withFusedAttention(true);
    }

    private static SimulationOptions options(DType d) {
        return d == DType.FLOAT64 ? F64 : F32;
    }

    private static void assertPasses(String what, SimulationReport r) {
        System.out.printf(Locale.ROOT, "fused-attention gpt %s: %d ranks, max rel err %.3e%n", what, r.ranks(),
                r.maxRelError());
        assertTrue(r.passed(), what + "\n" + r.summary());
        for (SimulationReport.Step s : r.steps()) {
            assertTrue(Double.isFinite(s.lossSingle()) && s.lossSingle() != 0, r.summary());
        }
    }

    @ParameterizedTest(name = "tp {0} x dp {1}, sequence parallel {2}, {3}")
    @CsvSource({"2, 2, false, float64", "2, 2, false, float32", "2, 2, true, float64", "2, 2, true, float32",
        "4, 1, true, float32"})
    void megatronStepsEqualOneDevice(int tp, int dp, boolean sequenceParallel, String dtype) {
        DType d = DType.parse(dtype);
        GptConfig c = fused(d);
        Plan plan = Planner.plan(TrainedGptSimulationTest.withNormalBiases(c),
                HandPlans.megatronGptConfig(c, dp, tp, sequenceParallel));
        assertTrue(plan.network().nodes().stream().anyMatch(n -> n.name().equals("layers.1.attention.flash")));
        SimulationReport r = Simulation.run(plan, options(d));
        assertPasses("tp " + tp + " x dp " + dp + (sequenceParallel ? " sp " : " ") + dtype, r);
        assertEquals(2, r.steps().size());
        for (String p : new String[] {"layers.1.attention.wq", "layers.1.attention.wk", "layers.1.attention.wv",
            "layers.1.attention.bq", "layers.0.attention.wo", "embedding.word_table"}) {
            assertTrue(r.paramErrors().containsKey(p), p + " in " + r.paramErrors().keySet());
        }
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource({"float64", "float32"})
    void twoPipelineStagesEqualOneDevice(String dtype) {
        DType d = DType.parse(dtype);
        GptConfig c = fused(d).withLayers(4).withTiedEmbeddings(false);
        PipelinePlan pipe = PipelinePlan.plan(TrainedGptSimulationTest.withNormalBiases(c),
                HandPlans.megatronGptConfig(c, 2, 2), 2, 4, op -> Optional.empty());
        assertEquals(2, pipe.stages());
        SimulationReport r = Simulation.run(pipe, options(d));
        assertPasses("2 stages of tp 2 x dp 2, " + dtype, r);
        assertEquals(8, r.ranks());
        assertTrue(r.paramErrors().containsKey("layers.3.attention.wk"), r.paramErrors().keySet().toString());
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource({"float64", "float32"})
    void theFusedCoreTrainsLikeTheUnfusedOneWithoutDropout(String dtype) {
        // without dropout the fused and the unfused networks compute the same function (the masks of the two
        // differ: they are seeded by the operator's name), so their losses agree to round-off
        DType d = DType.parse(dtype);
        GptConfig unfused = new GptConfig(2, 32, 4, 64, 8, 64, 4, d).asTrained(0);
        Plan a = Planner.plan(Zoo.gpt(unfused), HandPlans.megatronGptConfig(unfused, 2, 2, true));
        GptConfig f = unfused.withFusedAttention(true);
        Plan b = Planner.plan(Zoo.gpt(f), HandPlans.megatronGptConfig(f, 2, 2, true));
        SimulationReport ra = Simulation.run(a, options(d));
        SimulationReport rb = Simulation.run(b, options(d));
        assertPasses("unfused reference " + dtype, ra);
        assertPasses("fused, no dropout " + dtype, rb);
        double tol = d == DType.FLOAT64 ? 1e-12 : 1e-5;
        for (int s = 0; s < 2; s++) {
            double la = ra.steps().get(s).lossSingle();
            double lb = rb.steps().get(s).lossSingle();
            assertEquals(la, lb, tol * Math.abs(la), "step " + s + " loss");
        }
    }
}
