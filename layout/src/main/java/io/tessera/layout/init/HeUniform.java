package io.tessera.layout.init;

import io.tessera.layout.Box;
import io.tessera.layout.DType;
import io.tessera.layout.tensor.Tensor;

import java.util.OptionalLong;

/**
 * Kaiming/He uniform U[-b, b) with {@code b = gain * sqrt(3 / fan)}, {@code gain = calculate_gain(nonlinearity,
 * negative_slope)} and {@code fan} = fan_in or fan_out by {@code mode} (MindSpore's {@code HeUniform(negative_slope=0,
 * mode="fan_in", nonlinearity="leaky_relu")}; by name {@code "he_uniform"}). Needs at least 2 dims.
 *
 * @param negativeSlope negative slope of the rectifier after this layer (used with "leaky_relu"; default 0)
 * @param mode          "fan_in" (default) or "fan_out", case-insensitive, stored lower-case
 * @param nonlinearity  "leaky_relu" (default), "relu", "tanh", "sigmoid", "selu", "linear", "conv1d"...
 * @param seed          explicit seed, or null to take one from the global seed when a {@link LazyTensor} is created
 */
public record HeUniform(double negativeSlope, String mode, String nonlinearity, Long seed) implements Initializer {

    /** Validates the slope (finite), the mode and the nonlinearity, normalising both names to lower case. */
    public HeUniform {
        Generation.checkFinite("HeUniform", "negative_slope", negativeSlope, false);
        mode = Generation.checkMode("HeUniform", mode);
        nonlinearity = Generation.checkNonlinearity("HeUniform", nonlinearity);
    }

    /** {@code HeUniform(negative_slope=0, mode="fan_in", nonlinearity="leaky_relu")}. */
    public HeUniform() {
        this(0.0, "fan_in", "leaky_relu", null);
    }

    /** {@code HeUniform(negative_slope, mode, nonlinearity)} with the seed from the global seed. */
    public HeUniform(double negativeSlope, String mode, String nonlinearity) {
        this(negativeSlope, mode, nonlinearity, null);
    }

    /** This initializer with an explicit seed. */
    public HeUniform withSeed(long newSeed) {
        return new HeUniform(negativeSlope, mode, nonlinearity, newSeed);
    }

    /** The gain of the nonlinearity: sqrt(2 / (1 + slope^2)) for leaky_relu, sqrt(2) for relu, 5/3 for tanh... */
    public double gain() {
        return Generation.gain(nonlinearity, negativeSlope);
    }

    /** The bound {@code b} for {@code shape}. */
    public double bound(long[] shape) {
        long[] f = Generation.fans(name(), shape);
        double fan = "fan_in".equals(mode) ? f[0] : f[1];
        double gain = gain();
        return Math.sqrt(3.0) * gain / Math.sqrt(fan);
    }

    @Override
    public String name() {
        return "HeUniform";
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
