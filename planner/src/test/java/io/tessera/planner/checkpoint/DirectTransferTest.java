package io.tessera.planner.checkpoint;

import io.tessera.planner.api.StrategyPlans;
import io.tessera.planner.plan.PipelinePlan;
import io.tessera.planner.strategy.StrategyFiles;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * The runner's kernel file-to-file copy of contiguous runs ({@code MigrationRunner.directRunBytes}) writes exactly
 * the bytes the buffered copy writes, with the same checksums, for shipped pairs of plans (tensor, optimizer
 * parallel, pipeline stages) and with tiny buffers (chunks cut through entries).
 */
class DirectTransferTest {

    private static final Path STRATEGIES = Path.of("..", "strategies");

    @TempDir
    Path dir;

    @AfterEach
    void restore() {
        MigrationRunner.directRunBytes = MigrationRunner.MIN_DIRECT_RUN;
        MigrationRunner.testBufferBytes = 0;
    }

    private static PipelinePlan plan(String file) {
        return StrategyPlans.pipelinePlan(StrategyFiles.read(STRATEGIES.resolve(file)), null);
    }

    private static List<Path> files(Path d) throws IOException {
        try (Stream<Path> s = Files.list(d)) {
            return s.sorted().toList();
        }
    }

    private void reshardBothWays(String from, String to, int bufferBytes) throws IOException {
        Path source = dir.resolve(from + "-src");
        Checkpoints.save(StrategyFiles.read(STRATEGIES.resolve(from)), 7, source, CheckpointOptions.DEFAULTS);
        MigrationRunner.testBufferBytes = bufferBytes;
        Path buffered = dir.resolve(from + "-" + to + "-" + bufferBytes + "-buffered");
        MigrationRunner.directRunBytes = Long.MAX_VALUE;
        Checkpoints.reshard(source, plan(to), buffered, CheckpointOptions.DEFAULTS);
        Path direct = dir.resolve(from + "-" + to + "-" + bufferBytes + "-direct");
        MigrationRunner.directRunBytes = 1;
        Checkpoints.reshard(source, plan(to), direct, CheckpointOptions.DEFAULTS.withParallelism(2));
        List<Path> a = files(buffered);
        List<Path> b = files(direct);
        assertEquals(a.stream().map(Path::getFileName).toList(), b.stream().map(Path::getFileName).toList());
        for (int i = 0; i < a.size(); i++) {
            assertEquals(-1, Files.mismatch(a.get(i), b.get(i)), from + " -> " + to + ": " + a.get(i).getFileName()
                    + " differs between the buffered and the kernel copy");
        }
        Verification.of(direct, null);
    }

    @Test
    void kernelCopiesWriteTheBufferedBytes() throws IOException {
        reshardBothWays("gpt-optimizer-parallel.json", "gpt-megatron-tp4-dp2.json", 0);
        reshardBothWays("gpt-megatron-tp4-dp2.json", "gpt-optimizer-parallel.json", 0);
        reshardBothWays("gpt-zero3.json", "gpt-pipeline-2stages.json", 0);
        reshardBothWays("gpt-pipeline-2stages.json", "gpt-zero3.json", 0);
    }

    @Test
    void kernelCopiesWriteTheBufferedBytesWithTinyChunks() throws IOException {
        reshardBothWays("gpt-zero3.json", "gpt-pipeline-2stages.json", 256);
        reshardBothWays("gpt-optimizer-parallel.json", "gpt-megatron-sequence-parallel.json", 1024);
    }
}
