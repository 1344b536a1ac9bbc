package io.tessera.cli;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.tessera.planner.api.StrategyPlans;
import io.tessera.planner.checkpoint.CheckpointIndex;
import io.tessera.planner.checkpoint.Checkpoints;
import io.tessera.planner.checkpoint.Migration;
import io.tessera.planner.cost.ClusterSpec;
import io.tessera.planner.plan.PipelinePlan;
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
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.concurrent.Callable;

/**
 * {@code tessera checkpoint reshard DIR --to STRATEGY.json --out DIR2 [--dry-run] [--memory-limit M] [--parallel N]
 * [--ranks R]}: converts a sharded checkpoint to another plan with a byte-minimal streaming copy.
 */
@Command(name = "reshard", mixinStandardHelpOptions = true,
        description = {"Converts a sharded checkpoint to another plan: each target rank's file is filled from the "
                + "byte ranges of the source files that hold its slices (each element read once), streaming through "
                + "bounded buffers. --dry-run prints the migration's cost instead. Files a killed run completed are "
                + "kept; --ranks lets hosts sharing a filesystem each write their own ranks."})
public final class CheckpointReshardCommand implements Callable<Integer> {

    /** The most ranks the text of --dry-run lists (the ones reading the most). */
    static final int TABLE_RANKS = 64;

    @Spec
    private CommandSpec spec;

    @Parameters(index = "0", paramLabel = "DIR", description = "The source checkpoint directory (only read); with "
            + "--dry-run also a strategy file, to price changing plans before a checkpoint exists.")
    private Path source;

    @Option(names = "--to", paramLabel = "STRATEGY.json", required = true, description = "The target plan.")
    private Path strategy;

    @Option(names = "--out", paramLabel = "DIR2", description = "The target directory (created when missing); "
            + "required unless --dry-run.")
    private Path out;

    @Option(names = "--dry-run", description = "Print the migration plan's cost (bytes read and written per rank, "
            + "the largest rank, the time over the cluster's network) and write nothing.")
    private boolean dryRun;

    @Option(names = "--cluster", paramLabel = "PRESET", description = "The cluster whose links --dry-run prices "
            + "(default: the strategy file's cluster, else a100-80gb-dgx).")
    private String cluster;

    @Option(names = "--json", description = "With --dry-run: print the cost as JSON.")
    private boolean json;

    @Option(names = "--memory-limit", paramLabel = "BYTES", defaultValue = "256M",
            description = "Buffer memory the copy may use (default: ${DEFAULT-VALUE}; at least 1M).")
    private String memoryLimit;

    @Option(names = "--parallel", paramLabel = "N", defaultValue = "1",
            description = "Target files written at once (default: ${DEFAULT-VALUE}).")
    private int parallel;

    @Option(names = "--ranks", paramLabel = "R", description = "Write only these target ranks' files, e.g. 0-63,70 "
            + "(default: all); the index is written by the run that finds every file present.")
    private String ranks;

    @Option(names = "--no-verify-source", description = "Skip checking the source slices' CRC-32C before copying "
            + "(default: every slice read is checked first, so a corrupt source is an error, not copied).")
    private boolean noVerifySource;

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
        PrintWriter stdout = spec.commandLine().getOut();
        if (dryRun) {
            Migration m = java.nio.file.Files.isRegularFile(source) && source.toString().endsWith(".json")
                    ? CheckpointCommand.run(() -> Checkpoints.plan(CheckpointCommand.plan(source), target))
                    : CheckpointCommand.run(() -> Checkpoints.plan(source, target));
            ClusterSpec c = CheckpointCommand.run(() -> cluster(file, target.devices()));
            stdout.print(json ? Json.write(costJson(m, c)) : costText(m, c));
            stdout.flush();
            return Tessera.EXIT_OK;
        }
        if (out == null) {
            throw new InputException("--out: missing; give the target directory (or --dry-run to see the cost)");
        }
        CheckpointIndex index;
        try (ProgressOption.Handle p = progress.open(spec.commandLine().getErr(), "tessera checkpoint reshard")) {
            var options = CheckpointCommand.options(memoryLimit, parallel, ranks, p).withVerifySource(!noVerifySource);
            CheckpointCommand.requireSomeRank(options, ranks, target.devices());
            index = CheckpointCommand.run(() -> Checkpoints.reshard(source, target, out, options));
        }
        stdout.println(summary("resharded", index, out));
        stdout.flush();
        return Tessera.EXIT_OK;
    }

    private ClusterSpec cluster(StrategyFile file, int devices) {
        if (cluster != null) {
            return ClusterSpec.preset(cluster).withNodesFor(devices);
        }
        return StrategyPlans.cluster(file, devices)
                .orElse(ClusterSpec.preset(StrategyPlans.SEARCH_CLUSTER).withNodesFor(devices));
    }

    /** One line on what a command wrote: files, bytes and where, or which ranks still miss. */
    static String summary(String verb, CheckpointIndex index, Path dir) {
        if (index == null) {
            return verb + " the selected ranks into " + dir + "; " + CheckpointIndex.FILE_NAME + " is written by the "
                    + "run that finds every rank's file present (rerun without --ranks to finish)";
        }
        long bytes = 0;
        for (CheckpointIndex.FileSums s : index.sums().values()) {
            bytes += s.bytes();
        }
        return verb + " " + index.plan().network() + " (" + index.plan().devices() + " ranks, "
                + index.plan().pipelineStages() + (index.plan().pipelineStages() == 1 ? " stage" : " stages") + "): "
                + index.layout().files().size() + " files, " + CheckpointCommand.human(bytes) + " in " + dir;
    }

    private static String costText(Migration m, ClusterSpec c) {
        StringBuilder sb = new StringBuilder();
        Migration.FileMove big = m.largest();
        sb.append(String.format(Locale.ROOT, "migration: %d source files -> %d target files%n", m.sources().size(),
                m.files().size()));
        sb.append(String.format(Locale.ROOT, "  read and written: %s (%d bytes); from other ranks' files: %s%n",
                CheckpointCommand.human(m.bytesWritten()), m.bytesWritten(), CheckpointCommand.human(m.remoteBytes())));
        sb.append(String.format(Locale.ROOT, "  largest rank: %d reads %s from %d files%n", big.file().rank(),
                CheckpointCommand.human(big.bytesRead()), sourceFiles(big)));
        sb.append(String.format(Locale.ROOT, "  over the network instead of a shared filesystem (%s, %d devices per "
                + "node): %.3g s%n", c.name(), c.devicesPerNode(), m.networkSeconds(c)));
        List<Migration.FileMove> shown = m.files();
        if (shown.size() > TABLE_RANKS) {
            shown = new ArrayList<>(shown);
            shown.sort(Comparator.comparingLong(Migration.FileMove::bytesRead).reversed()
                    .thenComparingInt(f -> f.file().rank()));
            shown = shown.subList(0, TABLE_RANKS);
            sb.append(String.format(Locale.ROOT, "the %d ranks reading the most (--json lists all %d):%n",
                    TABLE_RANKS, m.files().size()));
        }
        sb.append(String.format(Locale.ROOT, "%6s %14s %14s %8s%n", "rank", "read", "remote", "sources"));
        for (Migration.FileMove f : shown) {
            sb.append(String.format(Locale.ROOT, "%6d %14s %14s %8d%n", f.file().rank(),
                    CheckpointCommand.human(f.bytesRead()), CheckpointCommand.human(f.remoteBytes()), sourceFiles(f)));
        }
        return sb.toString();
    }

    private static ObjectNode costJson(Migration m, ClusterSpec c) {
        ObjectNode o = Json.object();
        o.put("source_files", m.sources().size());
        o.put("target_files", m.files().size());
        o.put("bytes", m.bytesWritten());
        o.put("remote_bytes", m.remoteBytes());
        o.put("largest_rank", m.largest().file().rank());
        o.put("cluster", c.name());
        o.put("network_seconds", m.networkSeconds(c));
        ArrayNode ranks = o.putArray("ranks");
        for (Migration.FileMove f : m.files()) {
            ObjectNode r = ranks.addObject();
            r.put("rank", f.file().rank());
            r.put("file", f.file().file());
            r.put("bytes_read", f.bytesRead());
            r.put("bytes_written", f.bytesRead());
            r.put("remote_bytes", f.remoteBytes());
            r.put("source_files", sourceFiles(f));
        }
        return o;
    }

    private static int sourceFiles(Migration.FileMove f) {
        Set<Integer> s = new HashSet<>();
        f.pieces().forEach(p -> p.reads().forEach(r -> s.add(r.source())));
        return s.size();
    }
}
