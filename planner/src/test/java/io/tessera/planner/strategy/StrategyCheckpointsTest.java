package io.tessera.planner.strategy;

import io.tessera.planner.op.Strategy;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** MindSpore strategy checkpoint JSON: golden text, round trips, strict parsing and record validation. */
class StrategyCheckpointsTest {

    /** The hand-written checkpoint of {@code ckpt-small.json}, items inserted out of order. */
    static StrategyCheckpoint small() {
        Map<String, StrategyItem> strategies = new LinkedHashMap<>();
        strategies.put(StrategyCheckpoints.strategyKey("MatMul", "w"),
                StrategyItem.of(0, Strategy.of(new int[] {2, 1}, new int[] {4, 1})));
        strategies.put(StrategyCheckpoints.strategyKey("Gather", "embedding.table"),
                new StrategyItem(0, List.of(new int[] {1, 8}, new int[] {8, 1})));
        Map<String, LayoutItem> layouts = new LinkedHashMap<>();
        layouts.put("w", LayoutItem.of(new int[] {2, 4}, new int[] {0, -1}, new long[] {64, 32}, 0, 4, 2));
        layouts.put("embedding.table", new LayoutItem(new int[] {8}, new int[] {-1, 0}, new long[] {128, 64}, 0, 0,
                -1, new long[] {64, 64}, new long[] {0, 64}));
        return StrategyCheckpoint.of(0, strategies, layouts);
    }

    @Test
    void writesTheGoldenText() throws IOException {
        String golden = Files.readString(StrategyFilesTest.resource("ckpt-small.json"));
        assertEquals(golden, StrategyCheckpoints.write(small()));
    }

    @Test
    void goldenTextRoundTrips() {
        StrategyCheckpoint read = StrategyCheckpoints.read(StrategyFilesTest.resource("ckpt-small.json"));
        assertEquals(small(), read);
        assertEquals(small().hashCode(), read.hashCode());
        assertEquals(List.of("Gather_embedding.table", "MatMul_w"), List.copyOf(read.strategies().keySet()));
        assertEquals(List.of("embedding.table", "w"), List.copyOf(read.layouts().keySet()));
        LayoutItem w = read.layouts().get("w");
        assertArrayEquals(new int[] {2, 4}, w.devMatrix());
        assertArrayEquals(new int[] {0, -1}, w.tensorMap());
        assertArrayEquals(new long[] {64, 32}, w.tensorShape());
        assertEquals(4, w.optWeightShardStep());
        assertEquals(2, w.optWeightShardSize());
        assertFalse(w.hasSplitInfo());
        assertNull(w.paramSplitShape());
        assertNull(w.indicesOffset());
        LayoutItem table = read.layouts().get("embedding.table");
        assertArrayEquals(new long[] {64, 64}, table.paramSplitShape());
        assertArrayEquals(new long[] {0, 64}, table.indicesOffset());
        assertEquals(Strategy.of(new int[] {2, 1}, new int[] {4, 1}), read.strategies().get("MatMul_w").strategy());
        String text = StrategyCheckpoints.write(read);
        assertEquals(text, StrategyCheckpoints.write(StrategyCheckpoints.parse(text)));
    }

    @Test
    void emptyCheckpointAndStages(@TempDir Path dir) {
        StrategyCheckpoint empty = StrategyCheckpoint.of(1, null, null);
        String text = StrategyCheckpoints.write(empty);
        assertEquals("{\n  \"current_stage\": 1,\n  \"parallel_strategy_item\": {},\n"
                + "  \"parallel_layout_item\": {}\n}\n", text);
        assertEquals(empty, StrategyCheckpoints.parse(text));
        assertEquals(empty, StrategyCheckpoints.parse("{\"current_stage\": 1, \"parallel_strategy_item\": {}, "
                + "\"parallel_layout_item\": {}}"));
        // both item maps are required: a checkpoint without its layouts is a broken file, not an empty one
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> StrategyCheckpoints.parse(
                "{\"current_stage\": 1, \"parallel_strategy_item\": {}}"));
        assertTrue(e.getMessage().contains("parallel_layout_item"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> StrategyCheckpoints.parse("{\"current_stage\": 1}"));
        assertTrue(e.getMessage().contains("parallel_strategy_item"), e.getMessage());
        Path out = dir.resolve("a/b/ckpt.json");
        StrategyCheckpoints.write(small(), out);
        assertEquals(small(), StrategyCheckpoints.read(out));
    }

    @Test
    void strategyKeyJoinsPrimitiveAndFirstParameter() {
        assertEquals("MatMul_layers.0.attention.wq",
                StrategyCheckpoints.strategyKey("MatMul", "layers.0.attention.wq"));
        assertEquals("primitive: found a blank name; expected MindSpore's primitive name, e.g. \"MatMul\"",
                assertThrows(IllegalArgumentException.class,
                        () -> StrategyCheckpoints.strategyKey(" ", "w")).getMessage());
        assertEquals("firstParamName: found null; expected the name of the operator's first parameter input, "
                + "e.g. \"w\"", assertThrows(IllegalArgumentException.class,
                () -> StrategyCheckpoints.strategyKey("MatMul", null)).getMessage());
    }

    @Test
    void recordsCopyArraysInAndOut() {
        int[] dev = {2, 4};
        long[] split = {1, 2};
        LayoutItem l = new LayoutItem(dev, new int[] {1, 0}, new long[] {8, 8}, 0, 0, -1, split, new long[] {0, 1});
        dev[0] = 7;
        split[0] = 9;
        assertArrayEquals(new int[] {2, 4}, l.devMatrix());
        assertArrayEquals(new long[] {1, 2}, l.paramSplitShape());
        l.tensorMap()[0] = 5;
        assertArrayEquals(new int[] {1, 0}, l.tensorMap());
        List<int[]> tuples = new ArrayList<>(List.of(new int[] {2, 1}));
        StrategyItem s = new StrategyItem(0, tuples);
        tuples.get(0)[0] = 9;
        s.parallelStrategy().get(0)[1] = 9;
        assertArrayEquals(new int[] {2, 1}, s.parallelStrategy().get(0));
        assertTrue(s.toString().contains("[[2, 1]]"));
    }

    static Stream<Arguments> recordErrors() {
        return Stream.of(
                Arguments.of((Runnable) () -> LayoutItem.of(new int[] {2, 4}, new int[] {2, -1}, new long[] {8, 8}, 0,
                        0, -1), "tensor_map: found [2, -1] for dev_matrix [2, 4]; expected -1 or distinct device "
                        + "dimensions 0..1 counted from the right"),
                Arguments.of((Runnable) () -> LayoutItem.of(new int[] {2, 4}, new int[] {0, 0}, new long[] {8, 8}, 0,
                        0, -1), "tensor_map: found [0, 0] for dev_matrix [2, 4]; expected -1 or distinct device"),
                Arguments.of((Runnable) () -> LayoutItem.of(new int[] {2, 4}, new int[] {0}, new long[] {8, 8}, 0,
                        0, -1), "tensor_map: found [0] for tensor_shape [8, 8]; expected one entry per tensor "
                        + "dimension (2)"),
                Arguments.of((Runnable) () -> LayoutItem.of(new int[] {}, new int[] {}, new long[] {}, 0, 0, -1),
                        "dev_matrix: found []; expected a non-empty list of positive ints, e.g. [2, 4]"),
                Arguments.of((Runnable) () -> LayoutItem.of(new int[] {2}, new int[] {-1}, new long[] {8}, 0, 0, -2),
                        "opt_weight_shard_size: found -2; expected -1 (not configured) or a group size >= 1"),
                Arguments.of((Runnable) () -> LayoutItem.of(new int[] {2}, new int[] {-1}, new long[] {8}, 0, 0, 0),
                        "opt_weight_shard_size: found 0; expected -1 (not configured) or a group size >= 1"),
                Arguments.of((Runnable) () -> LayoutItem.of(new int[] {2}, new int[] {-1}, new long[] {8}, -1, 0, -1),
                        "field: found -1; expected a field size >= 0"),
                Arguments.of((Runnable) () -> new LayoutItem(new int[] {2}, new int[] {-1}, new long[] {8}, 0, 0, -1,
                        new long[] {4}, null), "param_split_shape: found without indices_offset; expected "
                        + "param_split_shape and indices_offset together or neither"),
                Arguments.of((Runnable) () -> new LayoutItem(new int[] {2}, new int[] {-1}, new long[] {8}, 0, 0, -1,
                        new long[] {4}, new long[] {0, 4}), "param_split_shape: found [4] with indices_offset [0, 4]; "
                        + "expected lists of the same length"),
                Arguments.of((Runnable) () -> new StrategyItem(-1, List.of(new int[] {1})),
                        "stage: found -1; expected a pipeline stage >= 0"),
                Arguments.of((Runnable) () -> new StrategyItem(0, List.of(new int[] {0})),
                        "parallel_strategy: found [0]; expected numbers of slices >= 1"),
                Arguments.of((Runnable) () -> StrategyCheckpoint.of(-1, null, null),
                        "current_stage: found -1; expected a pipeline stage >= 0"));
    }

    @ParameterizedTest(name = "{1}")
    @MethodSource("recordErrors")
    void recordsRejectInvalidValues(Runnable make, String expectedStart) {
        String message = assertThrows(IllegalArgumentException.class, make::run).getMessage();
        assertTrue(message.startsWith(expectedStart), () -> "message was: " + message);
    }

    private static final String LAYOUT = "'dev_matrix': [2, 4], 'tensor_map': [0, -1], 'tensor_shape': [64, 32], "
            + "'field': 0, 'opt_weight_shard_step': 0, 'opt_weight_shard_size': -1";

    private static String layout(String body) {
        return "{'current_stage': 0, 'parallel_strategy_item': {}, 'parallel_layout_item': {'w': {" + body + "}}}";
    }

    private static String strategy(String body) {
        return "{'current_stage': 0, 'parallel_strategy_item': {'MatMul_w': " + body + "}, "
                + "'parallel_layout_item': {}}";
    }

    static Stream<Arguments> parseErrors() {
        return Stream.of(
                Arguments.of("{'current_stage': 0, 'parallel_strategy_items': {}}", "top level: unknown key "
                        + "'parallel_strategy_items'; valid keys are current_stage, parallel_strategy_item, "
                        + "parallel_layout_item"),
                Arguments.of("{'parallel_strategy_item': {}}", "top level: missing key 'current_stage'"),
                Arguments.of("{'current_stage': -1, 'parallel_strategy_item': {}, 'parallel_layout_item': {}}",
                        "current_stage: found the number -1; expected a pipeline stage >= 0"),
                Arguments.of("{'current_stage': '0', 'parallel_strategy_item': {}, 'parallel_layout_item': {}}",
                        "current_stage: found the string \"0\""),
                Arguments.of("{'current_stage': 0, 'parallel_strategy_item': [], 'parallel_layout_item': {}}",
                        "parallel_strategy_item: found the array []; expected an object of strategy items"),
                Arguments.of("[]", "top level: found the array []; expected an object with keys current_stage"),
                Arguments.of("{'current_stage': 0", "strategy checkpoint: malformed JSON at line 1"),
                Arguments.of(strategy("{'stages': 0, 'parallel_strategy': [[1]]}"), "parallel_strategy_item.MatMul_w: "
                        + "unknown key 'stages'; valid keys are stage, parallel_strategy"),
                Arguments.of(strategy("{'stage': 0}"),
                        "parallel_strategy_item.MatMul_w: missing key 'parallel_strategy'"),
                Arguments.of(strategy("{'stage': 0, 'parallel_strategy': [[2, 0]]}"),
                        "parallel_strategy_item.MatMul_w.parallel_strategy[0][1]: found the number 0; expected an "
                                + "integer >= 1"),
                Arguments.of(strategy("{'stage': -1, 'parallel_strategy': [[1]]}"),
                        "parallel_strategy_item.MatMul_w.stage: found the number -1"),
                Arguments.of(layout(LAYOUT + ", 'slice_shape': [32, 32]"), "parallel_layout_item.w: unknown key "
                        + "'slice_shape'; valid keys are dev_matrix, tensor_map, tensor_shape, field, "
                        + "opt_weight_shard_step, opt_weight_shard_size, param_split_shape, indices_offset"),
                Arguments.of(layout(LAYOUT.replace(", 'field': 0", "")),
                        "parallel_layout_item.w: missing key 'field'"),
                Arguments.of(layout(LAYOUT.replace("[0, -1]", "[0, -2]")),
                        "parallel_layout_item.w.tensor_map[1]: found the number -2; expected an integer >= -1"),
                Arguments.of(layout(LAYOUT.replace("[0, -1]", "[2, -1]")), "parallel_layout_item.w: tensor_map: "
                        + "found [2, -1] for dev_matrix [2, 4]; expected -1 or distinct device dimensions 0..1"),
                Arguments.of(layout(LAYOUT.replace("[64, 32]", "[64]")), "parallel_layout_item.w: tensor_map: found "
                        + "[0, -1] for tensor_shape [64]; expected one entry per tensor dimension (1)"),
                Arguments.of(layout(LAYOUT.replace("[2, 4]", "[2, 0]")),
                        "parallel_layout_item.w.dev_matrix[1]: found the number 0; expected an integer >= 1"),
                Arguments.of(layout(LAYOUT.replace("'field': 0", "'field': 0.5")),
                        "parallel_layout_item.w.field: found the number 0.5; expected a field size >= 0"),
                Arguments.of(layout(LAYOUT.replace("'opt_weight_shard_size': -1", "'opt_weight_shard_size': -3")),
                        "parallel_layout_item.w.opt_weight_shard_size: found the number -3; expected -1 (not "
                                + "configured) or a group size >= 1"),
                Arguments.of(layout(LAYOUT.replace("'opt_weight_shard_size': -1", "'opt_weight_shard_size': 0")),
                        "parallel_layout_item.w.opt_weight_shard_size: found the number 0; expected -1 (not "
                                + "configured) or a group size >= 1"),
                Arguments.of(layout(LAYOUT + ", 'param_split_shape': [32, 32]"), "parallel_layout_item.w: "
                        + "param_split_shape: found without indices_offset; expected param_split_shape and "
                        + "indices_offset together or neither"),
                Arguments.of(layout(LAYOUT + ", 'indices_offset': [0]"), "parallel_layout_item.w: indices_offset: "
                        + "found without param_split_shape"),
                Arguments.of(layout(LAYOUT + ", 'param_split_shape': [32, 32], 'indices_offset': [0]"),
                        "parallel_layout_item.w: param_split_shape: found [32, 32] with indices_offset [0]; "
                                + "expected lists of the same length"),
                Arguments.of("{'current_stage': 0, 'parallel_strategy_item': {}, "
                        + "'parallel_layout_item': {'w.x': {'dev_matrix': 2}}}",
                        "parallel_layout_item[\"w.x\"]: missing key 'tensor_map'"));
    }

    @ParameterizedTest(name = "{1}")
    @MethodSource("parseErrors")
    void parsingRejectsWithAPreciseMessage(String singleQuotedJson, String expectedStart) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> StrategyCheckpoints.parse(StrategyFilesTest.j(singleQuotedJson)));
        assertTrue(e.getMessage().startsWith(expectedStart), () -> "message was: " + e.getMessage());
        assertFalse(e.getMessage().contains("\n"), () -> "multi-line message: " + e.getMessage());
    }

    @Test
    void readErrorsStartWithTheFileName(@TempDir Path dir) throws IOException {
        Path f = dir.resolve("ck.json");
        Files.writeString(f, "{\"current_stage\": 0, \"extra\": 1}");
        assertEquals(f + ": top level: unknown key 'extra'; valid keys are current_stage, parallel_strategy_item, "
                + "parallel_layout_item", assertThrows(IllegalArgumentException.class,
                () -> StrategyCheckpoints.read(f)).getMessage());
        Path missing = dir.resolve("none.json");
        assertEquals(missing + ": does not exist; expected the path of a strategy checkpoint (JSON)",
                assertThrows(IllegalArgumentException.class, () -> StrategyCheckpoints.read(missing)).getMessage());
    }
}
