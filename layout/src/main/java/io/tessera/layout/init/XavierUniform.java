package io.tessera.layout.init;

import io.tessera.layout.Box;
import io.tessera.layout.DType;
import io.tessera.layout.tensor.Tensor;

import java.util.OptionalLong;

/**
 * Xavier/Glorot uniform U[-b, b) with {@code b = gain * sqrt(6 / (fan_in + fan_out))} (MindSpore's
 * {@code XavierUniform(gain=1)}; by name {@code "xavier_uniform"}). Needs at least 2 dims.
 *
 * @param gain scaling factor, finite and >= 0 (default 1)
 * @param seed explicit seed, or null to take one from the global seed when a {@link LazyTensor} is created
 */
public record XavierUniform(double gain, Long seed) implements Initializer {

    /** Validates gain finite and >= 0. */
    public XavierUniform {
        Generation.checkFinite("XavierUniform", "gain", gain, true);
    }

    /** {@code XavierUniform(gain=1)}. */
    public XavierUniform() {
        this(1.0, null);
    }

    /** {@code XavierUniform(gain)}. */
    public XavierUniform(double gain) {
        this(gain, null);
    }

    /** This initializer with an explicit seed. */
    public XavierUniform withSeed(long newSeed) {
        return new XavierUniform(gain, newSeed);
    }

    /** The bound {@code b} for {@code shape}. */
    public double bound(long[] shape) {
        long[] f = Generation.fans(name(), shape);
        return gain * Math.sqrt(6.0 / (f[0] + f[1]));
    }

    @Override
    public String name() {
        return "XavierUniform";
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
        return Uniform.sample(name(), shape, dtype, seed, region, bound(shape));
    }
}
