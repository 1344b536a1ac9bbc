package io.tessera.planner.strategy;

import java.util.Collections;
import java.util.Map;
import java.util.TreeMap;

/**
 * A MindSpore strategy checkpoint (spec §7), read and written as JSON by {@link StrategyCheckpoints}. Maps are
 * sorted by key.
 *
 * @param currentStage {@code current_stage}: the pipeline stage that wrote the file, >= 0
 * @param strategies   {@code parallel_strategy_item}: by key {@code <Prim>_<first parameter name>}
 *                     ({@link StrategyCheckpoints#strategyKey(String, String)}); null means none
 * @param layouts      {@code parallel_layout_item}: by parameter name; null means none
 */
public record StrategyCheckpoint(int currentStage, Map<String, StrategyItem> strategies,
                                 Map<String, LayoutItem> layouts) {

    /** Validates and copies the maps into sorted, unmodifiable ones. */
    public StrategyCheckpoint {
        if (currentStage < 0) {
            throw new IllegalArgumentException("current_stage: found " + currentStage
                    + "; expected a pipeline stage >= 0");
        }
        strategies = sorted(strategies, "parallel_strategy_item");
        layouts = sorted(layouts, "parallel_layout_item");
    }

    /** A checkpoint. */
    public static StrategyCheckpoint of(int currentStage, Map<String, StrategyItem> strategies,
                                        Map<String, LayoutItem> layouts) {
        return new StrategyCheckpoint(currentStage, strategies, layouts);
    }

    private static <V> Map<String, V> sorted(Map<String, V> m, String what) {
        TreeMap<String, V> out = new TreeMap<>();
        if (m != null) {
            for (Map.Entry<String, V> e : m.entrySet()) {
                if (e.getKey() == null || e.getKey().isEmpty()) {
                    throw new IllegalArgumentException(what + ": found the key "
                            + (e.getKey() == null ? "null" : "''") + "; expected a non-empty name");
                }
                if (e.getValue() == null) {
                    throw new IllegalArgumentException(what + "." + e.getKey() + ": found null; expected an item");
                }
                out.put(e.getKey(), e.getValue());
            }
        }
        return Collections.unmodifiableMap(out);
    }
}
