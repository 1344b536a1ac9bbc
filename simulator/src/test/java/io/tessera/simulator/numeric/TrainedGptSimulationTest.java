package io.tessera.simulator.numeric;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.tessera.layout.DType;
import io.tessera.planner.graph.Network;
import io.tessera.planner.graph.NetworkJson;
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
 * The zoo gpt as trained (biases, dropouts, causal mask, tied embeddings all on) executed on simulated ranks under
 * Megatron's hand plan: the training steps equal the one-device steps (float32 within 1e-5, float64 within 1e-12),
 * with tensor x data parallelism (the tied table's gradient reduced once over the data-parallel group), with sequence
 * parallelism, over micro-batches and in a 2-stage pipeline.
 *
 * <p>The biases start "normal" here instead of the zoo's "zeros" (through the network JSON): the key bias's gradient
 * is exactly 0 in exact arithmetic (softmax is invariant to the constant {@code q . bk} added to a row of scores), so
 * a zero key bias stays at round-off size, where a relative comparison measures only the round-off.
 */
class TrainedGptSimulationTest {

    private static final SimulationOptions F32 = SimulationOptions.defaults().withSteps(2);
    private static final SimulationOptions F64 = F32.withDtype(DType.FLOAT64);

    /** 2 layers, hidden 32, 4 heads, ffn 64, seq 8, vocab 64, batch 4, every switch on, dropout 0.25. */
    private static GptConfig trained(DType d) {
        return new GptConfig(2, 32, 4, 64, 8, 64, 4, d).asTrained(0.25);
    }

    /** The zoo network of {@code c} with its linear biases initialised "normal". */
    static Network withNormalBiases(GptConfig c) {
        ObjectNode json = NetworkJson.toJson(Zoo.gpt(c));
        int changed = 0;
        for (JsonNode p : json.get("parameters")) {
            String name = p.get("name").asText();
            if (name.matches(".*\\.(attention\\.b[qkvo]|ffn\\.b[12])")) {
                ((ObjectNode) p).put("init", "normal");
                changed++;
            }
        }
        assertEquals(c.bias() ? 6 * c.layers() : 0, changed);
        return NetworkJson.parse(json);
    }

    private static SimulationOptions options(DType d) {
        return d == DType.FLOAT64 ? F64 : F32;
    }

    private static void assertPasses(String what, SimulationReport r) {
        System.out.printf(Locale.ROOT, "trained gpt %s: %d ranks, max rel err %.3e%n", what, r.ranks(),
                r.maxRelError());
        assertTrue(r.passed(), what + "\n" + r.summary());
        for (SimulationReport.Step s : r.steps()) {
            assertTrue(Double.isFinite(s.lossSingle()) && s.lossSingle() != 0, r.summary());
        }
    }

    @ParameterizedTest(name = "tp {0} x dp {1}, sequence parallel {2}, tied {3}, {4}")
    @CsvSource({"4, 1, false, true, float64", "4, 1, false, true, float32", "4, 1, true, true, float64",
        "4, 1, true, true, float32", "4, 2, false, false, float64", "4, 2, false, false, float32",
        "4, 2, true, false, float64", "4, 2, true, false, float32", "2, 2, true, false, float32",
        "2, 2, false, true, float64", "2, 2, false, true, float32", "2, 2, true, true, float64",
        "2, 2, true, true, float32", "2, 4, false, true, float64"})
    void megatronStepsEqualOneDevice(int tp, int dp, boolean sequenceParallel, boolean tied, String dtype) {
        DType d = DType.parse(dtype);
        GptConfig c = trained(d).withTiedEmbeddings(tied);
        Plan plan = Planner.plan(withNormalBiases(c), HandPlans.megatronGptConfig(c, dp, tp, sequenceParallel));
        SimulationReport r = Simulation.run(plan, options(d));
        assertPasses("tp " + tp + " x dp " + dp + (sequenceParallel ? " sp" : "") + (tied ? " tied " : " ") + dtype,
                r);
        assertEquals(2, r.steps().size());
        // the biases of column- and row-parallel layers and the (tied) table were compared after the updates
        for (String p : new String[] {"layers.1.attention.bq", "layers.1.attention.bk", "layers.1.attention.bo",
            "layers.0.ffn.b1", "layers.0.ffn.b2", "embedding.word_table"}) {
            assertTrue(r.paramErrors().containsKey(p), p + " in " + r.paramErrors().keySet());
        }
        assertEquals(!tied, r.paramErrors().containsKey("head.weight"));
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource({"float64", "float32"})
    void tiedTableOverMicroBatchesEqualsOneDevice(String dtype) {
        // one stage, 2 micro-batches: the head's partial of the table is summed over them, returned to the table's
        // layout and reduced once with the lookup's, in the last micro-batch
        DType d = DType.parse(dtype);
        GptConfig c = trained(d);
        PipelinePlan pipe = PipelinePlan.plan(withNormalBiases(c), HandPlans.megatronGptConfig(c, 2, 2, true), 1, 2,
                op -> Optional.empty());
        SimulationReport r = Simulation.run(pipe, options(d));
        assertPasses("tied, 2 micro-batches of tp 2 x dp 2 sp, " + dtype, r);
        assertTrue(r.paramErrors().containsKey("embedding.word_table"), r.paramErrors().keySet().toString());
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource({"float64", "float32"})
    void twoPipelineStagesEqualOneDevice(String dtype) {
        DType d = DType.parse(dtype);
        // the head and the embedding are in different stages: the table cannot be tied across them
        GptConfig c = trained(d).withLayers(4).withTiedEmbeddings(false);
        PipelinePlan pipe = PipelinePlan.plan(withNormalBiases(c), HandPlans.megatronGptConfig(c, 2, 2), 2, 4,
                op -> Optional.empty());
        assertEquals(2, pipe.stages());
        SimulationReport r = Simulation.run(pipe, options(d));
        assertPasses("2 stages of tp 2 x dp 2, " + dtype, r);
        assertEquals(8, r.ranks());
        assertTrue(r.paramErrors().containsKey("layers.3.ffn.b2"), r.paramErrors().keySet().toString());
    }
}
