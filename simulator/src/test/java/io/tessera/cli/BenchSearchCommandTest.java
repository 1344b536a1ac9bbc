package io.tessera.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.tessera.bench.SearchBenchmark;
import io.tessera.planner.plan.PlanConfig;
import io.tessera.planner.search.Candidate;
import org.junit.jupiter.api.Test;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code tessera bench search} on a tiny case, its JSON shape and its bad input. */
class BenchSearchCommandTest {

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

    private static final Pattern STEP = Pattern.compile("^(chosen|hand) (.+): ([0-9.]+) ms \\(compute [0-9.]+ ms, "
            + "communication [0-9.]+ ms\\), ([0-9.]+) GiB$");

    @Test
    void aOneLayerSearchOnEightDevicesPrintsTheDocumentedLines() {
        Run r = run("bench", "search", "--layers", "1", "--devices", "8");
        assertEquals(0, r.code, r.err);
        assertEquals("", r.err, "no progress without a console");
        List<String> lines = List.of(r.out.split("\n"));
        assertEquals(3, lines.size(), r.out);
        assertTrue(lines.get(0).matches("search: 1-layer gpt on 8 devices in [0-9]+\\.[0-9]{2} s"), lines.get(0));
        Matcher chosen = STEP.matcher(lines.get(1));
        Matcher hand = STEP.matcher(lines.get(2));
        assertTrue(chosen.matches() && chosen.group(1).equals("chosen"), lines.get(1));
        assertTrue(hand.matches() && hand.group(2).equals("megatron dp 8 x mp 1"), lines.get(2));
        // the searched plan is never worse than the hand plan it is compared with
        assertTrue(Double.parseDouble(chosen.group(3)) <= Double.parseDouble(hand.group(3)), r.out);
    }

    @Test
    void jsonCarriesBothPlansFigures() throws Exception {
        Candidate chosen = new Candidate("dynamic programming #1", PlanConfig.builder(8).build(), 0.25, 0.2, 0.05,
                3L << 30, true);
        Candidate hand = new Candidate("megatron dp 8 x mp 1", PlanConfig.builder(8).build(), 0.3, 0.2, 0.1,
                4L << 30, true);
        SearchBenchmark.Result r = new SearchBenchmark.Result(1, 8, 1.5, chosen, hand, 8, 1);
        JsonNode o = new ObjectMapper().readTree(Json.write(BenchSearchCommand.toJson(r, new double[] {0.24, 0.29})));
        assertEquals(1, o.get("layers").asInt());
        assertEquals(8, o.get("devices").asInt());
        assertEquals(1.5, o.get("search_seconds").asDouble());
        assertEquals(0.25, o.get("chosen").get("step_seconds").asDouble());
        assertEquals(0.05, o.get("chosen").get("communication_seconds").asDouble());
        assertEquals(3L << 30, o.get("chosen").get("memory_bytes").asLong());
        assertEquals(0.24, o.get("chosen").get("timeline_step_seconds").asDouble());
        assertEquals(8, o.get("megatron").get("dp").asInt());
        assertEquals(0.29, o.get("megatron").get("timeline_step_seconds").asDouble());
        JsonNode plain = new ObjectMapper().readTree(Json.write(BenchSearchCommand.toJson(r, null)));
        assertFalse(plain.get("chosen").has("timeline_step_seconds"));
        assertEquals(List.of("search: 1-layer gpt on 8 devices in 1.50 s",
                "chosen dynamic programming #1: 250.000 ms (compute 200.000 ms, communication 50.000 ms), 3.00 GiB",
                "hand megatron dp 8 x mp 1: 300.000 ms (compute 200.000 ms, communication 100.000 ms), 4.00 GiB"),
                r.lines());
    }

    @Test
    void devicesTheHandPlanCannotUseAreBadInput() {
        Run r = run("bench", "search", "--devices", "96");
        assertEquals(Tessera.EXIT_BAD_INPUT, r.code);
        assertEquals(1, r.err.split("\n").length, r.err);
        assertTrue(r.err.contains("96 devices are not a multiple of the Megatron data-parallel degree 64"), r.err);
        Run zero = run("bench", "search", "--layers", "0");
        assertEquals(Tessera.EXIT_BAD_INPUT, zero.code);
        assertTrue(zero.err.contains("--layers is 0"), zero.err);
    }
}
