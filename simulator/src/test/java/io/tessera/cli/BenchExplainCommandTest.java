package io.tessera.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.tessera.planner.strategy.StrategyFiles;
import io.tessera.simulator.explain.Explainer;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code tessera bench explain}: its figures agree with the explainer's, and bad input is a one-line error. */
class BenchExplainCommandTest {

    private static final String FILE = "../strategies/gpt-megatron-tp4-dp2.json";

    @Test
    void explainsOneCommunicationPerFamily() throws Exception {
        CliRun r = CliRun.of("bench", "explain", FILE, "--time-limit", "0.5", "--json");
        assertEquals(0, r.code(), r.err());
        JsonNode f = new ObjectMapper().readTree(r.out()).get("files").get(0);
        Explainer x = Explainer.of(StrategyFiles.read(Path.of(FILE)));
        assertEquals(x.communications(), f.get("communications").asInt());
        assertEquals(x.families().size(), f.get("explained").asInt());
        assertEquals(x.plan().devices(), f.get("devices").asInt());
        assertTrue(f.get("suggestions").asInt() <= f.get("explained").asInt(), f.toString());
        assertTrue(f.get("suggestions").asInt() > 0, f.toString());
        assertTrue(f.get("evaluations").asInt() > 0 && f.get("mean_evaluation_seconds").asDouble() > 0, f.toString());
        assertTrue(f.get("slowest_seconds").asDouble() >= f.get("mean_seconds").asDouble(), f.toString());
        assertEquals(0.5, f.get("time_limit_seconds").asDouble());
        CliRun text = CliRun.of("bench", "explain", FILE, "--time-limit", "0.5");
        assertEquals(0, text.code(), text.err());
        assertTrue(text.out().startsWith("tessera bench explain (one communication per family)\n"), text.out());
        assertTrue(text.out().contains(" evaluations, "), text.out());
    }

    @Test
    void badInputIsAOneLineError() {
        CliRun limit = CliRun.of("bench", "explain", FILE, "--time-limit", "0");
        assertEquals(2, limit.code());
        assertTrue(limit.err().contains("--time-limit 0.0: expected seconds > 0"), limit.err());
        CliRun missing = CliRun.of("bench", "explain", "no-such-file.json");
        assertEquals(2, missing.code());
        assertEquals(1, missing.err().strip().lines().count(), missing.err());
        assertFalse(missing.err().contains("Exception"), missing.err());
    }
}
