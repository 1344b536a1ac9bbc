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
import java.util.List;
import java.util.concurrent.Callable;

/**
 * {@code tessera checkpoint split FULL.safetensors... STRATEGY.json --out DIR}: files of whole parameters (e.g. Hugging
 * Face weights, one file or its shards or its {@code model.safetensors.index.json}) into a plan's sharded checkpoint.
 */
@Command(name = "split", mixinStandardHelpOptions = true,
        description = {"Splits one safetensors file of whole parameters (e.g. Hugging Face weights; per-expert "
                + "experts.<e>.<proj>.weight entries fill stacked expert weights) into the sharded checkpoint of a "
                + "strategy file's plan, without optimizer state."})
public final class CheckpointSplitCommand implements Callable<Integer> {

    @Spec
    private CommandSpec spec;

    @Parameters(arity = "2..*", paramLabel = "FILE",
            description = "The files of whole parameters (one file, several shards such as "
                    + "model-00001-of-00004.safetensors, or a Hugging Face model.safetensors.index.json), then the "
                    + "target plan's STRATEGY.json.")
    private List<Path> args;

    @Option(names = "--skip-unknown", description = "Skip entries that match no parameter of the network (e.g. "
            + "rotary_emb.inv_freq buffers) instead of failing.")
    private boolean skipUnknown;

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
        strategy = args.get(args.size() - 1);
        List<Path> inputs = args.subList(0, args.size() - 1);
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
            index = CheckpointCommand.run(() -> Checkpoints.split(inputs, target,
                    file.network() instanceof NetworkRef.HfConfig, skipUnknown, out, options));
        }
        PrintWriter stdout = spec.commandLine().getOut();
        stdout.println(CheckpointReshardCommand.summary("split", index, out));
        stdout.flush();
        return Tessera.EXIT_OK;
    }
}
