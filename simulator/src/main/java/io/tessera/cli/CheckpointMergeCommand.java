package io.tessera.cli;

import io.tessera.planner.checkpoint.CheckpointIndex;
import io.tessera.planner.checkpoint.Checkpoints;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;

/** {@code tessera checkpoint merge DIR --out FILE.safetensors}: every tensor of a sharded checkpoint, whole. */
@Command(name = "merge", mixinStandardHelpOptions = true,
        description = {"Writes the full unsharded tensors of a sharded checkpoint into one safetensors file "
                + "(Hugging Face names, expert weights unstacked, when the network came from a config.json)."})
public final class CheckpointMergeCommand implements Callable<Integer> {

    @Spec
    private CommandSpec spec;

    @Parameters(index = "0", paramLabel = "DIR", description = "The checkpoint directory.")
    private Path source;

    @Option(names = "--out", paramLabel = "FILE.safetensors", required = true,
            description = "The output file (replaced atomically when it exists).")
    private Path out;

    @Option(names = "--optimizer-state", description = "Also write the optimizer state, as "
            + "optimizer.state.<parameter>.<state> (default: parameters only).")
    private boolean optimizerState;

    @Option(names = "--memory-limit", paramLabel = "BYTES", defaultValue = "256M",
            description = "Buffer memory the copy may use (default: ${DEFAULT-VALUE}).")
    private String memoryLimit;

    @Option(names = "--no-verify-source", description = "Skip checking the source slices' CRC-32C before copying "
            + "(default: every slice read is checked first, so a corrupt source is an error, not copied).")
    private boolean noVerifySource;

    @Mixin
    private ProgressOption progress = new ProgressOption();

    @Override
    public Integer call() {
        if (Files.isDirectory(out)) {
            throw new InputException("--out " + out + ": is a directory; expected a file path such as "
                    + "model.safetensors");
        }
        CheckpointIndex.FileSums sums;
        try (ProgressOption.Handle p = progress.open(spec.commandLine().getErr(), "tessera checkpoint merge")) {
            var options = CheckpointCommand.options(memoryLimit, 1, null, p).withVerifySource(!noVerifySource);
            sums = CheckpointCommand.run(() -> Checkpoints.merge(source, out, optimizerState, options));
        }
        PrintWriter stdout = spec.commandLine().getOut();
        stdout.println("merged " + sums.crc32c().size() + " tensors, " + CheckpointCommand.human(sums.bytes())
                + ", into " + out);
        stdout.flush();
        return Tessera.EXIT_OK;
    }
}
