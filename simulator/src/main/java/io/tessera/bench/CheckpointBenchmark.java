package io.tessera.bench;

import io.tessera.layout.DType;
import io.tessera.layout.tensor.Tensor;
import io.tessera.planner.api.StrategyPlans;
import io.tessera.planner.checkpoint.CheckpointIndex;
import io.tessera.planner.checkpoint.CheckpointLayout;
import io.tessera.planner.checkpoint.CheckpointOptions;
import io.tessera.planner.checkpoint.Checkpoints;
import io.tessera.planner.checkpoint.Migration;
import io.tessera.planner.checkpoint.RankFile;
import io.tessera.planner.plan.PipelinePlan;
import io.tessera.planner.strategy.StrategyCheckpoints;
import io.tessera.planner.strategy.StrategyFiles;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.management.BufferPoolMXBean;
import java.lang.management.ManagementFactory;
import java.lang.management.MemoryPoolMXBean;
import java.lang.management.MemoryType;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;
import java.util.stream.Stream;

/**
 * The checkpoint resharding benchmark of issue 16: a sharded checkpoint of about {@code size} bytes of float32
 * parameters of the zoo {@code gpt} (8 layers, width chosen for the size) under a 64-rank plan (tensor 8 x data 8,
 * ZeRO-3: every parameter sharded over its data group, so the checkpoint holds each parameter once) is written,
 * then (a) its files are copied to another directory and forced to disk (a plain file copy of the same bytes) and
 * (b) it is resharded with {@link Checkpoints#reshard} to a second 64-rank plan (tensor 4 x pipeline 2 x data 8,
 * ZeRO-3), which moves nearly every byte to another rank's file. Both are timed on the same warm page cache (the
 * source was just written; nothing is dropped), the best of {@code repeats} alternating rounds. The peak heap of the reshard is the sum of the heap pools' peak
 * usage (reset just before it); the peak direct-buffer memory is sampled at every progress report. Everything is
 * created under a fresh subdirectory of {@code dir}, deleted at the end.
 */
public final class CheckpointBenchmark {

    /** The parameter-count multiple of the gpt's width, so every degree of both plans divides every dimension. */
    static final int WIDTH_STEP = 128;
    /** The gpt's layers (the pipeline of plan B divides them). */
    static final int LAYERS = 8;
    /** The plan the source checkpoint is saved under. */
    static final String SOURCE_PLAN = "tensor 8 x data 8, zero_stage 3";
    /** The plan the source is resharded to. */
    static final String TARGET_PLAN = "tensor 4 x pipeline 2 x data 8, zero_stage 3";

    private CheckpointBenchmark() {
    }

    /**
     * What to run.
     *
     * @param sizeBytes   the parameter bytes aimed at (the gpt's width is rounded to a multiple of 128, so the
     *                    actual size is within a few percent for sizes of 100 MB and up); at least 1
     * @param memoryLimit the reshard's {@link CheckpointOptions#memoryLimit()}, bytes
     * @param parallelism the reshard's files written at once
     * @param repeats     timed rounds (a copy, then a reshard, each into an emptied directory); the best of each is
     *                    reported
     * @param dir         the directory a fresh, temporary subdirectory is created in
     */
    public record Config(long sizeBytes, long memoryLimit, int parallelism, int repeats, Path dir) {

        /** Validates. */
        public Config {
            if (sizeBytes < 1) {
                throw new IllegalArgumentException("--size-gib: found " + sizeBytes + " bytes; expected a positive "
                        + "size such as 2 (GiB)");
            }
            new CheckpointOptions(memoryLimit, parallelism, r -> true, null);
            if (repeats < 1 || repeats > 100) {
                throw new IllegalArgumentException("--repeats: found " + repeats + "; expected 1 to 100 timed rounds");
            }
            if (dir == null) {
                throw new IllegalArgumentException("--dir: missing; expected a directory for the temporary files");
            }
        }
    }

    /**
     * The measured figures. Throughputs are in MB/s (10^6 bytes per second).
     *
     * @param hidden             the gpt's width
     * @param layers             the gpt's layers
     * @param ranks              ranks of each plan
     * @param sourcePlan         the source plan, in words
     * @param targetPlan         the target plan, in words
     * @param sourceFiles        rank files of the source
     * @param targetFiles        rank files of the target
     * @param sourceFileBytes    bytes of the source's rank files (headers included): what the copy copies
     * @param bytes              data bytes of the target's rank files: what the reshard reads and writes
     * @param remoteBytes        of those, bytes that move to another rank's file
     * @param memoryLimit        the reshard's memory limit, bytes
     * @param parallelism        the reshard's files written at once
     * @param saveSeconds        seconds to write the source (not part of the comparison)
     * @param repeats            timed rounds; the seconds are the best of them, the memory the largest
     * @param copySeconds        seconds of the plain copy (copy every file, force it to disk)
     * @param copyMbPerSecond    {@code sourceFileBytes / copySeconds / 1e6}
     * @param reshardSeconds     seconds of {@link Checkpoints#reshard} (plan, copy, force, re-read check, rename,
     *                           index)
     * @param reshardMbPerSecond {@code bytes / reshardSeconds / 1e6}
     * @param ratio              {@code reshardMbPerSecond / copyMbPerSecond}
     * @param peakHeapBytes      the sum of the heap pools' peak usage during the reshard
     * @param heapUsedBytes      the heap in use right after the reshard (MemoryMXBean)
     * @param heapMaxBytes       the JVM's maximum heap ({@code -Xmx}), or -1 when undefined
     * @param peakDirectBytes    the largest direct-buffer memory sampled during the reshard
     * @param pageCache          the page-cache state both timings ran on
     * @param cores              the processors the JVM sees
     */
    public record Figures(int hidden, int layers, int ranks, String sourcePlan, String targetPlan, int sourceFiles,
                          int targetFiles, long sourceFileBytes, long bytes, long remoteBytes, long memoryLimit,
                          int parallelism, int repeats, double saveSeconds, double copySeconds, double copyMbPerSecond,
                          double reshardSeconds, double reshardMbPerSecond, double ratio, long peakHeapBytes,
                          long heapUsedBytes, long heapMaxBytes, long peakDirectBytes, String pageCache, int cores) {

        /** Whether the reshard's peak heap and peak direct memory each stayed within the memory limit. */
        public boolean withinMemoryLimit() {
            return peakHeapBytes <= memoryLimit && peakDirectBytes <= memoryLimit;
        }
    }

    /** The gpt width whose parameters come closest to {@code sizeBytes} of float32 (a multiple of 128, at least 128). */
    static int hiddenFor(long sizeBytes) {
        // 8 layers of 12 h^2 + embedding and head of 2 h x h each (vocab = 2 h): about 100 h^2 elements, 400 h^2 bytes
        double h = Math.sqrt(sizeBytes / 400.0);
        return (int) Math.max(WIDTH_STEP, Math.round(h / WIDTH_STEP) * WIDTH_STEP);
    }

    /**
     * The strategy file (JSON) of the benchmark's gpt of width {@code hidden} (8 layers, 16 heads, sequence 64,
     * vocabulary {@code 2 * hidden}, float32) on {@code tensor * pipeline * data} devices under those degrees, ZeRO-3.
     */
    public static String strategy(int hidden, int tensor, int pipeline, int data) {
        return String.format(Locale.ROOT, "{\"network\": {\"zoo\": \"gpt\", \"args\": {\"layers\": %d, \"hidden\": %d, "
                        + "\"heads\": 16, \"seq\": 64, \"vocab\": %d}}, \"devices\": %d, \"parallelism\": {\"tensor\": %d, "
                        + "\"pipeline\": %d, \"data\": %d, \"micro_batch_size\": 1, \"global_batch_size\": %d, "
                        + "\"zero_stage\": 3}}", LAYERS, hidden, 2 * hidden, tensor * pipeline * data, tensor,
                pipeline, data, pipeline * data);
    }

    /** The pipeline plan of {@link #strategy}. */
    static PipelinePlan plan(int hidden, int tensor, int pipeline, int data) {
        return StrategyPlans.pipelinePlan(StrategyFiles.parse(strategy(hidden, tensor, pipeline, data), Path.of(".")),
                null);
    }

    /**
     * Runs the benchmark, reporting each phase on {@code log}.
     *
     * @throws UncheckedIOException on I/O errors (e.g. no space left: the run needs three times the size)
     */
    public static Figures run(Config config, Consumer<String> log) {
        int hidden = hiddenFor(config.sizeBytes());
        log.accept(String.format(Locale.ROOT, "planning gpt (%d layers, hidden %d) under %s and %s", LAYERS, hidden,
                SOURCE_PLAN, TARGET_PLAN));
        PipelinePlan a = plan(hidden, 8, 1, 8);
        PipelinePlan b = plan(hidden, 4, 2, 8);
        Path root;
        try {
            Files.createDirectories(config.dir());
            root = Files.createTempDirectory(config.dir(), "tessera-bench-checkpoint-");
        } catch (IOException e) {
            throw new UncheckedIOException(config.dir() + ": cannot create the benchmark's directory", e);
        }
        try {
            return run(config, hidden, a, b, root, log);
        } finally {
            deleteTree(root);
        }
    }

    private static Figures run(Config config, int hidden, PipelinePlan a, PipelinePlan b, Path root,
                               Consumer<String> log) {
        Path source = root.resolve("source");
        Path copy = root.resolve("copy");
        Path target = root.resolve("target");
        CheckpointLayout layout = CheckpointLayout.of(a, false);
        long dataBytes = 0;
        for (RankFile f : layout.files()) {
            dataBytes += layout.dataBytes(f);
        }
        log.accept(String.format(Locale.ROOT, "[1/3] writing the source checkpoint: %d files, %.1f MB (not timed)",
                layout.files().size(), dataBytes / 1e6));
        CheckpointIndex.PlanInfo info = new CheckpointIndex.PlanInfo(a.plan().network().name(), a.devices(),
                a.stages(), a.plan().config().optimizer().jsonName(), false,
                StrategyCheckpoints.write(StrategyPlans.checkpoint(a)));
        long t0 = System.nanoTime();
        Checkpoints.save(layout, info, CheckpointBenchmark::filler, "bench " + hidden, source,
                CheckpointOptions.DEFAULTS);
        double saveSeconds = seconds(t0);

        Migration m = Checkpoints.plan(source, b);
        BufferPoolMXBean direct = ManagementFactory.getPlatformMXBeans(BufferPoolMXBean.class).stream()
                .filter(p -> p.getName().equals("direct")).findFirst().orElse(null);
        AtomicLong peakDirect = new AtomicLong(direct == null ? 0 : direct.getMemoryUsed());
        CheckpointOptions options = new CheckpointOptions(config.memoryLimit(), config.parallelism(), r -> true,
                (done, total) -> {
                    if (direct != null) {
                        peakDirect.accumulateAndGet(direct.getMemoryUsed(), Math::max);
                    }
                });
        List<MemoryPoolMXBean> heap = ManagementFactory.getMemoryPoolMXBeans().stream()
                .filter(p -> p.getType() == MemoryType.HEAP).toList();
        long sourceFileBytes = 0;
        double copySeconds = Double.MAX_VALUE;
        double reshardSeconds = Double.MAX_VALUE;
        long peakHeap = 0;
        long heapUsed = 0;
        for (int rep = 1; rep <= config.repeats(); rep++) {
            String of = config.repeats() == 1 ? "" : String.format(Locale.ROOT, " (%d of %d)", rep, config.repeats());
            log.accept("[2/3] plain copy of the source files (copy, force each to disk), warm page cache" + of);
            t0 = System.nanoTime();
            sourceFileBytes = copyAll(source, copy, layout);
            copySeconds = Math.min(copySeconds, seconds(t0));
            deleteTree(copy);
            log.accept(String.format(Locale.ROOT, "[3/3] reshard to %s: %.1f MB, %.1f MB to other ranks, memory "
                    + "limit %d MiB, %d at once, warm page cache%s", TARGET_PLAN, m.bytesWritten() / 1e6,
                    m.remoteBytes() / 1e6, config.memoryLimit() >> 20, config.parallelism(), of));
            System.gc();
            heap.forEach(MemoryPoolMXBean::resetPeakUsage);
            t0 = System.nanoTime();
            Checkpoints.reshard(source, b, target, options);
            reshardSeconds = Math.min(reshardSeconds, seconds(t0));
            peakHeap = Math.max(peakHeap, heap.stream().mapToLong(p -> p.getPeakUsage().getUsed()).sum());
            heapUsed = Math.max(heapUsed, ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getUsed());
            deleteTree(target);
        }
        long heapMax = ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getMax();
        double copyMbs = sourceFileBytes / copySeconds / 1e6;
        double reshardMbs = m.bytesWritten() / reshardSeconds / 1e6;
        return new Figures(hidden, LAYERS, a.devices(), SOURCE_PLAN, TARGET_PLAN, layout.files().size(),
                m.files().size(), sourceFileBytes, m.bytesWritten(), m.remoteBytes(), config.memoryLimit(),
                config.parallelism(), config.repeats(), saveSeconds, copySeconds, copyMbs, reshardSeconds, reshardMbs,
                reshardMbs / copyMbs, peakHeap, heapUsed, heapMax, peakDirect.get(),
                "warm: the source was just written and nothing was dropped (both timings read it from memory)",
                Runtime.getRuntime().availableProcessors());
    }

    /** Deterministic pseudo-random float32 values in [-1, 1) for one piece of one rank (cheap: a 64-bit mix). */
    static Tensor filler(int rank, io.tessera.planner.checkpoint.Piece piece) {
        long seed = (piece.name().hashCode() * 0x9E3779B97F4A7C15L) ^ ((long) rank << 40);
        return Tensor.fromFunction(DType.FLOAT32, piece.shape(), i -> {
            long z = seed + i * 0xBF58476D1CE4E5B9L;
            z = (z ^ (z >>> 31)) * 0x94D049BB133111EBL;
            return ((z >>> 40) - (1 << 23)) / (double) (1 << 23);
        });
    }

    /** Copies every rank file of checkpoint {@code from} to {@code to}, each forced to disk; returns the bytes. */
    private static long copyAll(Path from, Path to, CheckpointLayout layout) {
        long bytes = 0;
        try {
            Files.createDirectories(to);
            for (RankFile f : layout.files()) {
                bytes += copy(from.resolve(f.file()), to.resolve(f.file()));
            }
        } catch (IOException e) {
            throw new UncheckedIOException(to + ": cannot copy the checkpoint", e);
        }
        return bytes;
    }

    private static long copy(Path from, Path to) throws IOException {
        try (FileChannel in = FileChannel.open(from, StandardOpenOption.READ);
             FileChannel out = FileChannel.open(to, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                     StandardOpenOption.TRUNCATE_EXISTING)) {
            long size = in.size();
            long done = 0;
            while (done < size) {
                done += in.transferTo(done, size - done, out);
            }
            out.force(true);
            return size;
        }
    }

    private static double seconds(long t0) {
        return (System.nanoTime() - t0) / 1e9;
    }

    private static void deleteTree(Path root) {
        if (!Files.exists(root)) {
            return;
        }
        try (Stream<Path> s = Files.walk(root)) {
            for (Path p : s.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        } catch (IOException e) {
            throw new UncheckedIOException(root + ": cannot delete the benchmark's files; delete the directory", e);
        }
    }
}
