package io.tessera.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code tessera simulate} with a {@code routing} section: the moe lines and JSON block, and bad sections. */
class MoeRoutingCliTest {

    private static final Path TINY = Path.of("..", "strategies", "models", "mixtral-tiny.json").toAbsolutePath();

    private static Path strategy(Path dir, String routing) throws IOException {
        Path f = dir.resolve("mixtral.json");
        Files.writeString(f, "{\"network\": {\"hf_config\": \"" + TINY.toString().replace("\\", "\\\\")
                + "\", \"args\": {\"capacity_factor\": 1.25}}, \"devices\": 8, \"cluster\": \"h100-dgx\", "
                + "\"parallel\": {\"optimizer\": \"momentum\"}, \"parallelism\": {\"tensor\": 2, "
                + "\"sequence_parallel\": true, \"expert\": 2, \"pipeline\": 2, \"data\": 2, \"micro_batch_size\": 1, "
                + "\"global_batch_size\": 4}" + (routing.isEmpty() ? "" : ", \"routing\": " + routing) + "}");
        return f;
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
        "{\"distribution\": \"skew\", \"skew\": -1}|routing.skew: found the number -1",
        "{\"distribution\": \"lognormal\"}|routing.distribution: found the string \"lognormal\"",
        "{\"distribution\": \"histogram\", \"tokens\": [1, 2, 3]}|routing.tokens: found 3 counts; expected one per "
                + "expert, 8",
        "{\"distribution\": \"histogram\", \"tokens\": [0, 0, 0, 0, 0, 0, 0, 0]}|routing.tokens: found all 8 counts 0",
        "{\"distribution\": \"histogram\", \"tokens\": [1, 2, 3, 4, 5, 6, 7, -8]}|routing.tokens[7]: found the number"
                + " -8"})
    void badRoutingIsAOneLineErrorWithExitCode2(String routing, String message, @TempDir Path dir)
            throws IOException {
        CliRun run = CliRun.of("simulate", strategy(dir, routing).toString(), "--progress=none");
        assertEquals(2, run.code(), run.out() + run.err());
        String err = run.err().strip();
        assertEquals(1, err.lines().count(), err);
        assertTrue(err.contains(message), err);
    }

    @Test
    void skewedRoutingReportsItsCost(@TempDir Path dir) throws IOException {
        Path f = strategy(dir, "{\"distribution\": \"skew\", \"skew\": 2}");
        CliRun text = CliRun.of("simulate", f.toString(), "--progress=none");
        assertEquals(0, text.code(), text.err());
        assertTrue(text.out().contains("moe routing: skew 2.0 over 8 experts, top-2, expert degree 2"), text.out());
        assertTrue(text.out().contains("with uniform routing (+"), text.out());
        assertTrue(text.out().contains("moe buffers per rank: "), text.out());
        CliRun json = CliRun.of("simulate", f.toString(), "--progress=none", "--json");
        assertEquals(0, json.code(), json.err());
        assertTrue(json.out().contains("\"moe\": {"), json.out());
        assertTrue(json.out().contains("\"imbalance_percent\": "), json.out());
        assertTrue(json.out().contains("\"uniform_step_seconds\": "), json.out());
    }
}
