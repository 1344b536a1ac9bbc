package io.tessera.browser;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** The DevTools harness itself, on pages whose errors and values are known. Skipped without Chromium. */
class HeadlessChromiumTest {

    @TempDir
    Path tmp;

    @Test
    void seesConsoleErrorsExceptionsValuesAndTakesScreenshots() throws Exception {
        var binary = HeadlessChromium.binary();
        assumeTrue(binary.isPresent(), "no Chromium on this machine (install Debian's chromium): browser tests skip");
        Path clean = tmp.resolve("clean.html");
        Files.writeString(clean, "<!doctype html><html><body><svg width='100' height='50'><g class='bar' "
                + "data-v='42'><rect width='42' height='10'/></g></svg><script>document.title = 'ok';</script>"
                + "</body></html>");
        Path broken = tmp.resolve("broken.html");
        Files.writeString(broken, "<!doctype html><html><body><script>console.error('boom');"
                + "undefinedFunction();</script></body></html>");
        try (HeadlessChromium c = HeadlessChromium.start(binary.get(), 800, 600)) {
            double ms = c.open(clean);
            assertTrue(ms >= 0, "load time " + ms);
            assertEquals(List.of(), c.errors());
            assertEquals("ok", c.evaluate("document.title").asText());
            assertEquals(42, c.evaluate("+document.querySelector('g.bar').dataset.v").asInt());
            byte[] png = c.screenshot();
            assertArrayEquals(new byte[] {(byte) 0x89, 'P', 'N', 'G'}, java.util.Arrays.copyOf(png, 4));
            c.open(broken);
            List<String> errors = c.errors();
            assertTrue(errors.stream().anyMatch(e -> e.contains("boom")), errors.toString());
            assertTrue(errors.stream().anyMatch(e -> e.contains("undefinedFunction")), errors.toString());
        }
    }
}
