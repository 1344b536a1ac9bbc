package io.tessera.cli;

import io.tessera.planner.checkpoint.CheckpointException;
import io.tessera.planner.checkpoint.CheckpointOptions;
import io.tessera.planner.plan.PipelinePlan;
import io.tessera.planner.api.StrategyPlans;
import io.tessera.planner.strategy.StrategyFile;
import io.tessera.planner.strategy.StrategyFiles;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

import java.nio.file.Path;
import java.util.BitSet;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.function.IntPredicate;
import java.util.function.Supplier;

/**
 * {@code tessera checkpoint}: sharded checkpoints on disk ({@code save}, {@code reshard}, {@code merge},
 * {@code split}, {@code verify}); see {@link io.tessera.planner.checkpoint.Checkpoints}.
 */
@Command(name = "checkpoint", mixinStandardHelpOptions = true,
        description = {"Sharded checkpoints: one safetensors file per rank plus index.json (the plan, a CRC-32C per "
                + "slice). Every file is written under a temporary name and renamed when complete and checked; a "
                + "killed run, rerun, resumes."},
        subcommands = {CheckpointSaveCommand.class, CheckpointReshardCommand.class, CheckpointMergeCommand.class,
                CheckpointSplitCommand.class, CheckpointVerifyCommand.class})
public final class CheckpointCommand implements Callable<Integer> {

    @Spec
    private CommandSpec spec;

    /** {@code tessera checkpoint} without a subcommand is bad input naming them. */
    @Override
    public Integer call() {
        throw new ParameterException(spec.commandLine(), "missing a checkpoint command; expected one of "
                + String.join(", ", spec.subcommands().keySet()));
    }

    /**
     * Bytes from a size such as {@code 256M}, {@code 1G}, {@code 512K} or {@code 1048576} (binary units; a trailing
     * {@code B} or {@code iB} is allowed).
     *
     * @throws InputException naming the option, the value and the accepted forms
     */
    static long bytes(String option, String text) {
        String t = text.trim().toUpperCase(Locale.ROOT).replaceFirst("I?B$", "");
        long unit = 1;
        if (!t.isEmpty() && "KMGT".indexOf(t.charAt(t.length() - 1)) >= 0) {
            unit = 1L << (10 * ("KMGT".indexOf(t.charAt(t.length() - 1)) + 1));
            t = t.substring(0, t.length() - 1);
        }
        try {
            long v = Long.parseLong(t.trim());
            if (v < 0 || v > Long.MAX_VALUE / unit) {
                throw new NumberFormatException();
            }
            return v * unit;
        } catch (NumberFormatException e) {
            throw new InputException(option + ": found '" + io.tessera.layout.UserText.abbreviate(text)
                    + "'; expected a size such as 256M, 1G or 1048576 (bytes)");
        }
    }

    /**
     * The ranks of {@code --ranks}: a comma-separated list of ranks and inclusive ranges, e.g. {@code 0-63,70}; all
     * ranks when null.
     *
     * @throws InputException naming the bad part
     */
    static IntPredicate ranks(String text) {
        if (text == null) {
            return r -> true;
        }
        BitSet set = new BitSet();
        for (String part : text.split(",", -1)) {
            String p = part.trim();
            try {
                int dash = p.indexOf('-', 1);
                int lo = Integer.parseInt(dash < 0 ? p : p.substring(0, dash).trim());
                int hi = dash < 0 ? lo : Integer.parseInt(p.substring(dash + 1).trim());
                if (lo < 0 || hi < lo || hi > 1 << 24) {
                    throw new NumberFormatException();
                }
                set.set(lo, hi + 1);
            } catch (NumberFormatException e) {
                throw new InputException("--ranks: found '" + io.tessera.layout.UserText.abbreviate(p) + "' in '"
                        + io.tessera.layout.UserText.abbreviate(text) + "'; expected ranks and ranges such as 0-63,70");
            }
        }
        return set::get;
    }

    /** The pipeline plan of a strategy file; bad input becomes an InputException naming the file. */
    static PipelinePlan plan(Path strategy) {
        try {
            StrategyFile file = StrategyFiles.read(strategy);
            return StrategyPlans.pipelinePlan(file, null);
        } catch (IllegalArgumentException e) {
            throw InputException.inFile(strategy, e);
        }
    }

    /** Runs {@code work}, turning checkpoint and argument errors into one-line input errors (exit 2). */
    static <T> T run(Supplier<T> work) {
        try {
            return work.get();
        } catch (CheckpointException | IllegalArgumentException e) {
            throw new InputException(e.getMessage(), e);
        }
    }

    /** Options from the shared flags. */
    static CheckpointOptions options(String memoryLimit, int parallel, String ranks, ProgressOption.Handle progress) {
        try {
            return new CheckpointOptions(bytes("--memory-limit", memoryLimit), parallel, ranks(ranks),
                    progress == null ? null : progress::advance);
        } catch (IllegalArgumentException e) {
            throw new InputException(e.getMessage(), e);
        }
    }

    /**
     * Refuses a {@code --ranks} that selects none of a plan's {@code devices} ranks (a run would write nothing).
     *
     * @throws InputException naming the value and the plan's ranks
     */
    static void requireSomeRank(CheckpointOptions options, String text, int devices) {
        if (text != null && java.util.stream.IntStream.range(0, devices).noneMatch(options.ranks())) {
            throw new InputException("--ranks: found '" + io.tessera.layout.UserText.abbreviate(text) + "', which "
                    + "selects none of the plan's ranks 0-" + (devices - 1) + "; expected ranks such as 0-"
                    + (devices - 1));
        }
    }

    /** A byte count for people: {@code 1.50 GiB}, {@code 12.0 MiB}, {@code 512 B}. */
    static String human(long bytes) {
        if (bytes < 1024) {
            return bytes + " B";
        }
        String[] units = {"KiB", "MiB", "GiB", "TiB"};
        double v = bytes;
        int u = -1;
        while (v >= 1024 && u < units.length - 1) {
            v /= 1024;
            u++;
        }
        return String.format(Locale.ROOT, v >= 100 ? "%.0f %s" : v >= 10 ? "%.1f %s" : "%.2f %s", v, units[u]);
    }
}
