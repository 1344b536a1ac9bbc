package io.tessera.planner.strategy;

import java.util.Arrays;
import java.util.stream.Collectors;

/**
 * The optimizer whose state the plan accounts for ({@code parallel.optimizer}); the default is {@link #SGD}.
 */
public enum OptimizerKind {
    /** Plain SGD: no state per parameter. */
    SGD("sgd", 0),
    /** SGD with momentum: one moment per parameter element. */
    MOMENTUM("momentum", 1),
    /** Adam: two moments per parameter element. */
    ADAM("adam", 2);

    private final String jsonName;
    private final int statesPerElement;

    OptimizerKind(String jsonName, int statesPerElement) {
        this.jsonName = jsonName;
        this.statesPerElement = statesPerElement;
    }

    /** The name in strategy files, e.g. {@code adam}. */
    public String jsonName() {
        return jsonName;
    }

    /** The optimizer state tensors kept per parameter, each of the parameter's shape: 0, 1 or 2. */
    public int statesPerElement() {
        return statesPerElement;
    }

    /**
     * The optimizer with the exact name {@code name}.
     *
     * @throws IllegalArgumentException naming the valid names when {@code name} is unknown
     */
    public static OptimizerKind parse(String name) {
        for (OptimizerKind k : values()) {
            if (k.jsonName.equals(name)) {
                return k;
            }
        }
        throw new IllegalArgumentException("parallel.optimizer: found '" + name + "'; expected one of "
                + validNames());
    }

    /** The valid names, comma separated. */
    public static String validNames() {
        return Arrays.stream(values()).map(OptimizerKind::jsonName).collect(Collectors.joining(", "));
    }

    /** Prints the name in strategy files. */
    @Override
    public String toString() {
        return jsonName;
    }
}
