package io.tessera.simulator.report;

import java.util.Objects;

/**
 * Why one communication of a plan is there, as the report's "Why these communications" section shows it (filled by
 * {@code tessera explain}'s explainer). Immutable.
 *
 * @param commId     the communication's index in {@code Plan.comms()}, {@code >= 0}
 * @param provenance its provenance in one line (what inserted it, for which operator and tensor)
 * @param text       the explanation: the cheapest annotation change that removes it, or why it is necessary
 */
public record ReportExplanation(int commId, String provenance, String text) {

    /** Validates the id and that the texts are present. */
    public ReportExplanation {
        if (commId < 0) {
            throw new IllegalArgumentException("explanation commId: found " + commId
                    + "; expected an index into Plan.comms() (>= 0)");
        }
        Objects.requireNonNull(provenance, "provenance");
        Objects.requireNonNull(text, "text");
    }
}
