package io.tessera.docs;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The README's "Where things live" map stays true: every package and every source file it names exists, and every
 * main package of the three modules is on the map.
 */
class WhereThingsLiveTest {

    private static final Path README = Path.of("..", "README.md");
    private static final List<Path> ROOTS = List.of(Path.of("../layout/src/main/java"),
            Path.of("../planner/src/main/java"), Path.of("src/main/java"));
    private static final Pattern PACKAGE = Pattern.compile("`(io\\.tessera(?:\\.[a-z]\\w*)*)`");
    private static final Pattern FILE = Pattern.compile("`((?:layout|planner|simulator)/src/[\\w/.-]+\\.java)`");

    private static String section() throws IOException {
        String text = Files.readString(README, StandardCharsets.UTF_8);
        int at = text.indexOf("\n## Where things live");
        assertTrue(at >= 0, "README.md has no '## Where things live' section");
        int end = text.indexOf("\n## ", at + 1);
        return end < 0 ? text.substring(at) : text.substring(at, end);
    }

    private static boolean packageExists(String pkg) {
        for (Path root : ROOTS) {
            if (Files.isDirectory(root.resolve(pkg.replace('.', '/')))) {
                return true;
            }
        }
        return false;
    }

    @Test
    void everyPackageAndFileTheMapNamesExists() throws IOException {
        String s = section();
        Set<String> packages = new LinkedHashSet<>();
        Matcher m = PACKAGE.matcher(s);
        while (m.find()) {
            packages.add(m.group(1));
        }
        assertTrue(packages.size() >= 15, "the map names only " + packages);
        List<String> missing = new ArrayList<>();
        for (String p : packages) {
            if (!packageExists(p)) {
                missing.add(p);
            }
        }
        Matcher f = FILE.matcher(s);
        while (f.find()) {
            if (!Files.isRegularFile(Path.of("..").resolve(f.group(1)))) {
                missing.add(f.group(1));
            }
        }
        assertEquals(List.of(), missing, "the README's map names what does not exist");
    }

    @Test
    void everyMainPackageIsOnTheMap() throws IOException {
        String s = section();
        List<String> absent = new ArrayList<>();
        for (Path root : ROOTS) {
            try (var walk = Files.walk(root)) {
                walk.filter(Files::isDirectory).filter(d -> {
                    try (var files = Files.list(d)) {
                        return files.anyMatch(x -> x.toString().endsWith(".java"));
                    } catch (IOException e) {
                        throw new java.io.UncheckedIOException(e);
                    }
                }).forEach(d -> {
                    String pkg = root.relativize(d).toString().replace('/', '.');
                    if (!s.contains("`" + pkg + "`")) {
                        absent.add(pkg);
                    }
                });
            }
        }
        assertEquals(List.of(), absent, "add these packages to the README's 'Where things live' map");
    }
}
