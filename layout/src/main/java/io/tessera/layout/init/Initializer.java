package io.tessera.layout.init;

import io.tessera.layout.Box;
import io.tessera.layout.DType;
import io.tessera.layout.tensor.Tensor;

import java.util.OptionalLong;

/**
 * A description of how to fill a tensor (MindSpore's {@code mindspore.common.initializer.Initializer}).
 *
 * <p>Implementations generate any region of the full tensor directly: element values depend only on
 * (seed, shape, the element's global index), so {@code generate(shape, dtype, seed, region)} is bit-identical to
 * the same region of {@code generate(shape, dtype, seed, Box.full(shape))}, and costs memory proportional to the
 * region (except where an implementation documents otherwise, such as {@link Orthogonal}).
 */
public interface Initializer {

    /** The initializer's MindSpore class name, e.g. {@code "Normal"}, {@code "XavierUniform"}. */
    String name();

    /**
     * The values of {@code region} (global coordinates) of a tensor of {@code shape} and {@code dtype} initialised
     * with {@code seed}. Values are computed in double and then converted to {@code dtype} as
     * {@link Tensor#of} does.
     *
     * @throws IllegalArgumentException when the shape does not suit this initializer or the region leaves it
     */
    Tensor generate(long[] shape, DType dtype, long seed, Box region);

    /** The whole tensor: {@code generate(shape, dtype, seed, Box.full(shape))}. */
    default Tensor generate(long[] shape, DType dtype, long seed) {
        return generate(shape, dtype, seed, Box.full(Generation.checkShape(name(), shape)));
    }

    /** The seed this initializer was given explicitly, if any; random initializers without one use the global seed. */
    default OptionalLong explicitSeed() {
        return OptionalLong.empty();
    }

    /** Whether values are random (drawn from a seeded counter-based generator); false for deterministic ones. */
    default boolean isRandom() {
        return false;
    }

    /**
     * Checks that {@code shape} suits this initializer (e.g. 2-D for {@link Identity}); called when a
     * {@link LazyTensor} is created so that errors surface early.
     *
     * @throws IllegalArgumentException naming the shape and what is expected
     */
    default void checkShape(long[] shape) {
        Generation.checkShape(name(), shape);
    }
}
