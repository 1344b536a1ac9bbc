package io.tessera.cli;

import io.tessera.layout.init.Initializers;
import io.tessera.planner.checkpoint.CheckpointIndex;
import io.tessera.planner.checkpoint.Checkpoints;
import io.tessera.planner.strategy.StrategyFile;
import io.tessera.planner.strategy.StrategyFiles;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.concurrent.Callable;

/**
 * {@code tessera checkpoint save STRATEGY.json --out DIR [--seed S] [--ranks R]}: the initial sharded checkpoint of a
 * strategy file's plan, every rank's slices from {@code init_data}.
 */
@Command(name = "save", mixinStandardHelpOptions = true,
        description = {"Writes the initial sharded checkpoint of a strategy file's plan: one safetensors file per "
                + "rank with its parameter slices from init_data (bit-identical to the same regions of the unsharded "
                + "initialisation) and zero optimizer state, then index.json."})
public final class CheckpointSaveCommand implements Callable<Integer> {

    @Spec
    private CommandSpec spec;

    @Parameters(index = "0", paramLabel = "STRATEGY.json", description = "The strategy file.")
    private Path strategy;

    @Option(names = "--out", paramLabel = "DIR", required = true,
            description = "The checkpoint directory (created when missing).")
    private Path out;

    @Option(names = "--seed", paramLabel = "S", defaultValue = "" + Initializers.DEFAULT_GLOBAL_SEED,
            description = "The global seed the initializers draw from (mindspore.set_seed; default: "
                    + "${DEFAULT-VALUE}, the seed simulate uses).")
    private long seed;

    @Option(names = "--ranks", paramLabel = "R",
            description = "Write only these ranks' files, e.g. 0-63,70 (default: all); the index is written by the "
                    + "run that finds every file present.")
    private String ranks;

    @Mixin
    private ProgressOption progress = new ProgressOption();

    @Override
    public Integer call() {
        StrategyFile file;
        try {
            file = StrategyFiles.read(strategy);
        } catch (IllegalArgumentException e) {
            throw InputException.inFile(strategy, e);
        }
        CheckpointIndex index;
        try (ProgressOption.Handle p = progress.open(spec.commandLine().getErr(), "tessera checkpoint save")) {
            var options = CheckpointCommand.options("256M", 1, ranks, p);
            index = CheckpointCommand.run(() -> {
                try {
                    return Checkpoints.save(file, seed, out, options);
                } catch (IllegalArgumentException e) {
                    throw InputException.inFile(strategy, e);
                }
            });
        }
        PrintWriter stdout = spec.commandLine().getOut();
        stdout.println(CheckpointReshardCommand.summary("saved", index, out));
        stdout.flush();
        return Tessera.EXIT_OK;
    }
}
