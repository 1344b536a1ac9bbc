package io.tessera.planner.api;

import io.tessera.layout.DType;
import io.tessera.planner.cost.ClusterSpec;
import io.tessera.planner.cost.Recompute;
import io.tessera.planner.cost.RankMapping;
import io.tessera.planner.graph.Network;
import io.tessera.planner.handplan.HandPlans;
import io.tessera.planner.op.Strategy;
import io.tessera.planner.plan.PipelinePlan;
import io.tessera.planner.plan.PlanConfig;
import io.tessera.planner.plan.PlanJson;
import io.tessera.planner.plan.Planner;
import io.tessera.planner.strategy.DatasetStrategy;
import io.tessera.planner.strategy.NetworkRef;
import io.tessera.planner.strategy.OpStrategy;
import io.tessera.planner.strategy.OptimizerKind;
import io.tessera.planner.strategy.ParallelOptimizerConfig;
import io.tessera.planner.strategy.StrategyFile;
import io.tessera.planner.strategy.StrategyFiles;
import io.tessera.planner.zoo.GptConfig;
import io.tessera.planner.zoo.Zoo;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The expansion of a {@code parallelism} section against the hand-written Megatron plans, and its errors. */
class ParallelismExpansionTest {

    /** A 4-layer gpt: heads 4, ffn 256, vocab 128, seq 16. */
    private static final String GPT = "'network': {'zoo': 'gpt', 'args': {'layers': 4, 'hidden': 64, 'heads': 4, "
            + "'seq': 16, 'vocab': 128}}";

    private static StrategyFile file(int devices, String rest) {
        return StrategyFiles.parse(("{" + GPT + ", 'devices': " + devices + (rest.isEmpty() ? "" : ", " + rest) + "}")
                .replace('\'', '"'), Path.of("/base"));
    }

    private static StrategyFile degrees(int devices, String section) {
        return file(devices, "'parallelism': {" + section + "}");
    }

    private static GptConfig gpt(int batch, DType dtype) {
        return new GptConfig(4, 64, 4, 256, 16, 128, batch, dtype);
    }

    static Stream<Arguments> degreeMixes() {
        // tensor, data, micro_batch_size, sequence_parallel
        return Stream.of(Arguments.of(1, 8, 1, false), Arguments.of(2, 4, 1, false), Arguments.of(4, 2, 2, false),
                Arguments.of(2, 4, 1, true), Arguments.of(4, 2, 1, true), Arguments.of(1, 8, 2, true));
    }

    /** Differential: the expanded strategies and the planner configuration equal HandPlans' for the same degrees. */
    @ParameterizedTest(name = "tensor {0} data {1} micro-batch {2} sequence parallel {3}")
    @MethodSource("degreeMixes")
    void expansionEqualsTheHandWrittenMegatronPlan(int tensor, int data, int mbs, boolean sp) {
        StrategyFile f = degrees(tensor * data, "'tensor': " + tensor + ", 'data': " + data + ", 'micro_batch_size': "
                + mbs + ", 'sequence_parallel': " + sp);
        StrategyFile x = ParallelismExpansion.expand(f);
        GptConfig c = gpt(mbs * data, DType.FLOAT32);
        Map<String, OpStrategy> expected = new LinkedHashMap<>();
        Map<String, Strategy> out = HandPlans.megatronGptOutStrategies(c, data, tensor, sp);
        HandPlans.megatronGpt(c, data, tensor, sp).forEach((op, s) -> expected.put(op, OpStrategy.of(s, out.get(op))));
        assertEquals(expected, x.operators());
        assertEquals(NetworkRef.zoo("gpt", Map.of("layers", 4, "hidden", 64, "heads", 4, "seq", 16, "vocab", 128,
                "batch", mbs * data)), x.network());
        assertTrue(x.parallelism().isEmpty(), "the expanded file has no section left");

        Network net = StrategyPlans.network(f);
        assertEquals(PlanJson.toJson(Planner.plan(Zoo.gpt(c), HandPlans.megatronGptBuilder(c, data, tensor, sp)
                .optimizer(OptimizerKind.ADAM).build())).toString(),
                PlanJson.toJson(StrategyPlans.plan(f)).toString());
        PlanConfig config = StrategyPlans.config(f, net);
        assertEquals(HandPlans.megatronGptBuilder(c, data, tensor, sp).optimizer(OptimizerKind.ADAM).build(), config);
    }

    @Test
    void pipelineDegreesGiveMegatronStagesAndMicroBatches() {
        StrategyFile f = degrees(8, "'tensor': 2, 'pipeline': 2, 'data': 2, 'global_batch_size': 8");
        StrategyFile x = ParallelismExpansion.expand(f);
        assertEquals(2, x.parallel().pipelineStages());
        assertEquals(4, x.parallel().microBatches(), "8 / (1 x 2)");
        assertEquals(4, x.stageDeviceCount());
        assertEquals(Map.of("layers.0.*", 0, "layers.1.*", 0, "layers.2.*", 1, "layers.3.*", 1), x.stages());
        assertEquals(new DatasetStrategy.Explicit(Strategy.of(new int[] {2, 1}, new int[] {2, 1})),
                x.parallel().datasetStrategy());
        assertEquals(OptimizerKind.ADAM, x.parallel().optimizer());
        assertFalse(x.parallel().enableParallelOptimizer());

        PipelinePlan pipe = StrategyPlans.pipelinePlan(f, null);
        assertEquals(2, pipe.stages());
        assertEquals(4, pipe.microBatches());
        assertEquals(4, pipe.stageDevices());
        assertEquals(0, pipe.stageOf("embedding.lookup"));
        assertEquals(0, pipe.stageOf("layers.1.residual2"));
        assertEquals(1, pipe.stageOf("layers.2.ln1"));
        assertEquals(1, pipe.stageOf("head"));
        assertEquals(1, pipe.stageOf("loss"));
        // the same plan as the hand-written pipeline file would give
        GptConfig c = gpt(2, DType.FLOAT32);
        PlanConfig hand = HandPlans.megatronGptBuilder(c, 2, 2, false).optimizer(OptimizerKind.ADAM).build();
        PipelinePlan expected = PipelinePlan.plan(Zoo.gpt(c), hand, 2, 4, op -> Optional.ofNullable(
                op.startsWith("layers.") ? Integer.parseInt(op.split("\\.")[1]) / 2 : null));
        assertEquals(PlanJson.toJson(expected).toString(), PlanJson.toJson(pipe).toString());

        // virtual_pipeline is carried, the planner splits the stages itself
        StrategyFile v = degrees(8, "'tensor': 2, 'pipeline': 2, 'virtual_pipeline': 2");
        assertEquals(2, StrategyPlans.virtualPipeline(v));
        assertEquals(1, StrategyPlans.virtualPipeline(f));
        assertEquals(Map.of(), ParallelismExpansion.expand(v).stages());
        assertEquals(2, StrategyPlans.pipelinePlan(v, null).stages());
    }

    @Test
    void explicitOperatorsAndStagesOverrideTheExpandedOnes() {
        StrategyFile f = file(8, "'parallelism': {'tensor': 2, 'pipeline': 2, 'sequence_parallel': true}, "
                + "'operators': {'layers.0.attention.out': {'in_strategy': [[2, 2], [2, 1]]}, "
                + "'head': {'in_strategy': [[2, 1], [1, 2]], 'out_strategy': [[4, 1]]}}, "
                + "'stages': {'layers.1.*': 1, 'layers.2.ln1': 0}");
        StrategyFile x = ParallelismExpansion.expand(f);
        // the whole entry is replaced: no out_strategy left from sequence parallelism
        assertEquals(OpStrategy.of(Strategy.of(new int[] {2, 2}, new int[] {2, 1})),
                x.operators().get("layers.0.attention.out"));
        assertEquals(OpStrategy.of(Strategy.of(new int[] {2, 1}, new int[] {1, 2}), Strategy.of(new int[] {4, 1})),
                x.operators().get("head"));
        assertEquals(OpStrategy.of(Strategy.of(new int[] {2, 2}, new int[] {2, 1}), Strategy.of(new int[] {4, 1})),
                x.operators().get("layers.1.attention.out"), "the others stay expanded");
        assertEquals(1, x.stages().get("layers.1.*"));
        assertEquals(Optional.of(0), x.stageFor("layers.2.ln1"));
        assertEquals(Optional.of(1), x.stageFor("layers.2.ffn.fc1"));
    }

    @Test
    void distributedOptimizerKeepsWholeWeightsOnEveryReplica() {
        // Megatron's distributed optimizer shards the optimizer step, not the weights: no MindSpore optimizer
        // parallelism (whose weights are gathered before every forward); the timeline shards the step instead
        StrategyFile x = ParallelismExpansion.expand(degrees(8, "'tensor': 2, 'distributed_optimizer': true"));
        assertFalse(x.parallel().enableParallelOptimizer());
        assertEquals(OptimizerKind.ADAM, x.parallel().optimizer());
        // the file's own settings win
        StrategyFile own = ParallelismExpansion.expand(file(8, "'parallel': {'optimizer': 'momentum', "
                + "'parallel_optimizer_config': {'optimizer_weight_shard_size': 2}, 'dataset_strategy': "
                + "'full_batch'}, 'parallelism': {'tensor': 2, 'distributed_optimizer': true}"));
        assertEquals(OptimizerKind.MOMENTUM, own.parallel().optimizer());
        assertEquals(ParallelOptimizerConfig.of(64, 2), own.parallel().parallelOptimizerConfig());
        assertEquals(DatasetStrategy.fullBatch(), own.parallel().datasetStrategy());
        assertTrue(StrategyPlans.plan(degrees(8, "'tensor': 2, 'distributed_optimizer': true")).params().stream()
                .noneMatch(p -> p.shard().sharded()));
    }

    @Test
    void precisionSetsTheNetworkDtype() {
        assertEquals(DType.BFLOAT16, StrategyPlans.network(degrees(8, "'precision': 'bf16'"))
                .tensor("embedding.word_table").dtype());
        assertEquals(DType.FLOAT16, StrategyPlans.network(degrees(8, "'precision': 'fp16'"))
                .tensor("embedding.word_table").dtype());
        assertEquals(DType.FLOAT32, StrategyPlans.network(degrees(8, "")).tensor("embedding.word_table").dtype());
        assertEquals(8, StrategyPlans.network(degrees(8, "")).tensor("tokens").shape()[0], "batch 1 x data 8");
    }

    @Test
    void withoutASectionTheFileIsUnchanged() {
        StrategyFile f = file(8, "");
        assertSame(f, ParallelismExpansion.expand(f));
        assertEquals(Recompute.NONE, StrategyPlans.recompute(f));
        assertEquals(Optional.empty(), StrategyPlans.cluster(f, 8));
    }

    static Stream<Arguments> errors() {
        return Stream.of(
                Arguments.of(StrategyFiles.parse("{\"network\": {\"zoo\": \"mlp\"}, \"devices\": 8, \"parallelism\": "
                        + "{}}", null), "parallelism: the network is the zoo model 'mlp'; the degrees expand for the "
                        + "zoo models gpt and llama and Hugging Face configs (hf_config) only: give per-operator "
                        + "strategies in operators (and parallel.pipeline_stages, micro_batches) instead of the "
                        + "parallelism section"),
                Arguments.of(StrategyFiles.parse("{\"network\": {\"file\": \"n.json\"}, \"devices\": 8, "
                        + "\"parallelism\": {}}", null), "parallelism: the network is the network file 'n.json'; "),
                Arguments.of(StrategyFiles.parse("{\"network\": {\"zoo\": \"gpt\", \"args\": {\"batch\": 8}}, "
                        + "\"devices\": 8, \"parallelism\": {\"tensor\": 2}}", null),
                        "parallelism: network.args.batch is 8 but micro_batch_size 1 x data 4 = 4 (the network is one "
                                + "micro-batch over all data-parallel replicas); remove network.args.batch or make "
                                + "it 4"),
                Arguments.of(StrategyFiles.parse("{\"network\": {\"zoo\": \"gpt\", \"args\": {\"dtype\": "
                        + "\"float16\"}}, \"devices\": 8, \"parallelism\": {\"precision\": \"bf16\"}}", null),
                        "parallelism: network.args.dtype is float16 but precision bf16 gives bfloat16; remove "
                                + "network.args.dtype or the precision"),
                Arguments.of(file(8, "'cluster': 'a100-80gb-dgx', 'parallelism': {'precision': 'fp8'}"),
                        "parallelism.precision: fp8 needs FP8 tensor cores but the cluster's device A100-SXM4-80GB "
                                + "lists no float8_e4m3fn peak; use precision bf16 on it, or an FP8 device such as "
                                + "the h100-dgx preset"),
                Arguments.of(degrees(8, "'precision': 'fp8'").withNetwork(NetworkRef.zoo("gpt", Map.of("fp8", false))),
                        "parallelism: network.args.fp8 is false but precision fp8 casts the linear layers' inputs "
                                + "to FP8; remove network.args.fp8 or the precision"),
                Arguments.of(degrees(8, "'tensor': 8"), "parallelism.tensor: found 8; expected a divisor of the "
                        + "model's heads 4, ffn 256 and vocab 128 (tensor parallelism splits them)"),
                Arguments.of(degrees(4, "'tensor': 4, 'pipeline': 1, 'sequence_parallel': true").withNetwork(
                        NetworkRef.zoo("gpt", Map.of("seq", 3, "heads", 4))),
                        "parallelism.sequence_parallel: tensor 4 does not divide the 3 token rows of a micro-batch "
                                + "(micro_batch_size x seq); choose a tensor degree that divides them or turn "
                                + "sequence_parallel off"),
                Arguments.of(degrees(8, "'pipeline': 8"), "parallelism.pipeline: pipeline 8 x virtual_pipeline 1 = 8 "
                        + "does not divide the model's 4 layers; choose degrees whose product divides the layers "
                        + "(every chunk gets the same layers)"),
                Arguments.of(degrees(8, "'pipeline': 2, 'virtual_pipeline': 4"), "parallelism.pipeline: pipeline 2 "
                        + "x virtual_pipeline 4 = 8 does not divide the model's 4 layers"),
                Arguments.of(degrees(8, "").withNetwork(NetworkRef.zoo("gpt", Map.of("layers", "four"))),
                        "zoo model 'gpt': argument 'layers'"));
    }

    @ParameterizedTest(name = "{1}")
    @MethodSource("errors")
    void badSectionsAreOneLineErrors(StrategyFile f, String expectedStart) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> StrategyPlans.plan(f));
        assertTrue(e.getMessage().startsWith(expectedStart), () -> "message was: " + e.getMessage());
        assertFalse(e.getMessage().contains("\n"), () -> "multi-line message: " + e.getMessage());
    }

    @Test
    void fp8OnAnH100GivesBfloat16WithFp8LinearLayers() {
        StrategyFile f = file(8, "'cluster': 'h100-dgx', 'parallelism': {'tensor': 2, 'precision': 'fp8'}");
        Network net = StrategyPlans.network(f);
        assertEquals(DType.BFLOAT16, net.tensor("layers.0.ffn.fc1").dtype());
        assertEquals(DType.BFLOAT16, net.parameter("layers.0.ffn.w1").dtype());
        java.util.List<String> fp8 = new java.util.ArrayList<>();
        net.nodes().forEach(n -> {
            if (n.op() instanceof io.tessera.planner.op.MatMul m && m.gemmDtype() != null) {
                assertEquals(DType.FLOAT8_E4M3FN, m.gemmDtype());
                fp8.add(n.name());
            }
        });
        assertEquals(4 * 6, fp8.size(), "q, k, v, out, fc1, fc2 of each of the 4 layers: " + fp8);
        assertTrue(fp8.stream().allMatch(n -> n.startsWith("layers.")), "the head and attention products stay bf16");
        assertEquals(8, StrategyPlans.plan(f).devices());
        // without a cluster in the file the expansion cannot check the device: the cost model does
        assertEquals(DType.BFLOAT16, StrategyPlans.network(degrees(8, "'precision': 'fp8'"))
                .tensor("layers.0.ffn.fc1").dtype());
    }

    @Test
    void aBatchArgumentEqualToTheDegreesIsAccepted() {
        StrategyFile f = StrategyFiles.parse("{\"network\": {\"zoo\": \"gpt\", \"args\": {\"batch\": 4, \"dtype\": "
                + "\"bf16\"}}, \"devices\": 8, \"parallelism\": {\"tensor\": 2, \"precision\": \"bf16\"}}", null);
        assertEquals(4, StrategyPlans.network(f).tensor("tokens").shape()[0]);
    }

    @Test
    void recomputeMapsToTheCostModelsModes() {
        assertEquals(Recompute.NONE, StrategyPlans.recompute(degrees(8, "")));
        assertEquals(Recompute.SELECTIVE, StrategyPlans.recompute(degrees(8, "'recompute': 'selective'")));
        assertEquals(Recompute.FULL, StrategyPlans.recompute(degrees(8, "'recompute': 'full'")));
    }

    @Test
    void theClusterKeyParsesWithTheClusterSpecReader() {
        ClusterSpec preset = StrategyPlans.cluster(file(8, "'cluster': 'h100-dgx'"), 24).orElseThrow();
        assertEquals(ClusterSpec.preset("h100-dgx").withNodes(3), preset, "grown to fit 24 devices");
        ClusterSpec spec = StrategyPlans.cluster(file(8, "'cluster': {'preset': 'a100-80gb-dgx', 'devices_per_node': "
                + "4, 'rank_mapping': 'round_robin'}"), 16).orElseThrow();
        assertEquals(4, spec.devicesPerNode());
        assertEquals(4, spec.nodes(), "no nodes key: grown to fit");
        assertEquals(RankMapping.roundRobin(), spec.rankMapping());
        ClusterSpec fixed = StrategyPlans.cluster(file(8, "'cluster': {'preset': 'a100-80gb-dgx', 'nodes': 3}"), 16)
                .orElseThrow();
        assertEquals(3, fixed.nodes(), "explicit nodes are kept");

        IllegalArgumentException small = assertThrows(IllegalArgumentException.class, () -> StrategyPlans.cluster(
                file(8, "'cluster': {'preset': 'a100-80gb-dgx', 'nodes': 1}"), 16));
        assertEquals("cluster: found 1 nodes of 8 devices (8) but the plan needs 16; remove \"nodes\" (the cluster "
                + "then grows to fit) or add nodes", small.getMessage());
        IllegalArgumentException unknown = assertThrows(IllegalArgumentException.class, () -> StrategyPlans.cluster(
                file(8, "'cluster': 'a200'"), 8));
        assertEquals("cluster: found the preset \"a200\"; expected one of " + String.join(", ", ClusterSpec.presets())
                + " or a cluster-spec object", unknown.getMessage());
        IllegalArgumentException bad = assertThrows(IllegalArgumentException.class, () -> StrategyPlans.cluster(
                file(8, "'cluster': {'preset': 'a100-80gb-dgx', 'nodez': 2}"), 8));
        assertTrue(bad.getMessage().startsWith("cluster: ") && bad.getMessage().contains("nodez")
                && !bad.getMessage().contains("\n"), bad.getMessage());
    }
}
