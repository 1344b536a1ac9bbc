package io.tessera.cli;

import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Bad mixture-of-experts settings on the shipped tiny Mixtral (8 experts, top-2) through {@code tessera plan}: each is
 * one line on stderr naming the setting, with exit code 2 and no output file.
 */
class MoeSettingsCliTest {

    private static final Path TINY = Path.of("..", "strategies", "models", "mixtral-tiny.json");

    @ParameterizedTest(name = "{0}")
    @CsvSource(delimiter = '|', value = {
        "experts not divisible by the expert degree | 2 | 3 | '\"expert\": 3' | parallelism.expert: found 3 for the 8 "
            + "experts of model.layers.0.block_sparse_moe.dispatch; expected a divisor of the experts",
        "expert degree not dividing data x context | 2 | 4 | '\"expert\": 4, \"data\": 2, \"tensor\": 2' | "
            + "parallelism.expert: found 4 with data 2 = 2; expected a divisor of data x context",
        "top-k above the experts | 9 | 2 | '\"expert\": 2' | num_experts_per_tok 9 exceeds num_local_experts 8",
        "expert degree below 1 | 2 | 1 | '\"expert\": 0' | parallelism.expert",
        "data_parallel mode with the auxiliary loss | 2 | 2 | DP | MoeAuxLoss 'model.layers.0.block_sparse_moe.aux_loss': "
            + "parallel_mode data_parallel runs each rank on its batch shard alone"})
    void aBadSettingIsOneLineWithExitCode2(String what, int topK, int devices, String parallelism, String message,
                                           @TempDir Path dir) throws IOException {
        Files.createDirectories(dir.resolve("models"));
        Files.writeString(dir.resolve("models/mixtral.json"), Files.readString(TINY)
                .replace("\"num_experts_per_tok\": 2", "\"num_experts_per_tok\": " + topK));
        Path f = dir.resolve("moe.json");
        Files.writeString(f, "{\"network\": {\"hf_config\": \"models/mixtral.json\", \"args\": {\"moe_groups\": 2}}, "
                + "\"devices\": " + devices + ", \"parallel\": {\"optimizer\": \"momentum\"" + (parallelism.equals("DP")
                ? ", \"parallel_mode\": \"data_parallel\"}}" : "}, \"parallelism\": {" + parallelism + "}}"));
        Path out = dir.resolve("plan");
        StringWriter err = new StringWriter();
        var cl = Tessera.commandLine();
        cl.setOut(new PrintWriter(new StringWriter(), true));
        cl.setErr(new PrintWriter(err, true));
        int code = cl.execute("plan", f.toString(), "--progress=none", "--out", out.toString());
        System.out.println(what + ": " + err.toString().strip());
        assertEquals(Tessera.EXIT_BAD_INPUT, code, err.toString());
        assertTrue(err.toString().contains(message), err.toString());
        assertFalse(err.toString().strip().contains("\n"), err.toString());
        assertFalse(Files.exists(out), "no partial output");
    }
}
