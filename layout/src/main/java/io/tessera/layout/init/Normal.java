package io.tessera.layout.init;

import io.tessera.layout.Box;
import io.tessera.layout.DType;
import io.tessera.layout.tensor.Tensor;
import org.apache.commons.rng.sampling.distribution.ZigguratSampler;

import java.util.OptionalLong;

/**
 * Normal distribution N(mean, sigma^2) (MindSpore's {@code Normal(sigma=0.01, mean=0.0)}). Each element is drawn
 * with Commons RNG's ziggurat sampler from the counter-based stream of (seed, global element index).
 *
 * @param sigma standard deviation, >= 0 (default 0.01)
 * @param mean  mean (default 0)
 * @param seed  explicit seed, or null to take one from the global seed when a {@link LazyTensor} is created
 */
public record Normal(double sigma, double mean, Long seed) implements Initializer {

    /** Validates sigma >= 0 and both finite. */
    public Normal {
        Generation.checkFinite("Normal", "sigma", sigma, true);
        Generation.checkFinite("Normal", "mean", mean, false);
    }

    /** {@code Normal(sigma=0.01, mean=0)}. */
    public Normal() {
        this(0.01, 0.0, null);
    }

    /** {@code Normal(sigma, mean=0)}. */
    public Normal(double sigma) {
        this(sigma, 0.0, null);
    }

    /** {@code Normal(sigma, mean)}. */
    public Normal(double sigma, double mean) {
        this(sigma, mean, null);
    }

    /** This initializer with an explicit seed. */
    public Normal withSeed(long newSeed) {
        return new Normal(sigma, mean, newSeed);
    }

    @Override
    public String name() {
        return "Normal";
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
        return sample(name(), shape, dtype, seed, region, mean, sigma);
    }

    /** N(mean, sigma^2) per element; shared by the Xavier and He normal initializers. */
    static Tensor sample(String who, long[] shape, DType dtype, long seed, Box region, double mean, double sigma) {
        return Generation.random(who, shape, dtype, seed, region, stream -> {
            ZigguratSampler.NormalizedGaussian gauss = ZigguratSampler.NormalizedGaussian.of(stream);
            return s -> mean + sigma * gauss.sample();
        });
    }
}
