package io.tessera.layout.param;

import java.util.Arrays;
import java.util.Locale;
import java.util.stream.Collectors;

/**
 * The parallel modes of a training job, with MindSpore's names ({@code stand_alone}, {@code data_parallel},
 * {@code semi_auto_parallel}, {@code auto_parallel}, {@code hybrid_parallel}).
 */
public enum ParallelMode {
    /** One device, no parallelism (MindSpore's default). */
    STAND_ALONE("stand_alone"),
    /** Data parallelism: every device holds whole parameters. */
    DATA_PARALLEL("data_parallel"),
    /** Semi-automatic parallelism: operator strategies are given by the user, the rest is derived. */
    SEMI_AUTO_PARALLEL("semi_auto_parallel"),
    /** Automatic parallelism: strategies are searched. */
    AUTO_PARALLEL("auto_parallel"),
    /** Hybrid parallelism: the user splits the model by hand. */
    HYBRID_PARALLEL("hybrid_parallel");

    private final String mindsporeName;

    ParallelMode(String mindsporeName) {
        this.mindsporeName = mindsporeName;
    }

    /** The name MindSpore uses, e.g. {@code semi_auto_parallel}. */
    public String mindsporeName() {
        return mindsporeName;
    }

    /**
     * Whether parameters created from an initializer stay lazy in this mode, as in MindSpore's
     * {@code _is_in_parallel_mode()}: true for {@link #SEMI_AUTO_PARALLEL} and {@link #AUTO_PARALLEL} only.
     */
    public boolean isAutoParallel() {
        return this == SEMI_AUTO_PARALLEL || this == AUTO_PARALLEL;
    }

    /**
     * Parses MindSpore's name of a mode, ignoring case and surrounding blanks ({@code "semi_auto_parallel"}); the
     * enum constant names ({@code "SEMI_AUTO_PARALLEL"}) are accepted too.
     *
     * @throws IllegalArgumentException naming the valid names when {@code name} is null or unknown
     */
    public static ParallelMode parse(String name) {
        if (name != null) {
            String n = name.trim().toLowerCase(Locale.ROOT);
            for (ParallelMode m : values()) {
                if (m.mindsporeName.equals(n)) {
                    return m;
                }
            }
        }
        throw new IllegalArgumentException("parallel_mode: found " + (name == null ? "null" : "'" + name + "'")
                + "; expected one of " + validNames());
    }

    /** The valid names, comma separated: {@code stand_alone, data_parallel, ...}. */
    static String validNames() {
        return Arrays.stream(values()).map(ParallelMode::mindsporeName).collect(Collectors.joining(", "));
    }

    /** Prints MindSpore's name, e.g. {@code auto_parallel}. */
    @Override
    public String toString() {
        return mindsporeName;
    }
}
