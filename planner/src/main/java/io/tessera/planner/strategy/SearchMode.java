package io.tessera.planner.strategy;

import java.util.Arrays;
import java.util.stream.Collectors;

/**
 * MindSpore's strategy search modes for {@code auto_parallel} ({@code parallel.search_mode}); the default is
 * {@link #DYNAMIC_PROGRAMMING}.
 */
public enum SearchMode {
    /** Cost-model search over the whole graph (MindSpore's default). */
    DYNAMIC_PROGRAMMING("dynamic_programming"),
    /** Recursive, symbolic-cost search. */
    RECURSIVE_PROGRAMMING("recursive_programming"),
    /** Propagates user strategies to the operators without one. */
    SHARDING_PROPAGATION("sharding_propagation");

    private final String jsonName;

    SearchMode(String jsonName) {
        this.jsonName = jsonName;
    }

    /** The name in strategy files, e.g. {@code dynamic_programming}. */
    public String jsonName() {
        return jsonName;
    }

    /**
     * The mode with the exact name {@code name}.
     *
     * @throws IllegalArgumentException naming the valid names when {@code name} is unknown
     */
    public static SearchMode parse(String name) {
        for (SearchMode m : values()) {
            if (m.jsonName.equals(name)) {
                return m;
            }
        }
        throw new IllegalArgumentException("parallel.search_mode: found '" + name + "'; expected one of "
                + validNames());
    }

    /** The valid names, comma separated. */
    public static String validNames() {
        return Arrays.stream(values()).map(SearchMode::jsonName).collect(Collectors.joining(", "));
    }

    /** Prints the name in strategy files. */
    @Override
    public String toString() {
        return jsonName;
    }
}
