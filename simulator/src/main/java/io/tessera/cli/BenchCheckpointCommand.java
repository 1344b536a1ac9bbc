package io.tessera.cli;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.tessera.bench.CheckpointBenchmark;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;

/**
 * {@code tessera bench checkpoint [--size-gib G] [--memory-limit M] [--parallel N] [--repeats N] [--dir DIR]
 * [--json]}: resharding
 * a sharded checkpoint between two 64-rank plans against a plain file copy of the same bytes
 * ({@link CheckpointBenchmark}).
 *
 * <p>Text output: one line per figure ({@code copy}, {@code reshard}, {@code ratio}, {@code peak heap}, ...). JSON
 * ({@code --json}) fields: {@code hidden}, {@code layers}, {@code ranks}, {@code source_plan}, {@code target_plan},
 * {@code source_files}, {@code target_files}, {@code source_file_bytes} (what the copy copies), {@code bytes} (the
 * target's data bytes: what the reshard reads and writes), {@code remote_bytes}, {@code memory_limit_bytes},
 * {@code parallel}, {@code repeats}, {@code save_seconds}, {@code copy_seconds}, {@code copy_mb_per_s}, {@code reshard_seconds},
 * {@code reshard_mb_per_s} (MB = 10^6 bytes), {@code ratio} (reshard / copy MB/s), {@code peak_heap_bytes} (sum of
 * the heap pools' peaks during the reshard), {@code heap_used_bytes}, {@code heap_max_bytes},
 * {@code peak_direct_bytes}, {@code within_memory_limit}, {@code page_cache}, {@code cores}. Progress lines go to
 * stderr.
 */
@Command(name = "checkpoint", mixinStandardHelpOptions = true,
        description = {"Benchmarks checkpoint resharding: writes a sharded checkpoint of about --size-gib GiB of "
                + "float32 gpt parameters under a 64-rank plan (tensor 8 x data 8, ZeRO-3: each parameter stored "
                + "once), then times (a) a plain copy of its files (FileChannel.transferTo, forced to disk) and (b) "
                + "'checkpoint reshard' to a second 64-rank plan (tensor 4 x pipeline 2 x data 8, ZeRO-3) under "
                + "--memory-limit, both on the same warm page cache (best of --repeats alternating rounds). Prints MB/s (10^6 bytes/s) of each, their "
                + "ratio (goal: at least 0.5), the reshard's peak heap (sum of the heap pools' peaks) and peak "
                + "direct-buffer memory against the limit. Needs three times the size free under --dir; everything "
                + "is written under a fresh subdirectory, deleted at the end.",
                "Prints text, or JSON with --json; progress lines on stderr."})
public final class BenchCheckpointCommand implements Callable<Integer> {

    private static final double MAX_GIB = 64;

    @Spec
    private CommandSpec spec;

    @Option(names = "--size-gib", paramLabel = "G", defaultValue = "2",
            description = "Parameter bytes of the checkpoint, GiB (default: ${DEFAULT-VALUE}; e.g. 0.01 for a "
                    + "quick run).")
    private double sizeGib;

    @Option(names = "--memory-limit", paramLabel = "BYTES", defaultValue = "256M",
            description = "The reshard's --memory-limit (default: ${DEFAULT-VALUE}).")
    private String memoryLimit;

    @Option(names = "--parallel", paramLabel = "N", defaultValue = "1",
            description = "The reshard's --parallel: files written at once (default: ${DEFAULT-VALUE}).")
    private int parallel;

    @Option(names = "--repeats", paramLabel = "N", defaultValue = "1",
            description = "Timed rounds, alternating copy and reshard; the best of each is reported (default: "
                    + "${DEFAULT-VALUE}).")
    private int repeats;

    @Option(names = "--dir", paramLabel = "DIR",
            description = "Where the temporary subdirectory is created (default: java.io.tmpdir).")
    private Path dir;

    @Option(names = "--json", description = "Print the figures as JSON.")
    private boolean json;

    /** Runs the benchmark and prints the figures. */
    @Override
    public Integer call() {
        if (!(sizeGib > 0 && sizeGib <= MAX_GIB)) {
            throw new InputException("--size-gib: found " + sizeGib + "; expected a size in (0, " + (int) MAX_GIB
                    + "] GiB, e.g. 2");
        }
        Path where = dir != null ? dir : Path.of(System.getProperty("java.io.tmpdir"));
        CheckpointBenchmark.Config config;
        try {
            config = new CheckpointBenchmark.Config(Math.round(sizeGib * (1L << 30)),
                    CheckpointCommand.bytes("--memory-limit", memoryLimit), parallel, repeats, where);
        } catch (IllegalArgumentException e) {
            throw new InputException(e.getMessage(), e);
        }
        PrintWriter err = spec.commandLine().getErr();
        CheckpointBenchmark.Figures f;
        try {
            f = CheckpointCommand.run(() -> CheckpointBenchmark.run(config, line -> {
                err.println("tessera bench checkpoint: " + line);
                err.flush();
            }));
        } catch (UncheckedIOException e) {
            throw new InputException("--dir " + where + ": " + e.getMessage() + " (" + e.getCause().getMessage()
                    + "); the benchmark needs three times --size-gib free", e);
        }
        PrintWriter out = spec.commandLine().getOut();
        out.print(json ? Json.write(toJson(f)) : text(f));
        out.flush();
        return Tessera.EXIT_OK;
    }

    static ObjectNode toJson(CheckpointBenchmark.Figures f) {
        ObjectNode o = Json.object();
        o.put("hidden", f.hidden());
        o.put("layers", f.layers());
        o.put("ranks", f.ranks());
        o.put("source_plan", f.sourcePlan());
        o.put("target_plan", f.targetPlan());
        o.put("source_files", f.sourceFiles());
        o.put("target_files", f.targetFiles());
        o.put("source_file_bytes", f.sourceFileBytes());
        o.put("bytes", f.bytes());
        o.put("remote_bytes", f.remoteBytes());
        o.put("memory_limit_bytes", f.memoryLimit());
        o.put("parallel", f.parallelism());
        o.put("repeats", f.repeats());
        o.put("save_seconds", f.saveSeconds());
        o.put("copy_seconds", f.copySeconds());
        o.put("copy_mb_per_s", f.copyMbPerSecond());
        o.put("reshard_seconds", f.reshardSeconds());
        o.put("reshard_mb_per_s", f.reshardMbPerSecond());
        o.put("ratio", f.ratio());
        o.put("peak_heap_bytes", f.peakHeapBytes());
        o.put("heap_used_bytes", f.heapUsedBytes());
        o.put("heap_max_bytes", f.heapMaxBytes());
        o.put("peak_direct_bytes", f.peakDirectBytes());
        o.put("within_memory_limit", f.withinMemoryLimit());
        o.put("page_cache", f.pageCache());
        o.put("cores", f.cores());
        return o;
    }

    static String text(CheckpointBenchmark.Figures f) {
        StringBuilder sb = new StringBuilder();
        sb.append(String.format(Locale.ROOT, "tessera bench checkpoint: gpt (%d layers, hidden %d), %d ranks, %d "
                + "cores%n", f.layers(), f.hidden(), f.ranks(), f.cores()));
        sb.append(String.format(Locale.ROOT, "  source  %s: %d files, %.1f MB (written in %.2f s)%n",
                f.sourcePlan(), f.sourceFiles(), f.sourceFileBytes() / 1e6, f.saveSeconds()));
        sb.append(String.format(Locale.ROOT, "  target  %s: %d files, %.1f MB, %.1f MB from other ranks' files%n",
                f.targetPlan(), f.targetFiles(), f.bytes() / 1e6, f.remoteBytes() / 1e6));
        String best = f.repeats() == 1 ? "" : ", best of " + f.repeats();
        sb.append(String.format(Locale.ROOT, "  copy    %8.1f MB/s  (%.2f s%s)%n", f.copyMbPerSecond(),
                f.copySeconds(), best));
        sb.append(String.format(Locale.ROOT, "  reshard %8.1f MB/s  (%.2f s%s, memory limit %s, %d at once)%n",
                f.reshardMbPerSecond(), f.reshardSeconds(), best, CheckpointCommand.human(f.memoryLimit()),
                f.parallelism()));
        sb.append(String.format(Locale.ROOT, "  ratio   %.2f of copy throughput (goal: at least 0.50)%n", f.ratio()));
        sb.append(String.format(Locale.ROOT, "  peak heap %s, heap used after %s, max heap %s; peak direct buffers "
                        + "%s: %s the memory limit%n", CheckpointCommand.human(f.peakHeapBytes()),
                CheckpointCommand.human(f.heapUsedBytes()),
                f.heapMaxBytes() < 0 ? "undefined" : CheckpointCommand.human(f.heapMaxBytes()),
                CheckpointCommand.human(f.peakDirectBytes()), f.withinMemoryLimit() ? "within" : "ABOVE"));
        sb.append("  page cache: ").append(f.pageCache()).append(System.lineSeparator());
        return sb.toString();
    }
}
