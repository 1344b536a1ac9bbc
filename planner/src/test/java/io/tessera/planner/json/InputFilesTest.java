package io.tessera.planner.json;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class InputFilesTest {

    private static final ObjectMapper MAPPER = InputFiles.mapperBuilder().build();

    @TempDir
    Path tmp;

    private static String error(String json) {
        JsonProcessingException e = assertThrows(JsonProcessingException.class, () -> MAPPER.readTree(json));
        return InputFiles.jsonError(e);
    }

    @Test
    void aUtf8FileIsReadWithoutItsByteOrderMark() throws IOException {
        Path f = tmp.resolve("a.json");
        Files.write(f, ("\uFEFF{\"a\": \"caf\u00e9\"}").getBytes(StandardCharsets.UTF_8));
        assertEquals("{\"a\": \"caf\u00e9\"}", InputFiles.readText(f, "test file"));
    }

    @Test
    void missingEmptyAndDirectoryPathsAreNamed() {
        var e = assertThrows(InputFiles.InputFileException.class,
                () -> InputFiles.readText(tmp.resolve("none.json"), "test file"));
        assertEquals("does not exist", e.problem());
        assertEquals(tmp.resolve("none.json") + ": does not exist; expected the path of a test file (JSON)",
                e.getMessage());
        e = assertThrows(InputFiles.InputFileException.class, () -> InputFiles.readText(tmp, "test file"));
        assertEquals("is a directory", e.problem());
        e = assertThrows(InputFiles.InputFileException.class, () -> InputFiles.readText(Path.of(""), "test file"));
        assertEquals("empty path", e.problem());
    }

    @Test
    void theSizeLimitComesFromTheSystemProperty() throws IOException {
        Path f = tmp.resolve("a.json");
        Files.writeString(f, "[" + " ".repeat(100) + "]");
        String old = System.getProperty(InputFiles.MAX_BYTES_PROPERTY);
        try {
            System.setProperty(InputFiles.MAX_BYTES_PROPERTY, "64");
            assertEquals(64, InputFiles.maxBytes());
            var e = assertThrows(InputFiles.InputFileException.class, () -> InputFiles.readText(f, "test file"));
            assertEquals("is 102 bytes, above the input size limit of 64 bytes", e.problem());
            System.setProperty(InputFiles.MAX_BYTES_PROPERTY, "102");
            assertEquals(102, InputFiles.readText(f, "test file").length());
            System.setProperty(InputFiles.MAX_BYTES_PROPERTY, "lots");
            var bad = assertThrows(IllegalArgumentException.class, InputFiles::maxBytes);
            assertTrue(bad.getMessage().startsWith("system property tessera.maxInputBytes: found 'lots'"),
                    bad.getMessage());
        } finally {
            if (old == null) {
                System.clearProperty(InputFiles.MAX_BYTES_PROPERTY);
            } else {
                System.setProperty(InputFiles.MAX_BYTES_PROPERTY, old);
            }
        }
        assertEquals(InputFiles.DEFAULT_MAX_BYTES, InputFiles.maxBytes());
    }

    @Test
    void jacksonMessagesBecomeOursWithoutFeatureAdvice() {
        assertEquals(": arrays and objects nested more than 200 levels deep; expected at most 200",
                error("[".repeat(201) + "]".repeat(201)));
        assertTrue(error("[1" + "2".repeat(2000) + "]").endsWith(": a number longer than 1000 characters; expected "
                + "a number of at most 1000"));
        assertEquals(" at line 1, column 13: Duplicate field 'a'", error("{\"a\": 1, \"a\": 2}"));
        assertTrue(error("[NaN]").contains("found 'NaN', which JSON does not allow"), error("[NaN]"));
        assertEquals(" at line 1, column 3: found a comment; JSON has no comments, remove it", error("[ // x\n1]"));
        for (String bad : new String[] {"[NaN]", "[Infinity]", "[ /* */ 1]", "{'a': 1}", "[1,]", "{a: 1}",
                "[\"a\tb\"]", "[01]", "[1] [2]"}) {
            String m = error(bad);
            assertFalse(m.contains("enable") || m.contains("Feature") || m.contains("ALLOW_")
                    || m.contains("Source:"), bad + " -> " + m);
        }
    }
}
