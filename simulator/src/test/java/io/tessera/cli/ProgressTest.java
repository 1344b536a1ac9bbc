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
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The search progress renderer and the {@code --progress} option of {@code plan} and {@code simulate}. */
class ProgressTest {

    /** A small auto_parallel strategy file: the zoo MLP searched on 4 devices. */
    private static final String AUTO = "{\"network\": {\"zoo\": \"mlp\", \"args\": {\"widths\": [64, 256, 64], "
            + "\"batch\": 32}}, \"devices\": 4, \"parallel\": {\"parallel_mode\": \"auto_parallel\"}}";

    @TempDir
    Path tmp;

    private record Run(int code, String out, String err) {
    }

    private static Run run(String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        var cl = Tessera.commandLine();
        cl.setOut(new PrintWriter(out, true));
        cl.setErr(new PrintWriter(err, true));
        int code = cl.execute(args);
        return new Run(code, out.toString(), err.toString());
    }

    private Path autoFile() throws IOException {
        Path f = tmp.resolve("auto.json");
        Files.writeString(f, AUTO);
        return f;
    }

    // ---- the renderer ----

    @Test
    void barRendersAScriptedSearchOnOneLine() {
        StringWriter sink = new StringWriter();
        long[] now = {5_000_000_000L};
        ProgressBar bar = new ProgressBar(new PrintWriter(sink), 80, () -> now[0]);
        bar.phase("search: candidates for 2215 operators on 1024 devices");
        now[0] += 400_000_000L;
        bar.advance(0, 22);
        bar.advance(11, 22);
        now[0] += 2_800_000_000L;
        bar.phase("search: dynamic programming over 2215 operators");
        bar.advance(997, 2215);
        bar.advance(997, 2215); // the same line: not drawn again
        now[0] += 700_000_000L;
        bar.phase("search: evaluating 3 plans");
        now[0] += 100_000_000L;
        bar.advance(1, 3);
        now[0] += 200_000_000L;
        bar.phase("search: done in 4200 ms (2130 layouts, 1330 distributions, 49660 redistribution costs)");
        bar.finish();
        bar.advance(5, 10); // after finish: ignored
        bar.finish();
        // 79 columns at most: the phase text is cut with "...", a shorter line is padded over the longer one
        assertEquals("\rsearch [--------------------]   0% candidates for 2215 operators on 1...  0.0 s"
                + "\rsearch [--------------------]   0% candidates for 2215 operators... 0/22  0.4 s"
                + "\rsearch [##########----------]  50% candidates for 2215 operator... 11/22  0.4 s"
                + "\rsearch [--------------------]   0% dynamic programming over 2215 oper...  3.2 s"
                + "\rsearch [#########-----------]  45% dynamic programming over ... 997/2215  3.2 s"
                + "\rsearch [--------------------]   0% evaluating 3 plans  3.9 s                   "
                + "\rsearch [######--------------]  33% evaluating 3 plans 1/3  4.0 s"
                + "\rsearch [####################] 100% done in 4200 ms (2130 layouts, 133...  4.2 s"
                + "\n", sink.toString());
    }

    @Test
    void barKeepsNarrowTerminalsOnOneLineAndRejectsTooNarrowOnes() {
        StringWriter sink = new StringWriter();
        ProgressBar bar = new ProgressBar(new PrintWriter(sink), 50, () -> 0L);
        bar.phase("search: dynamic programming over 2215 operators");
        bar.advance(2215, 2215);
        bar.finish();
        // the counts do not fit 49 columns: left out
        assertEquals("\rsearch [--------------------]   0% dyna...  0.0 s"
                + "\rsearch [####################] 100% dyna...  0.0 s\n", sink.toString());
        assertThrows(IllegalArgumentException.class, () -> new ProgressBar(new PrintWriter(sink), 49, () -> 0L));
        assertEquals(120, ProgressBar.terminalWidth("120"));
        assertEquals(ProgressBar.DEFAULT_WIDTH, ProgressBar.terminalWidth("12"));
        assertEquals(ProgressBar.DEFAULT_WIDTH, ProgressBar.terminalWidth("wide"));
        assertEquals(ProgressBar.DEFAULT_WIDTH, ProgressBar.terminalWidth(null));
    }

    @Test
    void aBarThatDrewNothingPrintsNoNewline() {
        StringWriter sink = new StringWriter();
        new ProgressBar(new PrintWriter(sink), 80, () -> 0L).finish();
        assertEquals("", sink.toString());
    }

    // ---- the option ----

    @Test
    void autoIsABarOnAConsoleAndLinesOtherwise() {
        ProgressOption o = new ProgressOption();
        assertEquals(ProgressOption.Mode.BAR, o.resolve(true));
        assertEquals(ProgressOption.Mode.LINES, o.resolve(false));
    }

    @Test
    void planWithoutATerminalPrintsOneLinePerPhase() throws IOException {
        Path f = autoFile();
        Run quiet = run("plan", f.toString(), "--progress", "none");
        assertEquals(0, quiet.code, quiet.err);
        assertEquals("", quiet.err);
        // tests run without a console: auto chooses lines
        Run auto = run("plan", f.toString());
        assertEquals(0, auto.code, auto.err);
        assertEquals(quiet.out, auto.out, "progress never reaches stdout");
        List<String> lines = List.of(auto.err.split("\n"));
        assertTrue(lines.size() >= 4, auto.err);
        assertTrue(lines.get(0).startsWith("tessera plan: search: candidates for "), lines.get(0));
        assertTrue(lines.get(lines.size() - 1).startsWith("tessera plan: search: done in "), auto.err);
        assertTrue(lines.stream().allMatch(l -> l.startsWith("tessera plan: search: ")), auto.err);
        assertFalse(auto.err.contains("\r"), auto.err);
        Run lines2 = run("plan", f.toString(), "--progress=lines");
        assertEquals(lines.size(), List.of(lines2.err.split("\n")).size(), lines2.err);
    }

    @Test
    void planWithABarDrawsOneUpdatingLine() throws IOException {
        Path f = autoFile();
        Run r = run("plan", f.toString(), "--progress", "bar", "--json");
        assertEquals(0, r.code, r.err);
        assertTrue(r.err.startsWith("\rsearch ["), r.err);
        assertTrue(r.err.endsWith("\n"), r.err);
        assertEquals(1, r.err.chars().filter(c -> c == '\n').count(), r.err);
        assertTrue(r.err.contains("] 100% done in "), r.err);
        JsonNode plan = new ObjectMapper().readTree(r.out);
        assertEquals(4, plan.get("devices").asInt());
    }

    @Test
    void simulateReportsTheSearchToo() throws IOException {
        Path f = autoFile();
        Run r = run("simulate", f.toString(), "--json", "--progress", "lines");
        assertEquals(0, r.code, r.err);
        assertTrue(r.err.startsWith("tessera simulate: search: candidates for "), r.err);
        assertTrue(new ObjectMapper().readTree(r.out).has("step_seconds"), r.out);
        Run none = run("simulate", f.toString(), "--json", "--progress", "none");
        assertEquals("", none.err);
        assertEquals(r.out, none.out);
    }

    @Test
    void semiAutoFilesReportNothing() {
        Run r = run("plan", "../strategies/gpt-megatron-tp4-dp2.json", "--progress", "lines");
        assertEquals(0, r.code, r.err);
        assertEquals("", r.err);
    }

    @Test
    void anUnknownModeIsBadInput() throws IOException {
        Run r = run("plan", autoFile().toString(), "--progress", "fancy");
        assertEquals(Tessera.EXIT_BAD_INPUT, r.code);
        assertEquals(1, r.err.split("\n").length, r.err);
        assertTrue(r.err.contains("--progress is 'fancy'; expected one of auto, bar, lines, none"), r.err);
    }
}
