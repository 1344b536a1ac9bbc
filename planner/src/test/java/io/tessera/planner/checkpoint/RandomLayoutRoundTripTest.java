package io.tessera.planner.checkpoint;

import io.tessera.layout.Box;
import io.tessera.layout.DType;
import io.tessera.layout.DeviceMatrix;
import io.tessera.layout.Layout;
import io.tessera.layout.TensorMap;
import io.tessera.layout.tensor.Tensor;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Seeded differential test of resharding against a naive reference: random tensors (every dtype, ranks 0 to 4,
 * size-1 and 0-size dims) laid out over random device matrices and tensor maps on both sides (different device
 * counts, pipeline-like stages holding only some tensors, optimizer-shard splits of dim 0 and split entries), filled
 * from a random full tensor. Save under A, reshard to B, merge: the merged bytes are the full tensor's, and every
 * target file's entries are byte for byte those of a direct save under B. Tiny copy buffers in part of the cases
 * exercise chunking and run splitting. {@code -Dtessera.seed=N} replays, {@code -Dtessera.full=true} runs ~3000 cases.
 */
class RandomLayoutRoundTripTest {

    private static final long SEED = Long.getLong("tessera.seed", 20261203L);
    private static final boolean FULL = Boolean.getBoolean("tessera.full");
    private static final int CASES = FULL ? 3000 : 150;
    private static final DType[] DTYPES = DType.values();
    private static final int[] DEVICES = {1, 2, 3, 4, 4, 6, 8, 8, 12, 16};
    private static final long[] DIMS = {1, 1, 2, 2, 3, 4, 4, 6, 8, 12, 16};
    private static final long MAX_VOLUME = 3000;

    @TempDir(factory = MemoryTempDirs.class)
    Path tmp;

    @AfterEach
    void resetBuffer() {
        MigrationRunner.testBufferBytes = 0;
    }

    /** One side of a case: its layout and how many devices / stages it has. */
    private record Side(CheckpointLayout layout, int devices, int stages) {
    }

    @Test
    void reshardThenMergeEqualsTheFullTensorsAndADirectSave() throws IOException {
        System.out.println("RandomLayoutRoundTripTest seed " + SEED + ", " + CASES + " cases (rerun with -Dtessera.seed="
                + SEED + "; -Dtessera.full=true for ~3000)");
        SplittableRandom master = new SplittableRandom(SEED);
        for (int c = 0; c < CASES; c++) {
            long caseSeed = master.nextLong();
            try {
                runCase(c, caseSeed);
            } catch (AssertionError | RuntimeException e) {
                throw new AssertionError("case " + c + " (seed " + SEED + ", case seed " + caseSeed + "): "
                        + e.getMessage(), e);
            } finally {
                MigrationRunner.testBufferBytes = 0;
            }
        }
    }

    private void runCase(int c, long caseSeed) throws IOException {
        SplittableRandom rnd = new SplittableRandom(caseSeed);
        int n = 1 + rnd.nextInt(3);
        List<CheckpointTensor> tensors = new ArrayList<>();
        Map<String, Tensor> full = new LinkedHashMap<>();
        for (int i = 0; i < n; i++) {
            DType dt = DTYPES[rnd.nextInt(DTYPES.length)];
            long[] shape = randomShape(rnd);
            CheckpointTensor t = CheckpointTensor.parameter("layer" + i + ".w", dt, shape);
            tensors.add(t);
            full.put(t.name(), randomTensor(rnd, dt, shape));
        }
        Side a = randomSide(rnd, tensors);
        Side b = randomSide(rnd, tensors);
        int buffer = rnd.nextInt(3) == 0 ? 8 * (1 + rnd.nextInt(32)) : 0;
        int parallelism = 1 + rnd.nextInt(3);
        CheckpointOptions opts = CheckpointOptions.DEFAULTS.withParallelism(parallelism);
        Checkpoints.SliceSource data = (rank, piece) -> full.get(piece.tensor()).slice(piece.box());

        Path dirA = tmp.resolve(c + "-a");
        Path dirB = tmp.resolve(c + "-b");
        Path dirAB = tmp.resolve(c + "-ab");
        MigrationRunner.testBufferBytes = buffer;
        Checkpoints.save(a.layout(), info(a), data, "case " + c + " a", dirA, opts);
        Checkpoints.save(b.layout(), info(b), data, "case " + c + " b", dirB, opts);
        CheckpointIndex index = Checkpoints.reshard(dirA, b.layout(), info(b), dirAB, opts);
        assertTrue(index != null, "reshard wrote no index");
        assertEquals(b.layout(), index.layout());
        Verification.of(dirAB, null);

        for (RankFile f : b.layout().files()) {
            Data direct = data(dirB.resolve(f.file()));
            Data resharded = data(dirAB.resolve(f.file()));
            assertEquals(direct.entries(), resharded.entries(), f.file() + ": entries");
            assertArrayEquals(direct.bytes(), resharded.bytes(), f.file() + ": data bytes");
            for (Piece p : f.pieces()) {
                byte[] expected = encode(full.get(p.tensor()).slice(p.box()));
                SafeTensorsEntry e = resharded.entry(p.name());
                assertArrayEquals(expected, Arrays.copyOfRange(resharded.bytes(), (int) e.begin(), (int) e.end()),
                        f.file() + ": entry " + p.name() + " " + p.box());
            }
        }
        for (Path dir : List.of(dirA, dirAB)) {
            Path merged = tmp.resolve(c + "-" + dir.getFileName() + ".safetensors");
            Checkpoints.merge(dir, merged, true, opts);
            Data m = data(merged);
            for (CheckpointTensor t : tensors) {
                SafeTensorsEntry e = m.entry(t.name());
                assertEquals(t.dtype(), e.dtype());
                assertArrayEquals(t.shape(), e.shape());
                assertArrayEquals(encode(full.get(t.name())),
                        Arrays.copyOfRange(m.bytes(), (int) e.begin(), (int) e.end()), "merged " + t.name());
            }
            Map<String, Tensor> decoded = SafeTensors.read(merged);
            for (CheckpointTensor t : tensors) {
                assertArrayEquals(encode(full.get(t.name())), encode(decoded.get(t.name())), "decoded " + t.name());
            }
        }
    }

    // ------------------------------------------------------------------ generators

    private static long[] randomShape(SplittableRandom rnd) {
        while (true) {
            int rank = rnd.nextInt(5);
            long[] shape = new long[rank];
            long v = 1;
            for (int i = 0; i < rank; i++) {
                shape[i] = rnd.nextInt(20) == 0 ? 0 : DIMS[rnd.nextInt(DIMS.length)];
                v *= Math.max(1, shape[i]);
            }
            if (v <= MAX_VOLUME) {
                return shape;
            }
        }
    }

    /** A tensor decoded from random bytes (so every bit pattern the dtype keeps occurs). */
    private static Tensor randomTensor(SplittableRandom rnd, DType dt, long[] shape) {
        long v = 1;
        for (long d : shape) {
            v *= d;
        }
        byte[] raw = new byte[(int) (v * dt.bytes())];
        for (int i = 0; i < raw.length; i++) {
            raw[i] = (byte) rnd.nextInt(256);
        }
        return SafeTensors.decode(dt, shape, ByteBuffer.wrap(raw));
    }

    /**
     * A random side: {@code devices = stages * stageDevices}; tensor i lives on stage {@code (i + shift) % stages}
     * (other stages' files do not hold it); over its stage a random layout, optionally optimizer-sharded along dim 0
     * within each replica group and optionally split into two entries.
     */
    private static Side randomSide(SplittableRandom rnd, List<CheckpointTensor> tensors) {
        int devices = DEVICES[rnd.nextInt(DEVICES.length)];
        int stages = devices % 2 == 0 && rnd.nextInt(3) == 0 ? 2 : 1;
        int stageDevices = devices / stages;
        int shift = rnd.nextInt(2);
        List<List<Piece>> perRank = new ArrayList<>();
        for (int r = 0; r < devices; r++) {
            perRank.add(new ArrayList<>());
        }
        for (int i = 0; i < tensors.size(); i++) {
            CheckpointTensor t = tensors.get(i);
            long[] shape = t.shape();
            int stage = (i + shift) % stages;
            Layout layout = randomLayout(rnd, stageDevices, shape);
            int shard = 1;
            int refineDim = -1;
            double refineAt = 0;
            if (shape.length > 0 && rnd.nextInt(3) == 0) {
                int group = layout.repeatedCount();
                List<Integer> divisors = new ArrayList<>();
                for (int k = 1; k <= group; k++) {
                    if (group % k == 0) {
                        divisors.add(k);
                    }
                }
                shard = divisors.get(rnd.nextInt(divisors.size()));
            }
            if (shape.length > 0 && rnd.nextInt(4) == 0) {
                refineDim = rnd.nextInt(shape.length);
                refineAt = rnd.nextDouble();
            }
            for (int local = 0; local < stageDevices; local++) {
                Box box = layout.sliceBox(local);
                long[] s = box.start();
                long[] e = box.end();
                for (int d = 0; d < shape.length; d++) {
                    if (shape[d] == 0) {
                        s[d] = 0;
                        e[d] = 0;
                    }
                }
                if (shard > 1) {
                    int[] group = layout.repeatedGroup(local);
                    int idx = Arrays.binarySearch(group, local) % shard;
                    long extent = e[0] - s[0];
                    long from = s[0] + extent * idx / shard;
                    long to = s[0] + extent * (idx + 1) / shard;
                    s[0] = from;
                    e[0] = to;
                }
                box = Box.of(s, e);
                List<Piece> pieces = perRank.get(stage * stageDevices + local);
                if (refineDim < 0) {
                    pieces.add(Piece.of(t.name(), box));
                } else {
                    long cut = s[refineDim] + (long) Math.floor((e[refineDim] - s[refineDim]) * refineAt);
                    long[] e1 = box.end();
                    e1[refineDim] = cut;
                    long[] s2 = box.start();
                    s2[refineDim] = cut;
                    Box b1 = Box.of(box.start(), e1);
                    Box b2 = Box.of(s2, box.end());
                    pieces.add(new Piece(t.name() + "#0", t.name(), b1, b1.shape()));
                    pieces.add(new Piece(t.name() + "#1", t.name(), b2, b2.shape()));
                }
            }
        }
        List<RankFile> files = new ArrayList<>();
        for (int r = 0; r < devices; r++) {
            files.add(new RankFile(r, RankFile.nameOf(r), perRank.get(r)));
        }
        return new Side(new CheckpointLayout(tensors, files), devices, stages);
    }

    /** A random layout of {@code shape} over {@code devices} devices (0-size dims laid out as if of the split's size). */
    private static Layout randomLayout(SplittableRandom rnd, int devices, long[] shape) {
        List<Integer> factors = new ArrayList<>();
        int rest = devices;
        for (int p = 2; p <= rest; p++) {
            while (rest % p == 0) {
                factors.add(p);
                rest /= p;
            }
        }
        int rank = 1 + rnd.nextInt(3);
        int[] dims = new int[rank];
        Arrays.fill(dims, 1);
        for (int f : factors) {
            dims[rnd.nextInt(rank)] *= f;
        }
        DeviceMatrix m = DeviceMatrix.of(dims);
        List<List<Integer>> per = new ArrayList<>();
        long[] parts = new long[shape.length];
        Arrays.fill(parts, 1);
        for (int i = 0; i < shape.length; i++) {
            per.add(new ArrayList<>());
        }
        for (int axis = 0; axis < rank && shape.length > 0; axis++) {
            int d = rnd.nextInt(shape.length + 1);
            if (d == shape.length) {
                continue;
            }
            long size = m.dim(rank - 1 - axis);
            if (shape[d] != 0 && shape[d] % (parts[d] * size) != 0) {
                continue;
            }
            parts[d] *= size;
            List<Integer> l = per.get(d);
            l.add(rnd.nextInt(l.size() + 1), axis);
        }
        List<TensorMap.Entry> entries = new ArrayList<>();
        long[] sub = shape.clone();
        for (int i = 0; i < shape.length; i++) {
            int[] axes = per.get(i).stream().mapToInt(Integer::intValue).toArray();
            if (axes.length == 0) {
                entries.add(TensorMap.notSplit());
            } else if (axes.length == 1 && rnd.nextBoolean()) {
                entries.add(TensorMap.Entry.of(axes[0]));
            } else {
                entries.add(TensorMap.Entry.of(axes));
            }
            if (sub[i] == 0) {
                sub[i] = parts[i];
            }
        }
        return Layout.of(m, TensorMap.of(entries), sub);
    }

    private static CheckpointIndex.PlanInfo info(Side s) {
        return new CheckpointIndex.PlanInfo("random", s.devices(), s.stages(), "sgd", false, null);
    }

    // ------------------------------------------------------------------ reading files

    /** A safetensors file's entries and its data section. */
    private record Data(List<SafeTensorsEntry> entries, byte[] bytes) {

        SafeTensorsEntry entry(String name) {
            for (SafeTensorsEntry e : entries) {
                if (e.name().equals(name)) {
                    return e;
                }
            }
            throw new AssertionError("no entry '" + name + "' in " + entries);
        }
    }

    private static Data data(Path file) throws IOException {
        SafeTensorsHeader h = SafeTensors.readHeader(file);
        byte[] all = Files.readAllBytes(file);
        return new Data(h.entries(), Arrays.copyOfRange(all, (int) h.dataStart(), all.length));
    }

    static byte[] encode(Tensor t) {
        ByteBuffer b = ByteBuffer.allocate((int) (t.size() * t.dtype().bytes()));
        SafeTensors.encode(t, b);
        return b.array();
    }

    // ------------------------------------------------------------------ chunks and copy against brute force

    @Test
    void chunksTileTheBoxInRowMajorOrderWithinTheCap() {
        long seed = SEED + 1;
        System.out.println("RandomLayoutRoundTripTest.chunks seed " + seed);
        SplittableRandom rnd = new SplittableRandom(seed);
        for (int c = 0; c < (FULL ? 20000 : 2000); c++) {
            Box box = randomBox(rnd, 0);
            int e = 1 << rnd.nextInt(4);
            long volume = box.volume();
            long cap = e + rnd.nextLong(Math.max(1, 2 * volume * e));
            String what = "case " + c + ": box " + box + " element " + e + " cap " + cap;
            List<Box> chunks = MigrationRunner.chunks(box, e, cap);
            long next = 0;
            for (Box ch : chunks) {
                assertTrue(box.contains(ch) && !ch.isEmpty(), what + ": chunk " + ch);
                assertTrue(ch.volume() * e <= cap, what + ": chunk " + ch + " exceeds the cap");
                for (long[] p : points(ch)) {
                    assertEquals(next++, MigrationRunner.linear(box, p), what + ": chunk " + ch + " not in order");
                }
            }
            assertEquals(box.isEmpty() ? 0 : volume, next, what + ": chunks do not cover the box");
        }
    }

    @Test
    void copyMovesExactlyThePartBetweenRowMajorLayouts() throws IOException {
        long seed = SEED + 2;
        System.out.println("RandomLayoutRoundTripTest.copy seed " + seed);
        SplittableRandom rnd = new SplittableRandom(seed);
        Path file = tmp.resolve("src.bin");
        for (int c = 0; c < (FULL ? 5000 : 500); c++) {
            int rank = rnd.nextInt(5);
            long[] shape = new long[rank];
            for (int i = 0; i < rank; i++) {
                shape[i] = 1 + rnd.nextInt(7);
            }
            Box src = subBox(rnd, Box.full(shape));
            Box chunk = subBox(rnd, Box.full(shape));
            Box both = src.intersect(chunk);
            if (both.isEmpty()) {
                continue;
            }
            Box part = subBox(rnd, both);
            if (part.isEmpty()) {
                continue;
            }
            int e = 1 << rnd.nextInt(4);
            int base = rnd.nextInt(50);
            byte[] content = new byte[(int) (base + src.volume() * e)];
            for (int i = 0; i < content.length; i++) {
                content[i] = (byte) rnd.nextInt(256);
            }
            Files.write(file, content);
            ByteBuffer buf = ByteBuffer.allocateDirect((int) (chunk.volume() * e));
            byte[] expected = new byte[buf.capacity()];
            Arrays.fill(expected, (byte) 0x5A);
            buf.put(expected.clone()).clear();
            for (long[] p : points(part)) {
                System.arraycopy(content, (int) (base + MigrationRunner.linear(src, p) * e), expected,
                        (int) (MigrationRunner.linear(chunk, p) * e), e);
            }
            try (MappedFile m = MappedFile.open(file)) {
                MigrationRunner.copy(part, src, base, chunk, e, m, buf);
            }
            byte[] got = new byte[buf.capacity()];
            buf.clear();
            buf.get(got);
            assertArrayEquals(expected, got, "case " + c + ": part " + part + " of source " + src + " into chunk "
                    + chunk + ", element " + e);
        }
    }

    private static Box randomBox(SplittableRandom rnd, int minExtent) {
        int rank = rnd.nextInt(5);
        long[] s = new long[rank];
        long[] e = new long[rank];
        for (int i = 0; i < rank; i++) {
            s[i] = rnd.nextInt(4);
            e[i] = s[i] + (rnd.nextInt(15) == 0 ? 0 : minExtent + 1 + rnd.nextInt(6));
        }
        return Box.of(s, e);
    }

    private static Box subBox(SplittableRandom rnd, Box in) {
        long[] s = new long[in.rank()];
        long[] e = new long[in.rank()];
        for (int i = 0; i < in.rank(); i++) {
            long a = in.start(i) + rnd.nextLong(in.extent(i) + 1);
            long b = in.start(i) + rnd.nextLong(in.extent(i) + 1);
            s[i] = Math.min(a, b);
            e[i] = Math.max(a, b);
            if (rnd.nextBoolean()) {
                s[i] = in.start(i);
                e[i] = in.end(i);
            }
        }
        return Box.of(s, e);
    }

    /** The points of {@code box} in row-major order. */
    private static List<long[]> points(Box box) {
        List<long[]> out = new ArrayList<>();
        if (box.isEmpty()) {
            return out;
        }
        long[] p = box.start();
        while (true) {
            out.add(p.clone());
            int i = box.rank() - 1;
            while (i >= 0 && ++p[i] == box.end(i)) {
                p[i] = box.start(i);
                i--;
            }
            if (i < 0) {
                return out;
            }
        }
    }
}
