package io.tessera.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Issue 15, items 3 and 6: inputs that used to run (exit 0, or a misleading error) are refused with exit code 2 and a
 * one-line message naming the key, the value and what is allowed; and the search does what its help says.
 */
class HostileInputValidationTest {

    private static final Path STRATEGIES = Path.of("../strategies");
    private static final ObjectMapper MAPPER = new ObjectMapper();

    /** A refused run: exit 2, nothing on stdout, one line on stderr holding every part. */
    private static void assertRefused(CliRun r, String... parts) {
        assertEquals(2, r.code(), r.err() + r.out());
        String line = r.err().strip();
        assertFalse(line.contains("\n"), "one line: " + r.err());
        assertFalse(line.contains("Exception") || line.contains("\tat "), "no stack trace: " + r.err());
        for (String p : parts) {
            assertTrue(line.contains(p), "'" + p + "' not in: " + line);
        }
    }

    private static ObjectNode read(String shipped) throws IOException {
        return (ObjectNode) MAPPER.readTree(STRATEGIES.resolve(shipped).toFile());
    }

    private static Path write(Path dir, String name, JsonNode n) throws IOException {
        Path f = dir.resolve(name);
        Files.writeString(f, MAPPER.writerWithDefaultPrettyPrinter().writeValueAsString(n));
        return f;
    }

    private static String mlpNetwork(String inputDtype, String loss, String extraOps) {
        return "{\"name\": \"tiny\", \"inputs\": [{\"name\": \"x\", \"shape\": [8, 16], \"dtype\": \"" + inputDtype
                + "\"}], \"parameters\": [{\"name\": \"w\", \"shape\": [16, 4], \"init\": \"normal\"}], "
                + "\"ops\": [{\"name\": \"y\", \"type\": \"MatMul\", \"inputs\": [\"x\", \"w\"]}, "
                + "{\"name\": \"loss\", \"type\": \"ReduceMean\", \"inputs\": [\"y\"]}" + extraOps + "], "
                + "\"loss\": \"" + loss + "\"}";
    }

    private static Path networkStrategy(Path dir, String network) throws IOException {
        Files.writeString(dir.resolve("net.json"), network);
        Path f = dir.resolve("s.json");
        Files.writeString(f, "{\"network\": {\"file\": \"net.json\"}, \"devices\": 2, "
                + "\"parallel\": {\"parallel_mode\": \"data_parallel\"}}");
        return f;
    }

    @Test
    void searchOnTheShippedPipelineFileSearchesInsteadOfFailingOrEchoingIt() throws IOException {
        Path file = STRATEGIES.resolve("gpt-pipeline-2stages.json");
        CliRun r = CliRun.of("search", file.toString(), "--progress=none", "--json");
        assertEquals(0, r.code(), r.err());
        JsonNode out = MAPPER.readTree(r.out());
        // the pipeline settings are planned (not all skipped because the file's operators pin one stage's layouts)
        boolean twoStages = false;
        for (JsonNode c : out.get("evaluated")) {
            twoStages |= c.get("pipeline_stages").asInt() == 2;
        }
        assertTrue(twoStages, r.out());
        for (JsonNode s : out.get("skipped")) {
            assertFalse(s.asText().startsWith("2 stages"), s.asText());
        }
    }

    @Test
    void searchDropsTheFilesOperatorStrategiesAsItsHelpSays() {
        ObjectNode shipped;
        try {
            shipped = read("gpt-pipeline-2stages.json");
        } catch (IOException e) {
            throw new AssertionError(e);
        }
        io.tessera.planner.strategy.StrategyFile f = io.tessera.planner.strategy.StrategyFiles.read(
                STRATEGIES.resolve("gpt-pipeline-2stages.json"));
        io.tessera.planner.strategy.StrategyFile t = SearchCommand.searchTemplate(f);
        assertTrue(t.operators().isEmpty());
        assertTrue(t.stages().isEmpty());
        assertEquals(1, t.parallel().pipelineStages());
        assertEquals(f.parallel().gradientsMean(), t.parallel().gradientsMean());
        assertEquals(f.parallel().commFusion(), t.parallel().commFusion());
        assertEquals(f.parallel().optimizer(), t.parallel().optimizer());
        assertTrue(shipped.has("operators"));
    }

    @Test
    void searchRefusesStagesThatPutTheHeadBeforeItsInput(@TempDir Path dir) throws IOException {
        ObjectNode n = read("gpt-pipeline-2stages.json");
        ((ObjectNode) n.get("stages")).put("head", 0);
        Path f = write(dir, "head0.json", n);
        assertRefused(CliRun.of("search", f.toString(), "--progress=none"), "operator 'head' is in stage 0",
                "'final_ln' in stage 1", "move 'head' to stage 1 or later");
        assertRefused(CliRun.of("plan", f.toString()), "operator 'head' is in stage 0");
    }

    @Test
    void optimizerShardSizeThatDividesNoGroupIsRefusedByPlanAndTheNumericSimulator(@TempDir Path dir)
            throws IOException {
        ObjectNode n = read("gpt-optimizer-parallel.json");
        ((ObjectNode) n.get("parallel").get("parallel_optimizer_config")).put("optimizer_weight_shard_size", 3);
        Path f = write(dir, "shard3.json", n);
        String[] parts = {"parallel.parallel_optimizer_config.optimizer_weight_shard_size: found 3",
            "a divisor of the 8 devices of a stage (1, 2, 4, 8)"};
        assertRefused(CliRun.of("simulate", "--numeric", f.toString()), parts);
        assertRefused(CliRun.of("plan", f.toString()), parts);
    }

    @Test
    void nonFiniteOrAbsurdLearningRatesAreRefusedUpfront() {
        String file = STRATEGIES.resolve("mlp-data-parallel.json").toString();
        for (String lr : new String[] {"Infinity", "1e400", "NaN", "-0.1", "0", "1e9"}) {
            assertRefused(CliRun.of("simulate", "--numeric", file, "--lr", lr), "--lr ",
                    "expected a finite learning rate in (0, 10]");
        }
        // the degree-search options are checked for every search, not only the degree search
        assertRefused(CliRun.of("search", file, "--progress=none", "--top", "0"), "--top 0: expected at least 1");
        assertRefused(CliRun.of("search", file, "--progress=none", "--max-plans", "-1"), "--max-plans -1");
        assertRefused(CliRun.of("validate", "--fail-above", "Infinity"), "--fail-above is Infinity");
    }

    @Test
    void aDenormalPeakIsRefusedNamingTheKeyInsteadOfPrintingNaN(@TempDir Path dir) throws IOException {
        Path cluster = dir.resolve("cluster.json");
        Files.writeString(cluster, "{\"preset\": \"a100-80gb-dgx\", \"device\": {\"peak_flops\": "
                + "{\"float32\": 1e-308}}}");
        CliRun r = CliRun.of("search", STRATEGIES.resolve("mlp-data-parallel.json").toString(), "--progress=none",
                "--json", "--cluster", cluster.toString());
        assertRefused(r, "device.peak_flops.float32 is 1.0E-308", "expected a number in [1000000.0, 1.0E20]");
        assertFalse(r.out().contains("NaN"));
    }

    @Test
    void jsonOutputsNeverHoldNaNOrInfinity() {
        ObjectNode o = Json.object();
        o.putObject("chosen").put("step_seconds", Double.NaN);
        InputException e = org.junit.jupiter.api.Assertions.assertThrows(InputException.class, () -> Json.write(o));
        assertTrue(e.getMessage().startsWith("the result's chosen.step_seconds is NaN;"), e.getMessage());
        o.putObject("chosen").put("step_seconds", 1.5).putArray("x").add(Double.POSITIVE_INFINITY);
        e = org.junit.jupiter.api.Assertions.assertThrows(InputException.class, () -> Json.write(o));
        assertTrue(e.getMessage().startsWith("the result's chosen.x[0] is Infinity;"), e.getMessage());
    }

    @Test
    void aLossThatNamesAnInputIsRefusedNotPassedWithoutABackwardPass(@TempDir Path dir) throws IOException {
        Path f = networkStrategy(dir, mlpNetwork("float32", "x", ""));
        assertRefused(CliRun.of("simulate", "--numeric", f.toString()), "the loss 'x' is a data input",
                "not an operator output");
        assertRefused(CliRun.of("plan", f.toString()), "the loss 'x' is a data input");
        Path ok = networkStrategy(dir, mlpNetwork("float32", "loss", ""));
        CliRun r = CliRun.of("simulate", "--numeric", ok.toString());
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("PASSED"), r.out());
    }

    @Test
    void dtypeNamesMustMatchExactly(@TempDir Path dir) throws IOException {
        Path f = networkStrategy(dir, mlpNetwork(" float32", "loss", ""));
        assertRefused(CliRun.of("plan", f.toString()), "' float32'", "expected one of float16, bfloat16, float32");
        assertRefused(CliRun.of("simulate", "--numeric", STRATEGIES.resolve("mlp-data-parallel.json").toString(),
                "--dtype", "float64 "), "'float64 '");
    }

    @Test
    void aConvPadAsLargeAsTheKernelIsRefused(@TempDir Path dir) throws IOException {
        String net = "{\"name\": \"c\", \"inputs\": [{\"name\": \"x\", \"shape\": [2, 3, 8, 8], \"dtype\": "
                + "\"float32\"}], \"parameters\": [{\"name\": \"w\", \"shape\": [4, 3, 3, 3], \"init\": \"normal\"}], "
                + "\"ops\": [{\"name\": \"conv\", \"type\": \"Conv2D\", \"inputs\": [\"x\", \"w\"], \"attrs\": "
                + "{\"out_channel\": 4, \"kernel_size\": 3, \"pad\": PAD}}, "
                + "{\"name\": \"loss\", \"type\": \"ReduceMean\", \"inputs\": [\"conv\"]}], \"loss\": \"loss\"}";
        Path f = networkStrategy(dir, net.replace("PAD", "1000000000"));
        assertRefused(CliRun.of("plan", f.toString()), "pad [1000000000, 1000000000, 1000000000, 1000000000]",
                "expected each pad below the dilated kernel size 3");
        Path ok = networkStrategy(dir, net.replace("PAD", "2"));
        assertEquals(0, CliRun.of("plan", ok.toString()).code());
    }

    @Test
    void loadedStrategyCheckpointsAreCheckedItemByItem(@TempDir Path dir) throws IOException {
        Path ckpt = dir.resolve("ckpt.json");
        CliRun saved = CliRun.of("plan", STRATEGIES.resolve("mlp-data-parallel.json").toString(), "--ckpt",
                ckpt.toString());
        assertEquals(0, saved.code(), saved.err());
        ObjectNode good = (ObjectNode) MAPPER.readTree(ckpt.toFile());
        ObjectNode s = read("mlp-data-parallel.json");
        ((ObjectNode) s.get("parallel")).put("parallel_mode", "semi_auto_parallel").putObject("strategy_ckpt_config")
                .put("load_file", "bad.json");
        Path strategy = write(dir, "s.json", s);

        write(dir, "bad.json", good);
        assertEquals(0, CliRun.of("plan", strategy.toString()).code(), "the checkpoint as written loads");

        ObjectNode bad = good.deepCopy();
        ((ObjectNode) bad.get("parallel_strategy_item").get("MatMul_layers.0.weight")).set("parallel_strategy",
                MAPPER.readTree("[[3, 1], [1, 1]]"));
        write(dir, "bad.json", bad);
        assertRefused(CliRun.of("plan", strategy.toString()),
                "parallel_strategy_item.MatMul_layers.0.weight.parallel_strategy: found [[3, 1], [1, 1]]",
                "divides the 8 devices of a stage");

        bad = good.deepCopy();
        ((ObjectNode) bad.get("parallel_strategy_item")).set("MatMul_nothing", bad.get("parallel_strategy_item")
                .get("MatMul_layers.0.weight"));
        write(dir, "bad.json", bad);
        assertRefused(CliRun.of("plan", strategy.toString()), "parallel_strategy_item.MatMul_nothing: matches no "
                + "operator of network 'mlp'");

        bad = good.deepCopy();
        ((ObjectNode) bad.get("parallel_layout_item").get("layers.0.weight")).put("opt_weight_shard_size", 0);
        write(dir, "bad.json", bad);
        assertRefused(CliRun.of("plan", strategy.toString()), "opt_weight_shard_size: found the number 0",
                "-1 (not configured) or a group size >= 1");

        bad = good.deepCopy();
        ((ObjectNode) bad.get("parallel_layout_item").get("layers.0.weight")).put("opt_weight_shard_size", 3);
        write(dir, "bad.json", bad);
        assertRefused(CliRun.of("plan", strategy.toString()), "opt_weight_shard_size: found 3");

        bad = good.deepCopy();
        ((ObjectNode) bad.get("parallel_layout_item").get("layers.0.weight")).set("dev_matrix",
                MAPPER.readTree("[2, 2]"));
        write(dir, "bad.json", bad);
        assertRefused(CliRun.of("plan", strategy.toString()), "parallel_layout_item.layers.0.weight.dev_matrix: "
                + "found [2, 2] (4 devices)");

        bad = good.deepCopy();
        bad.remove("parallel_layout_item");
        write(dir, "bad.json", bad);
        assertRefused(CliRun.of("plan", strategy.toString()), "missing key 'parallel_layout_item'");
        assertNotEquals(good, bad);
    }

    private static Path zoo(Path dir, String model, String args, String mode) throws IOException {
        Path f = dir.resolve(model + ".json");
        Files.writeString(f, "{\"network\": {\"zoo\": \"" + model + "\", \"args\": " + args + "}, \"devices\": 2, "
                + "\"parallel\": {\"parallel_mode\": \"" + mode + "\"}}");
        return f;
    }

    @Test
    void zooArgumentsThatBuildAnUntrainableNetworkAreRefused(@TempDir Path dir) throws IOException {
        // one class: the cross-entropy is identically 0, so the numeric check compared zeros and PASSED
        assertRefused(CliRun.of("simulate", "--numeric", zoo(dir, "resnet", "{\"classes\": 1, \"batch\": 2}",
                "semi_auto_parallel").toString()), "zoo model 'resnet': classes is 1; expected at least 2");
        assertRefused(CliRun.of("simulate", "--numeric", zoo(dir, "gpt", "{\"vocab\": 1, \"batch\": 2}",
                "semi_auto_parallel").toString()), "zoo model 'gpt': vocab is 1; expected at least 2");
        assertRefused(CliRun.of("plan", zoo(dir, "llama", "{\"vocab\": 1, \"batch\": 2}",
                "semi_auto_parallel").toString()), "zoo model 'llama': vocab is 1; expected at least 2");
        assertRefused(CliRun.of("plan", zoo(dir, "mlp", "{\"widths\": [4, 1], \"batch\": 2}",
                "semi_auto_parallel").toString()), "zoo model 'mlp': widths [4, 1] end with 1 classes");
        // a resnet with 3 channels is a valid network: it plans and simulates
        CliRun ok = CliRun.of("simulate", "--numeric", zoo(dir, "resnet", "{\"channels\": 3, \"batch\": 2}",
                "semi_auto_parallel").toString());
        assertEquals(0, ok.code(), ok.err());
    }

    @Test
    void dataParallelRefusesABatchThatDoesNotSplitOverTheDevices(@TempDir Path dir) throws IOException {
        // each rank runs on its batch shard alone: a batch of 1 on 2 ranks used to plan and then FAIL numerically
        assertRefused(CliRun.of("simulate", "--numeric", zoo(dir, "gpt", "{\"batch\": 1}", "data_parallel")
                .toString()), "batch dim of size 1 does not split over the 2 devices of parallel_mode data_parallel");
        assertEquals(0, CliRun.of("plan", zoo(dir, "gpt", "{\"batch\": 2}", "data_parallel").toString()).code());
    }
}
