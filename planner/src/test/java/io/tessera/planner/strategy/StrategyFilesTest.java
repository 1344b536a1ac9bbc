package io.tessera.planner.strategy;

import io.tessera.layout.param.ParallelMode;
import io.tessera.planner.op.Strategy;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Strategy files: every form, the defaults, round trips, paths, parameter patterns and pinning. */
class StrategyFilesTest {

    static Path resource(String name) {
        try {
            return Path.of(StrategyFilesTest.class.getResource("/strategy/" + name).toURI());
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }

    /** JSON with single quotes for readability. */
    static String j(String s) {
        return s.replace('\'', '"');
    }

    static StrategyFile parse(String singleQuoted) {
        return StrategyFiles.parse(j(singleQuoted), Path.of("/base"));
    }

    @Test
    void minimalFileTakesMindSporeDefaults() {
        StrategyFile f = StrategyFiles.read(resource("minimal.json"));
        assertEquals(NetworkRef.zoo("mlp", Map.of()), f.network());
        assertEquals(Devices.count(8), f.devices());
        assertEquals(8, f.deviceCount());
        ParallelSettings p = f.parallel();
        assertEquals(ParallelMode.SEMI_AUTO_PARALLEL, p.parallelMode());
        assertEquals(SearchMode.DYNAMIC_PROGRAMMING, p.searchMode());
        assertFalse(p.enableParallelOptimizer());
        assertEquals(64, p.parallelOptimizerConfig().thresholdKb());
        assertEquals(64 * 1024, p.parallelOptimizerConfig().thresholdBytes());
        assertEquals(-1, p.parallelOptimizerConfig().optimizerWeightShardSize());
        CommFusionMode.Auto auto = assertInstanceOf(CommFusionMode.Auto.class, p.commFusion().allreduce());
        assertEquals(64L * 1024 * 1024, auto.bucketBytes());
        assertInstanceOf(CommFusionMode.Auto.class, p.commFusion().allgather());
        assertInstanceOf(CommFusionMode.Auto.class, p.commFusion().reducescatter());
        assertInstanceOf(DatasetStrategy.DataParallel.class, p.datasetStrategy());
        assertFalse(p.gradientsMean());
        assertEquals(1, p.pipelineStages());
        assertEquals(OptimizerKind.SGD, p.optimizer());
        assertTrue(p.strategyCkptConfig().isEmpty());
        assertEquals(ParallelSettings.defaults(), p);
        assertTrue(f.operators().isEmpty());
        assertTrue(f.parameters().isEmpty());
        assertTrue(f.loadFile().isEmpty());
        assertTrue(f.saveFile().isEmpty());
        assertTrue(f.networkFile().isEmpty());
        assertEquals(resource("minimal.json").getParent(), f.baseDir());
    }

    @Test
    void fullFileParsesEveryKey() {
        Path file = resource("full.json");
        StrategyFile f = StrategyFiles.read(file);
        NetworkRef.Zoo zoo = assertInstanceOf(NetworkRef.Zoo.class, f.network());
        assertEquals("gpt", zoo.name());
        assertEquals(2, zoo.args().get("layers"));
        assertEquals("float16", zoo.args().get("dtype"));
        assertEquals(List.of("layers", "hidden", "heads", "ffn", "seq", "vocab", "batch", "dtype"),
                List.copyOf(zoo.args().keySet()));
        assertEquals(Devices.matrix(2, 4), f.devices());
        assertEquals(8, f.deviceCount());
        assertEquals(4, f.stageDeviceCount());
        ParallelSettings p = f.parallel();
        assertEquals(ParallelMode.AUTO_PARALLEL, p.parallelMode());
        assertEquals(SearchMode.SHARDING_PROPAGATION, p.searchMode());
        assertTrue(p.enableParallelOptimizer());
        assertEquals(ParallelOptimizerConfig.of(1, 2).withGradientAccumulationShard(true), p.parallelOptimizerConfig());
        assertEquals(CommFusionMode.index(2, 5), p.commFusion().allreduce());
        CommFusionMode.Size size = assertInstanceOf(CommFusionMode.Size.class, p.commFusion().allgather());
        assertEquals(512 * 1024, size.bucketBytes());
        assertEquals(CommFusionMode.size(2), p.commFusion().reducescatter());
        assertEquals(DatasetStrategy.of(Strategy.of(new int[] {8, 1}, new int[] {8})), p.datasetStrategy());
        assertTrue(p.gradientsMean());
        assertEquals(2, p.pipelineStages());
        assertEquals(4, p.microBatches());
        assertEquals(Map.of("embedding.*", 0, "layers.0.*", 0, "layers.1.*", 1, "final_ln", 1), f.stages());
        assertEquals(java.util.Optional.of(1), f.stageFor("final_ln"));
        assertEquals(java.util.Optional.of(1), f.stageFor("layers.1.ffn.fc1"));
        assertEquals(java.util.Optional.of(0), f.stageFor("embedding.lookup"));
        assertEquals(java.util.Optional.empty(), f.stageFor("head"));
        assertEquals(OptimizerKind.ADAM, p.optimizer());
        assertEquals(2, p.optimizer().statesPerElement());
        assertEquals(StrategyCkptConfig.of("ckpt/in.json", "/tmp/tessera-out.json"), p.strategyCkptConfig());
        assertEquals(file.getParent().resolve("ckpt/in.json"), f.loadFile().orElseThrow());
        assertEquals(Path.of("/tmp/tessera-out.json"), f.saveFile().orElseThrow());

        assertEquals(List.of("layers.0.attention.qkv", "layers.0.attention.out"), List.copyOf(f.operators().keySet()));
        OpStrategy qkv = f.strategyFor("layers.0.attention.qkv").orElseThrow();
        assertEquals(Strategy.of(new int[] {2, 1}, new int[] {4, 1}), qkv.in());
        assertNull(qkv.out());
        assertFalse(qkv.hasOut());
        OpStrategy out = f.operators().get("layers.0.attention.out");
        assertEquals(Strategy.of(new int[] {8, 1}), out.out());
        assertTrue(f.strategyFor("nope").isEmpty());

        assertEquals(4, f.parameters().size());
        assertEquals(new ParamSettings(null, false, null, true, false), f.parameters().get("embedding.table"));
    }

    @Test
    void networkFileFormResolvesAgainstTheStrategyFilesDirectory() {
        Path file = resource("network-file.json");
        StrategyFile f = StrategyFiles.read(file);
        assertEquals(NetworkRef.file("nets/tiny.json"), f.network());
        assertEquals(file.getParent().resolve("nets/tiny.json"), f.networkFile().orElseThrow());
        assertEquals(file.getParent().getParent().resolve("ckpt/small.json"), f.loadFile().orElseThrow());
        assertEquals(ParallelMode.DATA_PARALLEL, f.parallel().parallelMode());
        assertEquals(DatasetStrategy.fullBatch(), f.parallel().datasetStrategy());
        assertEquals(CommFusionMode.size(32), f.parallel().commFusion().allreduce());
        assertEquals(32L * 1024 * 1024, ((CommFusionMode.Size) f.parallel().commFusion().allreduce()).bucketBytes());
    }

    @Test
    void resolveKeepsAbsolutePathsAndNormalisesRelativeOnes() {
        StrategyFile f = parse("{'network': {'file': '/nets/a.json'}, 'devices': 1}");
        assertEquals(Path.of("/nets/a.json"), f.networkFile().orElseThrow());
        assertEquals(Path.of("/base/x/y.json"), f.resolve("x/../x/y.json"));
        assertEquals(Path.of("/other/y.json"), f.resolve("../other/y.json"));
        StrategyFile cwd = StrategyFiles.parse(j("{'network': {'zoo': 'mlp'}, 'devices': 1}"), null);
        assertEquals(Path.of("a.json"), cwd.resolve("a.json"));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> f.resolve(" "));
        assertEquals("path: found a blank path; expected a file path relative to /base or absolute", e.getMessage());
    }

    @Test
    void zooArgumentsKeepTheirJsonTypes() {
        StrategyFile f = parse("{'network': {'zoo': 'mlp', 'args': {'i': 3, 'l': 5000000000, 'd': 0.5, 's': 'x', "
                + "'b': true, 'widths': [784, 10], 'nested': {'k': [1.5]}}}, 'devices': 2}");
        Map<String, Object> args = ((NetworkRef.Zoo) f.network()).args();
        assertEquals(3, args.get("i"));
        assertEquals(5000000000L, args.get("l"));
        assertEquals(0.5, args.get("d"));
        assertEquals("x", args.get("s"));
        assertEquals(true, args.get("b"));
        assertEquals(List.of(784, 10), args.get("widths"));
        assertEquals(Map.of("k", List.of(1.5)), args.get("nested"));
        assertThrows(UnsupportedOperationException.class, () -> args.put("x", 1));
        assertEquals(f, StrategyFiles.parse(StrategyFiles.write(f), Path.of("/base")));
    }

    @Test
    void fullFileRoundTripsAndWritingIsDeterministic() {
        StrategyFile f = StrategyFiles.read(resource("full.json"));
        String text = StrategyFiles.write(f);
        StrategyFile back = StrategyFiles.parse(text, f.baseDir());
        assertEquals(f, back);
        assertEquals(text, StrategyFiles.write(back));
        assertEquals(List.of("layers.0.attention.out", "layers.0.attention.qkv"),
                List.copyOf(back.operators().keySet()));
        assertEquals(List.of("embedding.table", "layers.*", "layers.0.*", "layers.0.attention.wq"),
                List.copyOf(back.parameters().keySet()));
    }

    @Test
    void writtenTextOmitsDefaultsAndPutsNumberArraysOnOneLine() {
        StrategyFile f = StrategyFile.of(NetworkRef.zoo("gpt", Map.of("layers", 2)), Devices.matrix(2, 4))
                .withParallel(ParallelSettings.builder().enableParallelOptimizer(true)
                        .commFusion(CommFusionConfig.of(CommFusionMode.size(0.25), null, CommFusionMode.size(4)))
                        .strategyCkptConfig(StrategyCkptConfig.of(null, "out.json")).build())
                .withOperators(Map.of("mm", OpStrategy.of(Strategy.of(new int[] {2, 1}, new int[] {1, 4}))))
                .withParameters(Map.of("layers.*", new ParamSettings(2, null, true, null, null)));
        String expected = String.join("\n",
                "{",
                "  \"network\": {",
                "    \"zoo\": \"gpt\",",
                "    \"args\": {",
                "      \"layers\": 2",
                "    }",
                "  },",
                "  \"devices\": {",
                "    \"dev_matrix\": [2, 4]",
                "  },",
                "  \"parallel\": {",
                "    \"enable_parallel_optimizer\": true,",
                "    \"comm_fusion\": {",
                "      \"allreduce\": {",
                "        \"mode\": \"size\",",
                "        \"config\": 0.25",
                "      },",
                "      \"reducescatter\": {",
                "        \"mode\": \"size\",",
                "        \"config\": 4",
                "      }",
                "    },",
                "    \"strategy_ckpt_config\": {",
                "      \"save_file\": \"out.json\"",
                "    }",
                "  },",
                "  \"operators\": {",
                "    \"mm\": {",
                "      \"in_strategy\": [[2, 1], [1, 4]]",
                "    }",
                "  },",
                "  \"parameters\": {",
                "    \"layers.*\": {",
                "      \"comm_fusion\": 2,",
                "      \"parallel_optimizer_comm_recompute\": true",
                "    }",
                "  }",
                "}",
                "");
        assertEquals(expected, StrategyFiles.write(f));
        assertEquals(f, StrategyFiles.parse(expected, Path.of("")));
        assertEquals("{\n  \"network\": {\n    \"zoo\": \"mlp\"\n  },\n  \"devices\": 8\n}\n",
                StrategyFiles.write(StrategyFiles.read(resource("minimal.json"))));
    }

    @Test
    void writingDoesNotDependOnInsertionOrder() {
        StrategyFile a = parse("{'network': {'zoo': 'mlp'}, 'devices': 8, 'operators': {'b': {'in_strategy': [[8]]}, "
                + "'a': {'in_strategy': [[4]]}}, 'parameters': {'y': {'comm_fusion': 1}, 'x.*': {'comm_fusion': 2}}}");
        StrategyFile b = parse("{'network': {'zoo': 'mlp'}, 'devices': 8, 'parameters': {'x.*': {'comm_fusion': 2}, "
                + "'y': {'comm_fusion': 1}}, 'operators': {'a': {'in_strategy': [[4]]}, 'b': {'in_strategy': [[8]]}}}");
        assertEquals(List.of("b", "a"), List.copyOf(a.operators().keySet()));
        assertEquals(a, b);
        String text = StrategyFiles.write(a);
        assertEquals(text, StrategyFiles.write(b));
        assertTrue(text.indexOf("\"a\"") < text.indexOf("\"b\"") && text.indexOf("\"x.*\"") < text.indexOf("\"y\""),
                text);
    }

    @Test
    void everyNonDefaultSettingRoundTripsFromJava() {
        ParallelSettings p = ParallelSettings.builder()
                .parallelMode(ParallelMode.STAND_ALONE).searchMode(SearchMode.RECURSIVE_PROGRAMMING)
                .parallelOptimizerConfig(ParallelOptimizerConfig.of(0, 4))
                .commFusion(CommFusionConfig.of(CommFusionMode.index(0, 7), CommFusionMode.size(1), null))
                .datasetStrategy(DatasetStrategy.of(Strategy.of(new int[] {4, 2})))
                .gradientsMean(true).pipelineStages(4).optimizer(OptimizerKind.MOMENTUM)
                .strategyCkptConfig(StrategyCkptConfig.of("in.json", null)).build();
        Map<String, ParamSettings> params = new LinkedHashMap<>();
        params.put("b", ParamSettings.none().withRequiresGrad(false).withLayerwiseParallel(true));
        params.put("a.*", ParamSettings.none().withCommFusion(0).withParallelOptimizer(false)
                .withParallelOptimizerCommRecompute(false));
        StrategyFile f = new StrategyFile(NetworkRef.file("n.json"), Devices.count(16), p,
                Map.of("op", OpStrategy.of(Strategy.of(new int[] {16}), Strategy.of(new int[] {1}))), params,
                Path.of("/d"));
        StrategyFile back = StrategyFiles.parse(StrategyFiles.write(f), Path.of("/d"));
        assertEquals(f, back);
        assertEquals(p, p.toBuilder().build());
    }

    @Test
    void readWriteThroughFiles(@TempDir Path dir) throws IOException {
        StrategyFile f = StrategyFiles.read(resource("full.json")).withBaseDir(dir.resolve("sub"));
        Path out = dir.resolve("sub/copy.json");
        StrategyFiles.write(f, out);
        assertEquals(f, StrategyFiles.read(out));
        assertEquals(StrategyFiles.write(f), Files.readString(out));
    }

    @Test
    void settingsMergeLongerPatternsOverShorterAndExactNamesOverAll() {
        StrategyFile f = StrategyFiles.read(resource("full.json"));
        assertEquals(new ParamSettings(0, true, true, false, true), f.settingsFor("layers.0.attention.wq"));
        assertEquals(new ParamSettings(3, true, true, null, null), f.settingsFor("layers.0.attention.wk"));
        assertEquals(new ParamSettings(2, true, null, null, null), f.settingsFor("layers.1.attention.wq"));
        assertEquals(new ParamSettings(null, false, null, true, false), f.settingsFor("embedding.table"));
        assertEquals(ParamSettings.none(), f.settingsFor("layers"));
        assertEquals(ParamSettings.none(), f.settingsFor("layersX.w"));
        assertEquals(ParamSettings.none(), f.settingsFor("head.w"));
        assertTrue(f.settingsFor("head.w").isEmpty());
        assertTrue(StrategyFile.matches("layers.0.*", "layers.0.a.b"));
        assertFalse(StrategyFile.matches("layers.0.*", "layers.01.a"));
        assertFalse(StrategyFile.matches("layers.0", "layers.0.a"));
        assertEquals(List.of("embedding.table"),
                f.unmatchedParameterKeys(List.of("layers.0.attention.wq", "head.w")));
        assertEquals(List.of(), f.unmatchedParameterKeys(List.of("layers.0.attention.wq", "embedding.table")));
    }

    @Test
    void fileStrategiesWinOverCheckpointOnes() {
        StrategyFile f = parse("{'network': {'zoo': 'mlp'}, 'devices': 8, "
                + "'operators': {'mm': {'in_strategy': [[8, 1], [1, 1]]}, 'relu': {'in_strategy': [[8, 1]]}}}");
        StrategyCheckpoint ckpt = StrategyCheckpoints.read(resource("ckpt-small.json"));
        Map<String, String> keyToOp = Map.of("MatMul_w", "mm", "Gather_embedding.table", "embed");
        Map<String, Strategy> pinned = f.pinnedStrategies(ckpt, keyToOp);
        assertEquals(List.of("embed", "mm", "relu"), List.copyOf(pinned.keySet()));
        assertEquals(Strategy.of(new int[] {1, 8}, new int[] {8, 1}), pinned.get("embed"));
        assertEquals(Strategy.of(new int[] {8, 1}, new int[] {1, 1}), pinned.get("mm"));
        assertEquals(Strategy.of(new int[] {8, 1}), pinned.get("relu"));
        assertEquals(Map.of("mm", Strategy.of(new int[] {8, 1}, new int[] {1, 1}),
                "relu", Strategy.of(new int[] {8, 1})), f.pinnedStrategies(null, null));
        StrategyFile plain = parse("{'network': {'zoo': 'mlp'}, 'devices': 8}");
        assertEquals(Strategy.of(new int[] {2, 1}, new int[] {4, 1}),
                plain.pinnedStrategies(ckpt, Map.of("MatMul_w", "mm", "Stale_x", "gone")).get("mm"));
        assertEquals(1, plain.pinnedStrategies(ckpt, Map.of("MatMul_w", "mm")).size());
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> plain.pinnedStrategies(ckpt, Map.of("MatMul_w", "mm", "Gather_embedding.table", "mm")));
        assertEquals("checkpointKeyToOpName: keys 'Gather_embedding.table' and 'MatMul_w' both map to operator "
                + "'mm'; expected one checkpoint key per operator", e.getMessage());
    }

    @Test
    void readErrorsStartWithTheFileName(@TempDir Path dir) throws IOException {
        Path bad = dir.resolve("bad.json");
        Files.writeString(bad, j("{'network': {'zoo': 'mlp'}, 'devices': 8, 'parallel': {'comm_fusion': "
                + "{'allreduce': {'mod': 'auto'}}}}"));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> StrategyFiles.read(bad));
        assertEquals(bad + ": parallel.comm_fusion.allreduce: unknown key 'mod'; valid keys are mode, config",
                e.getMessage());
        Path missing = dir.resolve("missing.json");
        e = assertThrows(IllegalArgumentException.class, () -> StrategyFiles.read(missing));
        assertEquals(missing + ": does not exist; expected the path of a strategy file (JSON)", e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> StrategyFiles.read(dir));
        assertTrue(e.getMessage().startsWith(dir + ": is a directory"), e.getMessage());
        Files.writeString(bad, "{\"network\": ");
        e = assertThrows(IllegalArgumentException.class, () -> StrategyFiles.read(bad));
        assertTrue(e.getMessage().startsWith(bad + ": strategy file: malformed JSON at line 1"), e.getMessage());
        assertFalse(e.getMessage().contains("\n"));
    }

    @Test
    void recordsCopyArraysAndRejectBadValues() {
        int[] dims = {2, 4};
        Devices.Matrix m = Devices.matrix(dims);
        dims[0] = 99;
        assertEquals(2, m.dims()[0]);
        m.dims()[1] = 99;
        assertEquals(4, m.dims()[1]);
        assertEquals(8, m.count());
        int[] idx = {1, 2};
        CommFusionMode.Index index = CommFusionMode.index(idx);
        idx[0] = 5;
        assertEquals(1, index.indices()[0]);

        assertEquals("devices: found 0; expected a number of devices >= 1",
                assertThrows(IllegalArgumentException.class, () -> Devices.count(0)).getMessage());
        assertEquals("parallel.comm_fusion.allgather.mode: found 'index'; expected one of auto, size (index is "
                + "for allreduce only)", assertThrows(IllegalArgumentException.class,
                () -> CommFusionConfig.of(null, CommFusionMode.index(1), null)).getMessage());
        assertEquals("parallel.parallel_mode: found 'hybrid_parallel'; expected one of stand_alone, data_parallel, "
                + "semi_auto_parallel, auto_parallel", assertThrows(IllegalArgumentException.class,
                () -> ParallelSettings.builder().parallelMode(ParallelMode.HYBRID_PARALLEL).build()).getMessage());
        assertEquals("in_strategy: found [[2, 0]] with 0 in tuple 0 [2, 0]; expected numbers of slices >= 1",
                assertThrows(IllegalArgumentException.class,
                        () -> OpStrategy.of(Strategy.of(new int[] {2, 0}))).getMessage());
        assertEquals("comm_fusion: found -1; expected a fusion id >= 0 (0 = never fused)",
                assertThrows(IllegalArgumentException.class,
                        () -> ParamSettings.none().withCommFusion(-1)).getMessage());
        assertEquals("comm_fusion index mode: found config [3, 3]; expected strictly ascending parameter indices "
                + ">= 0, e.g. [20, 35]", assertThrows(IllegalArgumentException.class,
                () -> CommFusionMode.index(3, 3)).getMessage());
        assertEquals("comm_fusion size mode: found config NaN; expected a bucket size in MB > 0, e.g. 32",
                assertThrows(IllegalArgumentException.class, () -> CommFusionMode.size(Double.NaN)).getMessage());
        assertEquals("network: found null; expected a zoo model or a network file, e.g. {\"zoo\": \"gpt\"}",
                assertThrows(IllegalArgumentException.class,
                        () -> StrategyFile.of(null, Devices.count(1))).getMessage());
        assertTrue(assertThrows(IllegalArgumentException.class,
                () -> NetworkRef.zoo("mlp", Map.of("x", new Object()))).getMessage()
                .startsWith("network.args.x: found Object"));
    }
}
