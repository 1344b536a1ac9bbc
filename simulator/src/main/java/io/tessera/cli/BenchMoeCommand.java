package io.tessera.cli;

import picocli.CommandLine.Command;

import java.nio.file.Path;
import java.util.List;

/**
 * {@code tessera bench moe [FILE...]}: {@link StrategyBenchCommand} over, by default, the shipped mixture-of-experts
 * plans at scale ({@link #DEFAULT_FILES}): DeepSeek-V3 on 2,048 H100s (pipeline 16, expert 64, data 128), Mixtral-8x7B
 * and Qwen2-57B-A14B on 64.
 */
@Command(name = "moe", mixinStandardHelpOptions = true,
        description = {"Benchmarks planning mixtures of experts at scale: for each strategy file, seconds to read it "
                + "(expanding the parallelism section and building the network), plan every pipeline stage and "
                + "simulate one training step analytically on the file's cluster (routing, expert loads and "
                + "AllToAlls included), then the simulated step time and the memory of the fullest rank.",
                "Default: strategies/scale/deepseek-v3-ep64-pp16-dp128.json, "
                        + "strategies/scale/mixtral-8x7b-tp2-ep8-pp4-dp8.json and "
                        + "strategies/scale/qwen2-57b-a14b-tp2-ep8-pp4-dp8.json (run from the repository root); the "
                        + "goal is under 10 s per file on 2 cores. Prints text, or JSON with --json."})
public final class BenchMoeCommand extends StrategyBenchCommand {

    /** The files benchmarked when none is given, relative to the working directory. */
    public static final List<Path> DEFAULT_FILES = List.of(
            Path.of("strategies", "scale", "deepseek-v3-ep64-pp16-dp128.json"),
            Path.of("strategies", "scale", "mixtral-8x7b-tp2-ep8-pp4-dp8.json"),
            Path.of("strategies", "scale", "qwen2-57b-a14b-tp2-ep8-pp4-dp8.json"));

    @Override
    List<Path> defaultFiles() {
        return DEFAULT_FILES;
    }
}
