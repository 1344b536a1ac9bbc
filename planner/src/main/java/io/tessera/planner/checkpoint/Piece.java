package io.tessera.planner.checkpoint;

import io.tessera.layout.Box;

import java.util.Arrays;

/**
 * One entry of a rank file: the part {@code box} of tensor {@code tensor}, stored row-major under {@code name} with
 * shape {@code shape} (the box's shape, or, for Hugging Face's per-expert names, the box's shape without its size-1
 * dim 0). Immutable.
 *
 * @param name   the entry's name in the safetensors file
 * @param tensor the checkpoint tensor it is part of
 * @param box    the part, in the tensor's coordinates
 * @param shape  the stored shape; its volume equals the box's
 */
public record Piece(String name, String tensor, Box box, long[] shape) {

    /** Validates and copies the shape. */
    public Piece {
        if (name == null || name.isBlank() || tensor == null || box == null || shape == null) {
            throw new IllegalArgumentException("checkpoint piece: name, tensor, box and shape must be given");
        }
        shape = shape.clone();
        long v = 1;
        for (long d : shape) {
            if (d < 0) {
                throw new IllegalArgumentException("checkpoint piece '" + name + "': shape " + Arrays.toString(shape)
                        + " has a negative dim");
            }
            v *= d;
        }
        if (v != box.volume()) {
            throw new IllegalArgumentException("checkpoint piece '" + name + "': shape " + Arrays.toString(shape)
                    + " holds " + v + " elements but its box " + box + " holds " + box.volume());
        }
    }

    /** A piece stored under the tensor's own name with the box's shape. */
    public static Piece of(String tensor, Box box) {
        return new Piece(tensor, tensor, box, box.shape());
    }

    @Override
    public long[] shape() {
        return shape.clone();
    }

    /** Elements of the piece. */
    public long volume() {
        return box.volume();
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Piece p && name.equals(p.name) && tensor.equals(p.tensor) && box.equals(p.box)
                && Arrays.equals(shape, p.shape);
    }

    @Override
    public int hashCode() {
        return name.hashCode() * 31 + box.hashCode();
    }

    @Override
    public String toString() {
        return name + " " + box;
    }
}
