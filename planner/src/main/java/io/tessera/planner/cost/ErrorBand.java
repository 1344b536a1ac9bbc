package io.tessera.planner.cost;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.io.InputStream;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;

/**
 * How far Tessera's step times have been from measured training runs on a device: the residuals of
 * {@code tessera validate} over the published runs on that device. Every predicted step time on a device with a band
 * carries it. Immutable.
 *
 * @param device        the device name, e.g. {@code A100-SXM4-80GB}
 * @param runs          published runs on it, at least 1
 * @param meanAbsError  mean absolute relative error, a fraction (0.016 = 1.6%)
 * @param maxAbsError   largest absolute relative error, a fraction; the band is {@code +-maxAbsError}
 */
public record ErrorBand(String device, int runs, double meanAbsError, double maxAbsError) {

    /** The resource holding the bands of the built-in validation, by device name. */
    public static final String RESOURCE = "error_bands.json";

    private static final Map<String, ErrorBand> BUILT_IN = load();

    /** Validates the figures. */
    public ErrorBand {
        if (device == null || device.isBlank() || runs < 1 || !(meanAbsError >= 0) || !(maxAbsError >= meanAbsError)) {
            throw new IllegalArgumentException("error band: found device " + device + ", runs " + runs + ", mean "
                    + meanAbsError + ", max " + maxAbsError + "; expected a device, runs >= 1 and 0 <= mean <= max");
        }
    }

    /** The band of the built-in validation for {@code device} (by its name); empty when no published run used it. */
    public static Optional<ErrorBand> of(DeviceSpec device) {
        return Optional.ofNullable(BUILT_IN.get(device.name()));
    }

    /** Every built-in band, by device name. */
    public static Map<String, ErrorBand> builtIn() {
        return BUILT_IN;
    }

    /** {@code step time} seconds times {@code 1 - max} and {@code 1 + max}. */
    public double[] interval(double seconds) {
        return new double[] {seconds * (1 - maxAbsError), seconds * (1 + maxAbsError)};
    }

    /**
     * Whether two predicted step times are within the band of each other: their relative difference (to the
     * smaller) is at most twice the largest error, so the measured order could be either.
     */
    public boolean indistinguishable(double a, double b) {
        double lo = Math.min(a, b);
        return lo > 0 && (Math.max(a, b) - lo) / lo <= 2 * maxAbsError;
    }

    /** {@code +-4.4% (the largest error over 10 published runs on A100-SXM4-80GB; mean 1.6%)}. */
    public String describe() {
        return String.format(Locale.ROOT, "+-%.1f%% (the largest error over %d published runs on %s; mean %.1f%%)",
                100 * maxAbsError, runs, device, 100 * meanAbsError);
    }

    private static Map<String, ErrorBand> load() {
        Map<String, ErrorBand> out = new TreeMap<>();
        try (InputStream in = ErrorBand.class.getResourceAsStream(RESOURCE)) {
            if (in == null) {
                return Map.of();
            }
            JsonNode root = new ObjectMapper().readTree(in);
            root.fields().forEachRemaining(e -> out.put(e.getKey(), new ErrorBand(e.getKey(),
                    e.getValue().get("runs").asInt(), e.getValue().get("mean_abs_error").asDouble(),
                    e.getValue().get("max_abs_error").asDouble())));
        } catch (IOException e) {
            throw new IllegalStateException("error bands: cannot read resource " + RESOURCE, e);
        }
        return java.util.Collections.unmodifiableMap(out);
    }
}
