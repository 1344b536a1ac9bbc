package io.tessera.layout;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.ValueSource;

/** {@link DType}: parsing of MindSpore-style names, sizes, and the error for unknown names. */
class DTypeTest {

    @ParameterizedTest
    @CsvSource({
        "float32, FLOAT32", "Float32, FLOAT32", "mstype.float32, FLOAT32", "FLOAT32, FLOAT32",
        "fp32, FLOAT32", "float, FLOAT32", "fp16, FLOAT16", "float16, FLOAT16", "half, FLOAT16",
        "mstype.float16, FLOAT16", "bf16, BFLOAT16", "bfloat16, BFLOAT16", "fp64, FLOAT64", "double, FLOAT64",
        "int, INT32", "int32, INT32", "long, INT64", "Int64, INT64", "mstype.int8, INT8", "uint8, UINT8",
        "bool_, BOOL", "Bool, BOOL", "mstype.bool_, BOOL"
    })
    void parsesKnownNames(String name, DType expected) {
        assertEquals(expected, DType.parse(name));
    }

    @ParameterizedTest
    @EnumSource(DType.class)
    void parsesItsOwnNames(DType t) {
        assertEquals(t, DType.parse(t.jsonName()));
        assertEquals(t, DType.parse(t.displayName()));
        assertEquals(t, DType.parse("mstype." + t.jsonName()));
        assertEquals(t.displayName(), t.toString());
    }

    @ParameterizedTest
    @ValueSource(strings = {"float8", "fp128", "tensor", "", "mstype.", "float32x", "mstype.mstype.float32", " float32",
        "float32 ", "\tfloat16"})
    void rejectsUnknownNamesListingTheValidOnes(String name) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> DType.parse(name));
        String m = e.getMessage();
        assertTrue(m.contains("'" + name + "'"), "names the value found: " + m);
        for (DType t : DType.values()) {
            assertTrue(m.contains(t.jsonName()), "lists valid name " + t.jsonName() + ": " + m);
        }
    }

    @Test
    void rejectsNull() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> DType.parse(null));
        assertTrue(e.getMessage().contains("null") && e.getMessage().contains("float32"), e.getMessage());
    }

    @Test
    void sizesAndKinds() {
        assertEquals(2, DType.FLOAT16.bytes());
        assertEquals(2, DType.BFLOAT16.bytes());
        assertEquals(4, DType.FLOAT32.bytes());
        assertEquals(8, DType.FLOAT64.bytes());
        assertEquals(1, DType.INT8.bytes());
        assertEquals(4, DType.INT32.bytes());
        assertEquals(8, DType.INT64.bytes());
        assertEquals(1, DType.BOOL.bytes());
        assertTrue(DType.BFLOAT16.isFloating());
        assertFalse(DType.INT32.isFloating());
        assertEquals("Float32", DType.FLOAT32.displayName());
        assertEquals("float32", DType.FLOAT32.jsonName());
        // spec §5: a [1152, 16] float32 parameter is 72 KB
        assertEquals(72 * 1024, Layout.of(new int[] {1}, new int[] {-1, -1}, 1152, 16).sliceBytes(DType.FLOAT32));
    }
}
