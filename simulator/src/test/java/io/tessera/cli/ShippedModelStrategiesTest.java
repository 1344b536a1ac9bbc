package io.tessera.cli;

import io.tessera.bench.StrategyBenchmark;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Every shipped strategy file of a real model ({@code strategies/scale/}: Llama-3-8B, Llama-3-70B, Llama-3.1-405B at
 * 8K and at 131K tokens, Mistral-7B, Qwen2-7B, GPT-2, Mixtral-8x7B and Qwen2-57B-A14B (expert parallel 8, the latter
 * with its gated shared expert), from the Hugging Face
 * configs in {@code strategies/models/}) is
 * accepted by {@code tessera plan}, {@code tessera simulate} and {@code tessera search}, and its analytic step is a
 * finite time whose fullest rank fits the device (80 GB). The 405B files are planned through
 * {@link StrategyBenchmark} (the {@code tessera bench llama} path) and searched with {@code --max-plans 1}, to keep
 * the suite fast; {@code tessera bench llama} reports their timings.
 */
class ShippedModelStrategiesTest {

    private static final Path SCALE = Path.of("..", "strategies", "scale");

    private static final long DEVICE_BYTES = 80L * 1000 * 1000 * 1000;

    @Test
    void everyModelConfigHasAStrategyFile() throws IOException {
        List<String> files;
        try (Stream<Path> s = Files.list(SCALE)) {
            files = s.map(p -> p.getFileName().toString()).sorted().toList();
        }
        for (String model : List.of("llama-3-8b", "llama-3-70b", "llama-3.1-405b", "mistral-7b", "qwen2-7b", "gpt2",
            "mixtral-8x7b", "qwen2-57b-a14b", "deepseek-v3")) {
            assertTrue(files.stream().anyMatch(f -> f.startsWith(model + "-")), model + " in " + files);
        }
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"llama-3-8b-tp4-dp16.json", "llama-3-70b-tp8-pp4-dp16.json", "mistral-7b-tp2-dp32.json",
        "qwen2-7b-tp4-dp16.json", "gpt2-dp8.json", "llama-3.1-405b-tp8-pp16-dp128.json",
        "llama-3.1-405b-tp8-cp16-pp16-dp8.json", "mixtral-8x7b-tp2-ep8-pp4-dp8.json",
        "qwen2-57b-a14b-tp2-ep8-pp4-dp8.json", "deepseek-v3-ep64-pp16-dp128.json"})
    void planSimulateAndSearchAcceptIt(String name, @TempDir Path tmp) {
        Path file = SCALE.resolve(name);
        boolean huge = name.contains("405b") || name.contains("deepseek-v3");
        StrategyBenchmark.Run run = StrategyBenchmark.run(file);
        System.out.printf(Locale.ROOT, "%s: read %.2f s, plan %.2f s, simulate %.2f s, step %.3f s, fullest rank "
                        + "%.1f GB%n", name, run.readSeconds(), run.planSeconds(), run.simulateSeconds(),
                run.stepSeconds(), run.peakRankBytes() / 1e9);
        assertTrue(run.stepSeconds() > 0 && Double.isFinite(run.stepSeconds()), name);
        assertTrue(run.peakRankBytes() < DEVICE_BYTES, name + ": " + run.peakRankBytes() + " bytes on the fullest rank");

        if (!huge) {
            CliRun plan = CliRun.of("plan", file.toString(), "--progress=none", "--out",
                    tmp.resolve("plan.json").toString());
            assertEquals(0, plan.code(), plan.err());
            assertTrue(Files.exists(tmp.resolve("plan.json")));
        }
        CliRun simulate = CliRun.of("simulate", file.toString(), "--progress=none");
        assertEquals(0, simulate.code(), simulate.err());
        assertTrue(simulate.out().contains("step time: "), simulate.out());

        // DeepSeek-V3's first setting by the search's guess (pipeline 2, expert 32) needs 82 GiB: plan 3
        CliRun search = CliRun.of("search", file.toString(), "--progress=none", "--max-plans",
                huge && !name.contains("deepseek") ? "1" : "3");
        assertEquals(0, search.code(), search.out() + search.err());
        // Llama-family files get the degree search's proposal; GPT-2 the per-operator parallelism search's choice
        assertTrue(search.out().contains(name.startsWith("gpt2") ? "chosen: " : "proposed: "), search.out());
    }
}
