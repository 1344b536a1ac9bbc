package io.tessera.planner.checkpoint;

import io.tessera.planner.json.InputFiles;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.concurrent.atomic.AtomicReferenceArray;

/**
 * Read-only memory-mapped access to a file of any size: mapped lazily in windows of 1 GiB starting every 512 MiB, so
 * any run of up to 512 MiB lies inside one window and is copied with one bulk copy. Thread-safe: concurrent
 * {@link #copy}s share the mappings (absolute reads only). {@link #close()} drops the mappings (the operating system
 * unmaps them when they are garbage-collected).
 */
public final class MappedFile implements AutoCloseable {

    /** The default window size: 1 GiB (windows start every half window, 512 MiB, the longest run one copy takes). */
    static final long DEFAULT_WINDOW_BYTES = 1L << 30;

    private final Path file;
    private final String what;
    private final long size;
    private final long windowBytes;
    private final long stride;
    private volatile FileChannel channel;
    private volatile AtomicReferenceArray<MappedByteBuffer> windows;

    private MappedFile(Path file, FileChannel channel, long size, long windowBytes) {
        this.file = file;
        this.what = InputFiles.show(file);
        this.channel = channel;
        this.size = size;
        this.windowBytes = windowBytes;
        this.stride = windowBytes / 2;
        long count = size == 0 ? 0 : (size + stride - 1) / stride;
        this.windows = new AtomicReferenceArray<>((int) count);
    }

    /**
     * Opens {@code file} for mapped reading (nothing is mapped until a {@link #copy}).
     *
     * @throws CheckpointException naming the file when it is missing, a directory or unreadable
     */
    public static MappedFile open(Path file) {
        return open(file, DEFAULT_WINDOW_BYTES);
    }

    /** As {@link #open(Path)} with windows of {@code windowBytes} (even, {@code >= 2}) starting every half window. */
    static MappedFile open(Path file, long windowBytes) {
        if (file == null) {
            throw new IllegalArgumentException("MappedFile: found no path; expected the path of a file");
        }
        if (windowBytes < 2 || windowBytes % 2 != 0 || windowBytes > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("MappedFile window: found " + windowBytes + " bytes; expected an even"
                    + " size from 2 to 2^31 - 2");
        }
        String what = InputFiles.show(file);
        if (Files.isDirectory(file)) {
            throw new CheckpointException(what + ": is a directory; expected a file");
        }
        FileChannel ch = null;
        try {
            ch = FileChannel.open(file, StandardOpenOption.READ);
            return new MappedFile(file, ch, ch.size(), windowBytes);
        } catch (NoSuchFileException e) {
            throw new CheckpointException(what + ": does not exist; expected a file", e);
        } catch (IOException e) {
            closeQuietly(ch);
            throw new CheckpointException(what + ": cannot be opened (" + SafeTensors.oneLine(e)
                    + "); expected a readable file", e);
        }
    }

    /** The file's size in bytes (when opened). */
    public long size() {
        return size;
    }

    /** The longest run {@link #copy} takes, in bytes: half a window (512 MiB by default). */
    public long maxRunBytes() {
        return stride;
    }

    /**
     * Copies {@code length} bytes from file offset {@code offset} into {@code dst} at absolute index
     * {@code dstIndex}; {@code dst}'s position and limit are unchanged.
     *
     * @throws IllegalArgumentException  when the range leaves the file or {@code length} is above
     *                                   {@link #maxRunBytes()}
     * @throws IndexOutOfBoundsException when the range leaves {@code dst}
     * @throws IllegalStateException     after {@link #close()}
     * @throws CheckpointException       naming the file when it cannot be mapped
     */
    public void copy(long offset, ByteBuffer dst, int dstIndex, int length) {
        if (offset < 0 || length < 0 || offset > size - length) {
            throw new IllegalArgumentException(what + ": cannot copy " + length + " bytes from offset " + offset
                    + "; the file is " + size + " bytes (expected 0 <= offset and offset + length <= size)");
        }
        if (length > stride) {
            throw new IllegalArgumentException(what + ": cannot copy " + length + " bytes in one run; expected at"
                    + " most " + stride + " (split the copy)");
        }
        if (length == 0) {
            return;
        }
        int k = (int) (offset / stride);
        MappedByteBuffer w = window(k);
        dst.put(dstIndex, w, (int) (offset - k * stride), length);
    }

    /**
     * Adds {@code length} bytes from file offset {@code offset} to {@code crc}, read in place from the mapping (no
     * copy); the same range rules as {@link #copy}.
     */
    void update(java.util.zip.CRC32C crc, long offset, int length) {
        if (offset < 0 || length < 0 || offset > size - length || length > stride) {
            throw new IllegalArgumentException(what + ": cannot read " + length + " bytes from offset " + offset
                    + "; the file is " + size + " bytes and one run is at most " + stride);
        }
        if (length == 0) {
            return;
        }
        int k = (int) (offset / stride);
        crc.update(window(k).slice((int) (offset - k * stride), length));
    }

    /**
     * Writes {@code length} bytes from file offset {@code offset} into {@code target} at {@code position} inside the
     * kernel ({@link FileChannel#transferTo}: no copy through Java memory); moves {@code target}'s position.
     *
     * @throws IOException on I/O errors
     */
    void transferTo(long offset, long length, FileChannel target, long position) throws IOException {
        FileChannel ch = channel;
        if (ch == null) {
            throw new IllegalStateException(what + ": MappedFile is closed; open it again");
        }
        if (offset < 0 || length < 0 || offset > size - length) {
            throw new IllegalArgumentException(what + ": cannot transfer " + length + " bytes from offset " + offset
                    + "; the file is " + size + " bytes");
        }
        target.position(position);
        long done = 0;
        while (done < length) {
            long n = ch.transferTo(offset + done, length - done, target);
            if (n <= 0) {
                throw new IOException(what + ": transfer stopped at offset " + (offset + done) + " of " + size);
            }
            done += n;
        }
    }

    private MappedByteBuffer window(int k) {
        AtomicReferenceArray<MappedByteBuffer> ws = windows;
        FileChannel ch = channel;
        if (ws == null || ch == null) {
            throw new IllegalStateException(what + ": MappedFile is closed; open it again");
        }
        MappedByteBuffer w = ws.get(k);
        if (w != null) {
            return w;
        }
        long start = k * stride;
        long len = Math.min(windowBytes, size - start);
        try {
            w = ch.map(FileChannel.MapMode.READ_ONLY, start, len);
        } catch (IOException e) {
            throw new CheckpointException(what + ": cannot be mapped at offset " + start + " (" + SafeTensors.oneLine(e)
                    + ")", e);
        }
        return ws.compareAndSet(k, null, w) ? w : ws.get(k);
    }

    /** Drops the mappings and closes the file; further copies fail. Idempotent. */
    @Override
    public void close() {
        windows = null;
        FileChannel ch = channel;
        channel = null;
        closeQuietly(ch);
    }

    private static void closeQuietly(FileChannel ch) {
        if (ch != null) {
            try {
                ch.close();
            } catch (IOException e) {
                // closing a read-only channel: nothing was written, nothing is lost
            }
        }
    }

    @Override
    public String toString() {
        return "MappedFile[" + file + ", " + size + " bytes]";
    }
}
