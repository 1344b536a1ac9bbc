package io.tessera.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code tessera report}: the page it writes, its step time against {@code tessera simulate}, and bad input. */
class ReportCommandTest {

    private static final Path STRATEGIES = Path.of("../strategies");
    private static final Pattern STEP = Pattern.compile("id=\"step-time\" data-seconds=\"([^\"]+)\"");

    @TempDir
    Path tmp;

    private List<String> dirListing() throws IOException {
        try (Stream<Path> s = Files.list(tmp)) {
            return s.map(p -> p.getFileName().toString()).sorted().toList();
        }
    }

    private static void assertOneLineError(CliRun r, String contains) {
        assertEquals(Tessera.EXIT_BAD_INPUT, r.code(), r.err());
        assertEquals("", r.out());
        String err = r.err().strip();
        assertFalse(err.contains("\n"), "one line: " + err);
        assertTrue(err.startsWith("tessera: "), err);
        assertTrue(err.contains(contains), "'" + contains + "' in: " + err);
    }

    @Test
    void writesTheReportAndItsStepTimeIsSimulates() throws IOException {
        for (String name : List.of("gpt-pipeline-2stages.json", "mlp-data-parallel.json")) {
            Path out = tmp.resolve(name + ".html");
            CliRun r = CliRun.of("report", STRATEGIES.resolve(name).toString(), "--out", out.toString());
            assertEquals(0, r.code(), r.err());
            assertTrue(r.out().startsWith("report: " + out + " ("), r.out());
            String html = Files.readString(out, StandardCharsets.UTF_8);
            assertTrue(html.startsWith("<!DOCTYPE html>"));
            assertTrue(html.contains("<h1>Tessera report: " + name + "</h1>"));
            Matcher m = STEP.matcher(html);
            assertTrue(m.find());
            CliRun sim = CliRun.of("simulate", STRATEGIES.resolve(name).toString(), "--json");
            assertEquals(0, sim.code(), sim.err());
            JsonNode j = new ObjectMapper().readTree(sim.out());
            assertEquals(j.get("step_seconds").asDouble(), Double.parseDouble(m.group(1)),
                    name + ": the report's step time is tessera simulate's");
            CliRun again = CliRun.of("report", STRATEGIES.resolve(name).toString(), "--out",
                    tmp.resolve("again.html").toString());
            assertEquals(0, again.code(), again.err());
            assertEquals(html, Files.readString(tmp.resolve("again.html"), StandardCharsets.UTF_8),
                    name + ": the same file gives the same bytes");
        }
    }

    @Test
    void theClusterOptionChangesTheCluster() throws IOException {
        Path out = tmp.resolve("r.html");
        CliRun r = CliRun.of("report", STRATEGIES.resolve("mlp-data-parallel.json").toString(), "--out",
                out.toString(), "--cluster", "h100-dgx");
        assertEquals(0, r.code(), r.err());
        assertTrue(Files.readString(out).contains("<dd>h100-dgx ("), "the header names the cluster");
    }

    @Test
    void badInputIsOneLineExitTwoAndWritesNothing() throws IOException {
        Path out = tmp.resolve("report.html");
        String mlp = STRATEGIES.resolve("mlp-data-parallel.json").toString();
        assertOneLineError(CliRun.of("report", tmp.resolve("missing.json").toString(), "--out", out.toString()),
                "missing.json");
        Path bad = tmp.resolve("bad.json");
        Files.writeString(bad, "{\"network\": {\"zoo\": \"mlp\"}, \"devices\": 0}");
        assertOneLineError(CliRun.of("report", bad.toString(), "--out", out.toString()), "bad.json");
        Path broken = tmp.resolve("broken.json");
        Files.writeString(broken, "{\"network\": ");
        assertOneLineError(CliRun.of("report", broken.toString(), "--out", out.toString()), "broken.json");
        assertOneLineError(CliRun.of("report", mlp, "--out", out.toString(), "--cluster", "no-such-cluster"),
                "--cluster 'no-such-cluster' is neither a preset nor a file");
        assertOneLineError(CliRun.of("report", mlp, "--out", tmp.resolve("no/such/dir/r.html").toString()),
                "does not exist");
        assertOneLineError(CliRun.of("report", mlp, "--out", tmp.toString()), "is a directory");
        assertOneLineError(CliRun.of("report", mlp), "--out");
        assertOneLineError(CliRun.of("report", mlp, "--out", mlp), "is the strategy file itself");
        assertEquals(List.of("bad.json", "broken.json"), dirListing(), "nothing written, no temporary files");
    }

    @Test
    void aFailedRunLeavesAnExistingReportAsItWas() throws IOException {
        Path out = tmp.resolve("report.html");
        Files.writeString(out, "the previous report");
        CliRun r = CliRun.of("report", STRATEGIES.resolve("mlp-data-parallel.json").toString(), "--out",
                out.toString(), "--cluster", "no-such-cluster");
        assertEquals(Tessera.EXIT_BAD_INPUT, r.code());
        assertEquals("the previous report", Files.readString(out));
        assertEquals(List.of("report.html"), dirListing());
        CliRun ok = CliRun.of("report", STRATEGIES.resolve("mlp-data-parallel.json").toString(), "--out",
                out.toString());
        assertEquals(0, ok.code(), ok.err());
        assertTrue(Files.readString(out).startsWith("<!DOCTYPE html>"), "a successful run replaces it");
        assertEquals(List.of("report.html"), dirListing(), "no temporary files left");
    }

    @Test
    void aPlanJsonIsRefusedWithAHint() throws IOException {
        Path plan = tmp.resolve("plan.json");
        CliRun p = CliRun.of("plan", STRATEGIES.resolve("mlp-data-parallel.json").toString(), "--out",
                plan.toString());
        assertEquals(0, p.code(), p.err());
        assertOneLineError(CliRun.of("report", plan.toString(), "--out", tmp.resolve("r.html").toString()),
                "this is a PLAN.json");
        assertFalse(Files.exists(tmp.resolve("r.html")));
    }
}
