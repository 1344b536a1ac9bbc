package io.tessera.checkpoint;

import org.junit.jupiter.api.extension.AnnotatedElementContext;
import org.junit.jupiter.api.extension.ExtensionContext;
import org.junit.jupiter.api.io.TempDirFactory;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Temporary directories in memory ({@code /dev/shm}) where the system has it, else in the default temporary
 * directory: checkpoint writers force every file to disk, which on a loaded disk makes tests that write thousands of
 * small files take minutes; what they check (bytes) does not depend on where the files live.
 */
final class MemoryTempDirs implements TempDirFactory {

    private static final Path SHM = Path.of("/dev/shm");

    @Override
    public Path createTempDirectory(AnnotatedElementContext element, ExtensionContext context) throws IOException {
        if (Files.isDirectory(SHM) && Files.isWritable(SHM)) {
            return Files.createTempDirectory(SHM, "junit-tessera-");
        }
        return Files.createTempDirectory("junit-tessera-");
    }
}
