package io.tessera.layout.init;

import io.tessera.layout.Box;
import io.tessera.layout.DType;
import io.tessera.layout.tensor.Tensor;
import org.apache.commons.rng.sampling.distribution.ZigguratSampler;

import java.util.OptionalLong;

/**
 * Normal distribution N(0, sigma^2) truncated to {@code [-2 sigma, 2 sigma]} (MindSpore's
 * {@code TruncatedNormal(sigma=0.01)}: "limit the difference between the variable and the mean to within 2 standard
 * deviations"). Each element is drawn by rejection: standard normals from its own counter-based stream (sub-counters
 * of (seed, global element index)) until one lies within [-2, 2], so regions stay exact.
 *
 * @param sigma standard deviation of the untruncated normal, >= 0 (default 0.01)
 * @param seed  explicit seed, or null to take one from the global seed when a {@link LazyTensor} is created
 */
public record TruncatedNormal(double sigma, Long seed) implements Initializer {

    /** Truncation bound in standard deviations. */
    public static final double BOUND = 2.0;

    /** Validates sigma finite and >= 0. */
    public TruncatedNormal {
        Generation.checkFinite("TruncatedNormal", "sigma", sigma, true);
    }

    /** {@code TruncatedNormal(sigma=0.01)}. */
    public TruncatedNormal() {
        this(0.01, null);
    }

    /** {@code TruncatedNormal(sigma)}. */
    public TruncatedNormal(double sigma) {
        this(sigma, null);
    }

    /** This initializer with an explicit seed. */
    public TruncatedNormal withSeed(long newSeed) {
        return new TruncatedNormal(sigma, newSeed);
    }

    @Override
    public String name() {
        return "TruncatedNormal";
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
        return Generation.random(name(), shape, dtype, seed, region, stream -> {
            ZigguratSampler.NormalizedGaussian gauss = ZigguratSampler.NormalizedGaussian.of(stream);
            return s -> {
                double z;
                do {
                    z = gauss.sample();
                } while (Math.abs(z) > BOUND);
                return sigma * z;
            };
        });
    }
}
