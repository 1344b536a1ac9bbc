package io.tessera.browser;

import com.fasterxml.jackson.databind.JsonNode;
import io.tessera.cli.Tessera;
import io.tessera.planner.api.StrategyPlans;
import io.tessera.planner.plan.PipelinePlan;
import io.tessera.planner.strategy.StrategyFile;
import io.tessera.planner.strategy.StrategyFiles;
import io.tessera.simulator.timeline.StrategyStep;
import io.tessera.simulator.timeline.TimelineReport;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Optional;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * {@code tessera report} pages opened in a real browser (headless Chromium over the DevTools protocol): they render
 * without console errors, the memory bars hold the plan's numbers, the tensor list draws slices when clicked, and
 * one shipped file's page is saved as the README's screenshot ({@code -Dtessera.screenshot.write=true} updates
 * {@code simulator/docs/report.png}). Skipped, never passed, without Chromium.
 */
class ReportBrowserTest {

    /** The shipped file whose page the README shows. */
    static final Path SHOWN = Path.of("..", "strategies", "gpt-pipeline-2stages.json");

    @TempDir
    Path tmp;

    private static Path browser() {
        Optional<Path> b = HeadlessChromium.binary();
        assumeTrue(b.isPresent(), "no Chromium on this machine (Debian's chromium; .ci/run installs it): skipped");
        return b.get();
    }

    private Path report(Path strategy, String... extra) {
        Path out = tmp.resolve(strategy.getFileName().toString().replace(".json", ".html"));
        StringWriter err = new StringWriter();
        var cl = Tessera.commandLine();
        cl.setOut(new PrintWriter(new StringWriter()));
        cl.setErr(new PrintWriter(err));
        List<String> args = new java.util.ArrayList<>(List.of("report", strategy.toString(), "--out", out.toString(),
                "--progress", "none"));
        args.addAll(List.of(extra));
        int code = cl.execute(args.toArray(String[]::new));
        assertEquals(0, code, err.toString());
        return out;
    }

    @Test
    void shippedReportsRenderWithoutErrorsAndTheirChartsHoldThePlansNumbers() throws Exception {
        Path binary = browser();
        List<String> files = List.of("gpt-pipeline-2stages.json", "gpt-megatron-sequence-parallel.json",
                "mixtral-tiny-ep2-tp2-dp2-pp2.json", "gpt-auto-dynamic-programming.json");
        try (HeadlessChromium c = HeadlessChromium.start(binary, 1366, 900)) {
            for (String name : files) {
                Path strategy = Path.of("..", "strategies", name);
                Path page = report(strategy);
                double ms = c.open(page);
                System.out.printf(Locale.ROOT, "%s: %d bytes, loaded in %.0f ms%n", name, Files.size(page), ms);
                assertEquals(List.of(), c.errors(), name + ": console errors");

                StrategyFile file = StrategyFiles.read(strategy);
                PipelinePlan pipe = StrategyPlans.pipelinePlan(file, null);
                int shards = StrategyStep.optimizerShards(file);
                JsonNode bars = c.evaluate("[...document.querySelectorAll('#memory-bars g.mem-bar')].map(g => ({"
                        + "rank: g.dataset.rank, total: +g.dataset.totalBytes,"
                        + "label: g.querySelector('text.mem-label').textContent.trim(),"
                        + "segments: [...g.querySelectorAll('rect.seg')].reduce((s, r) => s + (+r.dataset.bytes), 0),"
                        + "activations: [...g.querySelectorAll('rect.seg-activations')]"
                        + ".reduce((s, r) => s + (+r.dataset.bytes), 0)}))");
                assertTrue(bars.size() > 0, name + ": memory bars");
                int ranks = 0;
                for (JsonNode bar : bars) {
                    String[] range = bar.get("rank").asText().split("-");
                    int first = Integer.parseInt(range[0]);
                    int last = Integer.parseInt(range[range.length - 1]);
                    ranks += last - first + 1;
                    long total = bar.get("total").asLong();
                    assertEquals(TimelineReport.bytes(total), bar.get("label").asText(), name + " rank " + first);
                    assertEquals(total, bar.get("segments").asLong(), name + " rank " + first + ": segments");
                    for (int r : new int[] {first, last}) {
                        assertEquals(pipe.memory(r, shards).total(), total - bar.get("activations").asLong(),
                                name + " rank " + r + ": the bar without activations is Plan.memory(rank)");
                    }
                }
                assertEquals(pipe.devices(), ranks, name + ": every rank has a bar");

                int cells = c.evaluate("(() => { const li = document.querySelector('#tensor-list li');"
                        + " li.click(); return document.querySelectorAll('#slice-view *').length; })()").asInt();
                assertTrue(cells > 0, name + ": clicking a tensor draws its slices");
                assertEquals(List.of(), c.errors(), name + ": console errors after the click");
                assertTrue(c.evaluate("document.querySelectorAll('#explanations tr[data-comm]').length").asInt() > 0,
                        name + ": the top communications are explained");

                if (strategy.getFileName().equals(SHOWN.getFileName())) {
                    byte[] png = c.screenshot();
                    Path shot = Boolean.getBoolean("tessera.screenshot.write") ? Path.of("docs", "report.png")
                            : Path.of("target", "report.png");
                    Files.createDirectories(shot.toAbsolutePath().getParent());
                    Files.write(shot, png);
                    System.out.println("screenshot: " + shot.toAbsolutePath().normalize());
                }
            }
        }
    }

    @Test
    void theLargestShippedFilesReportOpensAndRenders() throws Exception {
        Path binary = browser();
        Path strategy = Path.of("..", "strategies", "scale", "llama-3.1-405b-tp8-pp16-dp128.json");
        // no explanations: each candidate re-plans 16,384 devices (about 20 s), which is tessera explain's job
        Path page = report(strategy, "--explain", "0");
        try (HeadlessChromium c = HeadlessChromium.start(binary, 1366, 900)) {
            c.open(tmp.resolve("warm.html").toFile().exists() ? page : writeWarm());
            double ms = c.open(page);
            System.out.printf(Locale.ROOT, "largest shipped file %s: %d bytes, loaded in %.0f ms (navigation start "
                    + "to load end)%n", strategy.getFileName(), Files.size(page), ms);
            assertEquals(List.of(), c.errors());
            assertTrue(c.evaluate("document.querySelectorAll('#memory-bars g.mem-bar').length").asInt() > 0);
        }
    }

    private Path writeWarm() throws Exception {
        Path warm = tmp.resolve("warm.html");
        Files.writeString(warm, "<!doctype html><html><body>warm</body></html>");
        return warm;
    }
}
