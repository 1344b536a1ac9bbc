package io.tessera.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;

import java.io.PrintWriter;
import java.io.StringWriter;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code tessera simulate} (analytic) on a strategy file with pipeline stages. */
class SimulatePlannedPipelineTest {

    private static final String FILE = "../strategies/gpt-pipeline-2stages.json";

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
    void thePlannedStagesAndMicroBatchesComeFromTheFile() throws Exception {
        Run text = run("simulate", FILE);
        assertEquals(0, text.code(), text.err());
        assertTrue(text.out().contains("model: 2 planned stages of 8 ranks (16 devices), 4 micro-batches"), text.out());
        assertTrue(text.out().contains("schedule 1f1b"), text.out());
        assertTrue(text.out().contains("stage 0 per micro-batch: forward ") && text.out().contains("stage 1 per "
                + "micro-batch: forward "), text.out());
        Run json = run("simulate", FILE, "--schedule", "gpipe", "--recompute", "selective", "--json");
        assertEquals(0, json.code(), json.err());
        JsonNode o = new ObjectMapper().readTree(json.out());
        assertEquals(2, o.get("stages").asInt());
        assertEquals(4, o.get("micro_batches").asInt());
        assertEquals("gpipe", o.get("schedule").asText());
        assertEquals(2, o.get("stage_costs").size());
        assertTrue(o.get("step_seconds").asDouble() > 0);
        Run twice = run("simulate", FILE, "--pipeline-stages", "2");
        assertEquals(2, twice.code());
        assertTrue(twice.err().contains("has parallel.pipeline_stages 2; its stages and micro_batches come from the "
                + "file"), twice.err());
        Run interleaved = run("simulate", FILE, "--schedule", "interleaved");
        assertEquals(2, interleaved.code());
        assertTrue(interleaved.err().contains("take gpipe or 1f1b"), interleaved.err());
    }
}
