package io.tessera.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.tessera.bench.StrategyBenchmark;
import io.tessera.planner.api.StrategyPlans;
import io.tessera.planner.strategy.ClusterRef;
import io.tessera.planner.strategy.NetworkRef;
import io.tessera.planner.strategy.Parallelism;
import io.tessera.planner.strategy.StrategyFile;
import io.tessera.planner.strategy.StrategyFiles;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code tessera search FILE} on strategy files with a {@code parallelism} section on a Llama-family network: the
 * degree search's table, JSON, {@code --out} round trip (the written file plans and {@code tessera simulate} gives
 * the proposal's step time), nothing fitting, and bad input.
 */
class DegreeSearchCommandTest {

    private static final Path MODELS = Path.of("..", "strategies", "models").toAbsolutePath().normalize();

    private static Path small(Path dir, String parallelism) throws IOException {
        Path f = dir.resolve("small.json");
        Files.writeString(f, "{\"network\": {\"zoo\": \"llama\", \"args\": {\"layers\": 8, \"hidden\": 256, "
                + "\"heads\": 8, \"kv_heads\": 4, \"ffn\": 512, \"seq\": 1024, \"vocab\": 1024}}, \"devices\": 64, "
                + "\"cluster\": \"h100-dgx\", \"parallelism\": " + parallelism + "}");
        return f;
    }

    @Test
    void theProposalRoundTripsThroughOutAndSimulate(@TempDir Path dir) throws IOException {
        Path f = small(dir, "{\"global_batch_size\": 64, \"precision\": \"bf16\", \"distributed_optimizer\": true}");
        Path best = dir.resolve("best.json");
        CliRun json = CliRun.of("search", f.toString(), "--progress=none", "--json", "--out", best.toString());
        assertEquals(0, json.code(), json.err());
        JsonNode root = new ObjectMapper().readTree(json.out());
        assertEquals("degrees", root.get("search").asText());
        JsonNode proposal = root.get("proposal");
        assertTrue(proposal.get("fits").asBoolean());
        assertEquals(root.get("candidates").get(0), proposal);
        assertTrue(root.get("skipped").isArray());
        assertEquals(root.get("plans").asInt() * 3, root.get("candidates").size(), "every setting plans here");

        StrategyFile written = StrategyFiles.read(best);
        Parallelism p = written.parallelism().orElseThrow();
        assertEquals(proposal.get("tensor").asInt(), p.tensor());
        assertEquals(proposal.get("pipeline").asInt(), p.pipeline());
        assertEquals(proposal.get("data").asInt(), p.data());
        assertEquals(proposal.get("recompute").asText(), p.recompute().jsonName());
        assertEquals(64, p.globalBatchSize());
        assertTrue(p.distributedOptimizer());
        assertEquals(StrategyFiles.read(f).network(), written.network());
        assertNotNull(StrategyPlans.pipelinePlan(written, null));

        CliRun sim = CliRun.of("simulate", best.toString(), "--json");
        assertEquals(0, sim.code(), sim.err());
        assertEquals(proposal.get("step_seconds").asDouble(),
                new ObjectMapper().readTree(sim.out()).get("step_seconds").asDouble(), 0.0);
        assertEquals(proposal.get("memory_bytes").asLong(), StrategyBenchmark.run(best).peakRankBytes());

        CliRun text = CliRun.of("search", f.toString(), "--progress=none", "--top", "3", "--max-plans", "2");
        assertEquals(0, text.code(), text.err());
        assertTrue(text.out().startsWith("degree search for the zoo llama: 5.25 M parameters, global batch 64 x "
                + "micro-batch 1 on 64 devices of h100-dgx (80.0 GiB per device)\n"), text.out());
        assertTrue(text.out().contains("\n2 plans, 6 candidates (6 fit), "), text.out());
        assertTrue(text.out().contains("(--verbose or --json lists them)"), text.out());
        assertTrue(text.out().contains("\n... 3 more (--top N, --json)\n"), text.out());
        CliRun all = CliRun.of("search", f.toString(), "--progress=none");
        assertTrue(all.out().contains("\nproposed: tensor " + p.tensor() + ", context 1, pipeline " + p.pipeline()
                + ", data " + p.data() + ", recompute " + p.recompute().jsonName() + ": step "), all.out());
        CliRun verbose = CliRun.of("--verbose", "search", f.toString(), "--progress=none", "--max-plans", "2");
        assertTrue(verbose.out().contains("\nskipped:\n  tensor "), verbose.out());
        assertTrue(verbose.out().contains(": not evaluated: the limit of 2 planned settings was reached\n"),
                verbose.out());
    }

    @Test
    void anHfConfigProposalWrittenElsewhereKeepsItsConfig(@TempDir Path dir) throws IOException {
        Path models = Files.createDirectories(dir.resolve("in/models"));
        Files.copy(MODELS.resolve("llama-tiny.json"), models.resolve("llama-tiny.json"));
        Path f = dir.resolve("in/tiny.json");
        Files.writeString(f, "{\"network\": {\"hf_config\": \"models/llama-tiny.json\", \"args\": {\"seq\": 32}}, "
                + "\"devices\": 8, \"parallelism\": {\"global_batch_size\": 16}}");
        Path out = Files.createDirectories(dir.resolve("out")).resolve("best.json");
        CliRun r = CliRun.of("search", f.toString(), "--progress=none", "--cluster", "h100-dgx", "--out",
                out.toString());
        assertEquals(0, r.code(), r.err());
        StrategyFile written = StrategyFiles.read(out);
        assertEquals("../in/models/llama-tiny.json", ((NetworkRef.HfConfig) written.network()).path());
        assertEquals(new ClusterRef.Preset("h100-dgx"), written.cluster().orElseThrow());
        CliRun sim = CliRun.of("simulate", out.toString());
        assertEquals(0, sim.code(), sim.err());
        assertTrue(sim.out().startsWith("cluster: h100-dgx"), sim.out());
    }

    @Test
    void nothingFittingIsOneLineWithExitCode2(@TempDir Path dir) throws IOException {
        Path f = dir.resolve("big.json");
        Files.writeString(f, "{\"network\": {\"hf_config\": \"" + MODELS.resolve("llama-3-70b.json").toString()
                .replace('\\', '/') + "\", \"args\": {\"seq\": 8192}}, \"devices\": 8, \"cluster\": \"h100-dgx\", "
                + "\"parallelism\": {\"global_batch_size\": 8, \"precision\": \"bf16\", \"distributed_optimizer\": "
                + "true}}");
        Path best = dir.resolve("best.json");
        CliRun r = CliRun.of("search", f.toString(), "--progress=none", "--out", best.toString());
        assertEquals(Tessera.EXIT_BAD_INPUT, r.code());
        assertTrue(r.err().startsWith("tessera: " + f + ": no setting fits the device memory: the model state alone "
                + "needs at least "), r.err());
        assertEquals(1, r.err().strip().lines().count(), r.err());
        assertTrue(r.out().contains("proposed: none (no setting fits"), r.out());
        assertFalse(Files.exists(best));
        CliRun json = CliRun.of("search", f.toString(), "--progress=none", "--json");
        assertEquals(Tessera.EXIT_BAD_INPUT, json.code());
        assertTrue(new ObjectMapper().readTree(json.out()).get("proposal").isNull(), json.out());
    }

    @Test
    void badInputIsOneLineWithExitCode2(@TempDir Path dir) throws IOException {
        Path f = small(dir, "{\"micro_batch_size\": 1}");
        CliRun r = CliRun.of("search", f.toString(), "--progress=none");
        assertEquals(Tessera.EXIT_BAD_INPUT, r.code());
        assertEquals("tessera: " + f + ": parallelism.global_batch_size: missing; the degree search keeps the "
                + "global batch fixed while it varies data, so give it, e.g. \"global_batch_size\": 1024\n", r.err());
        Path g = small(dir, "{\"global_batch_size\": 64}");
        r = CliRun.of("search", g.toString(), "--progress=none", "--top", "0");
        assertEquals(Tessera.EXIT_BAD_INPUT, r.code());
        assertEquals("tessera: --top 0: expected at least 1\n", r.err());
    }
}
