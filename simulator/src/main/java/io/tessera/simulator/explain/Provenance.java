package io.tessera.simulator.explain;

import io.tessera.layout.comm.CollectiveKind;
import io.tessera.layout.comm.Phase;
import io.tessera.planner.plan.Communication;

import java.util.List;

/**
 * Where one communication of a plan comes from: its kind, phase and origin, the operator and input (or parameter) it
 * serves, the tensor it moves, its rank groups, the most bytes one rank receives, and the planner's reason.
 *
 * @param id           the communication's index in {@code plan.comms()} (the {@code id} of PLAN.json)
 * @param kind         the collective
 * @param phase        forward, backward or optimizer
 * @param origin       what inserted it
 * @param operator     the operator it serves, or null
 * @param input        the operator's input index, -1 for an output or none
 * @param tensor       the tensor (or gradient) it moves
 * @param parameter    the parameter it serves, or null
 * @param groups       the rank groups (stage-local ranks in a pipeline plan)
 * @param bytesPerRank the most bytes one rank receives
 * @param reason       the planner's one-line reason
 */
public record Provenance(int id, CollectiveKind kind, Phase phase, Communication.Origin origin, String operator,
                         int input, String tensor, String parameter, List<List<Integer>> groups, long bytesPerRank,
                         String reason) {

    /** Copies the groups. */
    public Provenance {
        groups = groups.stream().map(List::copyOf).toList();
    }

    /** The provenance of communication {@code id} of a plan. */
    public static Provenance of(int id, Communication c) {
        return new Provenance(id, c.kind(), c.phase(), c.origin(), c.operator(), c.input(), c.tensor(), c.parameter(),
                c.groups(), c.maxRecvBytes(), c.reason());
    }

    /** The identity a re-planned plan is searched for: kind, origin, phase, operator, input, tensor, parameter. */
    public Key key() {
        return new Key(kind, origin, phase, operator, input, tensor, parameter);
    }

    /**
     * The identity of a communication across plans of the same network: a communication is removed by a change when
     * the re-planned plan has none with the same key.
     */
    public record Key(CollectiveKind kind, Communication.Origin origin, Phase phase, String operator, int input,
                      String tensor, String parameter) {

        /** The key of {@code c}. */
        public static Key of(Communication c) {
            return new Key(c.kind(), c.origin(), c.phase(), c.operator(), c.input(), c.tensor(), c.parameter());
        }
    }

    /**
     * One line: {@code #3 forward AllGather (redistribution) of 'h' for 'out' input 0, 1 group of 8 ranks, 1792 bytes
     * per rank: reason}.
     */
    public String line() {
        return "#" + id + " " + shortLine() + ", " + groupsText() + ", " + bytesPerRank + " bytes per rank: " + reason;
    }

    /** {@code forward AllGather (redistribution) of 'h' for 'out' input 0}, with the parameter when there is one. */
    public String shortLine() {
        return phase.jsonName() + " " + kind + " (" + origin.jsonName() + ") of '" + tensor + "'"
                + (operator == null ? "" : " for '" + operator + "'" + (input >= 0 ? " input " + input : ""))
                + (parameter == null || parameter.equals(tensor) ? "" : " (parameter '" + parameter + "')");
    }

    /** {@code 2 groups of 4 ranks: [0, 1, 2, 3], [4, 5, 6, 7]}; at most two groups listed. */
    public String groupsText() {
        StringBuilder sb = new StringBuilder();
        int size = groups.isEmpty() ? 0 : groups.get(0).size();
        boolean same = groups.stream().allMatch(g -> g.size() == size);
        sb.append(groups.size()).append(groups.size() == 1 ? " group" : " groups");
        if (same) {
            sb.append(" of ").append(size).append(size == 1 ? " rank" : " ranks");
        }
        for (int i = 0; i < Math.min(2, groups.size()); i++) {
            sb.append(i == 0 ? " " : ", ").append(ranks(groups.get(i)));
        }
        if (groups.size() > 2) {
            sb.append(", ...");
        }
        return sb.toString();
    }

    /** {@code {0, 1, 2, 3}}, at most 8 ranks listed. */
    static String ranks(List<Integer> g) {
        StringBuilder sb = new StringBuilder("{");
        for (int i = 0; i < Math.min(8, g.size()); i++) {
            sb.append(i == 0 ? "" : ", ").append(g.get(i));
        }
        return sb.append(g.size() > 8 ? ", ... (" + g.size() + " ranks)}" : "}").toString();
    }
}
