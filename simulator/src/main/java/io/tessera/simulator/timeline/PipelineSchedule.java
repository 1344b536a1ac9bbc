package io.tessera.simulator.timeline;

import java.util.Locale;

/** How the micro-batches of a pipeline-parallel step are ordered on each stage. */
public enum PipelineSchedule {
    /** Every forward of every micro-batch, then every backward (GPipe): all micro-batches' activations in flight. */
    GPIPE("gpipe"),
    /**
     * One forward one backward with a flush (PipeDream-flush): stage {@code s} runs {@code p - 1 - s} warm-up
     * forwards, then alternates one forward and one backward, then the remaining backwards; at most {@code p - s}
     * micro-batches in flight.
     */
    ONE_F_ONE_B("1f1b"),
    /**
     * Interleaved 1F1B (Megatron-LM): each device holds {@code v} model chunks (virtual stages {@code c * p + d});
     * forwards go in groups of {@code p} micro-batches per chunk; the bubble shrinks by {@code v} at the cost of
     * {@code v} times as many sends.
     */
    INTERLEAVED_1F1B("interleaved");

    private final String cliName;

    PipelineSchedule(String cliName) {
        this.cliName = cliName;
    }

    /** The name on the command line: {@code gpipe}, {@code 1f1b} or {@code interleaved}. */
    public String cliName() {
        return cliName;
    }

    /**
     * The schedule named {@code text} ({@code gpipe}, {@code 1f1b}, {@code interleaved}, case-insensitive).
     *
     * @throws IllegalArgumentException for any other text
     */
    public static PipelineSchedule parse(String text) {
        for (PipelineSchedule s : values()) {
            if (s.cliName.equals(String.valueOf(text).toLowerCase(Locale.ROOT))) {
                return s;
            }
        }
        throw new IllegalArgumentException("pipeline schedule '" + text + "' is unknown; expected gpipe, 1f1b or "
                + "interleaved");
    }
}
