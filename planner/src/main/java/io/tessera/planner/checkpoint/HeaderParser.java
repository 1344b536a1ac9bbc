package io.tessera.planner.checkpoint;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.StreamReadConstraints;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.json.JsonMapper;
import io.tessera.layout.DType;
import io.tessera.layout.UserText;
import io.tessera.layout.tensor.Tensor;
import io.tessera.planner.json.InputFiles;

import java.io.IOException;
import java.math.BigInteger;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** Parses and validates a safetensors header's JSON bytes; every error a one-line {@link CheckpointException}. */
final class HeaderParser {

    private static final Set<String> ENTRY_KEYS = Set.of("dtype", "shape", "data_offsets");
    private static final JsonMapper MAPPER = JsonMapper.builder(JsonFactory.builder()
                    .streamReadConstraints(StreamReadConstraints.builder()
                            .maxNestingDepth(16)
                            .maxNumberLength(100)
                            .maxStringLength((int) SafeTensors.MAX_HEADER_BYTES)
                            .maxDocumentLength(SafeTensors.MAX_HEADER_BYTES + 1)
                            .build())
                    .build())
            .enable(JsonParser.Feature.STRICT_DUPLICATE_DETECTION)
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
            .enable(DeserializationFeature.USE_BIG_INTEGER_FOR_INTS)
            .build();
    private static final Pattern DUPLICATE = Pattern.compile("^Duplicate field '(.*)'");
    private static final BigInteger LONG_MAX = BigInteger.valueOf(Long.MAX_VALUE);

    private HeaderParser() {
    }

    /** The header of a file of {@code fileSize} bytes whose header bytes are {@code json}; {@code what} names it. */
    static SafeTensorsHeader parse(byte[] json, long fileSize, String what) {
        String text;
        try {
            text = StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT).decode(ByteBuffer.wrap(json)).toString();
        } catch (CharacterCodingException e) {
            throw new CheckpointException(what + ": header is not UTF-8 text; expected a safetensors file (a"
                    + " UTF-8 JSON header after the 8-byte size)");
        }
        JsonNode root;
        try {
            root = MAPPER.readTree(text);
        } catch (JsonProcessingException e) {
            Matcher dup = DUPLICATE.matcher(String.valueOf(e.getOriginalMessage()));
            if (dup.find()) {
                throw new CheckpointException(what + ": header names " + UserText.quoted(dup.group(1))
                        + " twice" + InputFiles.jsonError(e).replaceFirst(":.*", "")
                        + "; expected unique tensor names (a corrupt header)");
            }
            throw new CheckpointException(what + ": header is not valid JSON" + InputFiles.jsonError(e)
                    + " (not a safetensors file, or a corrupt one)");
        } catch (IOException e) {
            throw new CheckpointException(what + ": header cannot be parsed (" + SafeTensors.oneLine(e) + ")");
        }
        if (root == null || !root.isObject()) {
            throw new CheckpointException(what + ": header is " + kind(root) + "; expected a JSON object of tensors"
                    + " (not a safetensors file, or a corrupt one)");
        }
        Map<String, String> metadata = new TreeMap<>();
        List<SafeTensorsEntry> entries = new ArrayList<>();
        Iterator<Map.Entry<String, JsonNode>> fields = root.fields();
        while (fields.hasNext()) {
            Map.Entry<String, JsonNode> f = fields.next();
            if (f.getKey().equals(SafeTensorsHeader.METADATA_KEY)) {
                readMetadata(f.getValue(), metadata, what);
            } else {
                entries.add(entry(f.getKey(), f.getValue(), what));
            }
        }
        entries.sort(Comparator.comparingLong(SafeTensorsEntry::begin).thenComparingLong(SafeTensorsEntry::end));
        long at = 0;
        SafeTensorsEntry previous = null;
        for (SafeTensorsEntry e : entries) {
            if (e.begin() < at) {
                throw new CheckpointException(what + ": tensor " + UserText.quoted(e.name()) + " at data offsets ["
                        + e.begin() + ", " + e.end() + "] overlaps tensor " + UserText.quoted(previous.name())
                        + " at [" + previous.begin() + ", " + previous.end() + "]; expected tensors that do not"
                        + " overlap (a corrupt header)");
            }
            if (e.begin() > at) {
                throw new CheckpointException(what + ": no tensor covers data bytes [" + at + ", " + e.begin()
                        + ") before tensor " + UserText.quoted(e.name()) + "; expected tensors covering the data"
                        + " without holes (a corrupt header)");
            }
            at = e.end();
            previous = e;
        }
        long dataStart = 8L + json.length;
        if (dataStart + at > fileSize) {
            throw new CheckpointException(what + ": file is " + fileSize + " bytes but its header needs "
                    + (dataStart + at) + " (" + dataStart + " of header and " + at + " of tensor data); the file is"
                    + " truncated");
        }
        if (dataStart + at < fileSize) {
            throw new CheckpointException(what + ": file is " + fileSize + " bytes but its header accounts for "
                    + (dataStart + at) + " (" + dataStart + " of header and " + at + " of tensor data), leaving "
                    + (fileSize - dataStart - at) + " bytes no tensor covers; expected the data to end at the end of"
                    + " the file (a corrupt header or appended bytes)");
        }
        return new SafeTensorsHeader(entries, metadata, json.length);
    }

    private static void readMetadata(JsonNode node, Map<String, String> metadata, String what) {
        if (node.isNull()) {
            return;
        }
        if (!node.isObject()) {
            throw new CheckpointException(what + ": " + SafeTensorsHeader.METADATA_KEY + " is " + kind(node)
                    + "; expected an object of string values");
        }
        Iterator<Map.Entry<String, JsonNode>> it = node.fields();
        while (it.hasNext()) {
            Map.Entry<String, JsonNode> m = it.next();
            if (!m.getValue().isTextual()) {
                throw new CheckpointException(what + ": " + SafeTensorsHeader.METADATA_KEY + " value of "
                        + UserText.quoted(m.getKey()) + " is " + kind(m.getValue()) + "; expected a string");
            }
            metadata.put(m.getKey(), m.getValue().textValue());
        }
    }

    private static SafeTensorsEntry entry(String name, JsonNode node, String what) {
        String tensor = what + ": tensor " + UserText.quoted(name);
        if (name.isBlank()) {
            throw new CheckpointException(tensor + ": blank name; expected a tensor name");
        }
        if (!node.isObject()) {
            throw new CheckpointException(tensor + " is " + kind(node) + "; expected an object with dtype, shape and"
                    + " data_offsets");
        }
        Iterator<String> keys = node.fieldNames();
        while (keys.hasNext()) {
            String k = keys.next();
            if (!ENTRY_KEYS.contains(k)) {
                throw new CheckpointException(tensor + ": unknown key " + UserText.quoted(k) + "; expected only"
                        + " dtype, shape and data_offsets");
            }
        }
        for (String k : List.of("dtype", "shape", "data_offsets")) {
            if (!node.has(k)) {
                throw new CheckpointException(tensor + ": no " + k + "; expected dtype, shape and data_offsets");
            }
        }
        JsonNode d = node.get("dtype");
        if (!d.isTextual()) {
            throw new CheckpointException(tensor + ": dtype is " + kind(d) + "; expected a code such as \"F32\"");
        }
        DType dtype;
        try {
            dtype = SafeTensors.dtype(d.textValue());
        } catch (IllegalArgumentException e) {
            throw new CheckpointException(tensor + ": " + e.getMessage(), e);
        }
        long[] shape = longs(node.get("shape"), -1, tensor + ": shape", "dimension sizes >= 0");
        long[] offsets = longs(node.get("data_offsets"), 2, tensor + ": data_offsets", "[begin, end], integers >= 0");
        if (offsets[1] < offsets[0]) {
            throw new CheckpointException(tensor + ": data_offsets [" + offsets[0] + ", " + offsets[1]
                    + "] end before they begin; expected begin <= end");
        }
        long volume = SafeTensorsEntry.volume(shape);
        long span = offsets[1] - offsets[0];
        if (volume > Long.MAX_VALUE / dtype.bytes() || volume * dtype.bytes() != span) {
            String needs = volume > Long.MAX_VALUE / dtype.bytes() ? "more than 2^63"
                    : String.valueOf(volume * dtype.bytes());
            throw new CheckpointException(tensor + ": header lies about the size: shape " + Tensor.shapeString(shape)
                    + " of " + SafeTensors.code(dtype) + " (" + dtype.bytes() + " bytes each) is " + needs
                    + " bytes but data_offsets [" + offsets[0] + ", " + offsets[1] + "] span " + span
                    + "; expected equal sizes (a corrupt header)");
        }
        return new SafeTensorsEntry(name, dtype, shape, offsets[0], offsets[1]);
    }

    /** An array of non-negative integers fitting a long ({@code count} of them unless negative). */
    private static long[] longs(JsonNode node, int count, String what, String expected) {
        if (!node.isArray() || (count >= 0 && node.size() != count)) {
            throw new CheckpointException(what + " is " + kind(node) + "; expected " + expected);
        }
        long[] out = new long[node.size()];
        for (int i = 0; i < out.length; i++) {
            JsonNode v = node.get(i);
            if (!v.isIntegralNumber() || v.bigIntegerValue().signum() < 0
                    || v.bigIntegerValue().compareTo(LONG_MAX) > 0) {
                throw new CheckpointException(what + " entry " + i + " is " + kind(v) + "; expected " + expected);
            }
            out[i] = v.longValue();
        }
        return out;
    }

    /** A short description of a JSON value for messages, e.g. {@code the string "x"} or {@code an array of 3}. */
    private static String kind(JsonNode n) {
        if (n == null || n.isMissingNode()) {
            return "empty";
        }
        if (n.isObject()) {
            return "an object";
        }
        if (n.isArray()) {
            return "an array of " + n.size() + (n.size() == 1 ? " value" : " values");
        }
        if (n.isTextual()) {
            return "the string " + UserText.quoted(n.textValue());
        }
        if (n.isNull()) {
            return "null";
        }
        return UserText.abbreviate(n.toString());
    }
}
