package io.tessera.planner.checkpoint;

import io.tessera.layout.DType;
import io.tessera.layout.UserText;
import io.tessera.layout.tensor.Float8;
import io.tessera.layout.tensor.FloatFormats;
import io.tessera.layout.tensor.Tensor;
import io.tessera.planner.json.InputFiles;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;

/**
 * The safetensors file format (Hugging Face, {@code https://github.com/huggingface/safetensors}): 8 bytes of
 * little-endian unsigned header size N, N bytes of UTF-8 JSON header (possibly padded with spaces) naming each
 * tensor's dtype, shape and {@code data_offsets} relative to the data buffer, then the data buffer (row-major,
 * little-endian), which the tensors cover contiguously. Reading validates everything ({@link #readHeader}); writing
 * is atomic ({@link #write}). Supported dtype codes: {@code F64 F32 F16 BF16 I64 I32 I16 I8 U8 BOOL F8_E4M3
 * F8_E5M2}. Stateless.
 */
public final class SafeTensors {

    /** Largest header size accepted, in bytes: 100,000,000 (as the reference implementation). */
    public static final long MAX_HEADER_BYTES = 100_000_000L;

    /** Codes of the format that Tessera has no dtype for. */
    private static final List<String> UNSUPPORTED = List.of("U16", "U32", "U64", "C64", "F8_E8M0", "F4", "F6_E2M3",
            "F6_E3M2", "F8_E4M3FNUZ", "F8_E5M2FNUZ");

    /** The dtypes in the order the format's documentation lists their codes. */
    private static final List<DType> CODE_ORDER = List.of(DType.FLOAT64, DType.FLOAT32, DType.FLOAT16, DType.BFLOAT16,
            DType.INT64, DType.INT32, DType.INT16, DType.INT8, DType.UINT8, DType.BOOL, DType.FLOAT8_E4M3FN,
            DType.FLOAT8_E5M2);

    private SafeTensors() {
    }

    /** The safetensors code of {@code dtype}, e.g. {@code F32} for Float32. */
    public static String code(DType dtype) {
        if (dtype == null) {
            throw new IllegalArgumentException("safetensors dtype: found null; expected a DType such as Float32");
        }
        return switch (dtype) {
            case FLOAT64 -> "F64";
            case FLOAT32 -> "F32";
            case FLOAT16 -> "F16";
            case BFLOAT16 -> "BF16";
            case INT64 -> "I64";
            case INT32 -> "I32";
            case INT16 -> "I16";
            case INT8 -> "I8";
            case UINT8 -> "U8";
            case BOOL -> "BOOL";
            case FLOAT8_E4M3FN -> "F8_E4M3";
            case FLOAT8_E5M2 -> "F8_E5M2";
        };
    }

    /**
     * The dtype of a safetensors code (case-sensitive, as the format).
     *
     * @throws IllegalArgumentException naming the code and the supported codes when it is unknown or unsupported
     */
    public static DType dtype(String code) {
        for (DType t : DType.values()) {
            if (code(t).equals(code)) {
                return t;
            }
        }
        String supported = CODE_ORDER.stream().map(SafeTensors::code).collect(Collectors.joining(", "));
        if (code != null && UNSUPPORTED.contains(code)) {
            throw new IllegalArgumentException("safetensors dtype " + code + " is not supported by Tessera; expected"
                    + " one of " + supported);
        }
        throw new IllegalArgumentException("safetensors dtype: unknown code " + UserText.quoted(code)
                + "; expected one of " + supported);
    }

    // ------------------------------------------------------------------ headers

    /**
     * Reads and validates the header of the safetensors file {@code file} (see
     * {@link #readHeader(FileChannel, long, String)}).
     *
     * @throws CheckpointException one line naming the file and what is wrong, when it is missing, unreadable or
     *                             corrupt
     */
    public static SafeTensorsHeader readHeader(Path file) {
        requireFile(file);
        String what = InputFiles.show(file);
        try (FileChannel ch = open(file)) {
            return readHeader(ch, ch.size(), what);
        } catch (IOException e) {
            throw new CheckpointException(what + ": cannot be read (" + oneLine(e) + "); expected a readable"
                    + " safetensors file", e);
        }
    }

    /**
     * Reads and validates the header of a safetensors file of {@code fileSize} bytes open on {@code channel}
     * (absolute reads; the channel's position is unchanged): the header size, UTF-8 JSON object, every entry's keys,
     * dtype, shape and offsets, that each entry's byte span equals its shape times its dtype size, that the entries
     * tile the data buffer without overlap or hole, and that the data ends exactly at the end of the file.
     *
     * @param what names the file in messages, e.g. its path
     * @throws CheckpointException one line naming {@code what} and what is wrong
     * @throws IOException         when the channel cannot be read
     */
    public static SafeTensorsHeader readHeader(FileChannel channel, long fileSize, String what) throws IOException {
        if (fileSize < 8) {
            throw new CheckpointException(what + ": file is " + fileSize + " bytes, shorter than the 8-byte header"
                    + " size that starts a safetensors file; expected a safetensors file (truncated?)");
        }
        ByteBuffer len = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
        readFully(channel, len, 0, what);
        long n = len.getLong(0);
        if (n == 0 || n < 0 || n > MAX_HEADER_BYTES) {
            throw new CheckpointException(what + ": header size is " + Long.toUnsignedString(n) + " bytes; expected 1"
                    + " to " + MAX_HEADER_BYTES + " (not a safetensors file, or a corrupt one)");
        }
        if (8 + n > fileSize) {
            throw new CheckpointException(what + ": file is " + fileSize + " bytes but its header needs " + (8 + n)
                    + " (header size " + n + "); the file is truncated or not a safetensors file");
        }
        ByteBuffer header = ByteBuffer.allocate((int) n);
        readFully(channel, header, 8, what);
        return HeaderParser.parse(header.array(), fileSize, what);
    }

    private static void readFully(FileChannel channel, ByteBuffer dst, long at, String what) throws IOException {
        long pos = at;
        while (dst.hasRemaining()) {
            int r = channel.read(dst, pos);
            if (r < 0) {
                throw new CheckpointException(what + ": file ended at byte " + pos + " while reading its header;"
                        + " the file is truncated or changed while read");
            }
            pos += r;
        }
    }

    // ------------------------------------------------------------------ tensor data

    /**
     * Writes the little-endian bytes of {@code tensor} (dtype from the tensor, row-major) at {@code dst}'s position,
     * advancing it by {@code tensor.size() * dtype.bytes()} bytes; {@code dst}'s byte order is not used or changed.
     *
     * @throws IllegalArgumentException when {@code dst} has fewer bytes remaining
     */
    public static void encode(Tensor tensor, ByteBuffer dst) {
        DType t = tensor.dtype();
        int n = (int) tensor.size();
        long bytes = (long) n * t.bytes();
        if (bytes > dst.remaining()) {
            throw new IllegalArgumentException("safetensors encode: a " + code(t) + Tensor.shapeString(tensor.shape())
                    + " tensor needs " + bytes + " bytes but the buffer has " + dst.remaining() + " remaining; give a"
                    + " larger buffer");
        }
        ByteBuffer b = dst.duplicate().order(ByteOrder.LITTLE_ENDIAN);
        int at = b.position();
        switch (t) {
            case FLOAT64 -> {
                for (int i = 0; i < n; i++) {
                    b.putLong(at + 8 * i, Double.doubleToRawLongBits(tensor.doubleAt(i)));
                }
            }
            case FLOAT32 -> {
                for (int i = 0; i < n; i++) {
                    b.putInt(at + 4 * i, Float.floatToRawIntBits((float) tensor.doubleAt(i)));
                }
            }
            case FLOAT16 -> {
                for (int i = 0; i < n; i++) {
                    b.putShort(at + 2 * i, FloatFormats.toFloat16Bits(tensor.doubleAt(i)));
                }
            }
            case BFLOAT16 -> {
                for (int i = 0; i < n; i++) {
                    b.putShort(at + 2 * i, FloatFormats.toBFloat16Bits(tensor.doubleAt(i)));
                }
            }
            case FLOAT8_E4M3FN, FLOAT8_E5M2 -> {
                for (int i = 0; i < n; i++) {
                    b.put(at + i, (byte) Float8.toBits(t, tensor.doubleAt(i), false));
                }
            }
            case INT64 -> {
                for (int i = 0; i < n; i++) {
                    b.putLong(at + 8 * i, tensor.longAt(i));
                }
            }
            case INT32 -> {
                for (int i = 0; i < n; i++) {
                    b.putInt(at + 4 * i, (int) tensor.longAt(i));
                }
            }
            case INT16 -> {
                for (int i = 0; i < n; i++) {
                    b.putShort(at + 2 * i, (short) tensor.longAt(i));
                }
            }
            case INT8, UINT8, BOOL -> {
                for (int i = 0; i < n; i++) {
                    b.put(at + i, (byte) tensor.longAt(i));
                }
            }
        }
        dst.position(at + (int) bytes);
    }

    /**
     * Reads a tensor of {@code dtype} and {@code shape} from {@code volume * dtype.bytes()} little-endian bytes at
     * {@code src}'s position, advancing it; the inverse of {@link #encode} (exact for every dtype; a NaN reads as
     * the tensor's NaN, a Bool byte other than 0 as true). {@code src}'s byte order is not used or changed.
     *
     * @throws IllegalArgumentException when {@code src} has fewer bytes remaining or the shape is invalid
     */
    public static Tensor decode(DType dtype, long[] shape, ByteBuffer src) {
        if (dtype == null || src == null) {
            throw new IllegalArgumentException("safetensors decode: " + (dtype == null ? "dtype" : "buffer")
                    + " is null; expected a DType and a buffer of the tensor's bytes");
        }
        long[] s = SafeTensorsEntry.checkShape("safetensors decode", shape);
        long bytes = SafeTensorsEntry.byteSize("safetensors decode", dtype, s);
        if (bytes > src.remaining()) {
            throw new IllegalArgumentException("safetensors decode: a " + code(dtype) + Tensor.shapeString(s)
                    + " tensor needs " + bytes + " bytes but the buffer has " + src.remaining() + " remaining;"
                    + " expected the tensor's whole data");
        }
        ByteBuffer b = src.duplicate().order(ByteOrder.LITTLE_ENDIAN);
        int at = b.position();
        int n = (int) (bytes / dtype.bytes());
        Tensor out = switch (dtype) {
            case FLOAT64 -> Tensor.fromFunction(dtype, s, i -> b.getDouble(at + 8 * (int) i));
            case FLOAT32 -> Tensor.fromFunction(dtype, s, i -> b.getFloat(at + 4 * (int) i));
            case FLOAT16 -> Tensor.fromFunction(dtype, s,
                    i -> FloatFormats.fromFloat16Bits(b.getShort(at + 2 * (int) i)));
            case BFLOAT16 -> Tensor.fromFunction(dtype, s,
                    i -> FloatFormats.fromBFloat16Bits(b.getShort(at + 2 * (int) i)));
            case FLOAT8_E4M3FN, FLOAT8_E5M2 -> Tensor.fromFunction(dtype, s,
                    i -> Float8.fromBits(dtype, b.get(at + (int) i)));
            case INT64, INT32, INT16, INT8, UINT8, BOOL -> Tensor.ofLongs(dtype, s, longs(dtype, b, at, n));
        };
        src.position(at + (int) bytes);
        return out;
    }

    private static long[] longs(DType dtype, ByteBuffer b, int at, int n) {
        long[] v = new long[n];
        for (int i = 0; i < n; i++) {
            v[i] = switch (dtype) {
                case INT64 -> b.getLong(at + 8 * i);
                case INT32 -> b.getInt(at + 4 * i);
                case INT16 -> b.getShort(at + 2 * i);
                case INT8 -> b.get(at + i);
                case UINT8 -> b.get(at + i) & 0xff;
                case BOOL -> b.get(at + i) != 0 ? 1 : 0;
                default -> throw new IllegalStateException("not an integer dtype: " + dtype);
            };
        }
        return v;
    }

    // ------------------------------------------------------------------ whole files

    /**
     * Writes {@code tensors} (in the map's order) and {@code metadata} as the safetensors file {@code file},
     * atomically: to a temporary file in the same directory, flushed to disk, then renamed over {@code file}
     * (replacing it whole); on failure nothing is left. For small files (tests, merged small checkpoints): every
     * tensor is encoded in memory.
     *
     * @throws IllegalArgumentException for an invalid name or tensor
     * @throws CheckpointException      naming the file when it cannot be written
     */
    public static void write(Path file, Map<String, Tensor> tensors, Map<String, String> metadata) {
        if (file == null || tensors == null) {
            throw new IllegalArgumentException("safetensors write: " + (file == null ? "file" : "tensors")
                    + " is null; expected a path and a map of tensors");
        }
        List<SafeTensorsHeader.Spec> specs = new ArrayList<>(tensors.size());
        for (Map.Entry<String, Tensor> e : tensors.entrySet()) {
            specs.add(SafeTensorsHeader.Spec.of(e.getKey(), e.getValue()));
        }
        SafeTensorsHeader header = SafeTensorsHeader.layout(specs, metadata);
        for (SafeTensorsEntry e : header.entries()) {
            if (e.bytes() > Integer.MAX_VALUE - 8) {
                throw new IllegalArgumentException("safetensors write: tensor " + UserText.quoted(e.name()) + " is "
                        + e.bytes() + " bytes; write() encodes each tensor in memory and takes under 2 GiB per"
                        + " tensor");
            }
        }
        byte[] json = header.encode();
        String what = InputFiles.show(file);
        Path dir = file.toAbsolutePath().getParent();
        Path tmp = null;
        try {
            tmp = Files.createTempFile(dir, "." + file.getFileName() + ".", ".tmp");
            try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.WRITE)) {
                ByteBuffer head = ByteBuffer.allocate(8 + json.length).order(ByteOrder.LITTLE_ENDIAN);
                head.putLong(json.length).put(json).flip();
                writeFully(ch, head);
                for (Tensor t : tensors.values()) {
                    ByteBuffer data = ByteBuffer.allocate(Math.toIntExact(t.size() * t.dtype().bytes()));
                    encode(t, data);
                    writeFully(ch, data.flip());
                }
                ch.force(true);
            }
            try {
                Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING);
            }
            tmp = null;
            syncDirectory(dir);
        } catch (IOException | RuntimeException e) {
            if (tmp != null) {
                try {
                    Files.deleteIfExists(tmp);
                } catch (IOException ignored) {
                    // the original error is the one to report
                }
            }
            if (e instanceof RuntimeException r) {
                throw r;
            }
            throw new CheckpointException(what + ": cannot be written (" + oneLine(e) + "); expected a writable"
                    + " path in an existing directory", e);
        }
    }

    private static void writeFully(FileChannel ch, ByteBuffer src) throws IOException {
        while (src.hasRemaining()) {
            ch.write(src);
        }
    }

    /** Flushes a directory's entries (the rename) to disk where the platform allows it. */
    private static void syncDirectory(Path dir) {
        try (FileChannel d = FileChannel.open(dir, StandardOpenOption.READ)) {
            d.force(true);
        } catch (IOException | UnsupportedOperationException e) {
            // not every file system lets a directory be opened or synced; the file itself is on disk
        }
    }

    /**
     * Reads the whole safetensors file {@code file} into tensors, in data order. For small files: every tensor is
     * decoded in memory (each at most {@link Tensor#MAX_ELEMENTS} elements, the data under 2 GiB).
     *
     * @throws CheckpointException one line naming the file when it is missing, corrupt or too large
     */
    public static Map<String, Tensor> read(Path file) {
        requireFile(file);
        String what = InputFiles.show(file);
        try (FileChannel ch = open(file)) {
            SafeTensorsHeader h = readHeader(ch, ch.size(), what);
            if (h.dataBytes() > Integer.MAX_VALUE - 8) {
                throw new CheckpointException(what + ": " + h.dataBytes() + " bytes of tensor data, too large to"
                        + " read whole; expected under 2 GiB (read large files through MappedFile)");
            }
            ByteBuffer data = ByteBuffer.allocate((int) h.dataBytes());
            readFully(ch, data, h.dataStart(), what);
            Map<String, Tensor> out = new LinkedHashMap<>();
            for (SafeTensorsEntry e : h.entries()) {
                data.limit((int) e.end()).position((int) e.begin());
                try {
                    out.put(e.name(), decode(e.dtype(), e.shape(), data));
                } catch (IllegalArgumentException x) {
                    throw new CheckpointException(what + ": tensor " + UserText.quoted(e.name()) + ": "
                            + x.getMessage(), x);
                }
            }
            return out;
        } catch (IOException e) {
            throw new CheckpointException(what + ": cannot be read (" + oneLine(e) + "); expected a readable"
                    + " safetensors file", e);
        }
    }

    private static void requireFile(Path file) {
        if (file == null) {
            throw new IllegalArgumentException("safetensors file: found null; expected the path of a safetensors"
                    + " file");
        }
    }

    /** Opens {@code file} for reading, with one-line errors for a missing file or a directory. */
    private static FileChannel open(Path file) throws IOException {
        String what = InputFiles.show(file);
        if (Files.isDirectory(file)) {
            throw new CheckpointException(what + ": is a directory; expected a safetensors file");
        }
        try {
            return FileChannel.open(file, StandardOpenOption.READ);
        } catch (NoSuchFileException e) {
            throw new CheckpointException(what + ": does not exist; expected a safetensors file", e);
        }
    }

    static String oneLine(Exception e) {
        String m = e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
        return UserText.abbreviate(m.replaceAll("\\s*\\R\\s*", " ").trim());
    }
}
