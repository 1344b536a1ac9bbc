package io.tessera.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.tessera.simulator.validation.PublishedRun;
import io.tessera.simulator.validation.PublishedRuns;
import io.tessera.simulator.validation.Validation;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code tessera validate}: a file of runs, JSON, written strategy files that {@code simulate} reproduces. */
class ValidateCommandTest {

    private static final ObjectMapper MAPPER = new ObjectMapper();

    @TempDir
    Path tmp;

    private static CliRun run(String... args) {
        return CliRun.of(args);
    }

    /** The first two Narayanan rows only, as a file of runs. */
    private Path twoRuns() throws IOException {
        JsonNode all;
        try (InputStream in = PublishedRuns.class.getResourceAsStream(PublishedRuns.BUILT_IN)) {
            all = MAPPER.readTree(new String(in.readAllBytes(), StandardCharsets.UTF_8));
        }
        var table = (com.fasterxml.jackson.databind.node.ObjectNode) all.get("tables").get(0).deepCopy();
        var rows = (com.fasterxml.jackson.databind.node.ArrayNode) table.get("rows");
        while (rows.size() > 2) {
            rows.remove(rows.size() - 1);
        }
        Path f = tmp.resolve("runs.json");
        Files.writeString(f, "{\"tables\": [" + table + "]}");
        return f;
    }

    @Test
    void writtenStrategyFilesReproduceThePredictionWithSimulate() throws IOException {
        Path dir = tmp.resolve("strategies");
        CliRun r = run("validate", twoRuns().toString(), "--json", "--progress=none", "--write-strategies",
                dir.toString());
        assertEquals(0, r.code(), r.err());
        JsonNode o = MAPPER.readTree(r.out());
        assertEquals(2, o.get("runs_simulated").asInt());
        for (JsonNode run : o.get("runs")) {
            Path file = dir.resolve(("narayanan2021_table1-" + run.get("model").asText()).toLowerCase()
                    .replaceAll("[^a-z0-9.]+", "-") + ".json");
            assertTrue(Files.isRegularFile(file), file.toString());
            CliRun sim = run("simulate", file.toString(), "--json", "--progress=none");
            assertEquals(0, sim.code(), sim.err());
            assertEquals(run.get("predicted_seconds").asDouble(),
                    MAPPER.readTree(sim.out()).get("step_seconds").asDouble(), 0, "simulate " + file);
        }
        assertEquals(Math.max(Math.abs(o.get("runs").get(0).get("error").asDouble()),
                Math.abs(o.get("runs").get(1).get("error").asDouble())), o.get("max_abs_error").asDouble(), 1e-15);
    }

    @Test
    void textEndsWithTheSummaryAndFailAboveSetsTheExitCode() throws IOException {
        Path f = twoRuns();
        CliRun r = run("validate", f.toString(), "--progress=none");
        assertEquals(0, r.code(), r.err());
        String[] lines = r.out().split("\n");
        assertTrue(lines[lines.length - 1].matches("validation: mean \\d+\\.\\d% max \\d+\\.\\d% over 2 runs"),
                lines[lines.length - 1]);
        assertEquals(1, run("validate", f.toString(), "--progress=none", "--fail-above", "0").code());
    }

    @Test
    void badInputIsOneLineWithExitCodeTwo() throws IOException {
        Path bad = tmp.resolve("bad.json");
        Files.writeString(bad, "{\"tables\": 1}");
        CliRun r = run("validate", bad.toString());
        assertEquals(2, r.code());
        assertEquals("tessera: " + bad + ": tables: found NUMBER; expected an array of tables, each {\"id\": .., "
                + "\"hardware\": .., \"rows\": [..]}\n", r.err().replace("\r\n", "\n"));
        assertEquals(2, run("validate", tmp.resolve("missing.json").toString()).code());
        assertEquals(2, run("validate", "--fail-above", "-1").code());
    }

    @Test
    void predictionIsDeterministic() {
        PublishedRun first = PublishedRuns.builtIn().runs().get(0);
        assertEquals(Validation.predict(first), Validation.predict(first), 0);
    }
}
