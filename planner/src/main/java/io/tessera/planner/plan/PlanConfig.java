package io.tessera.planner.plan;

import io.tessera.layout.param.ParallelMode;
import io.tessera.planner.op.Strategy;
import io.tessera.planner.strategy.CommFusionConfig;
import io.tessera.planner.strategy.DatasetStrategy;
import io.tessera.planner.strategy.OptimizerKind;
import io.tessera.planner.strategy.ParallelOptimizerConfig;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * What the planner needs besides the network: the device count, the parallel mode, the user's operator strategies,
 * the dataset strategy and the gradient reduction. Parameter settings ({@code requires_grad}, {@code
 * layerwise_parallel}, {@code comm_fusion}...) live on the network's Parameter objects. Immutable; build with
 * {@link #builder(int)}.
 *
 * @param devices       number of devices of the stage (at least 1)
 * @param mode          the parallel mode: {@code stand_alone} (one device), {@code data_parallel} (every operator
 *                      data parallel) or {@code semi_auto_parallel} (user strategies, data parallel elsewhere)
 * @param inStrategies  in_strategy by operator name
 * @param outStrategies out_strategy by operator name
 * @param dataset       how the data inputs are split
 * @param gradientsMean whether gradient reductions average (MindSpore's {@code gradients_mean}) instead of summing:
 *                      in semi_auto parallel each parameter then gets the one-device gradient divided by its
 *                      reduction group's size, as MindSpore's mirror {@code mean_flag} does
 * @param parallelOptimizer {@code enable_parallel_optimizer} (default false)
 * @param optimizerConfig   {@code parallel_optimizer_config} (default threshold 64 KB, shard size -1)
 * @param commFusion        the global {@code comm_fusion} config (default auto, 64 MB buckets)
 * @param optimizer         the optimizer, for its state memory (default SGD)
 */
public record PlanConfig(int devices, ParallelMode mode, Map<String, Strategy> inStrategies,
                         Map<String, Strategy> outStrategies, DatasetStrategy dataset, boolean gradientsMean,
                         boolean parallelOptimizer, ParallelOptimizerConfig optimizerConfig,
                         CommFusionConfig commFusion, OptimizerKind optimizer) {

    /** Validates the device count and the mode; copies the maps. */
    public PlanConfig {
        if (devices < 1) {
            throw new IllegalArgumentException("devices: found " + devices + "; expected at least 1");
        }
        if (mode == null) {
            throw new IllegalArgumentException("parallel_mode: required");
        }
        if (mode == ParallelMode.AUTO_PARALLEL || mode == ParallelMode.HYBRID_PARALLEL) {
            throw new IllegalArgumentException("parallel_mode: '" + mode + "' needs the strategy search, which is "
                    + "not available yet; use semi_auto_parallel with in_strategy per operator, or data_parallel");
        }
        if (mode == ParallelMode.STAND_ALONE && devices != 1) {
            throw new IllegalArgumentException("parallel_mode: stand_alone runs on one device but devices is "
                    + devices + "; set devices to 1 or choose data_parallel / semi_auto_parallel");
        }
        inStrategies = Map.copyOf(inStrategies);
        outStrategies = Map.copyOf(outStrategies);
        if (dataset == null) {
            dataset = new DatasetStrategy.DataParallel();
        }
        optimizerConfig = optimizerConfig == null ? ParallelOptimizerConfig.defaults() : optimizerConfig;
        commFusion = commFusion == null ? CommFusionConfig.defaults() : commFusion;
        optimizer = optimizer == null ? OptimizerKind.SGD : optimizer;
    }

    /** A builder for {@code devices} devices, semi-auto parallel, data-parallel dataset, summed gradients. */
    public static Builder builder(int devices) {
        return new Builder(devices);
    }

    /** Builds a {@link PlanConfig}. */
    public static final class Builder {
        private final int devices;
        private ParallelMode mode = ParallelMode.SEMI_AUTO_PARALLEL;
        private final Map<String, Strategy> in = new LinkedHashMap<>();
        private final Map<String, Strategy> out = new LinkedHashMap<>();
        private DatasetStrategy dataset = new DatasetStrategy.DataParallel();
        private boolean gradientsMean;
        private boolean parallelOptimizer;
        private ParallelOptimizerConfig optimizerConfig = ParallelOptimizerConfig.defaults();
        private CommFusionConfig commFusion = CommFusionConfig.defaults();
        private OptimizerKind optimizer = OptimizerKind.SGD;

        private Builder(int devices) {
            this.devices = devices;
        }

        /** The parallel mode (default semi_auto_parallel). */
        public Builder mode(ParallelMode m) {
            this.mode = m;
            return this;
        }

        /** The in_strategy of operator {@code op}. */
        public Builder strategy(String op, int[]... tuples) {
            in.put(op, Strategy.of(tuples));
            return this;
        }

        /** The in_strategy of operator {@code op}. */
        public Builder strategy(String op, Strategy s) {
            in.put(op, s);
            return this;
        }

        /** The out_strategy of operator {@code op}. */
        public Builder outStrategy(String op, Strategy s) {
            out.put(op, s);
            return this;
        }

        /** The dataset strategy (default data parallel). */
        public Builder dataset(DatasetStrategy d) {
            this.dataset = d;
            return this;
        }

        /** Whether gradient reductions average (default false: sum). */
        public Builder gradientsMean(boolean mean) {
            this.gradientsMean = mean;
            return this;
        }

        /** Enables optimizer parallelism ({@code enable_parallel_optimizer}, default false). */
        public Builder parallelOptimizer(boolean enabled) {
            this.parallelOptimizer = enabled;
            return this;
        }

        /** Enables optimizer parallelism with {@code parallel_optimizer_config}. */
        public Builder parallelOptimizer(ParallelOptimizerConfig config) {
            this.parallelOptimizer = true;
            this.optimizerConfig = config;
            return this;
        }

        /** The global {@code comm_fusion} config (default: auto, 64 MB buckets, for every kind). */
        public Builder commFusion(CommFusionConfig config) {
            this.commFusion = config;
            return this;
        }

        /** The optimizer, for the memory of its state (default SGD). */
        public Builder optimizer(OptimizerKind kind) {
            this.optimizer = kind;
            return this;
        }

        /** The config. */
        public PlanConfig build() {
            return new PlanConfig(devices, mode, in, out, dataset, gradientsMean, parallelOptimizer, optimizerConfig,
                    commFusion, optimizer);
        }
    }

    /** Names of strategies given for operators the network does not have. */
    List<String> unknownOperators(java.util.Set<String> opNames) {
        List<String> out = new ArrayList<>();
        for (String n : inStrategies.keySet()) {
            if (!opNames.contains(n)) {
                out.add(n);
            }
        }
        for (String n : outStrategies.keySet()) {
            if (!opNames.contains(n) && !out.contains(n)) {
                out.add(n);
            }
        }
        return out;
    }
}
