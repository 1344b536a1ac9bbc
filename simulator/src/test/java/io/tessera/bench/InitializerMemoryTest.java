package io.tessera.bench;

import io.tessera.layout.init.Normal;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** Memory, not time: a rank's slice costs about the slice, whatever the full size. */
class InitializerMemoryTest {

    @Test
    void aRankAllocatesAboutItsSliceNotTheFullTensor() {
        // 64 MiB float32 parameter, 1/64 slice of 1 MiB
        InitializerBenchmark.ShardMemory m = InitializerBenchmark.shardMemory(new Normal(),
            new long[] {4096, 4096}, 64, 5);
        assertArrayEquals(new long[] {64, 4096}, m.sliceShape());
        assertEquals(1L << 20, m.sliceBytes());
        assertEquals(64L << 20, m.fullBytes());
        // the JVM may not measure per-thread allocation: then the check cannot run and is reported as skipped
        assumeTrue(m.allocatedBytes() >= 0, "this JVM does not report per-thread allocated bytes");
        assertTrue(m.allocatedBytes() < 2 * m.sliceBytes(), "allocated " + m.allocatedBytes() + " bytes");
    }
}
