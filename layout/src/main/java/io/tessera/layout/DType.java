package io.tessera.layout;

import java.util.Arrays;
import java.util.Locale;
import java.util.stream.Collectors;

/**
 * Element types of tensors, with MindSpore's display names ({@code Float32}, {@code Int64}, ...) and their sizes.
 */
public enum DType {
    /** IEEE half precision, 2 bytes. */
    FLOAT16("Float16", 2, true),
    /** bfloat16, 2 bytes. */
    BFLOAT16("BFloat16", 2, true),
    /** IEEE single precision, 4 bytes. */
    FLOAT32("Float32", 4, true),
    /** IEEE double precision, 8 bytes. */
    FLOAT64("Float64", 8, true),
    /** signed 8-bit integer. */
    INT8("Int8", 1, false),
    /** signed 16-bit integer. */
    INT16("Int16", 2, false),
    /** signed 32-bit integer. */
    INT32("Int32", 4, false),
    /** signed 64-bit integer. */
    INT64("Int64", 8, false),
    /** unsigned 8-bit integer. */
    UINT8("UInt8", 1, false),
    /** boolean, stored in 1 byte. */
    BOOL("Bool", 1, false),
    /**
     * OCP FP8 E4M3, the "fn" variant (PyTorch's {@code float8_e4m3fn}), 1 byte: 4 exponent bits (bias 7), 3 mantissa
     * bits, no infinities, one NaN pattern per sign ({@code S.1111.111}), largest finite value 448. Transformer
     * Engine's format for forward GEMM inputs (activations and weights).
     */
    FLOAT8_E4M3FN("Float8_E4M3FN", 1, true),
    /**
     * OCP FP8 E5M2 (PyTorch's {@code float8_e5m2}), 1 byte: IEEE-like with 5 exponent bits (bias 15) and 2 mantissa
     * bits, infinities and NaNs, largest finite value 57344. Transformer Engine's format for gradients in backward.
     */
    FLOAT8_E5M2("Float8_E5M2", 1, true);

    private final String displayName;
    private final int bytes;
    private final boolean floating;

    DType(String displayName, int bytes, boolean floating) {
        this.displayName = displayName;
        this.bytes = bytes;
        this.floating = floating;
    }

    /** The name MindSpore prints, e.g. {@code Float32}. */
    public String displayName() {
        return displayName;
    }

    /** Size of one element in bytes. */
    public int bytes() {
        return bytes;
    }

    /** Whether this is a floating-point type (the two FP8 formats included). */
    public boolean isFloating() {
        return floating;
    }

    /**
     * Whether this is one of the 1-byte FP8 formats ({@link #FLOAT8_E4M3FN}, {@link #FLOAT8_E5M2}): a GEMM input
     * format with per-tensor scaling, not a storage type for parameters or a network's activations.
     */
    public boolean isFp8() {
        return this == FLOAT8_E4M3FN || this == FLOAT8_E5M2;
    }

    /** Lower-case name as used in JSON files, e.g. {@code float32}. */
    public String jsonName() {
        return displayName.toLowerCase(Locale.ROOT);
    }

    /**
     * Parses a dtype name case-insensitively (but exactly: no surrounding whitespace): {@code float32},
     * {@code Float32}, {@code mstype.float32},
     * and the short forms {@code fp16}, {@code fp32}, {@code fp64}, {@code bf16}, {@code half}, {@code float},
     * {@code double}, {@code int}, {@code long}, {@code bool_}, {@code fp8_e4m3} / {@code e4m3} (float8_e4m3fn) and
     * {@code fp8_e5m2} / {@code e5m2} (float8_e5m2).
     *
     * @throws IllegalArgumentException naming the valid names when {@code name} is unknown
     */
    public static DType parse(String name) {
        if (name == null) {
            throw new IllegalArgumentException("dtype: found null; expected one of " + validNames());
        }
        // no trimming: " float32" is a typo to report, not a name
        String n = name.toLowerCase(Locale.ROOT);
        if (n.startsWith("mstype.")) {
            n = n.substring("mstype.".length());
        }
        switch (n) {
            case "fp16": case "half": return FLOAT16;
            case "bf16": return BFLOAT16;
            case "fp32": case "float": case "single": return FLOAT32;
            case "fp64": case "double": return FLOAT64;
            case "int": return INT32;
            case "long": return INT64;
            case "bool_": case "boolean": return BOOL;
            case "fp8_e4m3": case "e4m3": case "float8_e4m3": return FLOAT8_E4M3FN;
            case "fp8_e5m2": case "e5m2": return FLOAT8_E5M2;
            default: break;
        }
        for (DType t : values()) {
            if (t.jsonName().equals(n)) {
                return t;
            }
        }
        throw new IllegalArgumentException("dtype: unknown name " + UserText.quoted(name) + "; expected one of " + validNames());
    }

    private static String validNames() {
        return Arrays.stream(values()).map(DType::jsonName).collect(Collectors.joining(", "));
    }

    @Override
    public String toString() {
        return displayName;
    }
}
