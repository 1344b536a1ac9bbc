package io.tessera.planner.checkpoint;

import io.tessera.layout.DType;
import io.tessera.layout.tensor.Float8;
import io.tessera.layout.tensor.FloatFormats;
import io.tessera.layout.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The safetensors format layer: hand-built byte-exact fixtures, seeded random round trips over every dtype (the seed
 * is printed), every corrupt-input case as a one-line error naming the file, and atomic writes.
 */
class SafeTensorsTest {

    private static final long SEED = Long.getLong("tessera.test.seed", 20261203L);

    @TempDir
    Path dir;

    // ------------------------------------------------------------------ helpers

    /** The bytes of a file: 8-byte little-endian size of {@code header}, the header, then {@code data}. */
    private static byte[] fileBytes(String header, byte[] data) {
        byte[] h = header.getBytes(StandardCharsets.UTF_8);
        return fileBytes(h.length, h, data);
    }

    private static byte[] fileBytes(long n, byte[] header, byte[] data) {
        ByteBuffer b = ByteBuffer.allocate(8 + header.length + data.length).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(n).put(header).put(data);
        return b.array();
    }

    private Path file(String name, byte[] bytes) throws IOException {
        Path p = dir.resolve(name);
        Files.write(p, bytes);
        return p;
    }

    private static byte[] int32s(int... v) {
        ByteBuffer b = ByteBuffer.allocate(4 * v.length).order(ByteOrder.LITTLE_ENDIAN);
        for (int x : v) {
            b.putInt(x);
        }
        return b.array();
    }

    // ------------------------------------------------------------------ byte-exact fixtures

    @Test
    void readsAHandBuiltFileByteForByte() throws IOException {
        String json = "{\"test\":{\"dtype\":\"I32\",\"shape\":[2,2],\"data_offsets\":[0,16]},"
                + "\"__metadata__\":{\"foo\":\"bar\"}}";
        Path p = file("fixture.safetensors", fileBytes(json, int32s(1, -2, 3, Integer.MIN_VALUE)));
        SafeTensorsHeader h = SafeTensors.readHeader(p);
        assertEquals(json.length(), h.headerBytes());
        assertEquals(8 + json.length(), h.dataStart());
        assertEquals(16, h.dataBytes());
        assertEquals(Files.size(p), h.fileBytes());
        assertEquals(Map.of("foo", "bar"), h.metadata());
        assertEquals(List.of(new SafeTensorsEntry("test", DType.INT32, new long[] {2, 2}, 0, 16)), h.entries());
        assertEquals(4, h.entry("test").volume());
        assertNull(h.entry("absent"));
        Map<String, Tensor> t = SafeTensors.read(p);
        assertEquals(List.of("test"), List.copyOf(t.keySet()));
        assertEquals(Tensor.ofLongs(DType.INT32, new long[] {2, 2}, new long[] {1, -2, 3, Integer.MIN_VALUE}),
                t.get("test"));
    }

    @Test
    void writesTheDocumentedBytes() throws IOException {
        Path p = dir.resolve("written.safetensors");
        SafeTensors.write(p, Map.of("test", Tensor.ofLongs(DType.INT32, new long[] {2, 2}, new long[] {1, 2, 3, 4})),
                Map.of("foo", "bar"));
        String json = "{\"__metadata__\":{\"foo\":\"bar\"},\"test\":{\"dtype\":\"I32\",\"shape\":[2,2],"
                + "\"data_offsets\":[0,16]}}";
        String padded = json + " ".repeat((8 - json.length() % 8) % 8);
        assertArrayEquals(fileBytes(padded, int32s(1, 2, 3, 4)), Files.readAllBytes(p));
    }

    @Test
    void readsAHeaderPaddedWithSpaces() throws IOException {
        String json = "{\"a\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]}}" + "       ";
        byte[] data = ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putFloat(-0.0f).array();
        Path p = file("padded.safetensors", fileBytes(json, data));
        SafeTensorsHeader h = SafeTensors.readHeader(p);
        assertEquals(json.length(), h.headerBytes());
        assertEquals(Map.of(), h.metadata());
        Tensor a = SafeTensors.read(p).get("a");
        assertEquals(Tensor.scalar(DType.FLOAT32, -0.0), a);
        assertEquals(0, a.ndim());
    }

    @Test
    void readsAFileWithNoTensors() throws IOException {
        Path p = file("empty.safetensors", fileBytes("{}", new byte[0]));
        SafeTensorsHeader h = SafeTensors.readHeader(p);
        assertEquals(List.of(), h.entries());
        assertEquals(0, h.dataBytes());
        assertEquals(10, h.fileBytes());
        assertEquals(Map.of(), SafeTensors.read(p));
        Path w = dir.resolve("none.safetensors");
        SafeTensors.write(w, Map.of(), Map.of());
        assertArrayEquals(fileBytes("{}      ", new byte[0]), Files.readAllBytes(w));
    }

    @Test
    void readsZeroSizeTensorsAnywhereInTheData() throws IOException {
        String json = "{\"z\":{\"dtype\":\"F16\",\"shape\":[0,3],\"data_offsets\":[2,2]},"
                + "\"a\":{\"dtype\":\"I16\",\"shape\":[1],\"data_offsets\":[0,2]},"
                + "\"b\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[2,4]}}";
        Path p = file("zero.safetensors", fileBytes(json, new byte[] {(byte) 0xff, (byte) 0xff, (byte) 200, 7}));
        Map<String, Tensor> t = SafeTensors.read(p);
        assertEquals(List.of("a", "z", "b"), List.copyOf(t.keySet()));
        assertEquals(Tensor.ofLongs(DType.INT16, new long[] {1}, new long[] {-1}), t.get("a"));
        assertEquals(Tensor.zeros(DType.FLOAT16, 0, 3), t.get("z"));
        assertEquals(Tensor.ofLongs(DType.UINT8, new long[] {2}, new long[] {200, 7}), t.get("b"));
    }

    @Test
    void dtypeCodesRoundTripAndUnknownCodesNameTheSupportedOnes() {
        List<String> codes = List.of("F64", "F32", "F16", "BF16", "I64", "I32", "I16", "I8", "U8", "BOOL", "F8_E4M3",
                "F8_E5M2");
        assertEquals(DType.values().length, codes.size());
        for (String c : codes) {
            assertEquals(c, SafeTensors.code(SafeTensors.dtype(c)));
        }
        assertEquals(DType.FLOAT8_E4M3FN, SafeTensors.dtype("F8_E4M3"));
        assertEquals(DType.BFLOAT16, SafeTensors.dtype("BF16"));
        for (String bad : List.of("U16", "U32", "U64", "F8_E8M0", "f32", "X9")) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> SafeTensors.dtype(bad));
            assertTrue(e.getMessage().contains(bad) && e.getMessage().contains("F64, F32, F16, BF16"),
                    e.getMessage());
        }
    }

    // ------------------------------------------------------------------ random round trips

    /** A random value of {@code t}: any bit pattern of a float format (NaN, infinities, -0 and subnormals too). */
    private static double randomValue(DType t, Random r) {
        return switch (t) {
            case FLOAT64 -> r.nextInt(4) == 0 ? Double.longBitsToDouble(r.nextLong()) : r.nextGaussian();
            case FLOAT32 -> Float.intBitsToFloat(r.nextInt());
            case FLOAT16 -> FloatFormats.fromFloat16Bits((short) r.nextInt());
            case BFLOAT16 -> FloatFormats.fromBFloat16Bits((short) r.nextInt());
            case FLOAT8_E4M3FN, FLOAT8_E5M2 -> Float8.fromBits(t, r.nextInt(256));
            default -> 0;
        };
    }

    private static Tensor randomTensor(DType t, long[] shape, Random r) {
        int n = (int) Arrays.stream(shape).reduce(1, (a, b) -> a * b);
        if (!t.isFloating()) {
            long[] v = new long[n];
            for (int i = 0; i < n; i++) {
                v[i] = switch (t) {
                    case INT64 -> r.nextLong();
                    case INT32 -> r.nextInt();
                    case INT16 -> (short) r.nextInt();
                    case INT8 -> (byte) r.nextInt();
                    case UINT8 -> r.nextInt(256);
                    default -> r.nextInt(2);
                };
            }
            return Tensor.ofLongs(t, shape, v);
        }
        double[] v = new double[n];
        double[] specials = {Double.NaN, Double.POSITIVE_INFINITY, Double.NEGATIVE_INFINITY, -0.0, 0.0};
        for (int i = 0; i < n; i++) {
            v[i] = i < specials.length ? specials[i] : randomValue(t, r);
        }
        return Tensor.of(t, shape, v);
    }

    private static long[] randomShape(Random r) {
        long[] s = new long[r.nextInt(5)];
        for (int i = 0; i < s.length; i++) {
            s[i] = r.nextInt(8) == 0 ? 0 : 1 + r.nextInt(6);
        }
        return s;
    }

    @Test
    void randomFilesRoundTripExactlyForEveryDtype() throws IOException {
        System.out.println("SafeTensorsTest seed=" + SEED);
        Random r = new Random(SEED);
        for (int round = 0; round < 60; round++) {
            Map<String, Tensor> tensors = new LinkedHashMap<>();
            int count = r.nextInt(6);
            for (int i = 0; i < count; i++) {
                DType t = DType.values()[r.nextInt(DType.values().length)];
                tensors.put("layer." + i + "." + t.jsonName(), randomTensor(t, randomShape(r), r));
            }
            Map<String, String> md = r.nextBoolean() ? Map.of() : Map.of("format", "pt", "round", "" + round);
            Path p = dir.resolve("r" + round + ".safetensors");
            SafeTensors.write(p, tensors, md);
            Map<String, Tensor> back = SafeTensors.read(p);
            assertEquals(List.copyOf(tensors.keySet()), List.copyOf(back.keySet()), "seed " + SEED + " round " + round);
            assertEquals(tensors, back, "seed " + SEED + " round " + round);
            SafeTensorsHeader h = SafeTensors.readHeader(p);
            assertEquals(Files.size(p), h.fileBytes());
            assertEquals(0, h.headerBytes() % 8);
            assertEquals(md, h.metadata());
            // re-encoding what was read writes the same bytes
            Path again = dir.resolve("again" + round + ".safetensors");
            SafeTensors.write(again, back, h.metadata());
            assertArrayEquals(Files.readAllBytes(p), Files.readAllBytes(again), "seed " + SEED + " round " + round);
        }
    }

    @Test
    void everyDtypeRoundTripsThroughBuffersIncludingSpecialValues() {
        Random r = new Random(SEED + 1);
        for (DType t : DType.values()) {
            Tensor x = randomTensor(t, new long[] {3, 37}, r);
            ByteBuffer b = ByteBuffer.allocate(5 + (int) x.size() * t.bytes()).order(ByteOrder.BIG_ENDIAN);
            b.position(5);
            SafeTensors.encode(x, b);
            assertEquals(b.capacity(), b.position());
            assertEquals(ByteOrder.BIG_ENDIAN, b.order());
            b.position(5);
            assertEquals(x, SafeTensors.decode(t, new long[] {3, 37}, b), t.toString());
            assertEquals(b.capacity(), b.position());
            if (t.isFloating()) {
                assertTrue(Double.isNaN(SafeTensors.decode(t, new long[] {3, 37}, b.position(5)).doubleAt(0)));
                assertEquals(Double.doubleToRawLongBits(-0.0), Double.doubleToRawLongBits(x.doubleAt(3)), t + " -0");
            }
        }
        // every bit pattern of the 1- and 2-byte float formats decodes and re-encodes to itself (NaNs to a NaN)
        for (DType t : List.of(DType.FLOAT16, DType.BFLOAT16, DType.FLOAT8_E4M3FN, DType.FLOAT8_E5M2)) {
            int patterns = 1 << (8 * t.bytes());
            ByteBuffer all = ByteBuffer.allocate(patterns * t.bytes()).order(ByteOrder.LITTLE_ENDIAN);
            for (int i = 0; i < patterns; i++) {
                if (t.bytes() == 2) {
                    all.putShort((short) i);
                } else {
                    all.put((byte) i);
                }
            }
            Tensor x = SafeTensors.decode(t, new long[] {patterns}, all.flip());
            ByteBuffer back = ByteBuffer.allocate(all.capacity());
            SafeTensors.encode(x, back);
            for (int i = 0; i < all.capacity(); i += t.bytes()) {
                int idx = i / t.bytes();
                if (!Double.isNaN(x.doubleAt(idx))) {
                    assertEquals(all.get(i), back.get(i), t + " pattern " + idx);
                }
            }
        }
    }

    @Test
    void boolBytesOtherThanOneReadAsTrueAndShortBuffersAreErrors() {
        Tensor b = SafeTensors.decode(DType.BOOL, new long[] {3}, ByteBuffer.wrap(new byte[] {0, 1, 7}));
        assertEquals(Tensor.ofLongs(DType.BOOL, new long[] {3}, new long[] {0, 1, 1}), b);
        assertThrows(IllegalArgumentException.class,
                () -> SafeTensors.decode(DType.FLOAT32, new long[] {2}, ByteBuffer.allocate(7)));
        assertThrows(IllegalArgumentException.class,
                () -> SafeTensors.encode(Tensor.zeros(DType.INT64, 2), ByteBuffer.allocate(15)));
    }

    @Test
    void headerLayoutIsContiguousAndEncodedLengthDependsOnlyOnValueLengths() {
        Random r = new Random(SEED + 2);
        List<SafeTensorsHeader.Spec> specs = List.of(
                new SafeTensorsHeader.Spec("w", DType.BFLOAT16, new long[] {4, 8}),
                new SafeTensorsHeader.Spec("empty", DType.FLOAT32, new long[] {0}),
                new SafeTensorsHeader.Spec("b", DType.FLOAT64, new long[] {}));
        SafeTensorsHeader h = SafeTensorsHeader.layout(specs, Map.of());
        assertEquals(List.of(new SafeTensorsEntry("w", DType.BFLOAT16, new long[] {4, 8}, 0, 64),
                new SafeTensorsEntry("empty", DType.FLOAT32, new long[] {0}, 64, 64),
                new SafeTensorsEntry("b", DType.FLOAT64, new long[] {}, 64, 72)), h.entries());
        assertEquals(72, h.dataBytes());
        assertEquals(h.encode().length, h.headerBytes());
        int length = -1;
        for (int i = 0; i < 20; i++) {
            String hex = Long.toHexString(r.nextLong() | Long.MIN_VALUE);
            SafeTensorsHeader m = h.withMetadata(Map.of("sha256:w", hex, "plan", "tp" + (i % 10)));
            assertEquals(m.encode().length, m.headerBytes());
            assertEquals(0, m.headerBytes() % 8);
            assertEquals(h.entries(), m.entries());
            if (length >= 0) {
                assertEquals(length, m.headerBytes(), "metadata values of the same lengths, seed " + SEED);
            }
            length = (int) m.headerBytes();
            String json = new String(m.encode(), StandardCharsets.UTF_8);
            assertTrue(json.startsWith("{\"__metadata__\":{\"plan\":\"tp" + (i % 10) + "\",\"sha256:w\":\""), json);
        }
        assertThrows(IllegalArgumentException.class, () -> SafeTensorsHeader.layout(List.of(specs.get(0),
                specs.get(0)), Map.of()));
        assertThrows(IllegalArgumentException.class, () -> new SafeTensorsHeader(List.of(
                new SafeTensorsEntry("a", DType.INT8, new long[] {1}, 1, 2)), Map.of(), 8));
        assertThrows(IllegalArgumentException.class,
                () -> new SafeTensorsEntry("a", DType.INT32, new long[] {2}, 0, 4));
        assertThrows(IllegalArgumentException.class,
                () -> new SafeTensorsEntry(" ", DType.INT32, new long[] {1}, 0, 4));
        assertThrows(IllegalArgumentException.class,
                () -> new SafeTensorsHeader.Spec("a", DType.INT32, new long[] {-1}));
        long[] shape = {2, 3};
        SafeTensorsHeader.Spec s = new SafeTensorsHeader.Spec("a", DType.INT32, shape);
        shape[0] = 9;
        s.shape()[1] = 9;
        assertArrayEquals(new long[] {2, 3}, s.shape());
    }

    // ------------------------------------------------------------------ corrupt input

    private static final String A = "{\"a\":{\"dtype\":\"I32\",\"shape\":[2,2],\"data_offsets\":[0,16]}}";

    /** Each corrupt file and a phrase its error must contain. */
    private static Stream<Object[]> corruptFiles() {
        byte[] d16 = new byte[16];
        byte[] valid = fileBytes(A, d16);
        byte[] huge = fileBytes(1L << 40, A.getBytes(StandardCharsets.UTF_8), d16);
        byte[] maxU64 = fileBytes(-1L, A.getBytes(StandardCharsets.UTF_8), d16);
        List<Object[]> c = new ArrayList<>();
        c.add(new Object[] {"shorter than 8", new byte[] {1, 0, 0}, "shorter than the 8-byte"});
        c.add(new Object[] {"header size 0", fileBytes(0, new byte[0], d16), "header size is 0"});
        c.add(new Object[] {"header size huge", huge, "header size is 1099511627776"});
        c.add(new Object[] {"header size 2^64-1", maxU64, "header size is 18446744073709551615"});
        c.add(new Object[] {"truncated header", Arrays.copyOf(valid, 20), "file is 20 bytes but its header needs"});
        c.add(new Object[] {"truncated data", Arrays.copyOf(valid, valid.length - 1), "is truncated"});
        c.add(new Object[] {"trailing bytes", Arrays.copyOf(valid, valid.length + 3), "leaving 3 bytes"});
        c.add(new Object[] {"lying offsets", fileBytes(A.replace("[0,16]", "[0,12]"), new byte[12]),
            "header lies about the size"});
        c.add(new Object[] {"lying dtype", fileBytes(A.replace("I32", "F64"), d16), "header lies about the size"});
        c.add(new Object[] {"overlap", fileBytes("{\"a\":{\"dtype\":\"I32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                + "\"b\":{\"dtype\":\"I32\",\"shape\":[2],\"data_offsets\":[4,12]}}", new byte[12]), "overlaps"});
        c.add(new Object[] {"hole", fileBytes("{\"a\":{\"dtype\":\"I32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                + "\"b\":{\"dtype\":\"I32\",\"shape\":[2],\"data_offsets\":[12,20]}}", new byte[20]),
            "no tensor covers data bytes [8, 12)"});
        c.add(new Object[] {"hole at start", fileBytes(A.replace("[0,16]", "[4,20]"), new byte[20]),
            "no tensor covers data bytes [0, 4)"});
        c.add(new Object[] {"unknown dtype", fileBytes(A.replace("I32", "X9"), d16), "unknown code 'X9'"});
        c.add(new Object[] {"unsupported dtype", fileBytes(A.replace("I32", "U32"), d16), "U32 is not supported"});
        c.add(new Object[] {"bad JSON", fileBytes("{\"a\":{\"dtype\":", d16), "not valid JSON"});
        c.add(new Object[] {"non-object", fileBytes("[1,2]", new byte[0]), "expected a JSON object"});
        c.add(new Object[] {"blank header", fileBytes("    ", new byte[0]), "header is empty"});
        c.add(new Object[] {"duplicate key", fileBytes("{\"a\":{\"dtype\":\"I8\",\"shape\":[1],\"data_offsets\":[0,1]},"
                + "\"a\":{\"dtype\":\"I8\",\"shape\":[1],\"data_offsets\":[1,2]}}", new byte[2]), "header names 'a' twice at line 1"});
        c.add(new Object[] {"negative dim", fileBytes(A.replace("[2,2]", "[-2,-2]"), d16), "shape entry 0 is -2"});
        c.add(new Object[] {"fractional dim", fileBytes(A.replace("[2,2]", "[2,2.0]"), d16), "shape entry 1 is 2.0"});
        c.add(new Object[] {"string dim", fileBytes(A.replace("[2,2]", "[2,\"2\"]"), d16), "shape entry 1"});
        c.add(new Object[] {"one offset", fileBytes(A.replace("[0,16]", "[16]"), d16), "data_offsets is an array of 1"});
        c.add(new Object[] {"negative offset", fileBytes(A.replace("[0,16]", "[-16,0]"), d16), "data_offsets entry 0"});
        c.add(new Object[] {"end before begin", fileBytes(A.replace("[0,16]", "[16,0]"), d16), "end before"});
        c.add(new Object[] {"unknown key", fileBytes(A.replace("\"shape\"", "\"offset\":1,\"shape\""), d16),
            "unknown key 'offset'"});
        c.add(new Object[] {"missing key", fileBytes("{\"a\":{\"dtype\":\"I32\",\"shape\":[4]}}", d16),
            "no data_offsets"});
        c.add(new Object[] {"entry not object", fileBytes("{\"a\":[1]}", new byte[0]), "tensor 'a' is an array"});
        c.add(new Object[] {"metadata not string", fileBytes("{\"__metadata__\":{\"k\":1}}", new byte[0]),
            "value of 'k' is 1"});
        c.add(new Object[] {"metadata not object", fileBytes("{\"__metadata__\":[]}", new byte[0]),
            "__metadata__ is an array"});
        c.add(new Object[] {"dtype not string", fileBytes(A.replace("\"I32\"", "4"), d16), "dtype is 4"});
        c.add(new Object[] {"huge shape", fileBytes(A.replace("[2,2]", "[4294967296,4294967296]"), d16),
            "more than 2^63"});
        byte[] notUtf8 = fileBytes(A, d16);
        notUtf8[10] = (byte) 0xff;
        c.add(new Object[] {"not UTF-8", notUtf8, "not UTF-8"});
        return c.stream();
    }

    @Test
    void everyCorruptFileIsAOneLineErrorNamingTheFile() throws IOException {
        List<Object[]> cases = corruptFiles().toList();
        assertTrue(cases.size() >= 30, "cases: " + cases.size());
        int i = 0;
        for (Object[] c : cases) {
            Path p = file("corrupt-" + (i++) + ".safetensors", (byte[]) c[1]);
            for (boolean whole : new boolean[] {false, true}) {
                CheckpointException e = assertThrows(CheckpointException.class,
                        () -> {
                            if (whole) {
                                SafeTensors.read(p);
                            } else {
                                SafeTensors.readHeader(p);
                            }
                        }, (String) c[0]);
                String m = e.getMessage();
                assertTrue(m.startsWith(p.toString() + ": "), c[0] + ": " + m);
                assertTrue(m.contains((String) c[2]), c[0] + ": expected '" + c[2] + "' in: " + m);
                assertFalse(m.contains("\n") || m.contains("\r"), c[0] + ": " + m);
                assertTrue(m.length() < 600, c[0] + ": " + m);
                if (!whole && Boolean.getBoolean("tessera.test.showMessages")) {
                    System.out.println(c[0] + " -> " + m);
                }
            }
        }
    }

    @Test
    void missingFilesAndDirectoriesAreOneLineErrors() {
        CheckpointException e = assertThrows(CheckpointException.class,
                () -> SafeTensors.readHeader(dir.resolve("nope.safetensors")));
        assertTrue(e.getMessage().contains("nope.safetensors: does not exist"), e.getMessage());
        e = assertThrows(CheckpointException.class, () -> SafeTensors.read(dir));
        assertTrue(e.getMessage().contains("is a directory"), e.getMessage());
    }

    // ------------------------------------------------------------------ atomic writes

    @Test
    void aFailedWriteLeavesNothingAndAWriteReplacesAFileWhole() throws IOException {
        Path blocker = file("not-a-dir", new byte[] {1});
        Path target = blocker.resolve("x.safetensors");
        CheckpointException e = assertThrows(CheckpointException.class,
                () -> SafeTensors.write(target, Map.of("a", Tensor.ones(DType.FLOAT32, 2)), Map.of()));
        assertTrue(e.getMessage().startsWith(target + ": cannot be written"), e.getMessage());
        assertFalse(e.getMessage().contains("\n"));
        try (Stream<Path> files = Files.list(dir)) {
            assertEquals(List.of(blocker), files.toList());
        }

        Path p = dir.resolve("model.safetensors");
        Map<String, Tensor> big = new LinkedHashMap<>();
        big.put("w", Tensor.arange(DType.FLOAT64, 1000));
        big.put("b", Tensor.arange(DType.INT64, 10));
        SafeTensors.write(p, big, Map.of("step", "1"));
        long bigSize = Files.size(p);
        Map<String, Tensor> small = Map.of("x", Tensor.scalar(DType.BFLOAT16, 1.5));
        SafeTensors.write(p, small, Map.of());
        assertTrue(Files.size(p) < bigSize);
        assertEquals(small, SafeTensors.read(p));
        assertEquals(Files.size(p), SafeTensors.readHeader(p).fileBytes());
        try (Stream<Path> files = Files.list(dir)) {
            assertEquals(List.of("model.safetensors", "not-a-dir"),
                    files.map(f -> f.getFileName().toString()).sorted().toList(), "no temporary file is left");
        }
        // an invalid tensor name fails before anything is written
        assertThrows(IllegalArgumentException.class, () -> SafeTensors.write(dir.resolve("bad.safetensors"),
                Map.of("__metadata__", Tensor.ones(DType.INT8, 1)), Map.of()));
        assertFalse(Files.exists(dir.resolve("bad.safetensors")));
    }
}
