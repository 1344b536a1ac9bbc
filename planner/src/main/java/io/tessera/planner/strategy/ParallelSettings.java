package io.tessera.planner.strategy;

import io.tessera.layout.param.ParallelMode;

/**
 * The {@code parallel} section of a strategy file: MindSpore's auto-parallel context settings. Every component has
 * MindSpore's default, used when the key is absent (and when a null is passed here).
 *
 * @param parallelMode            {@code parallel_mode}: stand_alone, data_parallel, semi_auto_parallel (default)
 *                                or auto_parallel; hybrid_parallel is not accepted
 * @param searchMode              {@code search_mode} for auto_parallel; default dynamic_programming
 * @param enableParallelOptimizer {@code enable_parallel_optimizer}: shard weights over data-parallel replicas;
 *                                default false
 * @param parallelOptimizerConfig {@code parallel_optimizer_config}; default 64 KB threshold, shard size -1
 * @param commFusion              {@code comm_fusion}; default auto (64 MB) for every kind
 * @param datasetStrategy         {@code dataset_strategy}; default data_parallel
 * @param gradientsMean           {@code gradients_mean}: gradient AllReduce averages instead of sums; default false
 * @param pipelineStages          {@code pipeline_stages}: >= 1, default 1; must divide the device count
 * @param microBatches            {@code micro_batches}: micro-batches per step with pipeline stages (MindSpore's
 *                                {@code PipelineCell} micro_size; the network describes one micro-batch), >= 1;
 *                                0 passed here means the default, {@code pipeline_stages}
 * @param optimizer               {@code optimizer} for memory accounting: sgd (default), momentum or adam
 * @param strategyCkptConfig      {@code strategy_ckpt_config}; default none
 */
public record ParallelSettings(ParallelMode parallelMode, SearchMode searchMode, boolean enableParallelOptimizer,
                               ParallelOptimizerConfig parallelOptimizerConfig, CommFusionConfig commFusion,
                               DatasetStrategy datasetStrategy, boolean gradientsMean, int pipelineStages,
                               int microBatches, OptimizerKind optimizer, StrategyCkptConfig strategyCkptConfig) {

    /** The default parallel mode, semi_auto_parallel. */
    public static final ParallelMode DEFAULT_PARALLEL_MODE = ParallelMode.SEMI_AUTO_PARALLEL;

    /** The parallel modes a strategy file accepts, comma separated. */
    public static final String VALID_PARALLEL_MODES = "stand_alone, data_parallel, semi_auto_parallel, auto_parallel";

    /** Replaces nulls by defaults and validates. */
    public ParallelSettings {
        parallelMode = parallelMode == null ? DEFAULT_PARALLEL_MODE : parallelMode;
        if (parallelMode == ParallelMode.HYBRID_PARALLEL) {
            throw new IllegalArgumentException("parallel.parallel_mode: found '" + parallelMode.mindsporeName()
                    + "'; expected one of " + VALID_PARALLEL_MODES);
        }
        searchMode = searchMode == null ? SearchMode.DYNAMIC_PROGRAMMING : searchMode;
        parallelOptimizerConfig = parallelOptimizerConfig == null
                ? ParallelOptimizerConfig.defaults() : parallelOptimizerConfig;
        commFusion = commFusion == null ? CommFusionConfig.defaults() : commFusion;
        datasetStrategy = datasetStrategy == null ? DatasetStrategy.dataParallel() : datasetStrategy;
        if (pipelineStages < 1) {
            throw new IllegalArgumentException("parallel.pipeline_stages: found " + pipelineStages
                    + "; expected a number of stages >= 1 (default 1)");
        }
        if (microBatches < 0) {
            throw new IllegalArgumentException("parallel.micro_batches: found " + microBatches
                    + "; expected a number of micro-batches >= 1 (default: pipeline_stages)");
        }
        microBatches = microBatches == 0 ? pipelineStages : microBatches;
        optimizer = optimizer == null ? OptimizerKind.SGD : optimizer;
        strategyCkptConfig = strategyCkptConfig == null ? StrategyCkptConfig.none() : strategyCkptConfig;
    }

    /** MindSpore's defaults. */
    public static ParallelSettings defaults() {
        return builder().build();
    }

    /** A builder starting from the defaults. */
    public static Builder builder() {
        return new Builder();
    }

    /** A builder starting from these settings. */
    public Builder toBuilder() {
        Builder b = new Builder();
        b.parallelMode = parallelMode;
        b.searchMode = searchMode;
        b.enableParallelOptimizer = enableParallelOptimizer;
        b.parallelOptimizerConfig = parallelOptimizerConfig;
        b.commFusion = commFusion;
        b.datasetStrategy = datasetStrategy;
        b.gradientsMean = gradientsMean;
        b.pipelineStages = pipelineStages;
        b.microBatches = microBatches == pipelineStages ? 0 : microBatches;
        b.optimizer = optimizer;
        b.strategyCkptConfig = strategyCkptConfig;
        return b;
    }

    /** Builds {@link ParallelSettings}; unset values keep MindSpore's defaults. Not thread-safe. */
    public static final class Builder {
        private ParallelMode parallelMode;
        private SearchMode searchMode;
        private boolean enableParallelOptimizer;
        private ParallelOptimizerConfig parallelOptimizerConfig;
        private CommFusionConfig commFusion;
        private DatasetStrategy datasetStrategy;
        private boolean gradientsMean;
        private int pipelineStages = 1;
        private int microBatches;
        private OptimizerKind optimizer;
        private StrategyCkptConfig strategyCkptConfig;

        private Builder() {
        }

        /** Sets {@code parallel_mode}. */
        public Builder parallelMode(ParallelMode v) {
            parallelMode = v;
            return this;
        }

        /** Sets {@code search_mode}. */
        public Builder searchMode(SearchMode v) {
            searchMode = v;
            return this;
        }

        /** Sets {@code enable_parallel_optimizer}. */
        public Builder enableParallelOptimizer(boolean v) {
            enableParallelOptimizer = v;
            return this;
        }

        /** Sets {@code parallel_optimizer_config}. */
        public Builder parallelOptimizerConfig(ParallelOptimizerConfig v) {
            parallelOptimizerConfig = v;
            return this;
        }

        /** Sets {@code comm_fusion}. */
        public Builder commFusion(CommFusionConfig v) {
            commFusion = v;
            return this;
        }

        /** Sets {@code dataset_strategy}. */
        public Builder datasetStrategy(DatasetStrategy v) {
            datasetStrategy = v;
            return this;
        }

        /** Sets {@code gradients_mean}. */
        public Builder gradientsMean(boolean v) {
            gradientsMean = v;
            return this;
        }

        /** Sets {@code micro_batches} (>= 1; 0 = the default, {@code pipeline_stages}). */
        public Builder microBatches(int v) {
            microBatches = v;
            return this;
        }

        /** Sets {@code pipeline_stages} (>= 1). */
        public Builder pipelineStages(int v) {
            pipelineStages = v;
            return this;
        }

        /** Sets {@code optimizer}. */
        public Builder optimizer(OptimizerKind v) {
            optimizer = v;
            return this;
        }

        /** Sets {@code strategy_ckpt_config}. */
        public Builder strategyCkptConfig(StrategyCkptConfig v) {
            strategyCkptConfig = v;
            return this;
        }

        /**
         * The settings.
         *
         * @throws IllegalArgumentException when a value is invalid
         */
        public ParallelSettings build() {
            return new ParallelSettings(parallelMode, searchMode, enableParallelOptimizer, parallelOptimizerConfig,
                    commFusion, datasetStrategy, gradientsMean, pipelineStages, microBatches, optimizer,
                    strategyCkptConfig);
        }
    }
}
