package io.tessera.layout.init;

import io.tessera.layout.Box;
import io.tessera.layout.DType;
import io.tessera.layout.tensor.Tensor;

import java.util.OptionalLong;

/**
 * Uniform distribution U[-scale, scale) (MindSpore's {@code Uniform(scale=0.07)}), one 53-bit uniform per element
 * from the counter-based stream of (seed, global element index).
 *
 * @param scale half-width of the interval, >= 0 (default 0.07)
 * @param seed  explicit seed, or null to take one from the global seed when a {@link LazyTensor} is created
 */
public record Uniform(double scale, Long seed) implements Initializer {

    /** Validates scale finite and >= 0. */
    public Uniform {
        Generation.checkFinite("Uniform", "scale", scale, true);
    }

    /** {@code Uniform(scale=0.07)}. */
    public Uniform() {
        this(0.07, null);
    }

    /** {@code Uniform(scale)}. */
    public Uniform(double scale) {
        this(scale, null);
    }

    /** This initializer with an explicit seed. */
    public Uniform withSeed(long newSeed) {
        return new Uniform(scale, newSeed);
    }

    @Override
    public String name() {
        return "Uniform";
    }

    @Override
    public OptionalLong explicitSeed() {
        return seed == null ? OptionalLong.empty() : OptionalLong.of(seed);
    }

    @Override
    public boolean isRandom() {
        return true;
    }

    @Override
    public Tensor generate(long[] shape, DType dtype, long seed, Box region) {
        return sample(name(), shape, dtype, seed, region, scale);
    }

    /** U[-bound, bound) per element; shared by the Xavier and He uniform initializers. */
    static Tensor sample(String who, long[] shape, DType dtype, long seed, Box region, double bound) {
        return Generation.random(who, shape, dtype, seed, region,
            stream -> s -> bound * (2.0 * s.nextDouble() - 1.0));
    }
}
