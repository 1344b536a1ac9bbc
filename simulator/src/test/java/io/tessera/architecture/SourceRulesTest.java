package io.tessera.architecture;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Rules on the main sources that a class scan cannot see: no file above {@value #MAX_LINES} lines (split it into
 * classes named for what they do), and no collective kind compared as a string (use
 * {@code io.tessera.layout.comm.CollectiveKind}). Each rule is also run on a deliberate violation.
 */
class SourceRulesTest {

    /** The most lines a main source file may have. */
    static final int MAX_LINES = 800;

    private static final List<Path> MAIN = List.of(Path.of("../layout/src/main/java"),
            Path.of("../planner/src/main/java"), Path.of("src/main/java"));
    private static final String KINDS = "AllReduce|AllGather|ReduceScatter|AllToAll|Broadcast|CollectivePermute|SendRecv";
    /** {@code x.equals("AllReduce")}, {@code "AllReduce".equals(x)}, {@code case "AllReduce"}. */
    private static final Pattern KIND_AS_STRING = Pattern.compile("equals(?:IgnoreCase)?\\(\\s*\"(?:" + KINDS
            + ")\"\\s*\\)|\"(?:" + KINDS + ")\"\\s*\\.equals|case\\s+\"(?:" + KINDS + ")\"");

    private static List<Path> mainSources() throws IOException {
        List<Path> out = new ArrayList<>();
        for (Path root : MAIN) {
            assertTrue(Files.isDirectory(root), "no source folder " + root.toAbsolutePath());
            try (Stream<Path> s = Files.walk(root)) {
                s.filter(p -> p.toString().endsWith(".java")).sorted().forEach(out::add);
            }
        }
        assertTrue(out.size() > 100, "found only " + out.size() + " main sources");
        return out;
    }

    /** Files longer than {@link #MAX_LINES}, as {@code path (N lines)}. */
    static List<String> tooLong(List<Path> files) throws IOException {
        List<String> out = new ArrayList<>();
        for (Path p : files) {
            long lines = Files.readAllLines(p, StandardCharsets.UTF_8).size();
            if (lines > MAX_LINES) {
                out.add(p + " (" + lines + " lines)");
            }
        }
        return out;
    }

    /** Lines comparing a collective kind as a string, as {@code path:line: text}. */
    static List<String> kindsAsStrings(Path file, String text) {
        List<String> out = new ArrayList<>();
        String[] lines = text.split("\n", -1);
        for (int i = 0; i < lines.length; i++) {
            Matcher m = KIND_AS_STRING.matcher(lines[i]);
            if (m.find()) {
                out.add(file + ":" + (i + 1) + ": " + lines[i].trim());
            }
        }
        return out;
    }

    @Test
    void noMainFileIsAboveTheLimit() throws IOException {
        assertEquals(List.of(), tooLong(mainSources()), "split these into classes named for what they do");
    }

    @Test
    void noCollectiveKindIsComparedAsAString() throws IOException {
        List<String> found = new ArrayList<>();
        for (Path p : mainSources()) {
            found.addAll(kindsAsStrings(p, Files.readString(p, StandardCharsets.UTF_8)));
        }
        assertEquals(List.of(), found, "compare CollectiveKind constants instead");
    }

    @Test
    void theRulesCatchDeliberateViolations() throws IOException {
        Path dir = Files.createTempDirectory("source-rules");
        Path big = dir.resolve("Big.java");
        Files.writeString(big, "class Big {}\n".repeat(MAX_LINES + 1), StandardCharsets.UTF_8);
        Path small = dir.resolve("Small.java");
        Files.writeString(small, "class Small {}\n".repeat(MAX_LINES), StandardCharsets.UTF_8);
        assertEquals(List.of(big + " (" + (MAX_LINES + 1) + " lines)"), tooLong(List.of(big, small)));
        String code = "if (c.kind().equals(\"AllGather\")) {}\nif (\"SendRecv\".equals(k)) {}\n"
                + "switch (k) { case \"ReduceScatter\": }\nString label = \"AllReduce(sum) x\";\n"
                + "if (c.kind() == CollectiveKind.ALL_GATHER) {}\n";
        assertEquals(3, kindsAsStrings(Path.of("X.java"), code).size(), kindsAsStrings(Path.of("X.java"), code)
                .toString());
    }
}
