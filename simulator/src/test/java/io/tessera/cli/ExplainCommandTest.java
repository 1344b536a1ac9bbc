package io.tessera.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code tessera explain}: text and JSON output, and one-line errors with exit 2 for bad choices. */
class ExplainCommandTest {

    private static final String FILE = "../strategies/reshape-transpose-redistribution.json";

    @Test
    void explainsEveryCommunicationAsText() {
        CliRun r = CliRun.of("explain", FILE, "--time-limit", "30");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().startsWith("cluster: a100-80gb-dgx"), r.out());
        for (int id = 0; id < 5; id++) {
            assertTrue(r.out().contains("\n#" + id + " "), r.out());
        }
        assertTrue(r.out().contains("  change: \"operators\": {\"swap\": {\"in_strategy\": "), r.out());
        assertTrue(r.out().contains("  necessary: the loss needs the full batch on every rank"), r.out());
    }

    /** The README's example output is what the command prints for communications 1 and 2. */
    @Test
    void theReadmeExampleIsWhatTheCommandPrints() throws Exception {
        String readme = java.nio.file.Files.readString(java.nio.file.Path.of("..", "README.md"));
        for (String id : new String[] {"1", "2"}) {
            CliRun r = CliRun.of("explain", FILE, "--comm", id, "--time-limit", "120");
            assertEquals(0, r.code(), r.err());
            String block = r.out().substring(r.out().indexOf("\n\n") + 2);
            assertTrue(block.startsWith("#" + id + " "), r.out());
            assertTrue(readme.contains(block), "README.md lacks the output of --comm " + id + ":\n" + block);
        }
    }

    @Test
    void jsonParsesWithOneObjectPerChosenCommunication() throws Exception {
        CliRun r = CliRun.of("explain", FILE, "--op", "swap", "--json");
        assertEquals(0, r.code(), r.err());
        JsonNode a = new ObjectMapper().readTree(r.out());
        assertTrue(a.isArray() && a.size() == 2, r.out());
        for (JsonNode n : a) {
            assertEquals("swap", n.get("operator").asText());
            assertTrue(n.has("suggestion") != n.has("necessary"), n.toString());
            assertTrue(n.has("kind") && n.has("phase") && n.has("origin") && n.has("tensor") && n.has("groups")
                    && n.has("bytes_per_rank") && n.has("reason"), n.toString());
        }
        JsonNode s = a.get(0).get("suggestion");
        if (s != null) {
            assertTrue(s.get("change").has("operators"), s.toString());
            assertTrue(s.has("removed") && s.has("added") && s.has("step_seconds_before")
                    && s.has("step_seconds_after") && s.has("peak_bytes_before") && s.has("peak_bytes_after"));
        }
        CliRun one = CliRun.of("explain", FILE, "--comm", "2", "--json");
        assertEquals(0, one.code(), one.err());
        assertEquals(2, new ObjectMapper().readTree(one.out()).get(0).get("id").asInt());
    }

    /** One communication per family, the first of its members, with the family's size; the sizes add up. */
    @Test
    void perFamilyExplainsTheFirstOfEachFamily() throws Exception {
        String gpt = "../strategies/gpt-megatron-tp4-dp2.json";
        CliRun r = CliRun.of("explain", gpt, "--per-family", "--json", "--time-limit", "0.5");
        assertEquals(0, r.code(), r.err());
        JsonNode a = new ObjectMapper().readTree(r.out());
        io.tessera.simulator.explain.Explainer x = io.tessera.simulator.explain.Explainer.of(
                io.tessera.planner.strategy.StrategyFiles.read(java.nio.file.Path.of(gpt)));
        java.util.List<java.util.List<Integer>> families = new java.util.ArrayList<>(x.families().values());
        assertEquals(families.size(), a.size(), r.out());
        assertTrue(families.size() < x.communications(), "the two layers' communications share families");
        int total = 0;
        for (int i = 0; i < a.size(); i++) {
            assertEquals((int) families.get(i).get(0), a.get(i).get("id").asInt(), a.get(i).toString());
            assertEquals(families.get(i).size(), a.get(i).get("family_size").asInt(), a.get(i).toString());
            total += a.get(i).get("family_size").asInt();
        }
        assertEquals(x.communications(), total);
        CliRun text = CliRun.of("explain", gpt, "--per-family", "--time-limit", "0.5");
        assertEquals(0, text.code(), text.err());
        assertTrue(text.out().contains("  family: stands for 2 communications"), text.out());
        CliRun both = CliRun.of("explain", gpt, "--per-family", "--comm", "1");
        assertEquals(2, both.code());
        assertTrue(both.err().contains("--per-family and --comm 1 both choose communications"), both.err());
    }

    @Test
    void aCommunicationOutOfRangeIsAOneLineError() {
        CliRun r = CliRun.of("explain", FILE, "--comm", "5");
        assertEquals(Tessera.EXIT_BAD_INPUT, r.code());
        assertEquals("", r.out());
        assertEquals(1, r.err().strip().lines().count(), r.err());
        assertTrue(r.err().contains("--comm 5") && r.err().contains("0..4"), r.err());
        assertEquals(Tessera.EXIT_BAD_INPUT, CliRun.of("explain", FILE, "--comm", "-1").code());
    }

    @Test
    void anUnknownOperatorIsAOneLineError() {
        CliRun r = CliRun.of("explain", FILE, "--op", "nope");
        assertEquals(Tessera.EXIT_BAD_INPUT, r.code());
        assertEquals(1, r.err().strip().lines().count(), r.err());
        assertTrue(r.err().contains("--op nope: no operator of this name") && r.err().contains("swap"), r.err());
        CliRun quiet = CliRun.of("explain", FILE, "--op", "proj");
        assertEquals(Tessera.EXIT_BAD_INPUT, quiet.code());
        assertTrue(quiet.err().contains("no communication serves this operator"), quiet.err());
    }

    @Test
    void conflictingChoicesAndABadTimeLimitAreRefused() {
        CliRun both = CliRun.of("explain", FILE, "--comm", "0", "--op", "swap");
        assertEquals(Tessera.EXIT_BAD_INPUT, both.code());
        assertEquals(1, both.err().strip().lines().count(), both.err());
        CliRun limit = CliRun.of("explain", FILE, "--time-limit", "0");
        assertEquals(Tessera.EXIT_BAD_INPUT, limit.code());
        assertTrue(limit.err().contains("--time-limit"), limit.err());
    }
}
