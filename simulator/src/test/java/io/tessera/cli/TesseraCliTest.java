package io.tessera.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.tessera.bench.LayoutBenchmark;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;
import picocli.CommandLine.Command;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** In-process tests of the {@code tessera} command line on the bundled example files and on bad input. */
class TesseraCliTest {

    private static final Path SLICES = Path.of("../strategies/layout/slices-cases.json");
    private static final Path REDISTRIBUTE = Path.of("../strategies/layout/redistribute-cases.json");
    private static final ObjectMapper MAPPER = new ObjectMapper();

    @TempDir
    Path tmp;

    /** The result of one in-process run. */
    record Run(int code, String out, String err) {
        JsonNode json() {
            try {
                return MAPPER.readTree(out);
            } catch (IOException e) {
                throw new AssertionError("stdout is not JSON: " + out, e);
            }
        }

        List<String> errLines() {
            return err.isEmpty() ? List.of() : List.of(err.split("\n"));
        }
    }

    private static Run run(String... args) {
        return run(Tessera.commandLine(), args);
    }

    private static Run run(CommandLine cl, String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
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

    private static List<String> ops(JsonNode c) {
        List<String> ops = new ArrayList<>();
        c.get("steps").forEach(s -> ops.add(s.get("op").asText()));
        return ops;
    }

    private static long[] longs(JsonNode array) {
        long[] out = new long[array.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = array.get(i).longValue();
        }
        return out;
    }

    private static void assertOneLineNoTrace(Run r) {
        assertEquals(1, r.errLines().size(), "stderr should be one line: " + r.err);
        assertTrue(r.err.startsWith("tessera: "), r.err);
        assertFalse(r.err.contains("\tat "), "no stack trace without --verbose: " + r.err);
        if (r.code == Tessera.EXIT_BAD_INPUT) {
            assertFalse(r.err.contains("Exception"), "bad input is reported without exception names: " + r.err);
        }
    }

    // ---- help and version ----

    @Test
    void helpListsTheCommands() {
        Run top = run("--help");
        assertEquals(0, top.code);
        assertTrue(top.out.contains("layout"), top.out);
        assertTrue(top.out.contains("bench"), top.out);
        assertTrue(top.out.contains("--verbose"), top.out);
        Run layout = run("layout", "--help");
        assertEquals(0, layout.code);
        assertTrue(layout.out.contains("slices") && layout.out.contains("redistribute"), layout.out);
        Run bench = run("bench", "--help");
        assertTrue(bench.out.contains("layout"), bench.out);
    }

    @Test
    void versionNamesTessera() {
        Run r = run("--version");
        assertEquals(0, r.code);
        assertTrue(r.out.startsWith("tessera "), r.out);
    }

    // ---- layout slices ----

    @Test
    void slicesOfTheBundledCases() {
        Run r = run("layout", "slices", "--input", SLICES.toString());
        assertEquals(0, r.code, r.err);
        assertEquals("", r.err);
        JsonNode cases = r.json();
        assertEquals(7, cases.size());
        cases.forEach(c -> assertFalse(c.has("error"), c.toString()));

        // published: [[1,2,3],[4,5,6]], dev [2,3], map [1,-1]: rank 5 holds [[4,5,6]], rank 2 holds [[1,2,3]]
        JsonNode published = cases.get(0);
        assertEquals("[1,3]", published.get("slice_shape").toString());
        assertEquals(6, published.get("ranks").size());
        assertEquals("[[1,2],[0,3]]", published.get("ranks").get(5).toString());
        assertEquals("[[0,1],[0,3]]", published.get("ranks").get(2).toString());

        // published: dev {8,4}, map {1,-1}, shape {512,1024} -> slice {64,1024}
        JsonNode big = cases.get(1);
        assertEquals("[64,1024]", big.get("slice_shape").toString());
        assertEquals(32, big.get("ranks").size());
        assertEquals("[[448,512],[0,1024]]", big.get("ranks").get(31).toString());

        // multi-device list entry: dev [2,2,2], map [[2,0],-1]: dim 0 split over dev[0] (outer) x dev[2] (inner)
        JsonNode multi = cases.get(4);
        assertEquals("[2,4]", multi.get("slice_shape").toString());
        assertEquals("[[0,2],[0,4]]", multi.get("ranks").get(0).toString());
        assertEquals("[[2,4],[0,4]]", multi.get("ranks").get(1).toString());
        assertEquals("[[0,2],[0,4]]", multi.get("ranks").get(2).toString());
        assertEquals("[[4,6],[0,4]]", multi.get("ranks").get(4).toString());
        assertEquals("[[6,8],[0,4]]", multi.get("ranks").get(7).toString());

        // published §2: dev {4,1,1,1,8}, map {4,3,2,1}, shape {32,512,7,7} -> slice {8,512,7,7}, 8 repeated ranks
        JsonNode strategy = cases.get(6);
        assertEquals("[8,512,7,7]", strategy.get("slice_shape").toString());
        assertEquals("[[8,16],[0,512],[0,7],[0,7]]", strategy.get("ranks").get(8).toString());
    }

    @Test
    void badSliceCasesGiveErrorObjectsInPlaceAndExitTwo() throws IOException {
        Path in = write("bad.json", "[{\"dev_matrix\":[2,3],\"tensor_map\":[1,-1],\"shape\":[2,3]},"
                + "{\"dev_matrix\":[2,3],\"tensormap\":[1,-1],\"shape\":[2,3]},"
                + "{\"dev_matrix\":[2,3],\"tensor_map\":[1,-1],\"shape\":[3,3]},"
                + "{\"dev_matrix\":[2,3],\"shape\":[2,3]},"
                + "{\"dev_matrix\":\"2x3\",\"tensor_map\":[1,-1],\"shape\":[2,3]},"
                + "{\"dev_matrix\":[2,3],\"tensor_map\":[1,5],\"shape\":[2,3]},"
                + "{\"dev_matrix\":[2,3],\"tensor_map\":[1,0],\"shape\":[2,3]}]");
        Run r = run("layout", "slices", "--input", in.toString());
        assertEquals(2, r.code);
        JsonNode cases = r.json();
        assertEquals(7, cases.size());
        assertEquals("[1,3]", cases.get(0).get("slice_shape").toString());
        String unknown = cases.get(1).get("error").asText();
        assertTrue(unknown.contains("'tensormap'") && unknown.contains("dev_matrix, tensor_map, shape"), unknown);
        assertTrue(cases.get(2).get("error").asText().contains("does not divide"), cases.get(2).toString());
        assertTrue(cases.get(3).get("error").asText().contains("missing key 'tensor_map'"), cases.get(3).toString());
        assertTrue(cases.get(4).get("error").asText().contains("the string \"2x3\""), cases.get(4).toString());
        assertTrue(cases.get(5).get("error").asText().contains("device dimension 5"), cases.get(5).toString());
        assertEquals(1, cases.get(1).size(), "an error case holds only the error");
        assertEquals("[[0,1],[0,1]]", cases.get(6).get("ranks").get(0).toString());
        assertEquals(5, r.errLines().size(), r.err);
        assertTrue(r.errLines().get(0).startsWith("tessera: case 1: unknown key"), r.err);
    }

    // ---- layout redistribute ----

    @Test
    void redistributePlansOfTheBundledCases() {
        Run r = run("layout", "redistribute", "--input", REDISTRIBUTE.toString(), "--verify");
        assertEquals(0, r.code, r.err);
        JsonNode cases = r.json();
        assertEquals(7, cases.size());
        for (JsonNode c : cases) {
            assertFalse(c.has("error"), c.toString());
            assertTrue(c.get("verified").asBoolean(), c.toString());
            assertTrue(c.get("byte_minimal").asBoolean(), c.toString());
            assertEquals(c.get("steps").size(), c.get("step_count").asInt());
            assertEquals(c.get("send_bytes").size(), c.get("recv_bytes").size());
            long stepBytes = 0;
            for (JsonNode s : c.get("steps")) {
                stepBytes += s.get("bytes").asLong();
            }
            long recv = 0;
            for (JsonNode b : c.get("recv_bytes")) {
                recv += b.asLong();
            }
            assertEquals(recv, stepBytes, "step bytes add up to the bytes received: " + c);
        }
        List<String> fieldOrder = new ArrayList<>();
        cases.get(0).fieldNames().forEachRemaining(fieldOrder::add);
        assertEquals(List.of("steps", "recv_bytes", "send_bytes", "step_count", "communication_steps",
                "byte_minimal", "verified"), fieldOrder);

        // dev (8,) map (0,-1) -> dev (4,2) map (1,-1): one AllGather over pairs, 4 KiB per rank
        JsonNode gather = cases.get(0);
        assertEquals(List.of("AllGather", "Concat"), ops(gather));
        assertEquals("[[0,1],[2,3],[4,5],[6,7]]", gather.get("steps").get(0).get("groups").toString());
        assertEquals("[0]", gather.get("steps").get(0).get("concat_dims").toString());
        assertArrayEquals(new long[] {4096, 4096, 4096, 4096, 4096, 4096, 4096, 4096},
                longs(gather.get("recv_bytes")));

        // dev (4,2) map (1,0) -> replicated: a single AllGather over all 8 (MindSpore gathers twice)
        JsonNode replicate = cases.get(1);
        assertEquals(List.of("AllGather", "Concat"), ops(replicate));
        assertEquals("[[0,1,2,3,4,5,6,7]]", replicate.get("steps").get(0).get("groups").toString());
        assertEquals(1, replicate.get("communication_steps").asInt());
        assertEquals(7 * 32 * 256 / 8 * 4, replicate.get("recv_bytes").get(0).asLong());

        // dev (8,1) map (1,-1) -> dev (1,8) map (-1,0): a single AllToAll (MindSpore gathers all, then slices)
        JsonNode allToAll = cases.get(2);
        assertEquals(List.of("AllToAll", "Concat"), ops(allToAll));
        JsonNode a2a = allToAll.get("steps").get(0);
        assertEquals("[[0,1,2,3,4,5,6,7]]", a2a.get("groups").toString());
        assertEquals("[1]", a2a.get("split_dims").toString());
        assertEquals("[0]", a2a.get("concat_dims").toString());
        assertEquals(7 * 4 * 8 * 4, allToAll.get("recv_bytes").get(0).asLong());

        // slice-only: no communication at all
        JsonNode slice = cases.get(5);
        assertEquals(List.of("Slice"), ops(slice));
        assertEquals(0, slice.get("communication_steps").asInt());
        assertEquals(0, slice.get("steps").get(0).get("bytes").asLong());
    }

    @Test
    void redistributeWithoutVerifyHasNoVerifiedField() {
        Run r = run("layout", "redistribute", "--input", REDISTRIBUTE.toString());
        assertEquals(0, r.code, r.err);
        r.json().forEach(c -> assertFalse(c.has("verified"), c.toString()));
    }

    @Test
    void badRedistributeCasesGiveErrorObjectsAndExitTwo() throws IOException {
        Path in = write("bad.json", "[{\"shape\":[8],\"from\":[0],\"to\":[-1]},"
                + "{\"dev_matrix\":[4],\"shape\":[8],\"from\":[0],\"to\":[-1],\"dtype\":\"float33\"},"
                + "{\"from_dev_matrix\":[4],\"to_dev_matrix\":[8],\"shape\":[8],\"from\":[0],\"to\":[0]},"
                + "{\"dev_matrix\":[4],\"shape\":[8],\"from\":[0],\"to\":[-1],\"dtype\":\"bf16\"},"
                + "{\"dev_matrix\":[4],\"shape\":[8],\"from\":[0],\"too\":[-1]},"
                + "{\"dev_matrix\":[4],\"shape\":[8],\"from\":[0],\"to\":[-1],\"dtype\":32}]");
        Run r = run("layout", "redistribute", "--input", in.toString(), "--verify");
        assertEquals(2, r.code);
        JsonNode cases = r.json();
        assertEquals(6, cases.size());
        assertTrue(cases.get(0).get("error").asText().contains("missing key 'dev_matrix'"), cases.get(0).toString());
        assertTrue(cases.get(1).get("error").asText().contains("float33"), cases.get(1).toString());
        assertTrue(cases.get(2).get("error").asText().contains("same devices"), cases.get(2).toString());
        assertEquals(List.of("AllGather", "Concat"), ops(cases.get(3)));
        assertEquals(8 * 3 / 4 * 2, cases.get(3).get("recv_bytes").get(0).asLong(), "bf16: 2 bytes per element");
        assertTrue(cases.get(4).get("error").asText().contains("'too'"), cases.get(4).toString());
        assertTrue(cases.get(5).get("error").asText().contains("expected a string"), cases.get(5).toString());
    }

    // ---- bad input: malformed files, unknown options ----

    @Test
    void malformedJsonExitsTwoWithOneLineAndCreatesNoOutput() throws IOException {
        Path in = write("broken.json", "[{\"dev_matrix\": [2, 3], \"tensor_map\": [1, -1]");
        Path out = tmp.resolve("out.json");
        Run r = run("layout", "slices", "--input", in.toString(), "--output", out.toString());
        assertEquals(2, r.code);
        assertOneLineNoTrace(r);
        assertTrue(r.err.contains("malformed JSON") && r.err.contains("line 1"), r.err);
        assertFalse(Files.exists(out));
        try (Stream<Path> files = Files.list(tmp)) {
            assertEquals(List.of(in), files.toList(), "no temporary file is left behind");
        }
    }

    @Test
    void failingRunLeavesAnExistingOutputUntouched() throws IOException {
        Path in = write("broken.json", "[1, 2");
        Path out = write("out.json", "previous\n");
        Run r = run("layout", "redistribute", "--input", in.toString(), "--output", out.toString());
        assertEquals(2, r.code);
        assertEquals("previous\n", Files.readString(out));
    }

    @Test
    void verboseShowsTheStackTrace() throws IOException {
        Path in = write("broken.json", "{");
        Run r = run("--verbose", "layout", "slices", "--input", in.toString());
        assertEquals(2, r.code);
        assertTrue(r.err.startsWith("tessera: "), r.err);
        assertTrue(r.err.contains("\tat "), r.err);
        Run after = run("layout", "slices", "--verbose", "--input", in.toString());
        assertEquals(2, after.code);
        assertTrue(after.err.contains("\tat "), "--verbose after the subcommand works too: " + after.err);
    }

    @Test
    void missingFileUnknownOptionAndMissingCommandExitTwo() {
        Run missing = run("layout", "slices", "--input", tmp.resolve("nope.json").toString());
        assertEquals(2, missing.code);
        assertOneLineNoTrace(missing);
        assertTrue(missing.err.contains("does not exist"), missing.err);

        Run unknown = run("layout", "slices", "--input", SLICES.toString(), "--frobnicate");
        assertEquals(2, unknown.code);
        assertOneLineNoTrace(unknown);
        assertTrue(unknown.err.contains("--frobnicate"), unknown.err);

        Run noInput = run("layout", "redistribute");
        assertEquals(2, noInput.code);
        assertOneLineNoTrace(noInput);

        Run noCommand = run();
        assertEquals(2, noCommand.code);
        assertOneLineNoTrace(noCommand);
        Run noSub = run("layout");
        assertEquals(2, noSub.code);
        assertOneLineNoTrace(noSub);
        assertTrue(noSub.err.contains("slices, redistribute"), noSub.err);
    }

    @Test
    void topLevelNotAnArrayExitsTwo() throws IOException {
        Path in = write("object.json", "{\"dev_matrix\": [2]}");
        Run r = run("layout", "slices", "--input", in.toString());
        assertEquals(2, r.code);
        assertOneLineNoTrace(r);
        assertTrue(r.err.contains("expected a JSON array"), r.err);
    }

    @Test
    void internalErrorsExitOneWithOneLine() {
        CommandLine cl = Tessera.commandLine();
        cl.addSubcommand("boom", new Boom());
        Run r = run(cl, "boom");
        assertEquals(1, r.code);
        assertOneLineNoTrace(r);
        assertTrue(r.err.contains("internal error") && r.err.contains("kaboom"), r.err);
    }

    /** A command that fails with a bug. */
    @Command(name = "boom")
    static final class Boom implements Callable<Integer> {
        @Override
        public Integer call() {
            throw new IllegalStateException("kaboom");
        }
    }

    // ---- determinism and output files ----

    @Test
    void outputIsByteIdenticalAcrossRunsAndMatchesStdout() throws IOException {
        Path first = tmp.resolve("first.json");
        Path second = tmp.resolve("second.json");
        assertEquals(0, run("layout", "redistribute", "--input", REDISTRIBUTE.toString(), "--verify",
                "--output", first.toString()).code);
        assertEquals(0, run("layout", "redistribute", "--input", REDISTRIBUTE.toString(), "--verify",
                "--output", second.toString()).code);
        byte[] a = Files.readAllBytes(first);
        assertArrayEquals(a, Files.readAllBytes(second));
        String text = new String(a, StandardCharsets.UTF_8);
        assertTrue(text.endsWith("]\n"), "trailing newline");
        assertTrue(text.contains("\"recv_bytes\": [4096, 4096, 4096, 4096, 4096, 4096, 4096, 4096],"),
                "arrays of numbers stay on one line: " + text);
        Run stdout = run("layout", "redistribute", "--input", REDISTRIBUTE.toString(), "--verify");
        assertEquals(text, stdout.out);

        Path s1 = tmp.resolve("s1.json");
        assertEquals(0, run("layout", "slices", "--input", SLICES.toString(), "--output", s1.toString()).code);
        String slices = Files.readString(s1);
        assertEquals(run("layout", "slices", "--input", SLICES.toString()).out, slices);
        assertTrue(slices.startsWith("[\n  {\n    \"slice_shape\": [1, 3],\n    \"ranks\": [\n"
                + "      [[0, 1], [0, 3]],\n"), slices);
    }

    @Test
    void outputReplacesAnExistingFile() throws IOException {
        Path out = write("out.json", "old content that is longer than nothing\n");
        assertEquals(0, run("layout", "slices", "--input", SLICES.toString(), "--output", out.toString()).code);
        assertEquals(7, MAPPER.readTree(out.toFile()).size());
        try (Stream<Path> files = Files.list(tmp)) {
            assertEquals(List.of(out), files.toList(), "no temporary file is left behind");
        }
    }

    @Test
    void outputIntoAMissingDirectoryExitsTwo() {
        Path out = tmp.resolve("no-such-dir").resolve("out.json");
        Run r = run("layout", "slices", "--input", SLICES.toString(), "--output", out.toString());
        assertEquals(2, r.code);
        assertOneLineNoTrace(r);
        assertFalse(Files.exists(out.getParent()));
    }

    // ---- bench layout ----

    @Test
    void benchLayoutReportsAsJson() {
        Run r = run("bench", "layout", "--cases", "5", "--seed", "7", "--json");
        assertEquals(0, r.code, r.err);
        assertEquals("", r.err, "no progress lines without a console");
        JsonNode report = r.json();
        List<String> fields = new ArrayList<>();
        report.fieldNames().forEachRemaining(fields::add);
        assertEquals(List.of("seed", "cases", "slice_queries_per_second", "plans_per_second", "byte_minimal_share",
                "verified_share", "mean_steps", "mean_communication_steps", "bytes_vs_gather_all", "op_counts"),
                fields);
        assertEquals(7, report.get("seed").asLong());
        assertEquals(5, report.get("cases").asInt());
        assertTrue(report.get("plans_per_second").asDouble() > 0);
        assertEquals(1.0, report.get("verified_share").asDouble());
    }

    @Test
    void benchLayoutTableAndBadCases() {
        LayoutBenchmark.Report report = new LayoutBenchmark.Report(42, 1000, 1.5e7, 12345.6, 1.0, 1.0, 2.25, 1.25,
                0.125, Map.of("AllToAll", 3, "AllGather", 5));
        String table = BenchLayoutCommand.table(report);
        assertTrue(table.startsWith("tessera bench layout (seed 42, 1000 cases)\n"), table);
        assertTrue(table.contains("slice queries/s") && table.contains("15,000,000"), table);
        assertTrue(table.contains("100.0 %") && table.contains("2.250"), table);
        assertTrue(table.indexOf("steps: AllGather") < table.indexOf("steps: AllToAll"), table);

        Run bad = run("bench", "layout", "--cases", "0");
        assertEquals(2, bad.code);
        assertOneLineNoTrace(bad);
        Run notANumber = run("bench", "layout", "--cases", "many");
        assertEquals(2, notANumber.code);
        assertOneLineNoTrace(notANumber);
    }

    @Test
    void benchInitReportsEveryInitializerAndSliceSizedMemory() {
        Run r = run("bench", "init", "--seconds", "0.01", "--json");
        assertEquals(0, r.code, r.err);
        JsonNode report = r.json();
        assertEquals(13, report.get("throughput").size());
        assertEquals("Zero", report.get("throughput").get(0).get("initializer").asText());
        JsonNode m = report.get("shard_memory");
        assertEquals(1L << 30, m.get("full_bytes").asLong());
        assertEquals(16L << 20, m.get("slice_bytes").asLong());
        // exact sharded generation allocates about the slice, far from the 1 GiB of the whole parameter
        assertTrue(m.get("allocated_per_slice_byte").asDouble() < 2, m.toString());

        Run bad = run("bench", "init", "--seconds", "-1");
        assertEquals(2, bad.code);
        assertOneLineNoTrace(bad);
    }

    @Test
    void benchPlanReportsEveryCase() {
        Run r = run("bench", "plan", "--repeats", "1", "--json");
        assertEquals(0, r.code, r.err);
        JsonNode cases = r.json().get("cases");
        assertEquals(5, cases.size());
        assertTrue(cases.get(4).get("optimizer_parallel").asBoolean());
        assertTrue(cases.get(4).get("communications").asInt() > cases.get(3).get("communications").asInt());
        assertEquals(96, cases.get(3).get("layers").asInt());
        assertEquals(4096, cases.get(3).get("devices").asInt());
        // 23 operators per layer plus 7 outside the layers
        assertEquals(96 * 23 + 7, cases.get(3).get("operators").asInt());
        assertTrue(cases.get(3).get("plan_seconds").asDouble() > 0);
        Run bad = run("bench", "plan", "--repeats", "0");
        assertEquals(2, bad.code);
        assertOneLineNoTrace(bad);
    }

    @Test
    void simulateComparesWithOneDeviceAndReportsJson() {
        Run r = run("simulate", "../strategies/gpt-megatron-tp4-dp2.json", "--numeric", "--steps", "1", "--json");
        assertEquals(0, r.code, r.err);
        JsonNode report = r.json();
        assertTrue(report.get("passed").asBoolean());
        assertEquals(8, report.get("ranks").asInt());
        assertEquals(1, report.get("steps").size());
        double single = report.get("steps").get(0).get("loss_single").asDouble();
        double parallel = report.get("steps").get(0).get("loss_parallel").asDouble();
        assertEquals(single, parallel, 1e-5 * single);
        assertTrue(report.get("max_rel_error").asDouble() <= 1e-5);

        Run text = run("simulate", "../strategies/mlp-data-parallel.json", "--numeric", "--steps", "1", "--dtype",
                "float64");
        assertEquals(0, text.code, text.err);
        assertTrue(text.out.contains("PASSED"), text.out);

        Run badDtype = run("simulate", "../strategies/mlp-data-parallel.json", "--numeric", "--dtype", "int8");
        assertEquals(2, badDtype.code);
        assertOneLineNoTrace(badDtype);
        Run missing = run("simulate", "no-such-file.json", "--numeric");
        assertEquals(2, missing.code);
        assertOneLineNoTrace(missing);
    }

    @Test
    void simulateRunsTheAnalyticTimelineWithoutNumeric() throws IOException {
        Run text = run("simulate", "../strategies/gpt-megatron-tp4-dp2.json");
        assertEquals(0, text.code, text.err);
        assertTrue(text.out.contains("step time: "), text.out);
        assertTrue(text.out.contains("MFU: "), text.out);
        assertTrue(text.out.contains("cluster: a100-80gb-dgx (8 devices"), text.out);
        assertTrue(text.out.contains("forward AllReduce"), text.out);

        Run json = run("simulate", "../strategies/gpt-megatron-tp4-dp2.json", "--cluster", "h100-dgx", "--json");
        assertEquals(0, json.code, json.err);
        JsonNode report = json.json();
        assertEquals("h100-dgx", report.get("cluster").asText());
        assertEquals(8, report.get("devices").asInt());
        double step = report.get("step_seconds").asDouble();
        assertTrue(step > 0);
        double mfu = report.get("mfu").asDouble();
        assertTrue(mfu > 0 && mfu <= 1, "mfu " + mfu);
        assertEquals(step, report.get("compute_seconds").asDouble() + report.get("exposed_comm_seconds").asDouble(),
                1e-12);
        assertTrue(report.get("peak_memory_bytes").get("min").asLong() > 0);
        assertTrue(report.get("peak_memory_bytes").get("max").asLong()
                >= report.get("peak_memory_bytes").get("min").asLong());
        assertTrue(report.get("comm_bytes").get("forward AllReduce").asLong() > 0);
        assertTrue(report.get("comm_bytes").get("backward AllReduce").asLong() > 0);

        Path trace = tmp.resolve("trace.json");
        Run traced = run("simulate", "../strategies/gpt-megatron-tp4-dp2.json", "--trace", trace.toString(),
                "--no-overlap");
        assertEquals(0, traced.code, traced.err);
        JsonNode events = MAPPER.readTree(trace.toFile()).get("traceEvents");
        assertTrue(events.isArray() && events.size() > 8, "events");
        assertTrue(traced.out.contains("trace: " + trace), traced.out);
        try (var files = Files.list(tmp)) {
            assertEquals(List.of(trace), files.toList(), "no temporary files left");
        }

        Path cluster = write("cluster.json", io.tessera.planner.cost.ClusterSpecs.write(
                io.tessera.planner.cost.ClusterSpec.preset("ascend-910b").withNodes(2)));
        Run file = run("simulate", "../strategies/gpt-megatron-tp4-dp2.json", "--cluster", cluster.toString(),
                "--json");
        assertEquals(0, file.code, file.err);
        assertEquals("ascend-910b", file.json().get("cluster").asText());
        // the same cluster with ranks dealt round robin over its 2 nodes: tensor-parallel groups cross nodes
        Path spread = write("spread.json", "{\"preset\": \"ascend-910b\", \"nodes\": 2, "
                + "\"rank_mapping\": \"round_robin\"}");
        Run rr = run("simulate", "../strategies/gpt-megatron-tp4-dp2.json", "--cluster", spread.toString(), "--json");
        assertEquals(0, rr.code, rr.err);
        assertTrue(rr.json().get("step_seconds").asDouble() > file.json().get("step_seconds").asDouble(), rr.out);
        Run rrText = run("simulate", "../strategies/gpt-megatron-tp4-dp2.json", "--cluster", spread.toString());
        assertTrue(rrText.out.contains("cluster: ascend-910b (16 devices, 8 per node, round_robin rank mapping)"),
                rrText.out);

        Run bad = run("simulate", "../strategies/gpt-megatron-tp4-dp2.json", "--cluster", "tpu-v9");
        assertEquals(2, bad.code);
        assertOneLineNoTrace(bad);
        assertTrue(bad.err.contains("ascend-910b, a100-80gb-dgx, h100-dgx"), bad.err);
        io.tessera.planner.cost.ClusterSpec h100 = io.tessera.planner.cost.ClusterSpec.preset("h100-dgx");
        Path small = write("small.json", io.tessera.planner.cost.ClusterSpecs.write(new io.tessera.planner.cost
                .ClusterSpec("half", 4, 1, h100.device(), h100.intraNode(), h100.interNode(), h100.algorithm())));
        Run tooSmall = run("simulate", "../strategies/gpt-megatron-tp4-dp2.json", "--cluster", small.toString());
        assertEquals(2, tooSmall.code, tooSmall.out);
        assertOneLineNoTrace(tooSmall);
        Run badTrace = run("simulate", "../strategies/gpt-megatron-tp4-dp2.json", "--trace",
                tmp.resolve("missing/trace.json").toString());
        assertEquals(2, badTrace.code);
        assertOneLineNoTrace(badTrace);
        Run missing = run("simulate", "no-such-file.json");
        assertEquals(2, missing.code);
        assertOneLineNoTrace(missing);
    }

    @Test
    void simulatePipelineStagesOnTopOfTheStrategy() throws IOException {
        Run text = run("simulate", "../strategies/gpt-megatron-tp4-dp2.json", "--pipeline-stages", "2",
                "--micro-batches", "4");
        assertEquals(0, text.code, text.err);
        assertTrue(text.out.contains("model: 2 identical stages, each the planned strategy on 8 ranks (16 devices)"),
                text.out);
        assertTrue(text.out.contains("step time: ") && text.out.contains("bubble: "), text.out);
        assertTrue(text.out.contains("schedule 1f1b, recompute none"), text.out);

        Path trace = tmp.resolve("pipeline-trace.json");
        Run json = run("simulate", "../strategies/gpt-megatron-tp4-dp2.json", "--pipeline-stages", "2",
                "--micro-batches", "4", "--schedule", "interleaved", "--recompute", "full", "--json", "--trace",
                trace.toString());
        assertEquals(0, json.code, json.err);
        JsonNode j = json.json();
        assertEquals(2, j.get("virtual_stages").intValue());
        assertEquals("full", j.get("recompute").asText());
        assertTrue(j.get("step_seconds").doubleValue() > 0 && j.get("bubble_fraction").doubleValue() > 0);
        assertEquals(2, j.get("peak_activation_bytes").size());
        assertTrue(MAPPER.readTree(Files.readString(trace)).get("traceEvents").size() > 10);

        for (String[] bad : List.of(new String[] {"--schedule", "zero-bubble"},
                new String[] {"--recompute", "some"}, new String[] {"--micro-batches", "1"},
                new String[] {"--micro-batches", "3"}, new String[] {"--pipeline-stages", "0"},
                new String[] {"--virtual-stages", "2"}, new String[] {"--numeric"})) {
            List<String> args = new ArrayList<>(List.of("simulate", "../strategies/gpt-megatron-tp4-dp2.json",
                    "--pipeline-stages", "2"));
            args.addAll(List.of(bad));
            Run r = run(args.toArray(new String[0]));
            assertEquals(Tessera.EXIT_BAD_INPUT, r.code, String.join(" ", bad) + ": " + r.err);
            assertOneLineNoTrace(r);
        }
    }

    @Test
    void benchSimulateQuickReportsBothRankCounts() {
        Run r = run("bench", "simulate", "--quick", "--steps", "1", "--json");
        assertEquals(0, r.code, r.err);
        JsonNode cases = r.json().get("cases");
        assertEquals(2, cases.size());
        assertEquals(8, cases.get(0).get("ranks").asInt());
        assertEquals(64, cases.get(1).get("ranks").asInt());
        for (JsonNode c : cases) {
            assertTrue(c.get("parallel_seconds").asDouble() > 0);
            assertTrue(c.get("max_rel_error").asDouble() <= 1e-5, c.toString());
        }
    }

    // ---- bench timeline ----

    @Test
    void benchTimelineOnASmallModel() {
        String[] small = {"bench", "timeline", "--layers", "2", "--hidden", "256", "--heads", "8", "--seq", "16",
            "--vocab", "100", "--devices", "64", "--mp", "8"};
        Run r = run(concat(small, "--json", "--repeats", "2"));
        assertEquals(0, r.code, r.err);
        JsonNode o = r.json();
        assertEquals(64, o.get("devices").asInt());
        assertEquals(8, o.get("dp").asInt());
        // 23 operators per layer plus 7 outside the layers
        assertEquals(2 * 23 + 7, o.get("operators").asInt());
        assertTrue(o.get("communications").asInt() > 0);
        assertEquals(1, o.get("classes").asInt(), "a Megatron plan on the preset keeps one class of ranks");
        assertTrue(o.get("model").asText().contains("vocab 104"), "vocab rounded up to a multiple of mp: " + o);
        assertTrue(o.get("step_seconds").asDouble() > 0);
        assertTrue(o.get("mfu").asDouble() > 0 && o.get("mfu").asDouble() <= 1, o.toString());
        assertEquals(2, o.get("runs").size());
        for (JsonNode run : o.get("runs")) {
            double total = run.get("build_seconds").asDouble() + run.get("plan_seconds").asDouble()
                    + run.get("timeline_seconds").asDouble();
            assertEquals(total, run.get("total_seconds").asDouble(), 1e-9);
        }
        // the per-rank reference simulates every rank and gives the same step
        JsonNode reference = run(concat(small, "--json", "--per-rank")).json();
        assertEquals(64, reference.get("classes").asInt());
        assertEquals(o.get("step_seconds").asDouble(), reference.get("step_seconds").asDouble(), 0.0);
        assertEquals(o.get("mfu").asDouble(), reference.get("mfu").asDouble(), 0.0);
        // round robin puts each tensor-parallel group of 8 on 8 nodes: slower
        JsonNode spread = run(concat(small, "--json", "--rank-mapping", "round_robin")).json();
        assertEquals("round_robin", spread.get("rank_mapping").asText());
        assertTrue(spread.get("step_seconds").asDouble() > o.get("step_seconds").asDouble(), spread.toString());

        Run text = run(small);
        assertEquals(0, text.code, text.err);
        String[] lines = text.out.split("\n");
        assertTrue(lines[0].startsWith("tessera bench timeline: gpt 2 layers, hidden 256"), text.out);
        assertTrue(lines[1].matches("build +[0-9.]+ s +53 operators"), text.out);
        assertTrue(lines[2].matches("plan +[0-9.]+ s +[0-9]+ communications"), text.out);
        assertTrue(lines[3].matches("timeline +[0-9.]+ s +1 class of 64 ranks"), text.out);
        assertTrue(lines[4].matches("total +[0-9.]+ s"), text.out);
        assertTrue(lines[5].matches("step time [0-9.]+ (s|ms|us), MFU [0-9.]+%"), text.out);
    }

    @Test
    void benchTimelineRejectsBadSizes() {
        for (String[] bad : new String[][] {{"--heads", "7"}, {"--devices", "60"}, {"--rank-mapping", "diagonal"},
            {"--cluster", "tpu"}, {"--layers", "0"}, {"--repeats", "0"}}) {
            Run r = run(concat(new String[] {"bench", "timeline"}, bad));
            assertEquals(2, r.code, String.join(" ", bad) + ": " + r.err);
            assertOneLineNoTrace(r);
        }
        Run r = run("bench", "timeline", "--rank-mapping", "diagonal");
        assertTrue(r.err.contains("'diagonal'") && r.err.contains("round_robin"), r.err);
    }

    private static String[] concat(String[] a, String... b) {
        String[] out = java.util.Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }
}
