package io.tessera.planner.strategy;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.nio.file.Path;
import java.util.Map;
import java.util.Optional;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The {@code parallelism} section and the {@code cluster} key: every key, the defaults, errors and round trips. */
class ParallelismFileTest {

    private static final String NET = "'network': {'zoo': 'gpt'}, 'devices': 8";

    private static StrategyFile parse(String rest) {
        return StrategyFilesTest.parse("{" + NET + (rest.isEmpty() ? "" : ", " + rest) + "}");
    }

    private static String section(String body) {
        return "'parallelism': {" + body + "}";
    }

    @Test
    void everyKeyIsRead() {
        StrategyFile f = StrategyFiles.read(StrategyFilesTest.resource("parallelism.json"));
        Parallelism p = f.parallelism().orElseThrow();
        assertEquals(new Parallelism(2, true, 2, 2, 8, 2, 64, Parallelism.Recompute.SELECTIVE, true,
                false, true, Parallelism.Precision.BF16), p);
        assertEquals(8, p.dataFor(32));
        assertEquals(64, p.globalBatchSizeFor(32));
        assertEquals(4, p.microBatchesFor(32), "64 / (2 x 8)");
        assertEquals(16, p.networkBatchFor(32), "micro_batch_size x data");
        assertEquals(Optional.of(Parallelism.Precision.BF16), p.precisionIfGiven());
        assertEquals(Optional.of(ClusterRef.spec("{\"preset\":\"h100-dgx\",\"rank_mapping\":\"round_robin\"}")),
                f.cluster());
        assertEquals(2, f.pipelineStages(), "parallelism.pipeline");
        assertEquals(16, f.stageDeviceCount());
        assertEquals(Map.of("final_ln", 1), f.stages());
    }

    @Test
    void omittedKeysTakeTheDocumentedDefaults() {
        Parallelism p = parse(section("")).parallelism().orElseThrow();
        assertEquals(Parallelism.defaults(), p);
        assertEquals(1, p.tensor());
        assertFalse(p.sequenceParallel());
        assertEquals(1, p.pipeline());
        assertEquals(1, p.virtualPipeline());
        assertEquals(0, p.data(), "omitted");
        assertEquals(8, p.dataFor(8), "devices / (tensor x pipeline)");
        assertEquals(1, p.microBatchSize());
        assertEquals(8, p.globalBatchSizeFor(8), "one micro-batch: micro_batch_size x data");
        assertEquals(1, p.microBatchesFor(8));
        assertEquals(Parallelism.Recompute.NONE, p.recompute());
        assertFalse(p.distributedOptimizer());
        assertTrue(p.precisionIfGiven().isEmpty(), "the network's dtype unchanged");

        Parallelism tp = parse(section("'tensor': 2, 'pipeline': 2, 'micro_batch_size': 3")).parallelism().get();
        assertEquals(2, tp.dataFor(8));
        assertEquals(6, tp.globalBatchSizeFor(8));
        assertEquals(6, tp.networkBatchFor(8));

        StrategyFile none = parse("");
        assertTrue(none.parallelism().isEmpty());
        assertTrue(none.cluster().isEmpty());
        assertEquals(Optional.of(ClusterRef.preset("a100-80gb-dgx")), parse("'cluster': 'a100-80gb-dgx'").cluster());
    }

    static Stream<Arguments> errors() {
        String keys = "valid keys are tensor, sequence_parallel, pipeline, virtual_pipeline, data, micro_batch_size, "
                + "global_batch_size, recompute, distributed_optimizer, zero_stage, prefetch_layers, "
                + "overlap_grad_reduce, tp_comm_overlap, precision, context, context_impl, expert";
        return Stream.of(
                Arguments.of("'parallelism': 8", "parallelism: found the number 8; expected an object with keys "
                        + "tensor, sequence_parallel, "),
                Arguments.of(section("'tp': 2"), "parallelism: unknown key 'tp'; " + keys),
                Arguments.of(section("'tensor': 0"), "parallelism.tensor: found the number 0; expected a "
                        + "tensor-parallel degree >= 1 (default 1)"),
                Arguments.of(section("'tensor': '2'"), "parallelism.tensor: found the string \"2\"; expected a "
                        + "tensor-parallel degree >= 1 (default 1)"),
                Arguments.of(section("'sequence_parallel': 1"), "parallelism.sequence_parallel: found the number 1; "
                        + "expected true or false"),
                Arguments.of(section("'pipeline': 1.5"), "parallelism.pipeline: found the number 1.5; expected a "
                        + "number of pipeline stages >= 1 (default 1)"),
                Arguments.of(section("'virtual_pipeline': 0"), "parallelism.virtual_pipeline: found the number 0; "
                        + "expected a number of model chunks per stage >= 1 (default 1)"),
                Arguments.of(section("'virtual_pipeline': 2"), "parallelism.virtual_pipeline: found 2 with pipeline 1; "
                        + "expected 1 without pipeline stages (interleaving splits each stage's layers into chunks), "
                        + "or set pipeline"),
                Arguments.of(section("'data': 0"), "parallelism.data: found the number 0; expected a data-parallel "
                        + "degree >= 1 (default: devices / (tensor x pipeline))"),
                Arguments.of(section("'micro_batch_size': -1"), "parallelism.micro_batch_size: found the number -1; "
                        + "expected a micro-batch size >= 1 (default 1)"),
                Arguments.of(section("'global_batch_size': 0"), "parallelism.global_batch_size: found the number 0; "
                        + "expected a batch size >= 1 (default: micro_batch_size x data)"),
                Arguments.of(section("'recompute': 'partial'"), "parallelism.recompute: found the string "
                        + "\"partial\"; expected one of none, selective, full"),
                Arguments.of(section("'recompute': 'FULL'"), "parallelism.recompute: found the string \"FULL\"; "
                        + "expected one of none, selective, full"),
                Arguments.of(section("'distributed_optimizer': 'yes'"), "parallelism.distributed_optimizer: found the "
                        + "string \"yes\"; expected true or false"),
                Arguments.of(section("'precision': 'fp32'"), "parallelism.precision: found the string \"fp32\"; "
                        + "expected one of fp16, bf16, fp8 (omit it to keep the network's dtype)"),
                // the product of the degrees against the devices (8)
                Arguments.of(section("'tensor': 2, 'pipeline': 2, 'data': 4"), "parallelism: tensor 2 x pipeline 2 "
                        + "x data 4 = 16 but devices is 8; choose degrees whose product is the device count, or omit "
                        + "data (then data = devices / (tensor x pipeline))"),
                Arguments.of(section("'tensor': 3"), "parallelism: devices 8 is not a multiple of tensor 3 x "
                        + "pipeline 1 = 3; choose tensor and pipeline whose product divides the device count "
                        + "(data = devices / (tensor x pipeline))"),
                Arguments.of(section("'tensor': 2, 'micro_batch_size': 2, 'global_batch_size': 12"),
                        "parallelism.global_batch_size: found 12; expected a multiple of micro_batch_size 2 x data 4 "
                                + "= 8 (every step runs whole micro-batches on every data-parallel replica)"),
                Arguments.of(section("'data': 2, 'pipeline': 2, 'tensor': 2, 'global_batch_size': 3"),
                        "parallelism.global_batch_size: found 3; expected a multiple of micro_batch_size 1 x data 2 "
                                + "= 2"),
                Arguments.of(section("'context': 0"), "parallelism.context: found the number 0; expected a "
                        + "context-parallel degree >= 1 (default 1)"),
                Arguments.of(section("'context': 2, 'context_impl': 'p2p'"), "parallelism.context_impl: found the "
                        + "string \"p2p\"; expected one of all_gather, ring (default all_gather)"),
                Arguments.of(section("'context_impl': 'ring'"), "parallelism.context_impl: found ring with context 1; "
                        + "expected it only with context > 1"),
                Arguments.of(section("'tensor': 2, 'context': 2, 'data': 4"), "parallelism: tensor 2 x context 2 x "
                        + "pipeline 1 x data 4 = 16 but devices is 8; choose degrees whose product is the device "
                        + "count, or omit data (then data = devices / (tensor x context x pipeline))"),
                Arguments.of(section("'tensor': 2, 'context': 3"), "parallelism: devices 8 is not a multiple of "
                        + "tensor 2 x context 3 x pipeline 1 = 6; choose degrees whose product divides the device "
                        + "count"),
                Arguments.of(section("'expert': 0"), "parallelism.expert: found the number 0; expected an "
                        + "expert-parallel degree >= 1 (default 1)"),
                Arguments.of(section("'expert': 3"), "parallelism.expert: found 3 with data 8 = 8; expected a "
                        + "divisor of data x context"),
                Arguments.of(section("'tensor': 2, 'data': 4, 'expert': 8"), "parallelism.expert: found 8 with "
                        + "data 4 = 4; expected a divisor of data x context"),
                Arguments.of(section("'context': 2, 'tensor': 2, 'expert': 8"), "parallelism.expert: found 8 with "
                        + "data 2 x context 2 = 4; expected a divisor of data x context"),
                // the parallel section beside it
                Arguments.of("'parallel': {'parallel_mode': 'auto_parallel'}, " + section(""),
                        "parallel.parallel_mode: found auto_parallel with a parallelism section; expected "
                                + "semi_auto_parallel (the degrees give every operator's strategy): remove "
                                + "parallel.parallel_mode or the parallelism section"),
                Arguments.of("'parallel': {'pipeline_stages': 4}, " + section("'pipeline': 2"),
                        "parallel.pipeline_stages: found 4 but parallelism.pipeline is 2; remove "
                                + "parallel.pipeline_stages (parallelism.pipeline sets it)"),
                Arguments.of("'parallel': {'micro_batches': 3}, " + section("'global_batch_size': 16"),
                        "parallel.micro_batches: found 3 but the parallelism section gives 2 (global_batch_size / "
                                + "(micro_batch_size x data)); remove parallel.micro_batches (the degrees set it)"),
                Arguments.of("'stages': {'head': 2}, " + section("'pipeline': 2"),
                        "stages.head: found 2; expected a stage in [0, 2) (parallelism.pipeline is 2)"),
                // cluster
                Arguments.of("'cluster': ''", "cluster: found the string \"\"; expected a cluster preset name such "
                        + "as \"a100-80gb-dgx\" or a cluster-spec object such as {\"preset\": \"a100-80gb-dgx\", "
                        + "\"rank_mapping\": \"round_robin\"}"),
                Arguments.of("'cluster': 8", "cluster: found the number 8; expected a cluster preset name"),
                Arguments.of("'cluster': ['a100-80gb-dgx']", "cluster: found the array [\"a100-80gb-dgx\"]; expected "
                        + "a cluster preset name"));
    }

    @ParameterizedTest(name = "{1}")
    @MethodSource("errors")
    void rejectedWithAPreciseMessage(String rest, String expectedStart) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> parse(rest));
        assertTrue(e.getMessage().startsWith(expectedStart), () -> "message was: " + e.getMessage());
        assertFalse(e.getMessage().contains("\n"), () -> "multi-line message: " + e.getMessage());
    }

    @Test
    void aFileErrorNamesTheFile() {
        Path file = StrategyFilesTest.resource("parallelism.json");
        StrategyFile f = StrategyFiles.read(file);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> f.withParallelism(f.parallelism().get().toBuilder().data(4).build()));
        assertTrue(e.getMessage().startsWith("parallelism: tensor 2 x pipeline 2 x data 4 = 16 but devices is 32"),
                e.getMessage());
    }

    @Test
    void writingRoundTripsDeterministically() {
        StrategyFile f = StrategyFiles.read(StrategyFilesTest.resource("parallelism.json"));
        String text = StrategyFiles.write(f);
        assertEquals(f, StrategyFiles.parse(text, f.baseDir()));
        assertEquals(text, StrategyFiles.write(StrategyFiles.parse(text, f.baseDir())));
        // keys in the format's order; the cluster object kept as written
        assertTrue(text.indexOf("\"devices\"") < text.indexOf("\"cluster\"")
                && text.indexOf("\"cluster\"") < text.indexOf("\"parallelism\"")
                && text.indexOf("\"parallelism\"") < text.indexOf("\"operators\""), text);
        assertTrue(text.contains("\"cluster\": {\n    \"preset\": \"h100-dgx\",\n    \"rank_mapping\": "
                + "\"round_robin\"\n  }"), text);
        assertTrue(text.contains("\"precision\": \"bf16\""), text);

        // defaults are omitted: an empty section stays an empty section, a preset stays a name
        StrategyFile empty = parse("'cluster': 'h100-dgx', " + section("'tensor': 1, 'recompute': 'none'"));
        String written = StrategyFiles.write(empty);
        assertTrue(written.contains("\"cluster\": \"h100-dgx\",\n  \"parallelism\": {}"), written);
        assertEquals(empty, StrategyFiles.parse(written, Path.of("/base")));
    }

    @Test
    void contextDegreesAndFormAreReadWrittenAndCounted() {
        Parallelism p = parse(section("'tensor': 2, 'context': 2, 'context_impl': 'ring'")).parallelism()
                .orElseThrow();
        assertEquals(2, p.context());
        assertEquals(Parallelism.ContextImpl.RING, p.contextForm());
        assertEquals(2, p.dataFor(8), "devices / (tensor x context x pipeline)");
        assertEquals(2, p.networkBatchFor(8), "one sequence per data-parallel replica");
        Parallelism omitted = parse(section("'context': 4")).parallelism().orElseThrow();
        assertEquals(Parallelism.ContextImpl.ALL_GATHER, omitted.contextForm(), "the default form");
        assertEquals(null, omitted.contextImpl(), "omitted stays omitted");
        assertEquals(1, Parallelism.defaults().context());

        StrategyFile f = parse(section("'tensor': 2, 'context': 2, 'context_impl': 'ring'"));
        String text = StrategyFiles.write(f);
        assertTrue(text.contains("\"context\": 2,\n    \"context_impl\": \"ring\""), text);
        assertEquals(f, StrategyFiles.parse(text, f.baseDir()));
        assertFalse(StrategyFiles.write(parse(section("'tensor': 2"))).contains("context"), "defaults omitted");
    }

    @Test
    void theRecordValidatesWithoutAFile() {
        assertThrows(IllegalArgumentException.class, () -> Parallelism.builder().tensor(0).build());
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> Parallelism.builder().data(4).microBatchSize(2).globalBatchSize(12).build());
        assertEquals("parallelism.global_batch_size: found 12; expected a multiple of micro_batch_size 2 x data 4 = "
                + "8 (every step runs whole micro-batches on every data-parallel replica)", e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> ClusterRef.preset(" "));
        assertThrows(IllegalArgumentException.class, () -> ClusterRef.spec("[1]"));
    }

    @Test
    void expertDegreeIsReadWrittenOnlyWhenNotOneAndDividesDataTimesContext() {
        Parallelism p = parse(section("'tensor': 2, 'context': 2, 'expert': 2")).parallelism().orElseThrow();
        assertEquals(2, p.expert());
        assertEquals(2, p.dataFor(8), "expert adds no devices: data = 8 / (tensor 2 x context 2)");
        assertEquals(1, Parallelism.defaults().expert());
        assertEquals(4, Parallelism.builder().data(4).expert(4).build().expert());
        assertEquals(1, new Parallelism(1, false, 1, 1, 0, 1, 0, null, false, true, false, null, 0, -1, 2,
                null).expert(), "the constructor before expert keeps expert 1");

        Parallelism example = StrategyFiles.read(StrategyFilesTest.resource("expert.json")).parallelism().get();
        assertEquals(Parallelism.builder().tensor(2).data(4).expert(4).build(), example);
        StrategyFile f = parse(section("'data': 8, 'expert': 4"));
        String text = StrategyFiles.write(f);
        assertTrue(text.contains("\"expert\": 4"), text);
        assertEquals(f, StrategyFiles.parse(text, f.baseDir()));
        String one = StrategyFiles.write(parse(section("'expert': 1")));
        assertFalse(one.contains("expert"), one);
        // data omitted: checked when the degree is derived from the devices
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> Parallelism.builder().tensor(2).expert(8).build().dataFor(8));
        assertTrue(e.getMessage().startsWith("parallelism.expert: found 8 with data 4 = 4"), e.getMessage());
    }
}
