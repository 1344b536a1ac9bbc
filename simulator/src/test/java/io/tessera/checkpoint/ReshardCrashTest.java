package io.tessera.checkpoint;

import io.tessera.cli.Tessera;
import io.tessera.planner.api.StrategyPlans;
import io.tessera.planner.checkpoint.CheckpointOptions;
import io.tessera.planner.checkpoint.Checkpoints;
import io.tessera.planner.checkpoint.Migration;
import io.tessera.planner.plan.PipelinePlan;
import io.tessera.planner.strategy.StrategyFile;
import io.tessera.planner.strategy.StrategyFiles;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Crash safety of {@code tessera checkpoint reshard} (issue 16, "nothing lost, ever"): child JVMs are halted at 20
 * seeded progress points ({@code -Dtessera.checkpoint.haltAt=N}, exit 137 as after {@code kill -9}), covering every
 * kind of point (a chunk written, a file committed, a rename, the index written); after each, the source is
 * byte-identical, exactly the files renamed before the halt exist under their final names, there is no index unless
 * it was written, and a rerun resumes (keeping the completed files, not rewriting them) to output byte-identical to
 * an uninterrupted run. Also real {@code SIGKILL}s of a bigger run, a run killed twice before it is resumed, and two
 * processes writing disjoint {@code --ranks} into one directory at once. The seed is printed; {@code -Dtessera.seed=N}
 * replays one.
 */
class ReshardCrashTest {

    private static final long SEED = Long.getLong("tessera.seed", 20261203L);
    private static final Path SOURCE_STRATEGY = Path.of("../strategies/gpt-optimizer-parallel.json");
    private static final Path TARGET_STRATEGY = Path.of("../strategies/gpt-megatron-tp4-dp2.json");
    /** The smallest memory limit: 512 KiB of buffer, so every entry of the small checkpoint is one chunk. */
    private static final String MEMORY_LIMIT = "1M";
    private static final int BUFFER_BYTES = 512 << 10;
    /** A hang guard for one child process only; no speed is asserted. */
    private static final long CHILD_TIMEOUT_SECONDS = 180;

    /** The kinds of progress points, in the order a file passes them. */
    enum Kind { CHUNK, COMMIT, RENAME, INDEX }

    /** A progress point of an uninterrupted run: its kind and the target file it belongs to (-1 for the index). */
    record Point(int number, Kind kind, int file) {
    }

    @TempDir
    static Path tmp;

    private static Path source;
    private static Path reference;
    private static Map<String, String> sourceHashes;
    private static List<Point> points;
    private static List<String> targetFiles;

    @BeforeAll
    static void setUp() throws IOException {
        System.out.println("ReshardCrashTest seed " + SEED + " (replay with -Dtessera.seed=" + SEED + ")");
        source = tmp.resolve("source");
        StrategyFile file = StrategyFiles.read(SOURCE_STRATEGY);
        assertNotNull(Checkpoints.save(file, 1234, source, CheckpointOptions.DEFAULTS));
        sourceHashes = hashes(source);
        PipelinePlan target = StrategyPlans.pipelinePlan(StrategyFiles.read(TARGET_STRATEGY), null);
        reference = tmp.resolve("reference");
        assertNotNull(Checkpoints.reshard(source, target, reference, CheckpointOptions.DEFAULTS));
        // the progress points of one uninterrupted run, one writer: per target file one chunk per entry (each
        // entry fits the buffer), its commit and its rename; then the index
        Migration m = Checkpoints.plan(source, target);
        points = new ArrayList<>();
        targetFiles = new ArrayList<>();
        for (int f = 0; f < m.files().size(); f++) {
            Migration.FileMove move = m.files().get(f);
            targetFiles.add(move.file().file());
            for (Migration.PieceMove p : move.pieces()) {
                assertTrue(p.bytes() > 0 && p.bytes() <= BUFFER_BYTES, "one chunk per entry: " + p.bytes());
                points.add(new Point(points.size() + 1, Kind.CHUNK, f));
            }
            points.add(new Point(points.size() + 1, Kind.COMMIT, f));
            points.add(new Point(points.size() + 1, Kind.RENAME, f));
        }
        points.add(new Point(points.size() + 1, Kind.INDEX, -1));
        assertTrue(points.size() >= 40, "enough points to choose from: " + points.size());
        assertEquals(hashes(reference).keySet(), new java.util.TreeSet<>(withIndex(targetFiles)));
    }

    private static List<String> withIndex(List<String> files) {
        List<String> out = new ArrayList<>(files);
        out.add("index.json");
        return out;
    }

    // ------------------------------------------------------------------ halts at seeded points

    @Test
    void haltedAtTwentySeededPointsEveryRunResumesToTheSameBytes() throws Exception {
        List<Point> chosen = choose(new Random(SEED));
        assertEquals(20, chosen.size());
        for (Kind k : Kind.values()) {
            assertTrue(chosen.stream().anyMatch(p -> p.kind() == k), "a halt at a " + k + " point");
        }
        // two children at a time (each writes its own directory), then each checked and resumed in this JVM
        Map<Integer, Child> started = new TreeMap<>();
        for (int i = 0; i < chosen.size(); i++) {
            Point p = chosen.get(i);
            if (i % 2 == 0) {
                for (Point q : chosen.subList(i, Math.min(i + 2, chosen.size()))) {
                    Path o = tmp.resolve("halt-" + q.number());
                    started.put(q.number(), child(o, q.number(), reshardArgs(o)));
                }
            }
            String what = "halt at point " + p + " of " + points.size() + " (seed " + SEED + ")";
            Path out = tmp.resolve("halt-" + p.number());
            Child c = started.get(p.number());
            assertEquals(137, c.waitFor(), what + ": exit code\n" + c.output());
            assertEquals(sourceHashes, hashes(source), what + ": the source is untouched");
            // exactly the files renamed before the halt are there under their final names
            List<String> finals = new ArrayList<>();
            for (Point q : points) {
                if (q.kind() == Kind.RENAME && q.number() <= p.number()) {
                    finals.add(targetFiles.get(q.file()));
                }
            }
            if (p.kind() == Kind.INDEX) {
                finals.add("index.json");
            }
            List<String> present = new ArrayList<>();
            for (String f : names(out)) {
                if (!f.contains(".tmp-")) {
                    present.add(f);
                }
            }
            Collections.sort(finals);
            assertEquals(finals, present, what + ": the final files");
            boolean temp = names(out).stream().anyMatch(n -> n.contains(".tmp-"));
            assertEquals(p.kind() == Kind.CHUNK || p.kind() == Kind.COMMIT, temp,
                    what + ": a temporary file is left exactly when a file was being written: " + names(out));
            Map<String, Object> keys = fileKeys(out);
            assertEquals(0, resume(out), what + ": the rerun");
            assertEquals(hashes(reference), hashes(out), what + ": the resumed output equals an uninterrupted run");
            Map<String, Object> after = fileKeys(out);
            for (String f : finals) {
                if (!f.equals("index.json")) {
                    assertEquals(keys.get(f), after.get(f), what + ": " + f + " was kept, not rewritten");
                }
            }
            assertEquals(sourceHashes, hashes(source), what + ": the source is untouched");
        }
    }

    /** 20 distinct points: the index, 4 commits, 4 renames and 11 chunks, drawn with {@code r}. */
    private static List<Point> choose(Random r) {
        List<Point> out = new ArrayList<>();
        Map<Kind, Integer> want = Map.of(Kind.INDEX, 1, Kind.COMMIT, 4, Kind.RENAME, 4, Kind.CHUNK, 11);
        for (Kind k : Kind.values()) {
            List<Point> of = new ArrayList<>(points.stream().filter(p -> p.kind() == k).toList());
            Collections.shuffle(of, r);
            out.addAll(of.subList(0, want.get(k)));
        }
        out.sort((a, b) -> Integer.compare(a.number(), b.number()));
        return out;
    }

    @Test
    void aRunHaltedTwiceBeforeItIsResumedEndsTheSame() throws Exception {
        Random r = new Random(SEED + 1);
        Path out = tmp.resolve("twice");
        // the first halt leaves at least two files to write: the second run has a file's points to halt in
        int firstLimit = points.stream().filter(p -> p.kind() == Kind.RENAME).skip(targetFiles.size() - 3)
                .findFirst().orElseThrow().number();
        int first = 1 + r.nextInt(firstLimit);
        int perFile = (points.size() - 1) / targetFiles.size();
        int second = 1 + r.nextInt(perFile);
        String what = "halts at " + first + " (two writers) then " + second + " (seed " + SEED + ")";
        List<String> parallel = new ArrayList<>(reshardArgs(out));
        parallel.addAll(List.of("--parallel", "2"));
        Child c = child(out, first, parallel);
        assertEquals(137, c.waitFor(), what + "\n" + c.output());
        c = child(out, second, reshardArgs(out));
        assertEquals(137, c.waitFor(), what + "\n" + c.output());
        assertFalse(Files.exists(out.resolve("index.json")), what);
        // what a SIGKILL between writing the index's temporary file and renaming it leaves (a dead process's)
        Path staleIndex = out.resolve("index.json.tmp-" + c.process().pid());
        Files.writeString(staleIndex, "{");
        Files.setLastModifiedTime(staleIndex, java.nio.file.attribute.FileTime.fromMillis(
                System.currentTimeMillis() - 3_600_000));
        assertEquals(sourceHashes, hashes(source), what);
        assertEquals(0, resume(out), what);
        assertEquals(hashes(reference), hashes(out), what);
    }

    // ------------------------------------------------------------------ real kills

    @Test
    void sigkilledRunsOfABiggerCheckpointResumeToTheSameBytes() throws Exception {
        // the same two plans at hidden 256: 7 MiB in, 13.5 MiB out, so a run is under way when it is killed
        Path s = bigger(SOURCE_STRATEGY, "big-source.json");
        Path t = bigger(TARGET_STRATEGY, "big-target.json");
        Path src = tmp.resolve("big");
        assertNotNull(Checkpoints.save(StrategyFiles.read(s), 7, src, CheckpointOptions.DEFAULTS));
        Map<String, String> srcHashes = hashes(src);
        PipelinePlan target = StrategyPlans.pipelinePlan(StrategyFiles.read(t), null);
        Path ref = tmp.resolve("big-reference");
        assertNotNull(Checkpoints.reshard(src, target, ref, CheckpointOptions.DEFAULTS));
        Map<String, String> refHashes = hashes(ref);
        Random r = new Random(SEED + 2);
        for (int run = 0; run < 2; run++) {
            Path out = tmp.resolve("killed-" + run);
            List<String> args = List.of("checkpoint", "reshard", src.toString(), "--to", t.toString(), "--out",
                    out.toString(), "--progress", "none", "--memory-limit", MEMORY_LIMIT);
            Child c = child(out, 0, args);
            long delayMs = r.nextInt(150);
            String what = "kill " + run + (run == 0 ? " once the first rank file is renamed" : " " + delayMs
                    + " ms after the first temporary file appears") + " (seed " + SEED + ")";
            // wait for the trigger (the run writing), then SIGKILL
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(CHILD_TIMEOUT_SECONDS);
            while (c.process().isAlive() && System.nanoTime() < deadline) {
                List<String> names = Files.isDirectory(out) ? names(out) : List.of();
                boolean trigger = run == 0 ? names.stream().anyMatch(n -> n.endsWith(".safetensors"))
                        : names.stream().anyMatch(n -> n.contains(".tmp-"));
                if (trigger) {
                    break;
                }
                Thread.sleep(2);
            }
            if (run == 1) {
                Thread.sleep(delayMs);
            }
            c.process().destroyForcibly();
            assertEquals(137, c.waitFor(), what + ": killed while writing\n" + c.output());
            assertFalse(Files.exists(out.resolve("index.json")), what);
            assertEquals(srcHashes, hashes(src), what + ": the source is untouched");
            assertEquals(0, execute(args), what + ": the rerun");
            assertEquals(refHashes, hashes(out), what + ": the resumed output equals an uninterrupted run");
        }
        assertEquals(srcHashes, hashes(src));
    }

    private static Path bigger(Path strategy, String name) throws IOException {
        String text = Files.readString(strategy);
        assertTrue(text.contains("\"hidden\": 64"), strategy.toString());
        return Files.writeString(tmp.resolve(name), text.replace("\"hidden\": 64", "\"hidden\": 256"));
    }

    // ------------------------------------------------------------------ hosts sharing a filesystem

    @Test
    void twoProcessesWritingDisjointRanksIntoOneDirectoryEndTheSame() throws Exception {
        Path out = tmp.resolve("shared");
        List<String> a = new ArrayList<>(reshardArgs(out));
        a.addAll(List.of("--ranks", "0-3"));
        List<String> b = new ArrayList<>(reshardArgs(out));
        b.addAll(List.of("--ranks", "4-7"));
        Child ca = child(out, 0, a);
        Child cb = child(out, 0, b);
        assertEquals(0, ca.waitFor(), ca.output());
        assertEquals(0, cb.waitFor(), cb.output());
        assertTrue(Files.exists(out.resolve("index.json")), "one of the two wrote the index");
        assertEquals(hashes(reference), hashes(out));
        assertEquals(sourceHashes, hashes(source));
    }

    // ------------------------------------------------------------------ helpers

    private static List<String> reshardArgs(Path out) {
        return List.of("checkpoint", "reshard", source.toString(), "--to", TARGET_STRATEGY.toString(), "--out",
                out.toString(), "--progress", "none", "--memory-limit", MEMORY_LIMIT);
    }

    /** A child JVM running {@code tessera args}, its output in a file. */
    record Child(Process process, Path log) {

        int waitFor() throws InterruptedException {
            if (!process.waitFor(CHILD_TIMEOUT_SECONDS, TimeUnit.SECONDS)) {
                process.destroyForcibly().waitFor();
                fail("the child did not end within " + CHILD_TIMEOUT_SECONDS + " s: " + output());
            }
            return process.exitValue();
        }

        String output() {
            try {
                return Files.readString(log);
            } catch (IOException e) {
                return "(no output: " + e.getMessage() + ")";
            }
        }
    }

    private static int logs;

    /** Starts {@code tessera args} in a child JVM halting at progress point {@code haltAt} (0: never). */
    private static Child child(Path out, int haltAt, List<String> args) throws IOException {
        List<String> cmd = new ArrayList<>();
        cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        cmd.addAll(List.of("-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-Xshare:auto", "-Xmx256m"));
        if (haltAt > 0) {
            cmd.add("-Dtessera.checkpoint.haltAt=" + haltAt);
        }
        cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), Tessera.class.getName()));
        cmd.addAll(args);
        Path log = tmp.resolve("child-" + (++logs) + ".log");
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile()).start();
        return new Child(p, log);
    }

    /** Reruns the reshard into {@code out} in this JVM (no halt point). */
    private static int resume(Path out) {
        return execute(reshardArgs(out));
    }

    private static int execute(List<String> args) {
        StringWriter sink = new StringWriter();
        var cl = Tessera.commandLine();
        cl.setOut(new PrintWriter(sink, true));
        cl.setErr(new PrintWriter(sink, true));
        int code = cl.execute(args.toArray(String[]::new));
        if (code != 0) {
            System.out.println(sink);
        }
        return code;
    }

    private static List<String> names(Path dir) throws IOException {
        List<String> out = new ArrayList<>();
        try (Stream<Path> s = Files.list(dir)) {
            s.forEach(p -> out.add(p.getFileName().toString()));
        } catch (java.nio.file.NoSuchFileException e) {
            return out;
        }
        Collections.sort(out);
        return out;
    }

    /** Every file under {@code dir} (relative name) with the SHA-256 of its bytes; directories as "dir". */
    private static Map<String, String> hashes(Path dir) throws IOException {
        Map<String, String> out = new TreeMap<>();
        try (Stream<Path> s = Files.walk(dir)) {
            for (Path p : (Iterable<Path>) s::iterator) {
                if (p.equals(dir)) {
                    continue;
                }
                out.put(dir.relativize(p).toString(), Files.isDirectory(p) ? "dir" : sha256(Files.readAllBytes(p)));
            }
        }
        return out;
    }

    /** The file keys (inodes) of the files in {@code dir}: a file rewritten through a rename gets a new one. */
    private static Map<String, Object> fileKeys(Path dir) throws IOException {
        Map<String, Object> out = new TreeMap<>();
        for (String n : names(dir)) {
            Object key = Files.readAttributes(dir.resolve(n), BasicFileAttributes.class).fileKey();
            out.put(n, key == null ? n : key);
        }
        return out;
    }

    private static String sha256(byte[] bytes) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
