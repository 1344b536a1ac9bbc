package io.tessera.planner.checkpoint;

import io.tessera.layout.Box;
import io.tessera.layout.DType;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.IntPredicate;
import java.util.zip.CRC32C;

/**
 * Executes a {@link Migration}: each selected target file is filled chunk by chunk through a direct buffer (so the
 * heap holds no tensor data), its entries' CRC-32C computed on the way, then committed by {@link RankFileWriter}
 * (force, re-read check, rename). Each worker hands its file's commit to a committer thread of its own and goes on
 * copying the next file meanwhile (at most one commit pending per worker, awaited before the next is handed over), so
 * the disk flush of one file overlaps the copy of the next; the commit needs only its 1 MiB re-read buffer.
 * Files already complete (final name, the expected header, the same origin) are kept, so a rerun resumes.
 */
final class MigrationRunner {

    /** Smallest buffer per worker, bytes. */
    static final int MIN_BUFFER = 64 << 10;
    /** Largest buffer per worker, bytes. */
    static final int MAX_BUFFER = 64 << 20;

    /** The default smallest run copied file to file in the kernel instead of through the buffer: 64 KiB. */
    static final long MIN_DIRECT_RUN = 64 << 10;

    /** The smallest run copied file to file in the kernel, bytes; tests set 1 (always) or Long.MAX_VALUE (never). */
    static volatile long directRunBytes = MIN_DIRECT_RUN;

    /** Tests set a tiny buffer (bytes, a multiple of 8) to exercise chunking on small tensors; 0 = computed. */
    static volatile int testBufferBytes;

    private final Migration migration;
    private final Path outDir;
    private final Map<String, String> metadata;
    private final CheckpointOptions options;
    private final boolean replace;
    /** The CRC-32C of each source file's entries (by source index, then entry), or null to skip the check. */
    private Map<Integer, Map<String, Integer>> sourceCrcs;
    private final Map<String, DType> dtypes = new HashMap<>();
    private final AtomicLong done = new AtomicLong();
    private long total;

    /**
     * A runner writing into {@code outDir}; with {@code replace}, existing files are always rewritten (a merge),
     * else complete ones are kept and ones written for something else are an error.
     */
    MigrationRunner(Migration migration, Path outDir, Map<String, String> metadata, CheckpointOptions options,
                    boolean replace) {
        this.migration = migration;
        this.replace = replace;
        this.outDir = outDir;
        this.metadata = Map.copyOf(metadata);
        this.options = options;
        for (CheckpointTensor t : migration.target().tensors()) {
            dtypes.put(t.name(), t.dtype());
        }
    }

    /**
     * Checks, before copying, every source entry the selected target files read against {@code crcs} (by source
     * index, then entry name) when the options ask for it.
     */
    MigrationRunner withSourceCrcs(Map<Integer, Map<String, Integer>> crcs) {
        this.sourceCrcs = crcs;
        return this;
    }

    /** The bytes of buffer each of {@code workers} workers gets under {@code memoryLimit}: half the limit, shared. */
    static int bufferBytes(long memoryLimit, int workers) {
        if (testBufferBytes > 0) {
            return testBufferBytes;
        }
        long b = memoryLimit / 2 / Math.max(1, workers);
        b = Math.max(MIN_BUFFER, Math.min(MAX_BUFFER, b));
        return (int) (b & ~4095L);
    }

    /**
     * Writes the target files whose rank {@code ranks} accepts (skipping complete ones).
     *
     * @return the size and checksums of every selected file, by file name
     */
    Map<String, CheckpointIndex.FileSums> run(IntPredicate ranks) {
        List<Migration.FileMove> todo = new ArrayList<>();
        for (Migration.FileMove m : migration.files()) {
            if (ranks.test(m.file().rank())) {
                todo.add(m);
                total += m.bytesRead();
            }
        }
        Map<Integer, SafeTensorsHeader> headers = new HashMap<>();
        Map<Integer, MappedFile> mapped = new HashMap<>();
        Map<String, CheckpointIndex.FileSums> out = new LinkedHashMap<>();
        int workers = Math.max(1, Math.min(options.parallelism(), todo.size()));
        ExecutorService pool = Executors.newFixedThreadPool(workers, r -> {
            Thread t = new Thread(r, "checkpoint-writer");
            t.setDaemon(true);
            return t;
        });
        ExecutorService committers = Executors.newFixedThreadPool(workers, r -> {
            Thread t = new Thread(r, "checkpoint-committer");
            t.setDaemon(true);
            return t;
        });
        try {
            for (Migration.FileMove m : todo) {
                for (Migration.PieceMove p : m.pieces()) {
                    for (Migration.Read r : p.reads()) {
                        if (!headers.containsKey(r.source())) {
                            Migration.SourceFile s = migration.sources().get(r.source());
                            headers.put(r.source(), SafeTensors.readHeader(s.path()));
                            mapped.put(r.source(), MappedFile.open(s.path()));
                        }
                    }
                }
            }
            for (Map.Entry<Integer, SafeTensorsHeader> e : headers.entrySet()) {
                checkSource(migration.sources().get(e.getKey()), e.getValue());
            }
            if (sourceCrcs != null && options.verifySource()) {
                verifySources(todo, headers, mapped);
            }
            try {
                Files.createDirectories(outDir); // only once the sources passed: bad input leaves nothing behind
            } catch (IOException e) {
                throw new CheckpointException(outDir + ": cannot create the directory (" + e.getMessage() + ")", e);
            }
            AtomicInteger next = new AtomicInteger();
            // no bigger than the largest entry: allocating (and zeroing) 64 MiB per run for small files dominates
            long largest = 8;
            for (Migration.FileMove m : todo) {
                for (Migration.PieceMove p : m.pieces()) {
                    largest = Math.max(largest, p.bytes());
                }
            }
            int bufferBytes = (int) Math.min(bufferBytes(options.memoryLimit(), workers), largest);
            Map<String, CheckpointIndex.FileSums> results = new java.util.concurrent.ConcurrentHashMap<>();
            List<Future<?>> futures = new ArrayList<>();
            for (int w = 0; w < workers; w++) {
                futures.add(pool.submit(() -> {
                    ByteBuffer buf = ByteBuffer.allocateDirect(bufferBytes);
                    Future<?> committing = null;
                    for (int i = next.getAndIncrement(); i < todo.size(); i = next.getAndIncrement()) {
                        Migration.FileMove m = todo.get(i);
                        String name = m.file().file();
                        Written written = writeOrKeep(m, headers, mapped, buf);
                        if (committing != null) {
                            await(committing);
                            committing = null;
                        }
                        if (written.kept() != null) {
                            results.put(name, written.kept());
                        } else if (Faults.active()) {
                            results.put(name, written.commit()); // a fixed order of fault points
                        } else {
                            committing = committers.submit(() -> {
                                results.put(name, written.commit());
                                return null;
                            });
                        }
                    }
                    if (committing != null) {
                        await(committing);
                    }
                    return null;
                }));
            }
            for (Future<?> f : futures) {
                await(f);
            }
            for (Migration.FileMove m : todo) {
                out.put(m.file().file(), results.get(m.file().file()));
            }
            return out;
        } finally {
            pool.shutdownNow();
            committers.shutdownNow();
            for (MappedFile f : mapped.values()) {
                f.close();
            }
        }
    }

    /** Checks the CRC-32C of every source entry that {@code todo} reads, each once. */
    private void verifySources(List<Migration.FileMove> todo, Map<Integer, SafeTensorsHeader> headers,
                               Map<Integer, MappedFile> mapped) {
        java.util.Set<String> done = new java.util.HashSet<>();
        for (Migration.FileMove m : todo) {
            for (Migration.PieceMove p : m.pieces()) {
                for (Migration.Read r : p.reads()) {
                    Map<String, Integer> crcs = sourceCrcs.get(r.source());
                    if (crcs == null || !done.add(r.source() + "\u0000" + r.entry())) {
                        continue;
                    }
                    SafeTensorsHeader h = headers.get(r.source());
                    SafeTensorsEntry e = h.entry(r.entry());
                    CRC32C crc = new CRC32C();
                    long at = h.dataStart() + e.begin();
                    for (long off = 0; off < e.bytes(); off += 256L << 20) {
                        mapped.get(r.source()).update(crc, at + off, (int) Math.min(256L << 20, e.bytes() - off));
                    }
                    Integer want = crcs.get(r.entry());
                    if (want != null && (int) crc.getValue() != want) {
                        throw new CheckpointException(migration.sources().get(r.source()).path() + ": entry '"
                                + r.entry() + "' has CRC-32C " + CheckpointIndex.hex((int) crc.getValue())
                                + " but the index says " + CheckpointIndex.hex(want) + "; the source is corrupt and "
                                + "nothing was copied ('tessera checkpoint verify' lists the checks)");
                    }
                }
            }
        }
    }

    private void checkSource(Migration.SourceFile s, SafeTensorsHeader h) {
        for (Piece p : s.layout().pieces()) {
            SafeTensorsEntry e = h.entry(p.name());
            if (e == null) {
                throw new CheckpointException(s.path() + ": has no entry '" + p.name() + "', which the checkpoint's "
                        + "index lists; the file does not belong to this checkpoint");
            }
            DType want = dtypes.get(p.tensor());
            if (want != null && e.dtype() != want) {
                throw new CheckpointException(s.path() + ": entry '" + p.name() + "' is " + e.dtype().jsonName()
                        + " but the index says " + want.jsonName() + "; the file does not belong to this checkpoint");
            }
            if (!Arrays.equals(e.shape(), p.shape())) {
                throw new CheckpointException(s.path() + ": entry '" + p.name() + "' has shape "
                        + Arrays.toString(e.shape()) + " but the index says " + Arrays.toString(p.shape())
                        + "; the file does not belong to this checkpoint");
            }
        }
    }

    /** Waits for {@code f}, rethrowing its failure as it was (I/O errors as a {@link CheckpointException}). */
    private void await(Future<?> f) {
        try {
            f.get();
        } catch (java.util.concurrent.ExecutionException e) {
            Throwable c = e.getCause();
            if (c instanceof RuntimeException re) {
                throw re;
            }
            if (c instanceof Error err) {
                throw err;
            }
            throw new CheckpointException("checkpoint " + outDir + ": cannot write (" + c.getMessage()
                    + "); check the directory's free space and permissions", c);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new CheckpointException("checkpoint: interrupted", e);
        }
    }

    /**
     * A target file after its data is written: either kept from an earlier run ({@code kept}) or written under its
     * temporary name and still to be committed ({@code writer} with the entries' {@code crcs}).
     */
    private record Written(CheckpointIndex.FileSums kept, RankFileWriter writer, Map<String, Integer> crcs) {

        /** Commits the written file (force, re-read check, rename) and closes it. */
        CheckpointIndex.FileSums commit() throws IOException {
            try (RankFileWriter w = writer) {
                return new CheckpointIndex.FileSums(w.commit(crcs), crcs);
            }
        }
    }

    /**
     * Keeps {@code m}'s file when complete, else writes its data under the temporary name; the caller commits it
     * (on another thread, so that the next file's copy overlaps this one's force and re-read).
     */
    private Written writeOrKeep(Migration.FileMove m, Map<Integer, SafeTensorsHeader> headers,
                                Map<Integer, MappedFile> mapped, ByteBuffer buf) throws IOException {
        Path target = outDir.resolve(m.file().file());
        CheckpointIndex.FileSums kept = replace ? null : complete(target, m.file(), dtypes, metadata);
        if (kept != null) {
            progress(m.bytesRead());
            return new Written(kept, null, null);
        }
        Map<String, Integer> crcs = new LinkedHashMap<>();
        RankFileWriter w = RankFileWriter.open(target, m.file().pieces(), dtypes, metadata);
        try {
            for (Migration.PieceMove p : m.pieces()) {
                crcs.put(p.piece().name(), copyPiece(p, w, headers, mapped, buf));
            }
        } catch (IOException | RuntimeException | Error e) {
            w.close();
            throw e;
        }
        return new Written(null, w, crcs);
    }

    /**
     * The sums of {@code target} when it is already complete: its header lists exactly {@code file}'s entries with
     * their dtypes and shapes, carries {@code metadata}'s origin, and the file has the size the header needs; null
     * when it does not exist.
     *
     * @throws CheckpointException when it exists but was written for something else
     */
    static CheckpointIndex.FileSums complete(Path target, RankFile file, Map<String, DType> dtypes,
                                             Map<String, String> metadata) {
        if (!Files.exists(target)) {
            return null;
        }
        SafeTensorsHeader h = SafeTensors.readHeader(target);
        SafeTensorsHeader expected = RankFileWriter.header(file.pieces(), dtypes, metadata, Map.of());
        boolean same = h.entries().size() == expected.entries().size()
                && metadata.getOrDefault(RankFileWriter.ORIGIN_KEY, "").equals(
                h.metadata().getOrDefault(RankFileWriter.ORIGIN_KEY, ""));
        for (int i = 0; same && i < h.entries().size(); i++) {
            SafeTensorsEntry a = h.entries().get(i);
            SafeTensorsEntry b = expected.entries().get(i);
            same = a.name().equals(b.name()) && a.dtype() == b.dtype() && Arrays.equals(a.shape(), b.shape())
                    && a.begin() == b.begin();
        }
        if (!same) {
            throw new CheckpointException(target + ": exists but holds other data than this command writes (another "
                    + "plan or source); write to an empty directory or delete the file");
        }
        Map<String, Integer> crcs = new LinkedHashMap<>();
        for (Piece p : file.pieces()) {
            String v = h.metadata().get(RankFileWriter.CRC_PREFIX + p.name());
            if (v == null || !v.matches("[0-9a-f]{8}")) {
                throw new CheckpointException(target + ": entry '" + p.name() + "' has no checksum in its header; "
                        + "delete the file and rerun");
            }
            crcs.put(p.name(), Integer.parseUnsignedInt(v, 16));
        }
        return new CheckpointIndex.FileSums(h.fileBytes(), crcs);
    }

    private int copyPiece(Migration.PieceMove p, RankFileWriter w, Map<Integer, SafeTensorsHeader> headers,
                          Map<Integer, MappedFile> mapped, ByteBuffer buf) throws IOException {
        CRC32C crc = new CRC32C();
        int e = p.dtype().bytes();
        Box box = p.piece().box();
        long base = w.offset(p.piece().name());
        for (Box chunk : chunks(box, e, buf.capacity())) {
            int bytes = (int) (chunk.volume() * e);
            if (transferDirectly(p, chunk, e, base + linear(box, chunk.start()) * e, w, headers, mapped, crc)) {
                Faults.point();
                progress(bytes);
                continue;
            }
            buf.clear();
            for (Migration.Read r : p.reads()) {
                Box part = r.part().intersect(chunk);
                if (part.isEmpty()) {
                    continue;
                }
                SafeTensorsHeader h = headers.get(r.source());
                long srcBase = h.dataStart() + h.entry(r.entry()).begin();
                copy(part, r.box(), srcBase, chunk, e, mapped.get(r.source()), buf);
            }
            buf.clear().limit(bytes);
            crc.update(buf);
            buf.clear().limit(bytes);
            w.write(buf, base + linear(box, chunk.start()) * e);
            progress(bytes);
        }
        return (int) crc.getValue();
    }

    /**
     * When every source part of {@code chunk} is one contiguous run of at least {@link #directRunBytes} bytes in
     * both its source entry and the chunk, copies them file to file inside the kernel
     * ({@link java.nio.channels.FileChannel#transferTo}, no copy through the buffer) in the chunk's order, adding
     * the source bytes to {@code crc} from the read-only mapping, and returns true; else does nothing and returns
     * false. (On the development machine a kernel copy writes the page cache several times faster than a write from
     * a Java buffer.) The commit's re-read still checks every written byte against {@code crc}.
     */
    private boolean transferDirectly(Migration.PieceMove p, Box chunk, int e, long position, RankFileWriter w,
                                     Map<Integer, SafeTensorsHeader> headers, Map<Integer, MappedFile> mapped,
                                     CRC32C crc) throws IOException {
        List<long[]> runs = new ArrayList<>();
        for (Migration.Read r : p.reads()) {
            Box part = r.part().intersect(chunk);
            if (part.isEmpty()) {
                continue;
            }
            long bytes = part.volume() * e;
            if (bytes < directRunBytes || bytes > mapped.get(r.source()).maxRunBytes()
                    || !contiguous(part, chunk) || !contiguous(part, r.box())) {
                return false;
            }
            SafeTensorsHeader h = headers.get(r.source());
            long src = h.dataStart() + h.entry(r.entry()).begin() + linear(r.box(), part.start()) * e;
            runs.add(new long[] {linear(chunk, part.start()) * e, src, bytes, r.source()});
        }
        runs.sort((a, b) -> Long.compare(a[0], b[0]));
        for (long[] run : runs) {
            MappedFile src = mapped.get((int) run[3]);
            src.update(crc, run[1], (int) run[2]);
            w.transfer(src, run[1], run[2], position + run[0]);
        }
        return true;
    }

    /** Whether region {@code part} of {@code box} is one contiguous range of {@code box}'s row-major order. */
    static boolean contiguous(Box part, Box box) {
        int n = part.rank();
        int k = n - 1;
        while (k > 0 && part.extent(k) == box.extent(k)) {
            k--;
        }
        for (int i = 0; i < k; i++) {
            if (part.extent(i) != 1) {
                return false;
            }
        }
        return true;
    }

    private void progress(long bytes) {
        long d = done.addAndGet(bytes);
        if (options.progress() != null) {
            options.progress().advance(d, total);
        }
    }

    /**
     * Splits {@code box} into sub-boxes of at most {@code cap} bytes, each contiguous in the box's row-major order,
     * in that order.
     */
    static List<Box> chunks(Box box, int elementBytes, long cap) {
        int n = box.rank();
        List<Box> out = new ArrayList<>();
        if (box.isEmpty()) {
            return out;
        }
        long[] suffix = new long[n + 1];
        suffix[n] = 1;
        for (int i = n - 1; i >= 0; i--) {
            suffix[i] = suffix[i + 1] * box.extent(i);
        }
        if (suffix[0] * elementBytes <= cap) {
            out.add(box);
            return out;
        }
        int d = 0;
        while (suffix[d + 1] * elementBytes > cap) {
            d++;
        }
        long step = Math.max(1, cap / (suffix[d + 1] * elementBytes));
        long[] idx = box.start();
        while (true) {
            for (long s = box.start(d); s < box.end(d); s += step) {
                long[] cs = box.start();
                long[] ce = box.end();
                for (int i = 0; i < d; i++) {
                    cs[i] = idx[i];
                    ce[i] = idx[i] + 1;
                }
                cs[d] = s;
                ce[d] = Math.min(box.end(d), s + step);
                out.add(Box.of(cs, ce));
            }
            int i = d - 1;
            while (i >= 0 && ++idx[i] == box.end(i)) {
                idx[i] = box.start(i);
                i--;
            }
            if (i < 0) {
                return out;
            }
        }
    }

    /** The row-major linear index of point {@code p} inside {@code box}. */
    static long linear(Box box, long[] p) {
        long v = 0;
        for (int i = 0; i < box.rank(); i++) {
            v = v * box.extent(i) + (p[i] - box.start(i));
        }
        return v;
    }

    /**
     * Copies region {@code part} from a source entry (row-major over {@code srcBox}, starting at file offset
     * {@code srcBase}) into {@code buf} (row-major over {@code chunk}, starting at index 0), in runs as long as both
     * layouts keep contiguous.
     */
    static void copy(Box part, Box srcBox, long srcBase, Box chunk, int e, MappedFile src, ByteBuffer buf) {
        int n = part.rank();
        if (n == 0) {
            src.copy(srcBase, buf, 0, e);
            return;
        }
        int k = n - 1;
        while (k > 0 && part.extent(k) == chunk.extent(k) && part.extent(k) == srcBox.extent(k)) {
            k--;
        }
        long run = 1;
        for (int i = k; i < n; i++) {
            run *= part.extent(i);
        }
        int runBytes = (int) (run * e);
        long[] p = part.start();
        while (true) {
            src.copy(srcBase + linear(srcBox, p) * e, buf, (int) (linear(chunk, p) * e), runBytes);
            int i = k - 1;
            while (i >= 0 && ++p[i] == part.end(i)) {
                p[i] = part.start(i);
                i--;
            }
            if (i < 0) {
                return;
            }
        }
    }
}
