package io.tessera.cli;

import picocli.CommandLine.Command;

import java.nio.file.Path;
import java.util.List;

/**
 * {@code tessera bench llama [FILE...]}: {@link StrategyBenchCommand} over, by default, the two shipped
 * Llama-3.1-405B plans on 16,384 H100s ({@link #DEFAULT_FILES}).
 */
@Command(name = "llama", mixinStandardHelpOptions = true,
        description = {"Benchmarks planning at scale: for each strategy file, seconds to read it (expanding the "
                + "parallelism section and building the network), plan every pipeline stage and simulate one "
                + "training step analytically on the file's cluster, then the simulated step time and the memory "
                + "of the fullest rank (weights, gradients, optimizer state, master copies and peak activations).",
                "Default: strategies/scale/llama-3.1-405b-tp8-pp16-dp128.json and "
                        + "strategies/scale/llama-3.1-405b-tp8-cp16-pp16-dp8.json (run from the repository root); the "
                        + "goal is under 10 s per file on 2 cores. Prints text, or JSON with --json."})
public final class BenchLlamaCommand extends StrategyBenchCommand {

    /** The files benchmarked when none is given, relative to the working directory. */
    public static final List<Path> DEFAULT_FILES = List.of(
            Path.of("strategies", "scale", "llama-3.1-405b-tp8-pp16-dp128.json"),
            Path.of("strategies", "scale", "llama-3.1-405b-tp8-cp16-pp16-dp8.json"));

    @Override
    List<Path> defaultFiles() {
        return DEFAULT_FILES;
    }
}
