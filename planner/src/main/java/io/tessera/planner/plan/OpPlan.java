package io.tessera.planner.plan;

import io.tessera.layout.Layout;
import io.tessera.planner.op.OpSharding;
import io.tessera.planner.op.Strategy;

import java.util.List;

/**
 * The plan of one operator: its strategy, where the strategy came from, the derived sharding, the layouts of its
 * inputs (as the operator needs them) and outputs, the inputs that reuse an earlier consumer's redistribution, and
 * what executing it needs ({@link OpExecution}: its inputs' redistribution plans and its communications). Immutable.
 *
 * @param name          the operator's name
 * @param type          the primitive name, e.g. {@code MatMul}
 * @param inStrategy    the in_strategy used
 * @param outStrategy   the out_strategy used, or null
 * @param userStrategy  true when the user gave the in_strategy, false for the data-parallel default
 * @param sharding      device matrix, tensor maps and the operator's own communication
 * @param inputLayouts  the layout each input must have
 * @param outputLayouts the layout of each output
 * @param reuses        inputs that take the redistributed tensor of an earlier consumer instead of redistributing it
 *                      again (see {@link Reuse}); empty by default
 * @param execution     the redistributions and communications executing the operator, one input route per input;
 *                      null when the operator plan was not made by {@link Planner} (e.g. a search's candidate)
 */
public record OpPlan(String name, String type, Strategy inStrategy, Strategy outStrategy, boolean userStrategy,
                     OpSharding sharding, List<Layout> inputLayouts, List<Layout> outputLayouts, List<Reuse> reuses,
                     OpExecution execution) {

    /**
     * Input {@code input} of this operator needs its tensor in the layout that input {@code ownerInput} of the
     * earlier operator {@code owner} already redistributed it to (with the same partial-gradient groups): it reads
     * that copy, so the tensor is redistributed once however many consumers need that layout, and in backward the
     * consumers' gradients are summed locally and returned (reduced) once, at the owner. Immutable.
     *
     * @param input      this operator's input index, {@code >= 0}
     * @param owner      the operator whose input redistribution is reused
     * @param ownerInput the owner's input index, {@code >= 0}
     */
    public record Reuse(int input, String owner, int ownerInput) {

        /** Validates non-negative indices and a named owner. */
        public Reuse {
            if (input < 0 || ownerInput < 0 || owner == null || owner.isEmpty()) {
                throw new IllegalArgumentException("OpPlan.Reuse: input " + input + ", owner '" + owner
                        + "', owner input " + ownerInput + "; expected indices >= 0 and an operator name");
            }
        }
    }

    /** Copies the lists; validates one execution route per input and communications serving this operator. */
    public OpPlan {
        inputLayouts = List.copyOf(inputLayouts);
        outputLayouts = List.copyOf(outputLayouts);
        reuses = reuses == null ? List.of() : List.copyOf(reuses);
        if (execution != null) {
            if (execution.inputs().size() != inputLayouts.size()) {
                throw new IllegalArgumentException("operator '" + name + "': its execution record has "
                        + execution.inputs().size() + " input routes but the operator has " + inputLayouts.size()
                        + " inputs; expected one route per input");
            }
            for (List<Communication> phase : List.of(execution.forward(), execution.backward())) {
                for (Communication c : phase) {
                    if (!name.equals(c.operator())) {
                        throw new IllegalArgumentException("operator '" + name + "': its execution record lists "
                                + c + ", which serves operator '" + c.operator() + "'; expected only this operator's "
                                + "communications");
                    }
                }
            }
        }
    }

    /** An operator plan without an execution record (see {@link #execution()}). */
    public OpPlan(String name, String type, Strategy inStrategy, Strategy outStrategy, boolean userStrategy,
                  OpSharding sharding, List<Layout> inputLayouts, List<Layout> outputLayouts, List<Reuse> reuses) {
        this(name, type, inStrategy, outStrategy, userStrategy, sharding, inputLayouts, outputLayouts, reuses, null);
    }

    /** An operator plan whose inputs reuse no earlier redistribution. */
    public OpPlan(String name, String type, Strategy inStrategy, Strategy outStrategy, boolean userStrategy,
                  OpSharding sharding, List<Layout> inputLayouts, List<Layout> outputLayouts) {
        this(name, type, inStrategy, outStrategy, userStrategy, sharding, inputLayouts, outputLayouts, List.of());
    }

    /** This operator plan with execution record {@code e}. */
    public OpPlan withExecution(OpExecution e) {
        return new OpPlan(name, type, inStrategy, outStrategy, userStrategy, sharding, inputLayouts, outputLayouts,
                reuses, e);
    }

    /**
     * The execution record.
     *
     * @throws IllegalStateException when the operator plan has none (it was not made by {@link Planner})
     */
    public OpExecution requireExecution() {
        if (execution == null) {
            throw new IllegalStateException("operator '" + name + "' carries no execution record (its redistribution "
                    + "plans and communications); expected a plan made by Planner.plan or PipelinePlan.plan");
        }
        return execution;
    }

    /** The reuse of input {@code input}, or null when the input has its own redistribution (or none). */
    public Reuse reuse(int input) {
        for (Reuse r : reuses) {
            if (r.input() == input) {
                return r;
            }
        }
        return null;
    }
}
