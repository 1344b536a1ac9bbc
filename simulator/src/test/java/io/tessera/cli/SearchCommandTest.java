package io.tessera.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.tessera.planner.cost.ClusterSpec;
import io.tessera.planner.cost.Recompute;
import io.tessera.planner.plan.PipelinePlan;
import io.tessera.planner.api.StrategyPlans;
import io.tessera.planner.search.ParallelismSearch;
import io.tessera.planner.strategy.StrategyFiles;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code tessera search}: the parallelism search from a strategy file, its outputs and errors. */
class SearchCommandTest {

    private static final String FILE = "{\"network\": {\"zoo\": \"gpt\", \"args\": {\"layers\": 2, \"hidden\": 64, "
            + "\"heads\": 4, \"seq\": 16, \"vocab\": 128, \"batch\": 8}}, \"devices\": 8, "
            + "\"parallel\": {\"optimizer\": \"momentum\"}}";

    record Run(int code, String out, String err) {
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

    @Test
    void writesTheChosenSettingAsAStrategyFileThatPlansToTheSameEstimate(@TempDir Path dir) throws IOException {
        Path in = dir.resolve("gpt.json");
        Files.writeString(in, FILE);
        Path best = dir.resolve("best.json");
        Run r = run("search", in.toString(), "--max-stages", "2", "--out", best.toString(), "--json");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.err().startsWith("tessera search: parallelism search: 1 stage x 8 devices, 1 micro-batch\n"),
                r.err());
        JsonNode chosen = new ObjectMapper().readTree(r.out()).get("chosen");
        PipelinePlan pipe = StrategyPlans.pipelinePlan(StrategyFiles.read(best), null);
        assertEquals(chosen.get("pipeline_stages").asInt(), pipe.stages());
        assertEquals(chosen.get("micro_batches").asInt(), pipe.microBatches());
        assertEquals(8, pipe.devices());
        assertEquals(8 / pipe.microBatches(), pipe.plan().network().tensor("tokens").shape()[0]);
        // the written file reproduces the chosen plan: same estimate
        ParallelismSearch.Choice again = ParallelismSearch.estimate(pipe,
                Recompute.parse(chosen.get("recompute").asText()), chosen.get("optimizer_parallel").asBoolean(),
                ClusterSpec.preset("a100-80gb-dgx"));
        assertEquals(chosen.get("step_seconds").asDouble(), again.stepSeconds(), 1e-15);
        assertEquals(chosen.get("memory_bytes").asLong(), again.memoryBytes());

        Run text = run("search", in.toString(), "--max-stages", "1");
        assertEquals(0, text.code(), text.err());
        assertTrue(text.out().startsWith("parallelism search for 'gpt' on 8 devices of a100-80gb-dgx\n\nobjective: "),
                text.out());
        assertTrue(text.out().contains("chosen: 1 stage x 8 devices, 1 micro-batch, recompute none"), text.out());
    }

    @Test
    void badInputIsOneLineWithExitCode2AndNoOutputFile(@TempDir Path dir) throws IOException {
        Path net = dir.resolve("net.json");
        Files.writeString(net, "{\"network\": {\"file\": \"n.json\"}, \"devices\": 8}");
        Path best = dir.resolve("best.json");
        Run r = run("search", net.toString(), "--out", best.toString());
        assertEquals(2, r.code());
        assertEquals(net + ": network: the parallelism search rebuilds the network for each micro-batch size, which "
                + "needs a zoo model or an hf_config; found a network file\n",
                r.err().replace("tessera: ", "").replaceAll("^error: ", ""));
        assertFalse(Files.exists(best));
        Run stages = run("search", net.toString(), "--max-stages", "0");
        assertEquals(2, stages.code());
        assertTrue(stages.err().contains("--max-stages 0: expected at least 1"), stages.err());
    }
}
