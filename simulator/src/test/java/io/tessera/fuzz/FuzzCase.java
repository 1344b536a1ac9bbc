package io.tessera.fuzz;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Objects;

/**
 * One hostile-input case of the fuzz suite: a {@code tessera} command line run in-process on files written to a fresh
 * temporary directory.
 *
 * @param id       a descriptive id, stable across seeds for the same mutation ({@code family/base/mutation/command}),
 *                 matched by the globs of {@code known-failures.txt}
 * @param family   the input family (strategy, network, cluster, checkpoint, layout, options, output, special)
 * @param expect   what a correct {@code tessera} does with it
 * @param setup    writes the case's files into its directory and returns the command line arguments
 */
record FuzzCase(String id, String family, Expect expect, Setup setup) {

    /** What a correct run does: must fail (definitely invalid input), must pass (valid input), or either. */
    enum Expect { FAIL, PASS, EITHER }

    FuzzCase {
        Objects.requireNonNull(id, "id");
        Objects.requireNonNull(family, "family");
        Objects.requireNonNull(expect, "expect");
        Objects.requireNonNull(setup, "setup");
    }

    /** Whether exit 0 is wrong for this case. */
    boolean mustFail() {
        return expect == Expect.FAIL;
    }

    /** Whether the command is a {@code layout} command (per-case answers, one error line per failed case). */
    boolean isLayout() {
        return id.contains("/layout ");
    }

    /** Writes a case's files into its directory and returns its arguments. */
    @FunctionalInterface
    interface Setup {
        /**
         * @param dir the case's empty temporary directory
         * @return the {@code tessera} arguments
         * @throws IOException when a file cannot be written
         */
        List<String> prepare(Path dir) throws IOException;
    }
}
