package io.tessera.planner.plan;

import io.tessera.layout.Layout;
import io.tessera.planner.op.OpSharding;
import io.tessera.planner.op.Strategy;

import java.util.List;

/**
 * The plan of one operator: its strategy, where the strategy came from, the derived sharding, and the layouts of its
 * inputs (as the operator needs them) and outputs. Immutable.
 *
 * @param name          the operator's name
 * @param type          the primitive name, e.g. {@code MatMul}
 * @param inStrategy    the in_strategy used
 * @param outStrategy   the out_strategy used, or null
 * @param userStrategy  true when the user gave the in_strategy, false for the data-parallel default
 * @param sharding      device matrix, tensor maps and the operator's own communication
 * @param inputLayouts  the layout each input must have
 * @param outputLayouts the layout of each output
 */
public record OpPlan(String name, String type, Strategy inStrategy, Strategy outStrategy, boolean userStrategy,
                     OpSharding sharding, List<Layout> inputLayouts, List<Layout> outputLayouts) {

    /** Copies the lists. */
    public OpPlan {
        inputLayouts = List.copyOf(inputLayouts);
        outputLayouts = List.copyOf(outputLayouts);
    }
}
