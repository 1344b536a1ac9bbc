package io.tessera.cli;

import io.tessera.planner.api.StrategyPlans;
import io.tessera.planner.strategy.NetworkRef;
import io.tessera.planner.strategy.StrategyFile;
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

/**
 * {@code tessera plan}, {@code simulate --numeric} and {@code search} on a strategy file whose network is a Hugging
 * Face config ({@code hf_config}, the shipped tiny Llama copied next to the strategy file), and its bad-config error.
 */
class HfConfigCliTest {

    private static final Path TINY = Path.of("..", "strategies", "models", "llama-tiny.json");

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

    private static Path strategy(Path dir, String args) throws IOException {
        Files.createDirectories(dir.resolve("models"));
        Files.copy(TINY, dir.resolve("models/llama-tiny.json"));
        Path f = dir.resolve("llama.json");
        Files.writeString(f, "{\"network\": {\"hf_config\": \"models/llama-tiny.json\", \"args\": " + args + "}, "
                + "\"devices\": 4, \"parallel\": {\"parallel_mode\": \"data_parallel\", \"optimizer\": \"momentum\"}}");
        return f;
    }

    @Test
    void planSimulateAndSearchTakeAnHfConfigNetwork(@TempDir Path dir) throws IOException {
        Path f = strategy(dir, "{\"batch\": 8, \"seq\": 16, \"layers\": 1}");
        Run plan = run("plan", f.toString(), "--progress=none");
        assertEquals(0, plan.code(), plan.err());
        assertTrue(plan.out().contains("'llama'"), plan.out());
        Run numeric = run("simulate", f.toString(), "--progress=none", "--numeric");
        assertEquals(0, numeric.code(), numeric.err() + numeric.out());
        Path best = dir.resolve("best.json");
        Run search = run("search", f.toString(), "--max-stages", "1", "--progress=none", "--out", best.toString());
        assertEquals(0, search.code(), search.err());
        assertTrue(search.out().startsWith("parallelism search for 'models/llama-tiny.json' on 4 devices"),
                search.out());
        StrategyFile chosen = StrategyFiles.read(best);
        assertTrue(chosen.network() instanceof NetworkRef.HfConfig, chosen.network().toString());
        assertEquals("llama", StrategyPlans.network(chosen).name());
    }

    @Test
    void aBadConfigIsOneLineWithExitCode2(@TempDir Path dir) throws IOException {
        Path f = strategy(dir, "{\"heads\": 8}");
        Run r = run("plan", f.toString(), "--progress=none");
        assertEquals(Tessera.EXIT_BAD_INPUT, r.code());
        assertTrue(r.err().contains("unknown argument 'heads'; valid arguments (with defaults): seq=32"), r.err());
        assertFalse(r.err().strip().contains("\n"), r.err());
        Path falcon = dir.resolve("c");
        strategy(falcon, "{\"batch\": 4}");
        Files.writeString(falcon.resolve("models/llama-tiny.json"), Files.readString(TINY)
                .replace("\"model_type\": \"llama\"", "\"model_type\": \"falcon\""));
        r = run("plan", falcon.resolve("llama.json").toString(), "--progress=none");
        assertEquals(Tessera.EXIT_BAD_INPUT, r.code());
        assertTrue(r.err().contains("model_type 'falcon' is not supported; expected one of llama, mistral, qwen2"),
                r.err());
        assertFalse(r.err().strip().contains("\n"), r.err());
    }
}
