package io.tessera.planner.checkpoint;

import io.tessera.layout.DType;

import java.util.Arrays;

/**
 * One tensor a checkpoint stores whole across its rank files: a parameter, or one optimizer-state tensor of a
 * parameter (same shape, float32). Immutable.
 *
 * @param name      the tensor's name: the parameter's name, or {@code optimizer.state.<parameter>.<state>}
 * @param dtype     its element type
 * @param shape     its full shape (elements per dim, each {@code >= 0})
 * @param parameter the parameter it belongs to (its own name for a parameter)
 * @param state     the optimizer state ({@code momentum_buffer}, {@code exp_avg}, {@code exp_avg_sq}), or null for
 *                  the parameter itself
 */
public record CheckpointTensor(String name, DType dtype, long[] shape, String parameter, String state) {

    /** The prefix of optimizer-state tensor names. */
    public static final String STATE_PREFIX = "optimizer.state.";

    /** Validates and copies the shape. */
    public CheckpointTensor {
        if (name == null || name.isBlank()) {
            throw new IllegalArgumentException("checkpoint tensor: found " + (name == null ? "no name" : "a blank name")
                    + "; expected a parameter or optimizer-state name");
        }
        if (dtype == null || shape == null || parameter == null) {
            throw new IllegalArgumentException("checkpoint tensor '" + name + "': dtype, shape and parameter must be "
                    + "given");
        }
        shape = shape.clone();
        for (long d : shape) {
            if (d < 0) {
                throw new IllegalArgumentException("checkpoint tensor '" + name + "': shape " + Arrays.toString(shape)
                        + " has a negative dim; expected dims >= 0");
            }
        }
    }

    /** A parameter. */
    public static CheckpointTensor parameter(String name, DType dtype, long[] shape) {
        return new CheckpointTensor(name, dtype, shape, name, null);
    }

    /** The float32 optimizer-state tensor {@code state} of parameter {@code parameter}. */
    public static CheckpointTensor state(String parameter, String state, long[] shape) {
        return new CheckpointTensor(STATE_PREFIX + parameter + "." + state, DType.FLOAT32, shape, parameter, state);
    }

    /** Whether this is a parameter (not optimizer state). */
    public boolean isParameter() {
        return state == null;
    }

    @Override
    public long[] shape() {
        return shape.clone();
    }

    /** Elements of the whole tensor. */
    public long volume() {
        long v = 1;
        for (long d : shape) {
            v *= d;
        }
        return v;
    }

    /** Bytes of the whole tensor. */
    public long bytes() {
        return volume() * dtype.bytes();
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof CheckpointTensor t && name.equals(t.name) && dtype == t.dtype
                && Arrays.equals(shape, t.shape) && parameter.equals(t.parameter)
                && java.util.Objects.equals(state, t.state);
    }

    @Override
    public int hashCode() {
        return name.hashCode() * 31 + Arrays.hashCode(shape);
    }

    @Override
    public String toString() {
        return name + " " + dtype.jsonName() + Arrays.toString(shape);
    }
}
