package io.tessera.planner.checkpoint;

import java.util.function.IntPredicate;

/**
 * How a checkpoint command runs. Immutable.
 *
 * @param memoryLimit bytes of buffers the copy may use (default {@link #DEFAULT_MEMORY_LIMIT}, 256 MiB; at least
 *                    {@link #MIN_MEMORY_LIMIT}); half goes to the workers' copy buffers, never more than 64 MiB each
 * @param parallelism files written at once (default 1)
 * @param ranks       which target ranks to write (default all); the index is written once every file exists
 * @param progress    receives the bytes done and the total, or null
 * @param verifySource whether every source slice a run reads is checked against its CRC-32C before anything is
 *                    copied (default true; a corrupt source is an error instead of being copied under fresh
 *                    checksums)
 */
public record CheckpointOptions(long memoryLimit, int parallelism, IntPredicate ranks, Progress progress,
                                boolean verifySource) {

    /** The default memory limit: 256 MiB. */
    public static final long DEFAULT_MEMORY_LIMIT = 256L << 20;

    /** The smallest memory limit: 1 MiB. */
    public static final long MIN_MEMORY_LIMIT = 1L << 20;

    /** The defaults: 256 MiB, one file at a time, every rank, no progress. */
    public static final CheckpointOptions DEFAULTS = new CheckpointOptions(DEFAULT_MEMORY_LIMIT, 1, r -> true, null,
            true);

    /** Receives progress: bytes copied so far and the total, bytes. Called from worker threads. */
    @FunctionalInterface
    public interface Progress {
        /** Reports {@code done} of {@code total} bytes. */
        void advance(long done, long total);
    }

    /** Validates. */
    public CheckpointOptions {
        if (memoryLimit < MIN_MEMORY_LIMIT) {
            throw new IllegalArgumentException("--memory-limit: found " + memoryLimit + " bytes; expected at least "
                    + MIN_MEMORY_LIMIT + " (1 MiB), e.g. 256M");
        }
        if (parallelism < 1 || parallelism > 256) {
            throw new IllegalArgumentException("--parallel: found " + parallelism + "; expected 1..256 files at once");
        }
        if (ranks == null) {
            throw new IllegalArgumentException("ranks: found null; expected a rank filter (r -> true for all)");
        }
    }

    /** Options that check the source slices ({@code verifySource} true). */
    public CheckpointOptions(long memoryLimit, int parallelism, IntPredicate ranks, Progress progress) {
        this(memoryLimit, parallelism, ranks, progress, true);
    }

    /** A copy that does (or, with false, does not) check the source slices' checksums first. */
    public CheckpointOptions withVerifySource(boolean verify) {
        return new CheckpointOptions(memoryLimit, parallelism, ranks, progress, verify);
    }

    /** A copy with another memory limit, bytes. */
    public CheckpointOptions withMemoryLimit(long bytes) {
        return new CheckpointOptions(bytes, parallelism, ranks, progress, verifySource);
    }

    /** A copy writing {@code n} files at once. */
    public CheckpointOptions withParallelism(int n) {
        return new CheckpointOptions(memoryLimit, n, ranks, progress, verifySource);
    }

    /** A copy writing only the ranks {@code ranks} accepts. */
    public CheckpointOptions withRanks(IntPredicate ranks) {
        return new CheckpointOptions(memoryLimit, parallelism, ranks, progress, verifySource);
    }

    /** A copy reporting to {@code progress}. */
    public CheckpointOptions withProgress(Progress progress) {
        return new CheckpointOptions(memoryLimit, parallelism, ranks, progress, verifySource);
    }
}
