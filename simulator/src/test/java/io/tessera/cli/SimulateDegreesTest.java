package io.tessera.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code tessera simulate} on strategy files with a {@code parallelism} section and a {@code cluster} key: the file's
 * cluster and recompute apply when the command line gives none, the command line wins when it does, and bad sections
 * are one-line errors with exit code 2.
 */
class SimulateDegreesTest {

    private static final ObjectMapper MAPPER = new ObjectMapper();
    private static final String GPT = "\"network\": {\"zoo\": \"gpt\", \"args\": {\"layers\": 4, \"hidden\": 64, "
            + "\"heads\": 4, \"seq\": 16, \"vocab\": 128}}, \"devices\": 8";

    @TempDir
    Path tmp;

    private record Run(int code, String out, String err) {
        JsonNode json() throws IOException {
            return MAPPER.readTree(out);
        }
    }

    private static Run run(String... args) {
        CliRun r = CliRun.of(args);
        return new Run(r.code(), r.out(), r.err());
    }

    private String file(String rest) throws IOException {
        Path p = Files.createTempFile(tmp, "degrees", ".json");
        Files.writeString(p, "{" + GPT + (rest.isEmpty() ? "" : ", " + rest) + "}", StandardCharsets.UTF_8);
        return p.toString();
    }

    @Test
    void theFilesClusterAppliesWithoutClusterOption() throws IOException {
        String degrees = "\"parallelism\": {\"tensor\": 2}";
        Run own = run("simulate", file("\"cluster\": \"h100-dgx\", " + degrees), "--json");
        assertEquals(0, own.code(), own.err());
        assertEquals("h100-dgx", own.json().get("cluster").asText());
        // the same figures as naming the preset on the command line
        Run named = run("simulate", file(degrees), "--cluster", "h100-dgx", "--json");
        assertEquals(named.out(), own.out());
        // without either, the default preset
        assertEquals("a100-80gb-dgx", run("simulate", file(degrees), "--json").json().get("cluster").asText());
        // --cluster wins over the file's key
        Run option = run("simulate", file("\"cluster\": \"h100-dgx\", " + degrees), "--cluster", "ascend-910b",
                "--json");
        assertEquals("ascend-910b", option.json().get("cluster").asText());
    }

    @Test
    void aClusterSpecObjectWithRankMappingIsUsed() throws IOException {
        Run r = run("simulate", file("\"cluster\": {\"preset\": \"h100-dgx\", \"devices_per_node\": 4, "
                + "\"rank_mapping\": \"round_robin\"}, \"parallelism\": {\"tensor\": 2}"));
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().startsWith("cluster: h100-dgx (8 devices, 4 per node, round_robin rank mapping)\n"),
                r.out());
    }

    @Test
    void theFilesRecomputeAppliesWithoutRecomputeOption() throws IOException {
        Run none = run("simulate", file("\"parallelism\": {\"tensor\": 2, \"global_batch_size\": 8}"), "--json");
        Run selective = run("simulate", file("\"parallelism\": {\"tensor\": 2, \"global_batch_size\": 8, "
                + "\"recompute\": \"selective\"}"), "--json");
        Run full = run("simulate", file("\"parallelism\": {\"tensor\": 2, \"global_batch_size\": 8, "
                + "\"recompute\": \"full\"}"), "--json");
        for (Run r : new Run[] {none, selective, full}) {
            assertEquals(0, r.code(), r.err());
            assertEquals(2, r.json().get("micro_batches").asInt(), "8 / (1 x 4): gradient accumulation");
            assertEquals(1, r.json().get("stages").asInt());
            assertEquals("1f1b", r.json().get("schedule").asText());
        }
        assertEquals("none", none.json().get("recompute").asText());
        assertEquals("selective", selective.json().get("recompute").asText());
        assertEquals("full", full.json().get("recompute").asText());
        double tNone = none.json().get("step_seconds").asDouble();
        double tFull = full.json().get("step_seconds").asDouble();
        assertTrue(tFull > tNone, "full recompute re-runs the forward: " + tFull + " vs " + tNone);
        assertTrue(selective.json().get("step_seconds").asDouble() > tNone, "selective re-runs the attention core");
        // --recompute wins over the file's
        Run option = run("simulate", file("\"parallelism\": {\"tensor\": 2, \"pipeline\": 2, \"global_batch_size\": 4, "
                + "\"recompute\": \"full\"}"), "--recompute", "none", "--json");
        assertEquals(0, option.code(), option.err());
        assertEquals("none", option.json().get("recompute").asText());
    }

    @Test
    void pipelineDegreesRunThePlannedStagesWithOneFOneB() throws IOException {
        Run r = run("simulate", "../strategies/gpt-megatron-degrees.json", "--json");
        assertEquals(0, r.code(), r.err());
        JsonNode j = r.json();
        assertEquals("a100-80gb-dgx", j.get("cluster").asText());
        assertEquals(2, j.get("stages").asInt());
        assertEquals(2, j.get("micro_batches").asInt());
        assertEquals("1f1b", j.get("schedule").asText());
        assertEquals("selective", j.get("recompute").asText());
        Run gpipe = run("simulate", "../strategies/gpt-megatron-degrees.json", "--schedule", "gpipe", "--json");
        assertEquals("gpipe", gpipe.json().get("schedule").asText());
        Run numeric = run("simulate", "../strategies/gpt-megatron-degrees.json", "--numeric", "--steps", "1");
        assertEquals(0, numeric.code(), numeric.out() + numeric.err());
    }

    @ParameterizedTest(name = "{1}")
    @CsvSource(delimiter = '|', value = {
        "\"parallelism\": {\"tensor\": 2, \"data\": 2}|parallelism: tensor 2 x pipeline 1 x data 2 = 4 but devices "
                + "is 8; choose degrees whose product is the device count",
        "\"parallelism\": {\"precision\": \"fp8\"}|device 'A100-SXM4-80GB': no float8_e4m3fn peak (peak_flops lists "
                + "[Float16, BFloat16, Float32, Float64, Int8]); FP8 GEMMs (precision fp8) need FP8 tensor cores: use "
                + "precision bf16 on this device",
        "\"cluster\": \"a100-80gb-dgx\", \"parallelism\": {\"precision\": \"fp8\"}|parallelism.precision: fp8 needs "
                + "FP8 tensor cores but the cluster's device A100-SXM4-80GB lists no float8_e4m3fn peak; use precision "
                + "bf16 on it",
        "\"parallelism\": {\"tensor\": 2, \"pipeline\": 2, \"virtual_pipeline\": 2}|interleaved 1F1B: 1 "
                + "micro-batches is not a multiple of the 2 stages",
        "\"cluster\": \"a200\", \"parallelism\": {}|cluster: found the preset \"a200\"; expected one of",
        "\"cluster\": {\"preset\": \"h100-dgx\", \"nodes\": 0}|cluster: nodes is 0",
        "\"parallelism\": {\"tensor\": 2, \"recompute\": \"some\"}|parallelism.recompute: found the string \"some\"; "
                + "expected one of none, selective, full"})
    void badSectionsExitTwoWithOneLine(String rest, String expected) throws IOException {
        String f = file(rest);
        Run r = run("simulate", f);
        assertEquals(2, r.code(), r.out() + r.err());
        assertTrue(r.err().startsWith("tessera: " + f + ": " + expected), r.err());
        assertEquals(1, r.err().split("\n").length, r.err());
        assertFalse(r.err().contains("Exception"), r.err());
    }

    @Test
    void aDegreesFileForAnotherModelIsAOneLineError() throws IOException {
        Path p = tmp.resolve("mlp.json");
        Files.writeString(p, "{\"network\": {\"zoo\": \"mlp\"}, \"devices\": 8, \"parallelism\": {}}");
        for (String[] args : new String[][] {{"simulate", p.toString()}, {"simulate", p.toString(), "--numeric"},
                {"plan", p.toString()}}) {
            Run r = run(args);
            assertEquals(2, r.code(), r.out() + r.err());
            assertEquals("tessera: " + p + ": parallelism: the network is the zoo model 'mlp'; the degrees expand for "
                    + "the zoo models gpt and llama and Hugging Face configs (hf_config) only: give per-operator "
                    + "strategies in operators (and parallel.pipeline_stages, micro_batches) instead of the "
                    + "parallelism section\n", r.err());
        }
    }
}
