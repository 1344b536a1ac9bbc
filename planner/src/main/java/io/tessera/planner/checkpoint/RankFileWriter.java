package io.tessera.planner.checkpoint;

import io.tessera.layout.DType;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.zip.CRC32C;

/**
 * Writes one checkpoint file crash-safely: the data goes to {@code <name>.tmp-<pid>} behind a header whose checksums
 * are placeholders; {@link #commit} writes the real header (same length), forces the file to disk, re-reads it to
 * check every entry's CRC-32C, and only then renames it to its final name. A process killed at any point leaves at
 * most a temporary file, which the next run deletes.
 */
final class RankFileWriter implements AutoCloseable {

    /** The metadata key of an entry's checksum. */
    static final String CRC_PREFIX = "crc32c:";
    /** The metadata key of the format. */
    static final String FORMAT_KEY = "format";
    /** The format value of every file Tessera writes. */
    static final String FORMAT = "tessera-checkpoint/1";
    /** The metadata key of what produced the file (a fingerprint of the source and target). */
    static final String ORIGIN_KEY = "origin";

    /**
     * The re-read buffer of {@link #commit}, 1 MiB per thread, reused (allocating one per file would leave a MiB of
     * direct memory per file to the garbage collector).
     */
    private static final ThreadLocal<ByteBuffer> SCRATCH = ThreadLocal.withInitial(() -> ByteBuffer.allocateDirect(
            1 << 20));

    private final Path target;
    private final Path temp;
    private final FileChannel channel;
    private final SafeTensorsHeader header;

    private RankFileWriter(Path target, Path temp, FileChannel channel, SafeTensorsHeader header) {
        this.target = target;
        this.temp = temp;
        this.channel = channel;
        this.header = header;
    }

    /**
     * Opens the temporary file of {@code target} for {@code pieces} (with their dtypes) and writes a placeholder
     * header carrying {@code metadata} and zero checksums.
     */
    static RankFileWriter open(Path target, List<Piece> pieces, Map<String, DType> dtypes, Map<String, String> metadata)
            throws IOException {
        SafeTensorsHeader header = header(pieces, dtypes, metadata, Map.of());
        deleteTemps(target);
        Path temp = target.resolveSibling(target.getFileName() + ".tmp-" + ProcessHandle.current().pid());
        FileChannel ch = FileChannel.open(temp, StandardOpenOption.CREATE, StandardOpenOption.TRUNCATE_EXISTING,
                StandardOpenOption.WRITE, StandardOpenOption.READ);
        RankFileWriter w = new RankFileWriter(target, temp, ch, header);
        w.writeFully(ByteBuffer.wrap(header.encode()), 8);
        ByteBuffer len = ByteBuffer.allocate(8).order(java.nio.ByteOrder.LITTLE_ENDIAN)
                .putLong(0, header.headerBytes());
        w.writeFully(len, 0);
        return w;
    }

    /** The header of a file holding {@code pieces}, with {@code crcs} (missing ones as zeros). */
    static SafeTensorsHeader header(List<Piece> pieces, Map<String, DType> dtypes, Map<String, String> metadata,
                                    Map<String, Integer> crcs) {
        List<SafeTensorsHeader.Spec> specs = new ArrayList<>();
        Map<String, String> meta = new TreeMap<>(metadata);
        meta.put(FORMAT_KEY, FORMAT);
        for (Piece p : pieces) {
            specs.add(new SafeTensorsHeader.Spec(p.name(), dtypes.get(p.tensor()), p.shape()));
            meta.put(CRC_PREFIX + p.name(), CheckpointIndex.hex(crcs.getOrDefault(p.name(), 0)));
        }
        return SafeTensorsHeader.layout(specs, meta);
    }

    /** Deletes the temporary files left next to {@code target} by earlier, interrupted runs. */
    static void deleteTemps(Path target) throws IOException {
        Path dir = target.toAbsolutePath().getParent();
        try (DirectoryStream<Path> ds = Files.newDirectoryStream(dir, target.getFileName() + ".tmp-*")) {
            for (Path p : ds) {
                Files.deleteIfExists(p);
            }
        }
    }

    /** Age after which a temporary file of a process not alive here is left over from a killed run, ms. */
    static final long STALE_MILLIS = 60_000;

    /**
     * Deletes the temporary files next to {@code target} that a killed run left: those whose process is not alive
     * on this host and that are older than {@link #STALE_MILLIS} (a younger one may belong to a process on another
     * host sharing the directory, about to rename it).
     */
    static void deleteStaleTemps(Path target) throws IOException {
        Path dir = target.toAbsolutePath().getParent();
        long now = System.currentTimeMillis();
        try (DirectoryStream<Path> ds = Files.newDirectoryStream(dir, target.getFileName() + ".tmp-*")) {
            for (Path p : ds) {
                String pid = p.getFileName().toString().substring(target.getFileName().toString().length() + 5);
                boolean alive = pid.matches("[0-9]{1,18}")
                        && ProcessHandle.of(Long.parseLong(pid)).map(ProcessHandle::isAlive).orElse(false);
                if (!alive && now - Files.getLastModifiedTime(p).toMillis() > STALE_MILLIS) {
                    Files.deleteIfExists(p);
                }
            }
        }
    }

    /** The file offset of entry {@code name}'s first byte. */
    long offset(String name) {
        return header.dataStart() + header.entry(name).begin();
    }

    /** Writes {@code buf}'s remaining bytes at file offset {@code position}. */
    void write(ByteBuffer buf, long position) throws IOException {
        writeFully(buf, position);
        Faults.point();
    }

    /**
     * Writes {@code length} bytes of {@code src} from file offset {@code offset} at file offset {@code position},
     * inside the kernel (no copy through Java memory; no fault point: the caller counts one per chunk).
     */
    void transfer(MappedFile src, long offset, long length, long position) throws IOException {
        src.transferTo(offset, length, channel, position);
    }

    private void writeFully(ByteBuffer buf, long position) throws IOException {
        long p = position;
        while (buf.hasRemaining()) {
            p += channel.write(buf, p);
        }
    }

    /**
     * Finishes the file: the header with {@code crcs}, forced to disk, every entry re-read and checked, then renamed
     * to its final name.
     *
     * @return the final file's size, bytes
     * @throws IOException     on I/O errors
     * @throws IllegalStateException when a re-read checksum differs (the disk returned other bytes than written)
     */
    long commit(Map<String, Integer> crcs) throws IOException {
        SafeTensorsHeader done = header.withMetadata(withCrcs(header.metadata(), crcs));
        byte[] bytes = done.encode();
        if (bytes.length != header.headerBytes()) {
            throw new IllegalStateException("header length changed from " + header.headerBytes() + " to "
                    + bytes.length);
        }
        writeFully(ByteBuffer.wrap(bytes), 8);
        channel.truncate(done.fileBytes());
        channel.force(true);
        Faults.point();
        ByteBuffer scratch = SCRATCH.get();
        for (SafeTensorsEntry e : done.entries()) {
            int crc = crc(channel, done.dataStart() + e.begin(), e.bytes(), scratch);
            Integer expected = crcs.get(e.name());
            if (expected == null || crc != expected) {
                throw new IllegalStateException(temp + ": entry '" + e.name() + "' reads back with CRC-32C "
                        + CheckpointIndex.hex(crc) + " but " + (expected == null ? "none" : CheckpointIndex.hex(expected))
                        + " was written");
            }
        }
        channel.close();
        move(temp, target);
        Faults.point();
        return done.fileBytes();
    }

    private static Map<String, String> withCrcs(Map<String, String> metadata, Map<String, Integer> crcs) {
        Map<String, String> out = new TreeMap<>(metadata);
        for (Map.Entry<String, Integer> e : crcs.entrySet()) {
            out.put(CRC_PREFIX + e.getKey(), CheckpointIndex.hex(e.getValue()));
        }
        return out;
    }

    /** Renames {@code from} to {@code to} atomically and forces the directory entry to disk where possible. */
    static void move(Path from, Path to) throws IOException {
        try {
            Files.move(from, to, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (AtomicMoveNotSupportedException e) {
            Files.move(from, to, StandardCopyOption.REPLACE_EXISTING);
        }
        try (FileChannel dir = FileChannel.open(to.toAbsolutePath().getParent(), StandardOpenOption.READ)) {
            dir.force(true);
        } catch (IOException | UnsupportedOperationException ignored) {
            // some filesystems cannot open or force a directory; the rename itself is atomic
        }
    }

    /** The CRC-32C of {@code length} bytes of {@code channel} from {@code position}. */
    static int crc(FileChannel channel, long position, long length, ByteBuffer scratch) throws IOException {
        CRC32C crc = new CRC32C();
        long done = 0;
        while (done < length) {
            scratch.clear();
            scratch.limit((int) Math.min(scratch.capacity(), length - done));
            int n = channel.read(scratch, position + done);
            if (n < 0) {
                throw new IOException("unexpected end of file at " + (position + done));
            }
            scratch.flip();
            crc.update(scratch);
            done += n;
        }
        return (int) crc.getValue();
    }

    /** Closes the channel (the temporary file stays for the next run to delete). */
    @Override
    public void close() throws IOException {
        if (channel.isOpen()) {
            channel.close();
        }
    }
}
