package io.tessera.planner.plan;

import io.tessera.layout.comm.Phase;
import io.tessera.layout.redistribution.RedistributionPlan;

import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * What executing one operator needs, as the planner decided it: per input how its tensor arrives (the forward
 * redistribution from its producer's layout, and the transposed redistribution returning its gradient), and the
 * operator's own communications of each phase (the same objects as in {@link Plan#comms()}, in plan order). A
 * numeric executor runs these steps as they are instead of planning them again. Immutable.
 *
 * @param inputs   one entry per operator input, in input order
 * @param forward  the forward communications serving this operator (its input redistributions, optimizer-parallel
 *                 AllGathers and its own reductions), in plan order
 * @param backward the backward communications serving this operator (recomputed AllGathers, reductions of its
 *                 input gradients, parameter gradient reductions, transposed redistributions), in plan order
 */
public record OpExecution(List<Input> inputs, List<Communication> forward, List<Communication> backward) {

    /**
     * How one input's tensor reaches the operator and its gradient goes back. Immutable.
     *
     * @param forward  the redistribution from the producer's layout (a parameter: its stored layout) to the layout
     *                 the operator needs, with at least one step (local Slice / Concat steps included), or null when
     *                 the operator reads the tensor as its producer leaves it
     * @param backward the transpose of {@code forward} carrying the gradient back to the producer's layout, or null
     *                 when no redistribution returns it (no forward redistribution, no gradient, an input that
     *                 reuses an earlier consumer's redistribution, or a gradient reduce-scattered into the
     *                 producer's layout by one of {@link OpExecution#backward()})
     */
    public record Input(RedistributionPlan forward, RedistributionPlan backward) {

        /** An input read in its producer's layout: no redistribution either way. */
        public static final Input DIRECT = new Input(null, null);

        /** Validates a non-empty forward plan and a backward plan that is its transpose. */
        public Input {
            if (forward != null && forward.steps().isEmpty()) {
                throw new IllegalArgumentException("OpExecution.Input: forward redistribution " + forward.from()
                        + " -> " + forward.to() + " has no steps; expected null for an input read in its producer's "
                        + "layout");
            }
            if (backward != null && (forward == null || !backward.from().equals(forward.to())
                    || !backward.to().equals(forward.from()))) {
                throw new IllegalArgumentException("OpExecution.Input: backward redistribution " + backward.from()
                        + " -> " + backward.to() + " is not the transpose of the forward one "
                        + (forward == null ? "(none)" : forward.from() + " -> " + forward.to())
                        + "; expected the forward plan's layouts swapped");
            }
        }

        /** Whether the input is redistributed in forward (its layout differs from its producer's). */
        public boolean redistributed() {
            return forward != null;
        }

        /** Equal when both directions redistribute between the same layouts and dtype (plans are functions of them). */
        @Override
        public boolean equals(Object o) {
            return o instanceof Input i && same(forward, i.forward) && same(backward, i.backward);
        }

        /** Hashes the layouts and dtypes {@link #equals} compares. */
        @Override
        public int hashCode() {
            return Objects.hash(key(forward), key(backward));
        }

        private static boolean same(RedistributionPlan a, RedistributionPlan b) {
            return Objects.equals(key(a), key(b));
        }

        private static List<Object> key(RedistributionPlan p) {
            return p == null ? null : List.of(p.from(), p.to(), p.dtype());
        }
    }

    /** Validates the phases and copies the lists. */
    public OpExecution {
        inputs = List.copyOf(inputs);
        forward = List.copyOf(forward);
        backward = List.copyOf(backward);
        check(forward, Phase.FORWARD);
        check(backward, Phase.BACKWARD);
    }

    private static void check(List<Communication> comms, Phase phase) {
        for (Communication c : comms) {
            if (c.phase() != phase) {
                throw new IllegalArgumentException("OpExecution: the " + phase.jsonName() + " list holds the "
                        + c.phase().jsonName() + " communication " + c + "; expected only " + phase.jsonName()
                        + " communications in it");
            }
        }
    }

    /** Input {@code i}'s route. */
    public Input input(int i) {
        if (i < 0 || i >= inputs.size()) {
            throw new IllegalArgumentException("OpExecution: input " + i + " is out of range; expected 0.."
                    + (inputs.size() - 1));
        }
        return inputs.get(i);
    }

    /**
     * Builds the execution record of every operator of a plan: the inputs' routes, and each operator's
     * communications of {@code comms} (by operator name and phase, in plan order).
     *
     * @param ops      the operators, in execution order
     * @param comms    the plan's final communications
     * @param forward  per operator name, per input the forward redistribution or null
     * @param backward per {@code operator#input}, the transposed redistribution of the gradient
     * @return the operators with their execution records, in the same order
     */
    static List<OpPlan> attach(List<OpPlan> ops, List<Communication> comms,
                               java.util.Map<String, List<RedistributionPlan>> forward,
                               java.util.Map<String, RedistributionPlan> backward) {
        java.util.Map<String, List<Communication>> fw = new java.util.HashMap<>();
        java.util.Map<String, List<Communication>> bw = new java.util.HashMap<>();
        for (Communication c : comms) {
            if (c.operator() == null) {
                continue;
            }
            (c.phase() == Phase.FORWARD ? fw : bw).computeIfAbsent(c.operator(), k -> new ArrayList<>()).add(c);
        }
        List<OpPlan> out = new ArrayList<>(ops.size());
        for (OpPlan op : ops) {
            List<RedistributionPlan> routes = forward.get(op.name());
            List<Input> inputs = new ArrayList<>();
            for (int i = 0; i < op.inputLayouts().size(); i++) {
                RedistributionPlan f = routes == null ? null : routes.get(i);
                inputs.add(f == null ? Input.DIRECT : new Input(f, backward.get(op.name() + "#" + i)));
            }
            out.add(op.withExecution(new OpExecution(inputs, fw.getOrDefault(op.name(), List.of()),
                    bw.getOrDefault(op.name(), List.of()))));
        }
        return out;
    }
}
