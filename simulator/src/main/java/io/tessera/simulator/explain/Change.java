package io.tessera.simulator.explain;

import io.tessera.planner.api.ParallelismExpansion;
import io.tessera.planner.op.Strategy;
import io.tessera.planner.strategy.OpStrategy;
import io.tessera.planner.strategy.ParallelOptimizerConfig;
import io.tessera.planner.strategy.ParamSettings;
import io.tessera.planner.strategy.StrategyFile;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * One change of a strategy file's annotations that {@link Explainer} tries: an operator's strategy, a parameter's
 * {@code parallel_optimizer}, or the optimizer's shard size. Each applies to a {@link StrategyFile} through its
 * {@code with...} copies and prints as the JSON snippet to put in the file.
 */
public sealed interface Change permits Change.OperatorStrategy, Change.KeepParameterWhole, Change.ShardSize {

    /**
     * The strategy file with this change applied.
     *
     * @throws IllegalArgumentException when the file cannot take it (e.g. its {@code parallelism} section does not
     *                                  expand)
     */
    StrategyFile apply(StrategyFile file);

    /** The JSON to put in the strategy file, e.g. {@code "operators": {"dense1": {"in_strategy": [[2, 1], [1, 4]]}}}. */
    String snippet();

    /**
     * Whether the change applies to the file with its {@code parallelism} section expanded into operator strategies
     * ({@link ParallelismExpansion#expand}) rather than alongside the section.
     */
    boolean expandedFirst();

    /**
     * {@code operators.<operator>}: a new {@code in_strategy} (and {@code out_strategy} when not null), replacing the
     * file's entry (or, with a {@code parallelism} section, the expanded entry) of the operator.
     *
     * @param operator      the operator's name
     * @param in            the in_strategy
     * @param out           the out_strategy, or null for none
     * @param expandedFirst true when applied to the expanded file (the override is not accepted alongside
     *                      {@code parallelism})
     */
    record OperatorStrategy(String operator, Strategy in, Strategy out, boolean expandedFirst) implements Change {

        /** Validates the names. */
        public OperatorStrategy {
            if (operator == null || in == null) {
                throw new IllegalArgumentException("operator strategy change: operator " + operator + ", in_strategy "
                        + in + "; expected both");
            }
        }

        @Override
        public StrategyFile apply(StrategyFile file) {
            StrategyFile base = expandedFirst ? ParallelismExpansion.expand(file) : file;
            Map<String, OpStrategy> ops = new LinkedHashMap<>(base.operators());
            ops.put(operator, OpStrategy.of(in, out));
            return base.withOperators(ops);
        }

        @Override
        public String snippet() {
            return "\"operators\": {" + Explanations.quote(operator) + ": {\"in_strategy\": " + in
                    + (out == null ? "" : ", \"out_strategy\": " + out) + "}}";
        }
    }

    /**
     * {@code parameters.<parameter>.parallel_optimizer: false}: the optimizer keeps the parameter whole (no
     * optimizer-parallel AllGather and ReduceScatter), at the cost of its full slice on every rank.
     *
     * @param parameter the parameter's name
     */
    record KeepParameterWhole(String parameter) implements Change {

        /** Validates the name. */
        public KeepParameterWhole {
            if (parameter == null) {
                throw new IllegalArgumentException("parameter change: found no parameter name; expected one");
            }
        }

        @Override
        public StrategyFile apply(StrategyFile file) {
            Map<String, ParamSettings> params = new LinkedHashMap<>(file.parameters());
            ParamSettings own = params.getOrDefault(parameter, ParamSettings.none());
            params.put(parameter, own.withParallelOptimizer(false));
            return file.withParameters(params);
        }

        @Override
        public String snippet() {
            return "\"parameters\": {" + Explanations.quote(parameter) + ": {\"parallel_optimizer\": false}}";
        }

        @Override
        public boolean expandedFirst() {
            return false;
        }
    }

    /**
     * {@code parallel.parallel_optimizer_config.optimizer_weight_shard_size}: shard parameters over groups of
     * {@code size} ranks (-1: the whole repeated group).
     *
     * @param size          the shard size, -1 or at least 1
     * @param expandedFirst true when applied to the expanded file (a {@code parallelism} section that enables the
     *                      optimizer sharding itself, e.g. {@code zero_stage 3})
     */
    record ShardSize(int size, boolean expandedFirst) implements Change {

        /** Validates the size. */
        public ShardSize {
            if (size != -1 && size < 1) {
                throw new IllegalArgumentException("shard size change: found " + size + "; expected -1 or >= 1");
            }
        }

        @Override
        public StrategyFile apply(StrategyFile file) {
            StrategyFile base = expandedFirst ? ParallelismExpansion.expand(file) : file;
            ParallelOptimizerConfig c = base.parallel().parallelOptimizerConfig();
            return base.withParallel(base.parallel().toBuilder().parallelOptimizerConfig(
                    new ParallelOptimizerConfig(c.thresholdKb(), size, c.gradientAccumulationShard())).build());
        }

        @Override
        public String snippet() {
            return "\"parallel\": {\"parallel_optimizer_config\": {\"optimizer_weight_shard_size\": " + size + "}}";
        }
    }
}
