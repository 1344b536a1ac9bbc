package io.tessera.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.tessera.bench.CheckpointBenchmark;
import io.tessera.planner.api.StrategyPlans;
import io.tessera.planner.checkpoint.CheckpointLayout;
import io.tessera.planner.checkpoint.RankFile;
import io.tessera.planner.plan.PipelinePlan;
import io.tessera.planner.strategy.StrategyFiles;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code tessera bench checkpoint} on a tiny checkpoint: its JSON fields, their consistency, cleanup, bad input. */
class BenchCheckpointCommandTest {

    private static final List<String> FIELDS = List.of("hidden", "layers", "ranks", "source_plan", "target_plan",
            "source_files", "target_files", "source_file_bytes", "bytes", "remote_bytes", "memory_limit_bytes",
            "parallel", "repeats", "save_seconds", "copy_seconds", "copy_mb_per_s", "reshard_seconds", "reshard_mb_per_s",
            "ratio", "peak_heap_bytes", "heap_used_bytes", "heap_max_bytes", "peak_direct_bytes",
            "within_memory_limit", "page_cache", "cores");

    @TempDir
    Path dir;

    private static long dataBytes(int hidden, int tensor, int pipeline, int data) {
        PipelinePlan p = StrategyPlans.pipelinePlan(StrategyFiles.parse(
                CheckpointBenchmark.strategy(hidden, tensor, pipeline, data), Path.of(".")), null);
        CheckpointLayout layout = CheckpointLayout.of(p, false);
        long b = 0;
        for (RankFile f : layout.files()) {
            b += layout.dataBytes(f);
        }
        return b;
    }

    @Test
    void aTinyRunReportsConsistentFiguresAndLeavesNothingBehind() throws Exception {
        CliRun r = CliRun.of("bench", "checkpoint", "--size-gib", "0.005", "--memory-limit", "8M", "--parallel", "2",
                "--repeats", "2", "--dir", dir.toString(), "--json");
        assertEquals(0, r.code(), r.err());
        JsonNode j = new ObjectMapper().readTree(r.out());
        for (String f : FIELDS) {
            assertTrue(j.has(f), "missing field " + f + " in " + r.out());
        }
        assertEquals(FIELDS.size(), j.size(), r.out());
        int hidden = j.get("hidden").asInt();
        assertEquals(128, hidden, "the smallest width");
        assertEquals(64, j.get("ranks").asInt());
        assertEquals(64, j.get("source_files").asInt());
        assertEquals(64, j.get("target_files").asInt());
        // the reshard reads and writes exactly the target's data bytes; the copy copies the source's files
        assertEquals(dataBytes(hidden, 4, 2, 8), j.get("bytes").asLong());
        assertTrue(j.get("source_file_bytes").asLong() > dataBytes(hidden, 8, 1, 8), r.out());
        assertTrue(j.get("remote_bytes").asLong() > 0 && j.get("remote_bytes").asLong() <= j.get("bytes").asLong());
        assertEquals(8L << 20, j.get("memory_limit_bytes").asLong());
        assertEquals(2, j.get("parallel").asInt());
        assertEquals(2, j.get("repeats").asInt());
        double copy = j.get("copy_mb_per_s").asDouble();
        double reshard = j.get("reshard_mb_per_s").asDouble();
        assertEquals(j.get("source_file_bytes").asLong() / j.get("copy_seconds").asDouble() / 1e6, copy, copy * 1e-9);
        assertEquals(j.get("bytes").asLong() / j.get("reshard_seconds").asDouble() / 1e6, reshard, reshard * 1e-9);
        assertEquals(reshard / copy, j.get("ratio").asDouble(), 1e-9 * reshard / copy);
        long limit = j.get("memory_limit_bytes").asLong();
        assertEquals(j.get("peak_heap_bytes").asLong() <= limit && j.get("peak_direct_bytes").asLong() <= limit,
                j.get("within_memory_limit").asBoolean());
        assertTrue(j.get("peak_heap_bytes").asLong() > 0 && j.get("heap_used_bytes").asLong() > 0, r.out());
        assertTrue(r.err().contains("[1/3]") && r.err().contains("[2/3]") && r.err().contains("[3/3]"), r.err());
        try (Stream<Path> s = Files.list(dir)) {
            assertEquals(List.of(), s.toList(), "the benchmark deletes everything it wrote");
        }
    }

    @Test
    void badSizesAndLimitsAreOneLineErrors() {
        CliRun zero = CliRun.of("bench", "checkpoint", "--size-gib", "0", "--dir", dir.toString());
        assertEquals(2, zero.code());
        assertTrue(zero.err().contains("--size-gib: found 0.0"), zero.err());
        CliRun limit = CliRun.of("bench", "checkpoint", "--size-gib", "0.001", "--memory-limit", "10K",
                "--dir", dir.toString());
        assertEquals(2, limit.code());
        assertTrue(limit.err().contains("--memory-limit: found 10240 bytes"), limit.err());
    }
}
