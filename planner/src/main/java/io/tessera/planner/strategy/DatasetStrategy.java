package io.tessera.planner.strategy;

import io.tessera.planner.op.Strategy;

/**
 * {@code parallel.dataset_strategy}: how input batches are split. {@code "data_parallel"} (the default: each rank
 * loads its part of the batch), {@code "full_batch"} (each rank loads the whole batch) or an explicit strategy, one
 * tuple per dataset column ({@code [[8, 1], [8]]}).
 */
public sealed interface DatasetStrategy
        permits DatasetStrategy.DataParallel, DatasetStrategy.FullBatch, DatasetStrategy.Explicit {

    /** {@code "data_parallel"}, the default. */
    static DataParallel dataParallel() {
        return new DataParallel();
    }

    /** {@code "full_batch"}. */
    static FullBatch fullBatch() {
        return new FullBatch();
    }

    /** An explicit strategy, one tuple per dataset column. */
    static Explicit of(Strategy strategy) {
        return new Explicit(strategy);
    }

    /** {@code "data_parallel"}: each rank loads its part of the batch. */
    record DataParallel() implements DatasetStrategy {
    }

    /** {@code "full_batch"}: each rank loads the whole batch. */
    record FullBatch() implements DatasetStrategy {
    }

    /**
     * An explicit dataset strategy.
     *
     * @param strategy one tuple per dataset column, at least one, values >= 1
     */
    record Explicit(Strategy strategy) implements DatasetStrategy {

        /** Validates the strategy. */
        public Explicit {
            OpStrategy.checkPositive(strategy, "parallel.dataset_strategy");
        }
    }
}
