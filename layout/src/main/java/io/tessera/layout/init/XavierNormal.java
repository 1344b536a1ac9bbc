package io.tessera.layout.init;

import io.tessera.layout.Box;
import io.tessera.layout.DType;
import io.tessera.layout.tensor.Tensor;

import java.util.OptionalLong;

/**
 * Xavier/Glorot normal N(0, s^2) with {@code s = gain * sqrt(2 / (fan_in + fan_out))} (MindSpore's
 * {@code XavierNormal(gain=1)}; by name {@code "xavier_normal"}). Needs at least 2 dims.
 *
 * @param gain scaling factor, finite and >= 0 (default 1)
 * @param seed explicit seed, or null to take one from the global seed when a {@link LazyTensor} is created
 */
public record XavierNormal(double gain, Long seed) implements Initializer {

    /** Validates gain finite and >= 0. */
    public XavierNormal {
        Generation.checkFinite("XavierNormal", "gain", gain, true);
    }

    /** {@code XavierNormal(gain=1)}. */
    public XavierNormal() {
        this(1.0, null);
    }

    /** {@code XavierNormal(gain)}. */
    public XavierNormal(double gain) {
        this(gain, null);
    }

    /** This initializer with an explicit seed. */
    public XavierNormal withSeed(long newSeed) {
        return new XavierNormal(gain, newSeed);
    }

    /** The standard deviation {@code s} for {@code shape}. */
    public double std(long[] shape) {
        long[] f = Generation.fans(name(), shape);
        return gain * Math.sqrt(2.0 / (f[0] + f[1]));
    }

    @Override
    public String name() {
        return "XavierNormal";
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
    public void checkShape(long[] shape) {
        Generation.fans(name(), shape);
    }

    @Override
    public Tensor generate(long[] shape, DType dtype, long seed, Box region) {
        return Normal.sample(name(), shape, dtype, seed, region, 0.0, std(shape));
    }
}
