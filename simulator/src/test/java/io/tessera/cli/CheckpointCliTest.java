package io.tessera.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.tessera.layout.DType;
import io.tessera.layout.tensor.Tensor;
import io.tessera.planner.api.StrategyPlans;
import io.tessera.planner.checkpoint.CheckpointIndex;
import io.tessera.planner.checkpoint.Checkpoints;
import io.tessera.planner.checkpoint.Migration;
import io.tessera.planner.checkpoint.SafeTensors;
import io.tessera.planner.plan.PipelinePlan;
import io.tessera.planner.strategy.StrategyFiles;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code tessera checkpoint} from the command line (issue 16): a save, verify, dry-run, reshard, merge, split, verify
 * chain exits 0 with numbers matching the Java API, and every corrupt input or bad flag (truncated file, a header
 * lying about offsets or dtypes, a flipped byte, a missing rank or index, a plan of another network, bad sizes and
 * rank lists) is exactly one line {@code tessera: ...} on stderr, exit code 2, no stack trace, no output left behind.
 */
class CheckpointCliTest {

    private static final Path SOURCE_STRATEGY = Path.of("../strategies/gpt-optimizer-parallel.json");
    private static final Path TARGET_STRATEGY = Path.of("../strategies/gpt-megatron-tp4-dp2.json");
    /** The same gpt with 4 layers: another network for the 2-layer checkpoints. */
    private static final Path OTHER_NETWORK = Path.of("../strategies/gpt-pipeline-2stages.json");
    private static final Duration HANG_GUARD = Duration.ofSeconds(60);

    @TempDir
    static Path shared;

    /** A checkpoint of SOURCE_STRATEGY, saved once; tests corrupt copies of it. */
    private static Path saved;

    @TempDir
    Path tmp;

    @BeforeAll
    static void save() {
        saved = shared.resolve("saved");
        CliRun r = CliRun.of("checkpoint", "save", SOURCE_STRATEGY.toString(), "--out", saved.toString(),
                "--progress", "none");
        assertEquals(0, r.code(), r.err());
    }

    private static CliRun run(String... args) {
        return assertTimeoutPreemptively(HANG_GUARD, () -> CliRun.of(args));
    }

    private List<String> tree() throws IOException {
        List<String> out = new ArrayList<>();
        try (Stream<Path> s = Files.walk(tmp)) {
            for (Path p : (Iterable<Path>) s::iterator) {
                out.add(tmp.relativize(p) + (Files.isRegularFile(p) ? " " + Files.size(p) : "/"));
            }
        }
        out.sort(null);
        return out;
    }

    /** Runs {@code args}, asserts the bad-input contract (exit 2, one line, no trace, nothing written), the line. */
    private String badInput(String... args) throws IOException {
        List<String> before = tree();
        CliRun r = run(args);
        assertEquals(2, r.code(), () -> String.join(" ", args) + "\nstdout: " + r.out() + "\nstderr: " + r.err());
        assertEquals(1, r.err().lines().count(), "exactly one line on stderr: " + r.err());
        assertTrue(r.err().startsWith("tessera: "), r.err());
        assertFalse(r.err().contains("\tat ") || r.err().contains("Exception"), "no stack trace: " + r.err());
        assertEquals("", r.out(), "nothing on stdout");
        assertEquals(before, tree(), "no output is left behind");
        return r.err().strip();
    }

    private Path copy(String name) throws IOException {
        Path dir = Files.createDirectories(tmp.resolve(name));
        try (Stream<Path> s = Files.list(saved)) {
            for (Path p : (Iterable<Path>) s::iterator) {
                Files.copy(p, dir.resolve(p.getFileName()));
            }
        }
        return dir;
    }

    private static CliRun ok(String... args) {
        CliRun r = run(args);
        assertEquals(0, r.code(), () -> String.join(" ", args) + "\nstderr: " + r.err());
        return r;
    }

    private String reshardBad(Path source) throws IOException {
        return badInput("checkpoint", "reshard", source.toString(), "--to", TARGET_STRATEGY.toString(), "--out",
                tmp.resolve("out").toString());
    }

    private String verifyBad(Path source) throws IOException {
        return badInput("checkpoint", "verify", source.toString());
    }

    /** Rewrites the JSON header of {@code file} with {@code edit}, padded with spaces to its old length. */
    private static void editHeader(Path file, java.util.function.UnaryOperator<String> edit) throws IOException {
        byte[] all = Files.readAllBytes(file);
        int n = (int) ByteBuffer.wrap(all, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
        String header = new String(all, 8, n, StandardCharsets.UTF_8);
        String changed = edit.apply(header);
        assertFalse(changed.equals(header), "the edit changes the header");
        byte[] b = changed.getBytes(StandardCharsets.UTF_8);
        assertTrue(b.length <= n, "the edited header is not longer");
        byte[] pad = (changed + " ".repeat(n - b.length)).getBytes(StandardCharsets.UTF_8);
        System.arraycopy(pad, 0, all, 8, n);
        Files.write(file, all);
    }

    /** Replaces the first match of {@code regex}'s group 1 in {@code text} by {@code value}. */
    private static String replaceGroup(String text, String regex, String value) {
        Matcher m = Pattern.compile(regex).matcher(text);
        assertTrue(m.find(), regex);
        return text.substring(0, m.start(1)) + value + text.substring(m.end(1));
    }

    // ------------------------------------------------------------------ corrupt checkpoints

    @Test
    void aTruncatedRankFileIsNamed() throws IOException {
        Path src = copy("truncated");
        Path f = src.resolve("rank-00003.safetensors");
        byte[] all = Files.readAllBytes(f);
        Files.write(f, java.util.Arrays.copyOf(all, all.length - 100));
        String m = reshardBad(src);
        assertTrue(m.contains("rank-00003.safetensors") && m.contains("bytes"), m);
        m = verifyBad(src);
        assertTrue(m.contains("rank-00003.safetensors"), m);
        Files.write(f, java.util.Arrays.copyOf(all, 5));
        m = reshardBad(src);
        assertTrue(m.contains("rank-00003.safetensors") && m.contains("shorter than the 8-byte header"), m);
    }

    @Test
    void aHeaderLyingAboutOffsetsIsNamed() throws IOException {
        Path src = copy("offsets");
        Path f = src.resolve("rank-00002.safetensors");
        // the first entry claims 4 bytes fewer than its shape needs
        editHeader(f, h -> replaceGroup(h, "\"data_offsets\":\\[0,(\\d+)\\]",
                String.valueOf(Long.parseLong(h.replaceAll("(?s).*?\"data_offsets\":\\[0,(\\d+)\\].*", "$1")) - 4)));
        String m = reshardBad(src);
        assertTrue(m.contains("rank-00002.safetensors"), m);
        assertTrue(m.contains("lies about the size") || m.contains("data_offsets"), m);
        verifyBad(src);
        Path g = copy("offsets2").resolve("rank-00005.safetensors");
        // two equal-sized entries' offsets swapped: still a valid file, but not the one the index describes
        editHeader(g, h -> {
            Matcher a = Pattern.compile("\"shape\":\\[64\\],\"data_offsets\":\\[(\\d+,\\d+)\\]").matcher(h);
            assertTrue(a.find());
            String first = a.group(1);
            int at1 = a.start(1);
            assertTrue(a.find());
            String second = a.group(1);
            int at2 = a.start(1);
            return h.substring(0, at1) + second + h.substring(at1 + first.length(), at2) + first
                    + h.substring(at2 + second.length());
        });
        m = verifyBad(g.getParent());
        assertTrue(m.contains("rank-00005.safetensors") && m.contains("but the index says"), m);
    }

    @Test
    void aHeaderLyingAboutADtypeIsNamed() throws IOException {
        Path src = copy("dtype");
        Path f = src.resolve("rank-00001.safetensors");
        // F16 halves the bytes the shape needs: the header contradicts itself
        editHeader(f, h -> replaceGroup(h, "\"dtype\":\"(F32)\"", "F16"));
        String m = reshardBad(src);
        assertTrue(m.contains("rank-00001.safetensors"), m);
        verifyBad(src);
        // I32 has the same size: a consistent file, but of another dtype than the index says
        Path g = copy("dtype2");
        editHeader(g.resolve("rank-00004.safetensors"), h -> replaceGroup(h, "\"dtype\":\"(F32)\"", "I32"));
        m = reshardBad(g);
        assertTrue(m.contains("rank-00004.safetensors") && m.contains("int32") && m.contains("float32"), m);
        m = verifyBad(g);
        assertTrue(m.contains("rank-00004.safetensors") && m.contains("int32"), m);
    }

    @Test
    void aFlippedDataByteFailsVerifyNamingFileAndEntry() throws IOException {
        Path src = copy("flipped");
        Path f = src.resolve("rank-00006.safetensors");
        byte[] all = Files.readAllBytes(f);
        all[all.length - 1] ^= 0x10; // the last entry's last byte
        Files.write(f, all);
        String last = new ObjectMapper().readTree(Files.readString(src.resolve("index.json"))).get("files").get(6)
                .get("entries").path(-1).path("name").asText();
        String m = verifyBad(src);
        assertTrue(m.contains("rank-00006.safetensors") && m.contains("CRC-32C") && m.contains(entryName(src, 6)),
                m + " / " + last);
    }

    /** The last entry (in storage order) of file {@code i} of checkpoint {@code dir}. */
    private static String entryName(Path dir, int i) throws IOException {
        JsonNode es = new ObjectMapper().readTree(Files.readString(dir.resolve("index.json"))).get("files").get(i)
                .get("entries");
        Path f = dir.resolve(new ObjectMapper().readTree(Files.readString(dir.resolve("index.json"))).get("files")
                .get(i).get("file").asText());
        String best = null;
        long at = -1;
        for (var e : SafeTensors.readHeader(f).entries()) {
            if (e.begin() > at) {
                at = e.begin();
                best = e.name();
            }
        }
        assertTrue(es.size() > 0);
        return best;
    }

    @Test
    void aMissingRankFileIsNamed() throws IOException {
        Path src = copy("missing");
        Files.delete(src.resolve("rank-00007.safetensors"));
        String m = reshardBad(src);
        assertTrue(m.contains("rank-00007.safetensors (rank 7) is missing"), m);
        m = verifyBad(src);
        assertTrue(m.contains("rank-00007.safetensors (rank 7) is missing"), m);
        m = badInput("checkpoint", "merge", src.toString(), "--out", tmp.resolve("m.safetensors").toString());
        assertTrue(m.contains("rank 7"), m);
    }

    @Test
    void aMissingIndexIsAnInterruptedCheckpoint() throws IOException {
        Path src = copy("noindex");
        Files.delete(src.resolve("index.json"));
        String m = reshardBad(src);
        assertTrue(m.contains("has no index.json (an incomplete or interrupted checkpoint)"), m);
        m = verifyBad(src);
        assertTrue(m.contains("has no index.json"), m);
        m = badInput("checkpoint", "reshard", src.toString(), "--to", TARGET_STRATEGY.toString(), "--dry-run");
        assertTrue(m.contains("has no index.json"), m);
    }

    @Test
    void aCorruptIndexIsNamed() throws IOException {
        Path src = copy("badindex");
        Path index = src.resolve("index.json");
        String text = Files.readString(index);
        Files.writeString(index, text.substring(0, text.length() / 2));
        String m = reshardBad(src);
        assertTrue(m.contains("index.json") && m.contains("not JSON"), m);
        verifyBad(src);
        Files.writeString(index, text.replaceFirst("\"devices\": 8", "\"devices\": \"eight\""));
        m = verifyBad(src);
        assertTrue(m.contains("plan.devices") && m.contains("eight"), m);
        Files.writeString(index, text.replaceFirst("\"crc32c\": \"[0-9a-f]{8}\"", "\"crc32c\": \"xyz\""));
        m = verifyBad(src);
        assertTrue(m.contains("crc32c") && m.contains("xyz"), m);
        Files.writeString(index, "[]");
        m = reshardBad(src);
        assertTrue(m.contains("index.json") && m.contains("expected an object"), m);
        // a wrong checksum in a well-formed index: the data no longer match it
        Files.writeString(index, text.replaceFirst("\"crc32c\": \"[0-9a-f]{8}\"", "\"crc32c\": \"00000000\""));
        m = verifyBad(src);
        assertTrue(m.contains("CRC-32C") && m.contains("00000000"), m);
    }

    // ------------------------------------------------------------------ plans that do not fit

    @Test
    void aPlanOfAnotherNetworkIsNamed() throws IOException {
        String m = badInput("checkpoint", "reshard", saved.toString(), "--to", OTHER_NETWORK.toString(), "--out",
                tmp.resolve("out").toString());
        assertTrue(m.contains("the two plans must be of the same network"), m);
        m = badInput("checkpoint", "reshard", saved.toString(), "--to", OTHER_NETWORK.toString(), "--dry-run");
        assertTrue(m.contains("the two plans must be of the same network"), m);
    }

    @Test
    void splitRefusesShapesAndEntriesThatDoNotFit() throws IOException {
        Path full = tmp.resolve("full.safetensors");
        ok("checkpoint", "merge", saved.toString(), "--out", full.toString(), "--progress", "none");
        Map<String, Tensor> tensors = new LinkedHashMap<>(SafeTensors.read(full));
        Files.delete(full);

        Map<String, Tensor> shapes = new LinkedHashMap<>(tensors);
        String name = shapes.keySet().stream().filter(k -> shapes.get(k).shape().length == 2).findFirst()
                .orElseThrow();
        long[] s = shapes.get(name).shape();
        shapes.put(name, Tensor.zeros(DType.FLOAT32, s[0] + 1, s[1]));
        Path wrong = tmp.resolve("wrong-shape.safetensors");
        SafeTensors.write(wrong, shapes, Map.of());
        String m = badInput("checkpoint", "split", wrong.toString(), TARGET_STRATEGY.toString(), "--out",
                tmp.resolve("out").toString());
        assertTrue(m.contains("'" + name + "'") && m.contains("has shape"), m);
        Files.delete(wrong);

        Map<String, Tensor> extra = new LinkedHashMap<>(tensors);
        extra.put("bogus.weight", Tensor.zeros(DType.FLOAT32, 2, 2));
        Path unknown = tmp.resolve("unknown.safetensors");
        SafeTensors.write(unknown, extra, Map.of());
        m = badInput("checkpoint", "split", unknown.toString(), TARGET_STRATEGY.toString(), "--out",
                tmp.resolve("out").toString());
        assertTrue(m.contains("'bogus.weight' matches no parameter"), m);
        Files.delete(unknown);

        Map<String, Tensor> less = new LinkedHashMap<>(tensors);
        less.remove(name);
        Path missing = tmp.resolve("missing.safetensors");
        SafeTensors.write(missing, less, Map.of());
        m = badInput("checkpoint", "split", missing.toString(), TARGET_STRATEGY.toString(), "--out",
                tmp.resolve("out").toString());
        assertTrue(m.contains("has no entry for parameter '" + name + "'"), m);
        Files.delete(missing);
    }

    // ------------------------------------------------------------------ flags

    @Test
    void badFlagsAreOneLineErrors() throws IOException {
        String src = saved.toString();
        String to = TARGET_STRATEGY.toString();
        String out = tmp.resolve("out").toString();
        String m = badInput("checkpoint", "reshard", src, "--to", to, "--out", src);
        assertTrue(m.contains("is the source directory"), m);
        m = badInput("checkpoint", "reshard", src, "--to", to, "--out", src + "/.");
        assertTrue(m.contains("is the source directory"), m);
        m = badInput("checkpoint", "reshard", src, "--to", to, "--out", out, "--memory-limit", "10K");
        assertTrue(m.contains("--memory-limit") && m.contains("10240"), m);
        m = badInput("checkpoint", "reshard", src, "--to", to, "--out", out, "--memory-limit", "abc");
        assertTrue(m.contains("--memory-limit: found 'abc'"), m);
        m = badInput("checkpoint", "reshard", src, "--to", to, "--out", out, "--ranks", "5-2");
        assertTrue(m.contains("--ranks: found '5-2'"), m);
        m = badInput("checkpoint", "reshard", src, "--to", to, "--out", out, "--ranks", "x");
        assertTrue(m.contains("--ranks: found 'x'"), m);
        m = badInput("checkpoint", "reshard", src, "--to", to, "--out", out, "--parallel", "0");
        assertTrue(m.contains("--parallel: found 0"), m);
        m = badInput("checkpoint", "reshard", src, "--to", to, "--out", out, "--ranks", "8-15");
        assertTrue(m.contains("--ranks: found '8-15', which selects none of the plan's ranks 0-7"), m);
        m = badInput("checkpoint", "split", src + "/rank-00000.safetensors", to, "--out", out, "--ranks", "9");
        assertTrue(m.contains("selects none of the plan's ranks 0-7"), m);
        m = badInput("checkpoint", "reshard", src, "--to", to);
        assertTrue(m.contains("--out: missing"), m);
        Path file = Files.writeString(tmp.resolve("a-file"), "x");
        m = badInput("checkpoint", "reshard", src, "--to", to, "--out", file.toString());
        assertTrue(m.contains("a-file: cannot create the directory"), m);
        Path mine = copy("merge-into-source");
        byte[] rank0 = Files.readAllBytes(mine.resolve("rank-00000.safetensors"));
        m = badInput("checkpoint", "merge", mine.toString(), "--out", mine + "/rank-00000.safetensors");
        assertTrue(m.contains("is the input file"), m);
        m = badInput("checkpoint", "merge", mine.toString(), "--out", mine + "/./index.json");
        assertTrue(m.contains("is the input file"), m);
        assertArrayEquals(rank0, Files.readAllBytes(mine.resolve("rank-00000.safetensors")));
        m = badInput("checkpoint", "split", mine + "/rank-00000.safetensors", to, "--out", mine.toString());
        assertTrue(m.contains("is the input file"), m);
        assertArrayEquals(rank0, Files.readAllBytes(mine.resolve("rank-00000.safetensors")));
        Path dir = Files.createDirectories(tmp.resolve("existing"));
        m = badInput("checkpoint", "merge", src, "--out", dir.toString());
        assertTrue(m.contains("is a directory"), m);
        m = badInput("checkpoint", "split", tmp.resolve("none.safetensors").toString(), to, "--out", out);
        assertTrue(m.contains("none.safetensors") && m.contains("does not exist"), m);
        m = badInput("checkpoint", "verify", tmp.resolve("nothing").toString());
        assertTrue(m.contains("not a directory"), m);
    }

    // ------------------------------------------------------------------ the happy path

    @Test
    void saveVerifyDryRunReshardMergeSplitVerify() throws IOException {
        Path a = tmp.resolve("a");
        CliRun r = ok("checkpoint", "save", SOURCE_STRATEGY.toString(), "--out", a.toString(), "--progress", "none");
        assertEquals("saved gpt (8 ranks, 1 stage): 8 files, 750 KiB in " + a + "\n", r.out());
        r = ok("checkpoint", "verify", a.toString());
        assertTrue(r.out().startsWith("ok: " + a + ": 8 files, "), r.out());

        PipelinePlan target = StrategyPlans.pipelinePlan(StrategyFiles.read(TARGET_STRATEGY), null);
        Migration plan = Checkpoints.plan(a, target);
        long dataBytes = plan.target().files().stream().mapToLong(f -> plan.target().dataBytes(f)).sum();
        assertEquals(dataBytes, plan.bytesWritten(), "the plan writes the target's data bytes");
        r = ok("checkpoint", "reshard", a.toString(), "--to", TARGET_STRATEGY.toString(), "--dry-run");
        assertTrue(r.out().contains("migration: 8 source files -> 8 target files\n"), r.out());
        assertTrue(r.out().contains("(" + dataBytes + " bytes)"), r.out());
        assertTrue(r.out().contains("largest rank: " + plan.largest().file().rank() + " reads "
                + CheckpointCommand.human(plan.largest().bytesRead())), r.out());
        assertEquals(8 + 5, r.out().lines().count(), r.out());
        r = ok("checkpoint", "reshard", a.toString(), "--to", TARGET_STRATEGY.toString(), "--dry-run", "--json");
        JsonNode j = new ObjectMapper().readTree(r.out());
        assertEquals(dataBytes, j.get("bytes").asLong());
        assertEquals(plan.remoteBytes(), j.get("remote_bytes").asLong());
        assertEquals(plan.largest().file().rank(), j.get("largest_rank").asInt());
        assertEquals(8, j.get("ranks").size());
        long sum = 0;
        for (JsonNode rank : j.get("ranks")) {
            Migration.FileMove f = plan.files().get(rank.get("rank").asInt());
            assertEquals(f.bytesRead(), rank.get("bytes_read").asLong());
            assertEquals(plan.target().dataBytes(f.file()), rank.get("bytes_written").asLong());
            sum += rank.get("bytes_written").asLong();
        }
        assertEquals(dataBytes, sum);
        assertFalse(Files.exists(tmp.resolve("b")), "a dry run writes nothing");

        Path b = tmp.resolve("b");
        r = ok("checkpoint", "reshard", a.toString(), "--to", TARGET_STRATEGY.toString(), "--out", b.toString(),
                "--memory-limit", "1M", "--parallel", "2", "--progress", "none");
        assertTrue(r.out().startsWith("resharded gpt (8 ranks, 1 stage): 8 files, "), r.out());
        ok("checkpoint", "verify", b.toString(), "--json");
        Path m = tmp.resolve("m.safetensors");
        r = ok("checkpoint", "merge", b.toString(), "--out", m.toString(), "--progress", "none");
        assertTrue(r.out().startsWith("merged "), r.out());
        Path c = tmp.resolve("c");
        ok("checkpoint", "split", m.toString(), SOURCE_STRATEGY.toString(), "--out", c.toString(), "--progress",
                "none");
        r = ok("checkpoint", "verify", c.toString(), "--json");
        JsonNode v = new ObjectMapper().readTree(r.out());
        assertTrue(v.get("ok").asBoolean());
        assertEquals(8, v.get("files").asInt());
        // the split checkpoint's parameters merge to the same bytes
        Path m2 = tmp.resolve("m2.safetensors");
        ok("checkpoint", "merge", c.toString(), "--out", m2.toString(), "--progress", "none");
        Map<String, Tensor> x = SafeTensors.read(m);
        Map<String, Tensor> y = SafeTensors.read(m2);
        assertEquals(x.keySet(), y.keySet());
        for (String k : x.keySet()) {
            ByteBuffer bx = ByteBuffer.allocate((int) x.get(k).size() * 4).order(ByteOrder.LITTLE_ENDIAN);
            ByteBuffer by = ByteBuffer.allocate((int) y.get(k).size() * 4).order(ByteOrder.LITTLE_ENDIAN);
            SafeTensors.encode(x.get(k), bx);
            SafeTensors.encode(y.get(k), by);
            assertArrayEquals(bx.array(), by.array(), k);
        }
        CheckpointIndex ib = CheckpointIndex.read(b);
        assertEquals(8, ib.plan().devices());
    }
}
