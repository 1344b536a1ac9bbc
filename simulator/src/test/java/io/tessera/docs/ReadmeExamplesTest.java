package io.tessera.docs;

import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;

import javax.tools.JavaCompiler;
import javax.tools.ToolProvider;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.lang.reflect.Method;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;

/**
 * The README's Java examples, compiled and run: every {@code ```java} block that declares a class with a main method
 * is compiled against the project's classes, run, and its output compared with the {@code ```text} block that
 * follows it.
 */
class ReadmeExamplesTest {

    private static final Path README = Path.of("..", "README.md");
    private static final Pattern EXAMPLE = Pattern.compile(
            "```java\\n(.*?)```\\s*\\n(?:[^`]*?\\n)?```text\\n(.*?)```", Pattern.DOTALL);
    private static final Pattern CLASS = Pattern.compile("public class (\\w+)");

    @TestFactory
    List<DynamicTest> readmeExamplesPrintWhatTheReadmeSays() throws IOException {
        String text = Files.readString(README, StandardCharsets.UTF_8);
        Matcher m = EXAMPLE.matcher(text);
        List<DynamicTest> tests = new ArrayList<>();
        while (m.find()) {
            String source = m.group(1);
            String expected = m.group(2);
            Matcher c = CLASS.matcher(source);
            if (!c.find() || !source.contains("static void main")) {
                continue;
            }
            String name = c.group(1);
            tests.add(DynamicTest.dynamicTest(name, () -> assertEquals(expected, run(name, source))));
        }
        assertFalse(tests.isEmpty(), "README.md has no runnable Java example");
        return tests;
    }

    private static String run(String className, String source) throws Exception {
        Path dir = Files.createTempDirectory("readme-example");
        Path file = dir.resolve(className + ".java");
        Files.writeString(file, source, StandardCharsets.UTF_8);
        JavaCompiler compiler = ToolProvider.getSystemJavaCompiler();
        assertNotNull(compiler, "the tests need a JDK, not a JRE");
        ByteArrayOutputStream diagnostics = new ByteArrayOutputStream();
        int rc = compiler.run(null, null, diagnostics, "-classpath", System.getProperty("java.class.path"),
                "-d", dir.toString(), file.toString());
        assertEquals(0, rc, "README example " + className + " does not compile:\n" + diagnostics);
        PrintStream saved = System.out;
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try (URLClassLoader loader = new URLClassLoader(new URL[] {dir.toUri().toURL()},
                ReadmeExamplesTest.class.getClassLoader())) {
            System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
            Method main = loader.loadClass(className).getMethod("main", String[].class);
            main.invoke(null, (Object) new String[0]);
        } finally {
            System.setOut(saved);
        }
        return out.toString(StandardCharsets.UTF_8);
    }
}
