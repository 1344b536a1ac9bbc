package io.tessera.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code tessera simulate --numeric} on strategy files with pipeline stages and micro-batches. */
class SimulatePipelineNumericTest {

    private static final ObjectMapper MAPPER = new ObjectMapper();

    @TempDir
    Path tmp;

    private record Run(int code, String out, String err) {
    }

    private static Run run(String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        picocli.CommandLine cl = Tessera.commandLine();
        cl.setOut(new PrintWriter(out, true));
        cl.setErr(new PrintWriter(err, true));
        int code = cl.execute(args);
        return new Run(code, out.toString(), err.toString());
    }

    private static List<String> keys(JsonNode n) {
        List<String> out = new ArrayList<>();
        n.fieldNames().forEachRemaining(out::add);
        return out;
    }

    @Test
    void aPipelineFileRunsEveryStageAndReportsStagesAndMicroBatches() throws IOException {
        Path file = tmp.resolve("mlp-pipeline.json");
        Files.writeString(file, """
                {"network": {"zoo": "mlp", "args": {"widths": [32, 64, 16], "batch": 16}}, "devices": 4,
                 "parallel": {"pipeline_stages": 2, "micro_batches": 3}}
                """);
        Run text = run("simulate", file.toString(), "--numeric", "--steps", "1", "--dtype", "float64");
        assertEquals(0, text.code, text.err);
        assertTrue(text.out.startsWith("numeric simulation on 4 ranks (2 pipeline stages of 2 ranks, 3 micro-batches "
                + "per step), float64, 1 steps\n"), text.out);
        assertTrue(text.out.contains("PASSED"), text.out);

        Run json = run("simulate", file.toString(), "--numeric", "--steps", "2", "--json");
        assertEquals(0, json.code, json.err);
        JsonNode j = MAPPER.readTree(json.out);
        assertEquals(List.of("passed", "ranks", "stages", "micro_batches", "dtype", "steps", "max_rel_error",
                "tolerance"), keys(j));
        assertTrue(j.get("passed").asBoolean(), json.out);
        assertEquals(4, j.get("ranks").asInt());
        assertEquals(2, j.get("stages").asInt());
        assertEquals(3, j.get("micro_batches").asInt());
        assertEquals(2, j.get("steps").size());
        assertTrue(j.get("max_rel_error").asDouble() <= 1e-5, json.out);

        Run plain = run("simulate", "../strategies/mlp-data-parallel.json", "--numeric", "--steps", "1", "--json");
        assertEquals(0, plain.code, plain.err);
        assertEquals(List.of("passed", "ranks", "dtype", "steps", "max_rel_error", "tolerance"),
                keys(MAPPER.readTree(plain.out)));
    }
}
