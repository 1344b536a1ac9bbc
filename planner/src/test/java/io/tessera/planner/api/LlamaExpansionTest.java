package io.tessera.planner.api;

import io.tessera.planner.op.Strategy;
import io.tessera.planner.plan.PipelinePlan;
import io.tessera.planner.strategy.StrategyFile;
import io.tessera.planner.strategy.StrategyFiles;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The {@code parallelism} section on Llama-family networks: tensor with GQA, context, pipeline, and the errors. */
class LlamaExpansionTest {

    /** A 4-layer Llama: hidden 64, 4 heads, 2 KV heads, ffn 128, seq 32, vocab 128. */
    private static final String LLAMA = "'network': {'zoo': 'llama', 'args': {'layers': 4, 'hidden': 64, 'heads': 4, "
            + "'kv_heads': 2, 'ffn': 128, 'seq': 32, 'vocab': 128}}";

    private static StrategyFile file(int devices, String parallelism) {
        return StrategyFiles.parse(("{" + LLAMA + ", 'devices': " + devices + ", 'parallelism': {" + parallelism
                + "}}").replace('\'', '"'), Path.of("/base"));
    }

    @Test
    void tensorContextDataAndPipelineExpandAndPlan() {
        StrategyFile f = ParallelismExpansion.expand(file(16, "'tensor': 2, 'context': 2, 'pipeline': 2, "
                + "'data': 2, 'sequence_parallel': true, 'global_batch_size': 4"));
        assertEquals(2, f.parallel().pipelineStages());
        assertEquals(2, f.parallel().microBatches(), "4 sequences / (1 x data 2)");
        assertEquals(0, f.stages().get("model.layers.1.*"));
        assertEquals(1, f.stages().get("model.layers.2.*"));
        // q split over tensor and its sequence over context; k/v whole along the sequence (all-gather form)
        assertEquals(Strategy.of(new int[] {2, 2, 2, 1}, new int[] {2, 2, 1, 1}, new int[] {2, 2, 1, 1}),
                f.operators().get("model.layers.0.self_attn.attention").in());
        assertEquals(Strategy.of(new int[] {8, 1}), f.operators().get("model.layers.3.mlp.down_proj").out(), "sequence parallel: data x context x tensor token rows");
        assertEquals(2, ((Number) ((io.tessera.planner.strategy.NetworkRef.Zoo) f.network()).args()
                .get("load_balance")).intValue(), "the causal load balance of the context degree");
        PipelinePlan plan = StrategyPlans.pipelinePlan(file(16, "'tensor': 2, 'context': 2, 'pipeline': 2, "
                + "'data': 2, 'sequence_parallel': true, 'global_batch_size': 4"), null);
        assertEquals(2, plan.stages());
        assertEquals(8, plan.stageDevices());
    }

    @Test
    void theRingFormSplitsKeysAndValuesAlongTheSequence() {
        StrategyFile f = ParallelismExpansion.expand(file(8, "'tensor': 2, 'context': 4, 'context_impl': 'ring'"));
        assertEquals(Strategy.of(new int[] {1, 2, 4, 1}, new int[] {1, 2, 4, 1}, new int[] {1, 2, 4, 1}),
                f.operators().get("model.layers.0.self_attn.attention").in());
    }

    @Test
    void tensorBeyondTheKvHeadsReplicatesThem() {
        StrategyFile f = ParallelismExpansion.expand(file(4, "'tensor': 4"));
        assertEquals(Strategy.of(new int[] {1, 1}, new int[] {2, 1}),
                f.operators().get("model.layers.0.self_attn.k_proj").in(), "2 KV heads split 2 ways");
        assertEquals(Strategy.of(new int[] {1, 1}, new int[] {4, 1}),
                f.operators().get("model.layers.0.self_attn.q_proj").in());
        assertTrue(StrategyPlans.pipelinePlan(f, null).plan().devices() == 4);
    }

    @Test
    void layersThePipelineDoesNotDivideGoToTheMiddleStages() {
        assertArrayEquals(new int[] {7, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 7},
                ParallelismExpansion.stageLayers(126, 16), "Llama 3 405B: one layer fewer on the first and last");
        assertEquals(126, Arrays.stream(ParallelismExpansion.stageLayers(126, 16)).sum());
        assertArrayEquals(new int[] {2, 3, 2}, ParallelismExpansion.stageLayers(7, 3));
        assertArrayEquals(new int[] {4, 4}, ParallelismExpansion.stageLayers(8, 2));
        StrategyFile f = ParallelismExpansion.expand(StrategyFiles.parse(("{'network': {'zoo': 'llama', 'args': "
                + "{'layers': 7}}, 'devices': 3, 'parallelism': {'pipeline': 3}}").replace('\'', '"'), null));
        assertEquals(0, f.stages().get("model.layers.1.*"));
        assertEquals(1, f.stages().get("model.layers.2.*"));
        assertEquals(1, f.stages().get("model.layers.4.*"));
        assertEquals(2, f.stages().get("model.layers.5.*"));
    }

    static Stream<Arguments> errors() {
        return Stream.of(
                Arguments.of(8, "'tensor': 3", "parallelism: devices 8 is not a multiple of tensor 3 x pipeline 1"),
                Arguments.of(3, "'tensor': 3", "parallelism.tensor: found 3; expected a divisor of the model's "
                        + "num_attention_heads 4, intermediate_size 128 and vocab_size 128"),
                Arguments.of(4, "'context': 2, 'micro_batch_size': 2", "parallelism.micro_batch_size: found 2 with "
                        + "context 2; expected 1"),
                Arguments.of(3, "'context': 3", "parallelism.context: found 3 for seq 32; expected 2 x "
                        + "context to divide the sequence"),
                Arguments.of(2, "'precision': 'fp8'", "parallelism.precision: fp8 expands for the zoo gpt only"));
    }

    @ParameterizedTest(name = "{2}")
    @MethodSource("errors")
    void badDegreesAreOneLineErrors(int devices, String parallelism, String expectedStart) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> ParallelismExpansion.expand(file(devices, parallelism)));
        assertTrue(e.getMessage().startsWith(expectedStart), e.getMessage());
        assertFalse(e.getMessage().contains("\n"), e.getMessage());
    }

    @Test
    void contextOnTheZooGptIsAnError() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ParallelismExpansion.expand(
                StrategyFiles.parse("{\"network\": {\"zoo\": \"gpt\"}, \"devices\": 2, \"parallelism\": "
                        + "{\"context\": 2}}", null)));
        assertTrue(e.getMessage().startsWith("parallelism.context: found 2 for the zoo model gpt; context "
                + "parallelism expands for Llama-family networks"), e.getMessage());
    }

    @Test
    void anExpertDegreeOnADenseModelIsAnErrorAndExpertOneChangesNothing() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> ParallelismExpansion.expand(file(4, "'data': 4, 'expert': 2")));
        assertTrue(e.getMessage().startsWith("parallelism.expert: found 2 for a dense model (no mixture-of-experts "
                + "layers in network 'llama')"), e.getMessage());
        IllegalArgumentException gpt = assertThrows(IllegalArgumentException.class, () -> ParallelismExpansion.expand(
                StrategyFiles.parse("{\"network\": {\"zoo\": \"gpt\"}, \"devices\": 2, \"parallelism\": "
                        + "{\"expert\": 2}}", null)));
        assertTrue(gpt.getMessage().startsWith("parallelism.expert: found 2 for the zoo model gpt, a dense model"),
                gpt.getMessage());
        // expert 1 (the default) on a dense model: the same expansion, no moe_groups argument
        StrategyFile one = ParallelismExpansion.expand(file(4, "'data': 4, 'expert': 1"));
        assertEquals(ParallelismExpansion.expand(file(4, "'data': 4")), one);
        assertFalse(((io.tessera.planner.strategy.NetworkRef.Zoo) one.network()).args().containsKey("moe_groups"));
    }
}
