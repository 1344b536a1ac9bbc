package io.tessera.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.tessera.planner.api.StrategyPlans;
import io.tessera.planner.plan.Communication;
import io.tessera.planner.plan.PipelinePlan;
import io.tessera.planner.strategy.StrategyFiles;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code tessera compare} on every shipped strategy file: the figures are simulate's and the plan's. */
class CompareCommandTest {

    private static final ObjectMapper JSON = new ObjectMapper();

    private static List<String> shipped() throws Exception {
        List<String> out = new ArrayList<>();
        try (Stream<Path> s = Files.list(Path.of("..", "strategies"))) {
            s.filter(p -> p.toString().endsWith(".json")).sorted().forEach(p -> out.add(p.toString()));
        }
        return out;
    }

    @Test
    void everyShippedFileComparesWithSimulatesStepTimeAndThePlansCommunication() throws Exception {
        List<String> files = shipped();
        assertTrue(files.stream().anyMatch(f -> f.contains("auto-dynamic-programming")), "a searched file ships");
        List<String> args = new ArrayList<>(List.of("compare", "--json", "--progress", "none"));
        args.addAll(files);
        CliRun run = CliRun.of(args.toArray(String[]::new));
        assertEquals(0, run.code(), run.err());
        JsonNode plans = JSON.readTree(run.out()).get("plans");
        assertEquals(files.size(), plans.size());
        for (int i = 0; i < files.size(); i++) {
            String f = files.get(i);
            JsonNode p = plans.get(i);
            CliRun sim = CliRun.of("simulate", f, "--json", "--progress", "none");
            assertEquals(0, sim.code(), sim.err());
            JsonNode s = JSON.readTree(sim.out());
            assertEquals(s.get("step_seconds").asDouble(), p.get("step_seconds").asDouble(), 0, f);
            if (s.has("error_band")) {
                assertEquals(s.get("error_band").get("step_seconds_low").asDouble(),
                        p.get("step_seconds_low").asDouble(), 0, f);
            }
            if (s.has("bubble_fraction")) {
                assertEquals(s.get("bubble_fraction").asDouble(), p.get("bubble_fraction").asDouble(), 0, f);
            }
            if (s.has("peak_memory_bytes")) {
                assertEquals(s.get("peak_memory_bytes").get("max").asLong(), p.get("peak_memory_bytes_max").asLong(),
                        f);
            }
            PipelinePlan pipe = StrategyPlans.pipelinePlan(StrategyFiles.read(Path.of(f)), null);
            Map<String, Long> comm = new TreeMap<>();
            for (Communication c : pipe.plan().comms()) {
                comm.merge(c.kind().toString(), c.totalRecvBytes(), Long::sum);
            }
            Map<String, Long> got = new TreeMap<>();
            p.get("comm_bytes").fields().forEachRemaining(e -> got.put(e.getKey(), e.getValue().asLong()));
            assertEquals(comm, got, f);
        }
        assertEquals(files.size() - 1, JSON.readTree(run.out()).get("against_first").size());
    }

    @Test
    void aPlanAgainstItselfIsWithinTheBandAndAFarSlowerOneBeyondIt() {
        String a = "../strategies/gpt-megatron-tp4-dp2.json";
        String b = "../strategies/gpt-pipeline-2stages.json";
        CliRun run = CliRun.of("compare", a, a, b, "--progress", "none");
        assertEquals(0, run.code(), run.err());
        String[] lines = run.out().split("\n");
        String self = lines[lines.length - 2];
        String far = lines[lines.length - 1];
        assertTrue(self.contains("+0.0%") && self.contains("within the error bands"), self);
        assertTrue(far.contains("slower") && far.contains("larger than the error bands"), far);
        assertTrue(run.out().contains("bubble"), run.out());
    }

    @Test
    void badInputIsOneLineExitTwo() {
        CliRun one = CliRun.of("compare", "../strategies/gpt-megatron-tp4-dp2.json");
        assertEquals(2, one.code());
        CliRun missing = CliRun.of("compare", "../strategies/gpt-megatron-tp4-dp2.json", "nope.json",
                "--progress", "none");
        assertEquals(2, missing.code());
        assertEquals(1, missing.err().strip().lines().count(), missing.err());
        assertFalse(missing.err().contains("\tat "), missing.err());
    }
}
