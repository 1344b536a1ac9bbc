package io.tessera.cli;

import io.tessera.planner.checkpoint.CheckpointIndex;
import io.tessera.planner.checkpoint.Checkpoints;
import io.tessera.planner.api.StrategyPlans;
import io.tessera.planner.plan.PipelinePlan;
import io.tessera.planner.strategy.NetworkRef;
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
 * {@code tessera checkpoint split FULL.safetensors STRATEGY.json --out DIR}: one file of whole parameters (e.g. Hugging
 * Face weights) into a plan's sharded checkpoint.
 */
@Command(name = "split", mixinStandardHelpOptions = true,
        description = {"Splits one safetensors file of whole parameters (e.g. Hugging Face weights; per-expert "
                + "experts.<e>.<proj>.weight entries fill stacked expert weights) into the sharded checkpoint of a "
                + "strategy file's plan, without optimizer state."})
public final class CheckpointSplitCommand implements Callable<Integer> {

    @Spec
    private CommandSpec spec;

    @Parameters(index = "0", paramLabel = "FULL.safetensors", description = "The file of whole parameters.")
    private Path full;

    @Parameters(index = "1", paramLabel = "STRATEGY.json", description = "The target plan.")
    private Path strategy;

    @Option(names = "--out", paramLabel = "DIR", required = true,
            description = "The checkpoint directory (created when missing).")
    private Path out;

    @Option(names = "--memory-limit", paramLabel = "BYTES", defaultValue = "256M",
            description = "Buffer memory the copy may use (default: ${DEFAULT-VALUE}).")
    private String memoryLimit;

    @Option(names = "--parallel", paramLabel = "N", defaultValue = "1",
            description = "Files written at once (default: ${DEFAULT-VALUE}).")
    private int parallel;

    @Option(names = "--ranks", paramLabel = "R", description = "Write only these ranks' files (default: all).")
    private String ranks;

    @Mixin
    private ProgressOption progress = new ProgressOption();

    @Override
    public Integer call() {
        StrategyFile file;
        PipelinePlan target;
        try {
            file = StrategyFiles.read(strategy);
            target = StrategyPlans.pipelinePlan(file, null);
        } catch (IllegalArgumentException e) {
            throw InputException.inFile(strategy, e);
        }
        CheckpointIndex index;
        try (ProgressOption.Handle p = progress.open(spec.commandLine().getErr(), "tessera checkpoint split")) {
            var options = CheckpointCommand.options(memoryLimit, parallel, ranks, p);
            CheckpointCommand.requireSomeRank(options, ranks, target.devices());
            index = CheckpointCommand.run(() -> Checkpoints.split(full, target,
                    file.network() instanceof NetworkRef.HfConfig, out, options));
        }
        PrintWriter stdout = spec.commandLine().getOut();
        stdout.println(CheckpointReshardCommand.summary("split", index, out));
        stdout.flush();
        return Tessera.EXIT_OK;
    }
}
