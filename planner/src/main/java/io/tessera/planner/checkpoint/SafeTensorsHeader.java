package io.tessera.planner.checkpoint;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import io.tessera.layout.DType;
import io.tessera.layout.UserText;
import io.tessera.layout.tensor.Tensor;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.AbstractList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.RandomAccess;
import java.util.TreeMap;

/**
 * A safetensors header: the tensors' entries in data-offset order, covering the data buffer contiguously from byte
 * 0, the string metadata ({@code __metadata__}, sorted by key) and the header's size in the file. Immutable.
 *
 * @param entries     the tensors, in data-offset order, contiguous from offset 0, unique names
 * @param metadata    the {@code __metadata__} strings (may be empty), kept sorted by key
 * @param headerBytes the header's size N in bytes (the file's first 8 bytes), {@code 1..}{@link
 *                    SafeTensors#MAX_HEADER_BYTES}
 */
public record SafeTensorsHeader(List<SafeTensorsEntry> entries, Map<String, String> metadata, long headerBytes) {

    /** The reserved key of the metadata in a header's JSON object. */
    public static final String METADATA_KEY = "__metadata__";

    private static final JsonFactory JSON = JsonFactory.builder().build();

    /** Validates, copies and indexes the entries; copies and sorts the metadata. */
    public SafeTensorsHeader {
        entries = new EntryList(entries);
        metadata = checkMetadata(metadata);
        if (headerBytes <= 0 || headerBytes > SafeTensors.MAX_HEADER_BYTES) {
            throw new IllegalArgumentException("safetensors header size: found " + headerBytes + " bytes; expected 1 to "
                    + SafeTensors.MAX_HEADER_BYTES);
        }
    }

    /** Offset of the data buffer in the file, in bytes: {@code 8 + headerBytes}. */
    public long dataStart() {
        return 8 + headerBytes;
    }

    /** Size of the data buffer in bytes: the end of the last entry, 0 when there is none. */
    public long dataBytes() {
        return entries.isEmpty() ? 0 : entries.get(entries.size() - 1).end();
    }

    /** Size of the whole file in bytes: {@code dataStart() + dataBytes()}. */
    public long fileBytes() {
        return dataStart() + dataBytes();
    }

    /** The entry named {@code name}, or null when there is none. */
    public SafeTensorsEntry entry(String name) {
        return ((EntryList) entries).byName.get(name);
    }

    /**
     * A header laying {@code tensors} out contiguously in the given order (the first at data offset 0) with
     * {@code metadata}; its {@code headerBytes} is the length of {@link #encode()}.
     *
     * @throws IllegalArgumentException for duplicate names, the name {@value #METADATA_KEY} or a header above
     *                                  {@link SafeTensors#MAX_HEADER_BYTES}
     */
    public static SafeTensorsHeader layout(List<Spec> tensors, Map<String, String> metadata) {
        if (tensors == null) {
            throw new IllegalArgumentException("safetensors layout: tensors is null; expected a list of specs");
        }
        SafeTensorsEntry[] out = new SafeTensorsEntry[tensors.size()];
        long at = 0;
        for (int i = 0; i < out.length; i++) {
            Spec s = tensors.get(i);
            if (s == null) {
                throw new IllegalArgumentException("safetensors layout: tensor " + i + " is null; expected a Spec");
            }
            long bytes = SafeTensorsEntry.byteSize("tensor " + UserText.quoted(s.name()), s.dtype(), s.shape);
            if (at > Long.MAX_VALUE - bytes) {
                throw new IllegalArgumentException("safetensors layout: the tensors add up to more than 2^63 bytes;"
                        + " expected a realistic checkpoint");
            }
            out[i] = new SafeTensorsEntry(s.name(), s.dtype(), s.shape, at, at + bytes);
            at += bytes;
        }
        List<SafeTensorsEntry> list = Arrays.asList(out);
        Map<String, String> md = checkMetadata(metadata);
        return new SafeTensorsHeader(list, md, encode(list, md).length);
    }

    /** This header with {@code metadata} instead of its own; {@code headerBytes} is recomputed by {@link #encode()}. */
    public SafeTensorsHeader withMetadata(Map<String, String> metadata) {
        Map<String, String> md = checkMetadata(metadata);
        return new SafeTensorsHeader(entries, md, encode(entries, md).length);
    }

    /**
     * The header's JSON as UTF-8 bytes, deterministic and compact: {@code "__metadata__"} first when the metadata is
     * non-empty (keys sorted), then the entries in data-offset order, each {@code {"dtype","shape","data_offsets"}};
     * padded with spaces to a multiple of 8 bytes. Headers with the same entries and metadata keys whose values have
     * the same JSON-escaped UTF-8 lengths (e.g. hex digests) encode to the same length. Its length may differ from
     * {@link #headerBytes()} for a header read from another writer's file.
     */
    public byte[] encode() {
        return encode(entries, metadata);
    }

    private static byte[] encode(List<SafeTensorsEntry> entries, Map<String, String> metadata) {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (JsonGenerator g = JSON.createGenerator(bytes)) {
            g.writeStartObject();
            if (!metadata.isEmpty()) {
                g.writeFieldName(METADATA_KEY);
                g.writeStartObject();
                for (Map.Entry<String, String> e : metadata.entrySet()) {
                    g.writeStringField(e.getKey(), e.getValue());
                }
                g.writeEndObject();
            }
            for (SafeTensorsEntry e : entries) {
                g.writeFieldName(e.name());
                g.writeStartObject();
                g.writeStringField("dtype", SafeTensors.code(e.dtype()));
                g.writeFieldName("shape");
                long[] shape = e.shape();
                g.writeArray(shape, 0, shape.length);
                g.writeFieldName("data_offsets");
                g.writeArray(new long[] {e.begin(), e.end()}, 0, 2);
                g.writeEndObject();
            }
            g.writeEndObject();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        while (bytes.size() % 8 != 0) {
            bytes.write(' ');
        }
        if (bytes.size() > SafeTensors.MAX_HEADER_BYTES) {
            throw new IllegalArgumentException("safetensors header: " + bytes.size() + " bytes, above the limit of "
                    + SafeTensors.MAX_HEADER_BYTES + "; split the tensors over more files or shorten the metadata");
        }
        return bytes.toByteArray();
    }

    private static Map<String, String> checkMetadata(Map<String, String> metadata) {
        if (metadata == null) {
            throw new IllegalArgumentException("safetensors metadata: found null; expected a map (empty for none)");
        }
        TreeMap<String, String> md = new TreeMap<>();
        for (Map.Entry<String, String> e : metadata.entrySet()) {
            if (e.getKey() == null || e.getValue() == null) {
                throw new IllegalArgumentException("safetensors metadata: entry " + UserText.quoted(e.getKey()) + " = "
                        + UserText.quoted(e.getValue()) + "; expected non-null keys and string values");
            }
            md.put(e.getKey(), e.getValue());
        }
        return Collections.unmodifiableSortedMap(md);
    }

    /**
     * A tensor to lay out: its name, dtype and shape. Immutable (the shape is copied in and out).
     *
     * @param name  non-blank, not {@value #METADATA_KEY}
     * @param dtype the element type
     * @param shape dimensions, each {@code >= 0}; empty for a scalar
     */
    public record Spec(String name, DType dtype, long[] shape) {

        /** Validates and copies the shape. */
        public Spec {
            if (name == null || name.isBlank() || name.equals(METADATA_KEY)) {
                throw new IllegalArgumentException("safetensors tensor name: found " + (name == null ? "null"
                        : UserText.quoted(name)) + "; expected a non-blank name other than " + METADATA_KEY);
            }
            if (dtype == null) {
                throw new IllegalArgumentException("safetensors tensor " + UserText.quoted(name)
                        + ": dtype is null; expected a DType such as Float32");
            }
            shape = SafeTensorsEntry.checkShape("safetensors tensor " + UserText.quoted(name), shape);
        }

        /** The spec of {@code tensor} under {@code name}. */
        public static Spec of(String name, Tensor tensor) {
            if (tensor == null) {
                throw new IllegalArgumentException("safetensors tensor " + UserText.quoted(name)
                        + ": found null; expected a Tensor");
            }
            return new Spec(name, tensor.dtype(), tensor.shape());
        }

        /** The shape (a copy). */
        @Override
        public long[] shape() {
            return shape.clone();
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof Spec s && name.equals(s.name) && dtype == s.dtype && Arrays.equals(shape, s.shape);
        }

        @Override
        public int hashCode() {
            return (name.hashCode() * 31 + dtype.hashCode()) * 31 + Arrays.hashCode(shape);
        }

        @Override
        public String toString() {
            return name + ": " + SafeTensors.code(dtype) + Tensor.shapeString(shape);
        }
    }

    /** The entries, unmodifiable, checked contiguous with unique names, indexed by name. */
    private static final class EntryList extends AbstractList<SafeTensorsEntry> implements RandomAccess {
        private final SafeTensorsEntry[] items;
        private final Map<String, SafeTensorsEntry> byName;

        EntryList(List<SafeTensorsEntry> entries) {
            if (entries == null) {
                throw new IllegalArgumentException("safetensors header: entries is null; expected a list (empty for"
                        + " none)");
            }
            if (entries instanceof EntryList l) {
                items = l.items;
                byName = l.byName;
                return;
            }
            items = entries.toArray(new SafeTensorsEntry[0]);
            byName = new HashMap<>(items.length * 2);
            long at = 0;
            for (int i = 0; i < items.length; i++) {
                SafeTensorsEntry e = items[i];
                if (e == null) {
                    throw new IllegalArgumentException("safetensors header: entry " + i + " is null");
                }
                if (e.name().equals(METADATA_KEY)) {
                    throw new IllegalArgumentException("safetensors header: a tensor is named " + METADATA_KEY
                            + ", the key reserved for metadata; rename it");
                }
                if (byName.putIfAbsent(e.name(), e) != null) {
                    throw new IllegalArgumentException("safetensors header: two tensors are named "
                            + UserText.quoted(e.name()) + "; expected unique names");
                }
                if (e.begin() != at) {
                    throw new IllegalArgumentException("safetensors header: tensor " + UserText.quoted(e.name())
                            + " begins at data offset " + e.begin() + " but the tensors before it end at " + at
                            + "; expected entries in data-offset order covering the data contiguously");
                }
                at = e.end();
            }
        }

        @Override
        public SafeTensorsEntry get(int index) {
            return items[index];
        }

        @Override
        public int size() {
            return items.length;
        }
    }
}
