package io.tessera.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.tessera.planner.plan.PipelinePlan;
import io.tessera.planner.plan.PlanJson;
import io.tessera.planner.plan.PlanSummary;
import io.tessera.planner.api.StrategyPlans;
import io.tessera.planner.strategy.StrategyCheckpoints;
import io.tessera.planner.strategy.StrategyFile;
import io.tessera.planner.strategy.StrategyFiles;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** In-process tests of {@code tessera plan} on the shipped strategy files and on bad input. */
class PlanCommandTest {

    private static final Path STRATEGIES = Path.of("../strategies");
    private static final Path MEGATRON = STRATEGIES.resolve("gpt-megatron-tp4-dp2.json");
    private static final ObjectMapper MAPPER = new ObjectMapper();
    private static final List<String> PLAN_KEYS = List.of("network", "devices", "parallel_mode", "gradients_mean",
            "operators", "communications", "parameters", "buckets", "memory", "notes");
    private static final List<String> CKPT_KEYS = List.of("current_stage", "parallel_strategy_item",
            "parallel_layout_item");
    /** A small valid strategy file: the zoo MLP data parallel on 8 devices. */
    private static final String MLP = "{\"network\": {\"zoo\": \"mlp\"}, \"devices\": 8";

    @TempDir
    Path tmp;

    /** The result of one in-process run. */
    record Run(int code, String out, String err) {
        List<String> errLines() {
            return err.isEmpty() ? List.of() : List.of(err.split("\n"));
        }
    }

    private static Run run(String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        var cl = Tessera.commandLine();
        cl.setOut(new PrintWriter(out, true));
        cl.setErr(new PrintWriter(err, true));
        int code = cl.execute(args);
        return new Run(code, out.toString(), err.toString().replace("\r\n", "\n"));
    }

    private Path write(String name, String text) throws IOException {
        Path p = tmp.resolve(name);
        Files.writeString(p, text, StandardCharsets.UTF_8);
        return p;
    }

    private static JsonNode readJson(Path p) throws IOException {
        return MAPPER.readTree(p.toFile());
    }

    private static List<String> keys(JsonNode n) {
        List<String> out = new ArrayList<>();
        for (Iterator<String> it = n.fieldNames(); it.hasNext(); ) {
            out.add(it.next());
        }
        return out;
    }

    private List<Path> tmpFiles() throws IOException {
        try (Stream<Path> files = Files.list(tmp)) {
            return files.sorted().toList();
        }
    }

    /** The strategy files shipped at the top of {@code strategies/} (sub-folders such as layout/ are not). */
    private static List<Path> shippedStrategyFiles() throws IOException {
        try (Stream<Path> files = Files.list(STRATEGIES)) {
            return files.filter(Files::isRegularFile)
                    .filter(p -> p.getFileName().toString().endsWith(".json"))
                    .sorted()
                    .toList();
        }
    }

    private static void assertOneLineNoTrace(Run r) {
        assertEquals(1, r.errLines().size(), "stderr should be one line: " + r.err);
        assertTrue(r.err.startsWith("tessera: "), r.err);
        assertFalse(r.err.contains("\tat "), "no stack trace without --verbose: " + r.err);
        assertFalse(r.err.contains("Exception"), "bad input is reported without exception names: " + r.err);
    }

    // ---- shipped strategy files ----

    @Test
    void everyShippedStrategyFilePlansAndWritesBothFiles() throws IOException {
        List<Path> files = shippedStrategyFiles();
        assertTrue(files.size() >= 3, "strategy files found: " + files);
        for (Path f : files) {
            String name = f.getFileName().toString();
            // with its pipeline stages, if any (gpt-pipeline-2stages.json)
            StrategyFile file = StrategyFiles.read(f);
            PipelinePlan plan = StrategyPlans.pipelinePlan(file, null);
            // the distributed optimizer's shards in the memory figures (gpt-megatron-degrees.json)
            int shards = io.tessera.simulator.timeline.StrategyStep.optimizerShards(file);
            Path out = tmp.resolve(name + ".plan.json");
            Path ckpt = tmp.resolve(name + ".ckpt.json");
            // --ckpt always: a shipped file with a save_file must not write into the repository
            Run r = run("plan", f.toString(), "--out", out.toString(), "--ckpt", ckpt.toString(), "--progress",
                    "none");
            assertEquals(0, r.code, name + ": " + r.err);
            assertEquals("", r.err, name);
            assertTrue(r.out.startsWith("plan of '" + plan.plan().network().name() + "' on " + plan.devices()
                    + " devices"), name + ": " + r.out);
            // a searched file (gpt-auto-dynamic-programming.json) names its search mode
            String mode = file.parallel().parallelMode() == io.tessera.layout.param.ParallelMode.AUTO_PARALLEL
                    ? "auto_parallel: strategies searched by " + file.parallel().searchMode().jsonName()
                    : plan.plan().config().mode().toString();
            assertEquals(PlanSummary.format(plan, mode, shards), r.out, name);

            JsonNode planJson = readJson(out);
            List<String> planKeys = new ArrayList<>(PLAN_KEYS);
            if (plan.stages() > 1) {
                planKeys.add(2, "pipeline");
            }
            assertEquals(planKeys, keys(planJson), name);
            assertEquals(plan.plan().network().name(), planJson.get("network").asText(), name);
            assertEquals(plan.devices(), planJson.get("devices").asInt(), name);
            assertEquals(Json.write(PlanJson.toJson(plan, shards)), Files.readString(out), name);

            String ckptText = Files.readString(ckpt);
            assertEquals(CKPT_KEYS, keys(MAPPER.readTree(ckptText)), name);
            assertEquals(StrategyPlans.checkpoint(plan), StrategyCheckpoints.parse(ckptText), name);
        }
    }

    @Test
    void jsonPrintsThePlanJsonInsteadOfTheSummary() throws IOException {
        Path out = tmp.resolve("plan.json");
        Run r = run("plan", MEGATRON.toString(), "--json", "--out", out.toString());
        assertEquals(0, r.code, r.err);
        assertEquals(Files.readString(out), r.out);
        assertEquals(PLAN_KEYS, keys(MAPPER.readTree(r.out)));
        assertFalse(r.out.contains("plan of '"), "no summary with --json");
    }

    @Test
    void megatronGptHasOneForwardAllReducePerRowParallelMatMul() {
        Run r = run("plan", MEGATRON.toString(), "--json");
        assertEquals(0, r.code, r.err);
        JsonNode plan;
        try {
            plan = MAPPER.readTree(r.out);
        } catch (IOException e) {
            throw new AssertionError(r.out, e);
        }
        List<String> rowParallel = new ArrayList<>();
        for (JsonNode c : plan.get("communications")) {
            String op = c.path("operator").asText("");
            if (c.get("phase").asText().equals("forward") && c.get("kind").asText().equals("AllReduce")
                    && c.get("origin").asText().equals("operator") && op.startsWith("layers.")) {
                rowParallel.add(op);
            }
        }
        assertEquals(List.of("layers.0.attention.out", "layers.0.ffn.fc2", "layers.1.attention.out",
                "layers.1.ffn.fc2"), rowParallel);
        long ending = rowParallel.stream()
                .filter(op -> op.endsWith("attention.out") || op.endsWith("ffn.fc2")).count();
        assertEquals(4, ending);
    }

    @Test
    void outputIsByteIdenticalAcrossRuns() throws IOException {
        Path out1 = tmp.resolve("plan1.json");
        Path out2 = tmp.resolve("plan2.json");
        Path ckpt1 = tmp.resolve("ckpt1.json");
        Path ckpt2 = tmp.resolve("ckpt2.json");
        Run a = run("plan", MEGATRON.toString(), "--out", out1.toString(), "--ckpt", ckpt1.toString());
        Run b = run("plan", MEGATRON.toString(), "--out", out2.toString(), "--ckpt", ckpt2.toString());
        assertEquals(0, a.code, a.err);
        assertEquals(0, b.code, b.err);
        assertEquals(a.out, b.out);
        assertArrayEquals(Files.readAllBytes(out1), Files.readAllBytes(out2));
        assertArrayEquals(Files.readAllBytes(ckpt1), Files.readAllBytes(ckpt2));
        String text = Files.readString(out1);
        assertTrue(text.startsWith("{\n  \"network\": \"gpt\",\n  \"devices\": 8,\n"), text);
        assertTrue(text.endsWith("}\n"), "trailing newline");
        assertTrue(text.contains("\"in_strategy\": [[2, 4], [4, 1]],"), "number arrays stay on one line");
        assertTrue(text.contains("\"groups\": [[0, 1, 2, 3], [4, 5, 6, 7]],"), "number arrays stay on one line");
        assertTrue(text.matches("(?s).*\"param_bytes_per_rank\": \\[\\d+(, \\d+){7}\\].*"), "per-rank memory");
        assertEquals(List.of(ckpt1, ckpt2, out1, out2), tmpFiles(), "no temporary file is left behind");
    }

    @Test
    void outputsReplaceExistingFiles() throws IOException {
        Path out = write("plan.json", "old\n");
        Path ckpt = write("ckpt.json", "old\n");
        Run r = run("plan", MEGATRON.toString(), "--out", out.toString(), "--ckpt", ckpt.toString());
        assertEquals(0, r.code, r.err);
        assertEquals(PLAN_KEYS, keys(readJson(out)));
        assertEquals(CKPT_KEYS, keys(readJson(ckpt)));
        assertEquals(List.of(ckpt, out), tmpFiles());
    }

    // ---- strategy_ckpt_config.save_file ----

    /** A copy of the Megatron file in the temporary folder, with {@code save_file} set to {@code saveFile}. */
    private Path megatronWithSaveFile(String name, String saveFile) throws IOException {
        ObjectNode root = (ObjectNode) readJson(MEGATRON);
        ((ObjectNode) root.get("parallel")).putObject("strategy_ckpt_config").put("save_file", saveFile);
        return write(name, MAPPER.writerWithDefaultPrettyPrinter().writeValueAsString(root));
    }

    @Test
    void saveFileReceivesTheCheckpointUnlessCkptIsGiven() throws IOException {
        Path strategy = megatronWithSaveFile("gpt.json", "out/gpt.ckpt.json");
        Path saved = tmp.resolve("out").resolve("gpt.ckpt.json");
        Run r = run("plan", strategy.toString());
        assertEquals(0, r.code, r.err);
        assertTrue(Files.isRegularFile(saved), "save_file resolves against the strategy file's folder");
        Path reference = tmp.resolve("reference.json");
        assertEquals(0, run("plan", MEGATRON.toString(), "--ckpt", reference.toString()).code);
        assertEquals(Files.readString(reference), Files.readString(saved));

        Files.delete(saved);
        Path explicit = tmp.resolve("explicit.json");
        Run withCkpt = run("plan", strategy.toString(), "--ckpt", explicit.toString());
        assertEquals(0, withCkpt.code, withCkpt.err);
        assertTrue(Files.isRegularFile(explicit));
        assertFalse(Files.exists(saved), "--ckpt overrides save_file");
    }

    @Test
    void failedPlanWritesNoSaveFile() throws IOException {
        ObjectNode root = (ObjectNode) readJson(MEGATRON);
        ((ObjectNode) root.get("parallel")).putObject("strategy_ckpt_config").put("save_file", "out/ckpt.json");
        ((ObjectNode) root.get("operators")).putObject("layers.0.ffn.fc2").set("in_strategy",
                MAPPER.readTree("[[2, 4], [2, 1]]"));
        Path strategy = write("bad.json", MAPPER.writeValueAsString(root));
        Run r = run("plan", strategy.toString());
        assertEquals(2, r.code);
        assertOneLineNoTrace(r);
        assertEquals(List.of(strategy), tmpFiles(), "neither the save_file nor its folder is created");
    }

    // ---- bad input ----

    /** Runs {@code plan} on {@code strategy} with both outputs: exit 2, one line naming the file, nothing written. */
    private Run badInput(Path strategy, String expected) throws IOException {
        List<Path> before = tmpFiles();
        Path out = tmp.resolve("plan.json");
        Path ckpt = tmp.resolve("ckpt.json");
        Run r = run("plan", strategy.toString(), "--out", out.toString(), "--ckpt", ckpt.toString());
        assertEquals(2, r.code, r.err);
        assertOneLineNoTrace(r);
        assertEquals("", r.out);
        assertTrue(r.err.contains(expected), r.err);
        assertTrue(r.err.contains(strategy.toString()), "the message names the strategy file: " + r.err);
        assertEquals(before, tmpFiles(), "no output file is created");
        return r;
    }

    @Test
    void missingFileExitsTwo() throws IOException {
        badInput(tmp.resolve("nope.json"), "does not exist");
    }

    @Test
    void malformedJsonExitsTwo() throws IOException {
        badInput(write("broken.json", MLP), "malformed JSON");
    }

    @Test
    void unknownKeyExitsTwo() throws IOException {
        badInput(write("unknown.json", MLP + ", \"bogus\": 1}"), "unknown key 'bogus'");
    }

    @Test
    void strategyForAnOperatorTheNetworkLacksExitsTwo() throws IOException {
        badInput(write("op.json", MLP + ", \"operators\": {\"layers.9.dense\": {\"in_strategy\": [[8, 1], [1, 1]]}}}"),
                "unknown operator 'layers.9.dense'");
    }

    @Test
    void invalidStrategyExitsTwo() throws IOException {
        badInput(write("k.json", MLP + ", \"operators\": {\"layers.0.dense\": {\"in_strategy\": [[1, 2], [4, 1]]}}}"),
                "k must be split equally");
    }

    @Test
    void verboseShowsTheStackTrace() throws IOException {
        Path k = write("k.json", MLP + ", \"operators\": {\"layers.0.dense\": {\"in_strategy\": [[1, 2], [4, 1]]}}}");
        Run r = run("plan", "--verbose", k.toString());
        assertEquals(2, r.code);
        assertTrue(r.err.startsWith("tessera: "), r.err);
        assertTrue(r.err.contains("\tat "), r.err);
    }

    @Test
    void unusableOutputPathsExitTwoAndWriteNothing() throws IOException {
        Path ckpt = tmp.resolve("ckpt.json");
        Path missingDir = tmp.resolve("no-such-dir").resolve("plan.json");
        Run r = run("plan", MEGATRON.toString(), "--out", missingDir.toString(), "--ckpt", ckpt.toString());
        assertEquals(2, r.code);
        assertOneLineNoTrace(r);
        assertTrue(r.err.contains("--out") && r.err.contains("does not exist"), r.err);
        assertEquals(List.of(), tmpFiles(), "the checkpoint is not written either");

        Path same = tmp.resolve("same.json");
        Run clash = run("plan", MEGATRON.toString(), "--out", same.toString(), "--ckpt", same.toString());
        assertEquals(2, clash.code);
        assertOneLineNoTrace(clash);
        assertEquals(List.of(), tmpFiles());

        Path strategy = Files.copy(MEGATRON, tmp.resolve("gpt.json"));
        Run overwrite = run("plan", strategy.toString(), "--out", strategy.toString());
        assertEquals(2, overwrite.code);
        assertOneLineNoTrace(overwrite);
        assertArrayEquals(Files.readAllBytes(MEGATRON), Files.readAllBytes(strategy));

        Run noFile = run("plan");
        assertEquals(2, noFile.code);
        assertOneLineNoTrace(noFile);
    }

    @Test
    void helpNamesThePlanCommand() {
        Run top = run("--help");
        assertTrue(top.out.contains("plan "), top.out);
        Run plan = run("plan", "--help");
        assertEquals(0, plan.code);
        assertTrue(plan.out.contains("--out") && plan.out.contains("--ckpt") && plan.out.contains("--json"),
                plan.out);
    }

    @Test
    void theSummaryOfASearchedPlanNamesTheSearch() throws IOException {
        Path file = tmp.resolve("auto.json");
        Files.writeString(file, "{\"network\": {\"zoo\": \"mlp\", \"args\": {\"widths\": [16, 32, 16], "
                + "\"batch\": 8}}, \"devices\": 4, \"parallel\": {\"parallel_mode\": \"auto_parallel\"}}");
        Run r = run("plan", file.toString(), "--progress", "none");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().startsWith("plan of 'mlp' on 4 devices (auto_parallel: strategies searched by "
                + "dynamic_programming)\n"), r.out());
    }
}
