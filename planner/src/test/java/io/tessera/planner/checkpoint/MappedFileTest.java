package io.tessera.planner.checkpoint;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@link MappedFile} with tiny windows (64 bytes every 32, runs up to 32) against {@link Files#readAllBytes}, so
 * window boundaries are crossed constantly; seeded (the seed is printed).
 */
class MappedFileTest {

    private static final long SEED = Long.getLong("tessera.test.seed", 20261203L);

    @TempDir
    Path dir;

    private Path randomFile(int size, Random r) throws IOException {
        byte[] b = new byte[size];
        r.nextBytes(b);
        Path p = dir.resolve("f" + size + ".bin");
        Files.write(p, b);
        return p;
    }

    @Test
    void everyRunAtEveryOffsetMatchesTheFile() throws IOException {
        Random r = new Random(SEED);
        Path p = randomFile(1000, r);
        byte[] expected = Files.readAllBytes(p);
        try (MappedFile m = MappedFile.open(p, 64)) {
            assertEquals(1000, m.size());
            assertEquals(32, m.maxRunBytes());
            for (int len : new int[] {0, 1, 7, 31, 32}) {
                for (int off = 0; off + len <= expected.length; off++) {
                    ByteBuffer dst = ByteBuffer.allocate(len + 3);
                    m.copy(off, dst, 3, len);
                    assertEquals(0, dst.position());
                    assertArrayEquals(Arrays.copyOfRange(expected, off, off + len),
                            Arrays.copyOfRange(dst.array(), 3, 3 + len), "offset " + off + " length " + len);
                }
            }
        }
    }

    @Test
    void randomCopiesMatchTheFileOnHeapAndDirectBuffers() throws IOException {
        System.out.println("MappedFileTest seed=" + SEED);
        Random r = new Random(SEED + 1);
        for (int size : new int[] {1, 31, 32, 33, 64, 65, 4097}) {
            Path p = randomFile(size, r);
            byte[] expected = Files.readAllBytes(p);
            try (MappedFile m = MappedFile.open(p, 64)) {
                for (int i = 0; i < 500; i++) {
                    int len = r.nextInt(Math.min(32, size) + 1);
                    long off = r.nextInt(size - len + 1);
                    ByteBuffer dst = r.nextBoolean() ? ByteBuffer.allocate(64) : ByteBuffer.allocateDirect(64);
                    int at = r.nextInt(64 - len + 1);
                    m.copy(off, dst, at, len);
                    byte[] got = new byte[len];
                    dst.get(at, got);
                    assertArrayEquals(Arrays.copyOfRange(expected, (int) off, (int) off + len), got,
                            "seed " + SEED + " size " + size + " offset " + off + " length " + len);
                }
            }
        }
    }

    @Test
    void concurrentCopiesShareTheWindows() throws Exception {
        Random r = new Random(SEED + 2);
        Path p = randomFile(10_000, r);
        byte[] expected = Files.readAllBytes(p);
        ExecutorService pool = Executors.newFixedThreadPool(4);
        try (MappedFile m = MappedFile.open(p, 64)) {
            List<Future<?>> jobs = new ArrayList<>();
            for (int t = 0; t < 8; t++) {
                long seed = r.nextLong();
                jobs.add(pool.submit(() -> {
                    Random tr = new Random(seed);
                    ByteBuffer dst = ByteBuffer.allocate(32);
                    for (int i = 0; i < 5000; i++) {
                        int len = 1 + tr.nextInt(32);
                        int off = tr.nextInt(expected.length - len + 1);
                        m.copy(off, dst, 0, len);
                        for (int k = 0; k < len; k++) {
                            if (dst.get(k) != expected[off + k]) {
                                throw new AssertionError("offset " + off + " length " + len + " byte " + k);
                            }
                        }
                    }
                    return null;
                }));
            }
            for (Future<?> f : jobs) {
                f.get();
            }
        } finally {
            pool.shutdown();
        }
    }

    @Test
    void defaultWindowsReadSmallAndEmptyFiles() throws IOException {
        Path p = randomFile(100, new Random(SEED + 3));
        try (MappedFile m = MappedFile.open(p)) {
            assertEquals(512L << 20, m.maxRunBytes());
            ByteBuffer dst = ByteBuffer.allocate(100);
            m.copy(0, dst, 0, 100);
            assertArrayEquals(Files.readAllBytes(p), dst.array());
        }
        Path empty = dir.resolve("empty");
        Files.write(empty, new byte[0]);
        try (MappedFile m = MappedFile.open(empty)) {
            assertEquals(0, m.size());
            m.copy(0, ByteBuffer.allocate(0), 0, 0);
        }
    }

    @Test
    void badRangesClosedFilesAndMissingFilesAreErrors() throws IOException {
        Path p = randomFile(100, new Random(SEED + 4));
        MappedFile m = MappedFile.open(p, 64);
        ByteBuffer dst = ByteBuffer.allocate(64);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> m.copy(90, dst, 0, 11));
        assertTrue(e.getMessage().contains("the file is 100 bytes"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> m.copy(-1, dst, 0, 1));
        assertThrows(IllegalArgumentException.class, () -> m.copy(0, dst, 0, -1));
        e = assertThrows(IllegalArgumentException.class, () -> m.copy(0, dst, 0, 33));
        assertTrue(e.getMessage().contains("at most 32"), e.getMessage());
        assertThrows(IndexOutOfBoundsException.class, () -> m.copy(0, dst, 40, 32));
        m.close();
        m.close();
        assertThrows(IllegalStateException.class, () -> m.copy(0, dst, 0, 1));
        CheckpointException c = assertThrows(CheckpointException.class, () -> MappedFile.open(dir.resolve("nope")));
        assertTrue(c.getMessage().contains("nope: does not exist"), c.getMessage());
        assertThrows(CheckpointException.class, () -> MappedFile.open(dir));
        assertThrows(IllegalArgumentException.class, () -> MappedFile.open(p, 63));
    }
}
