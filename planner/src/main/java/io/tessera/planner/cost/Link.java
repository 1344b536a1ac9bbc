package io.tessera.planner.cost;

/**
 * A link between two devices, for the alpha-beta model: sending {@code b} bytes over it takes
 * {@code latency + b / (bandwidth * efficiency)} seconds. Immutable.
 *
 * @param bandwidth  peak bytes per second in each direction, per device (e.g. one NIC per device across nodes)
 * @param latency    seconds per message (the alpha term), at least 0
 * @param efficiency fraction of {@code bandwidth} a collective achieves, in (0, 1]
 */
public record Link(double bandwidth, double latency, double efficiency) {

    /** Validates positive finite bandwidth, non-negative finite latency and efficiency in (0, 1]. */
    public Link {
        if (!(bandwidth > 0) || Double.isInfinite(bandwidth)) {
            throw new IllegalArgumentException("link: bandwidth is " + bandwidth
                    + " bytes/s; expected a positive finite number (e.g. 25e9 for a 200 Gb/s NIC)");
        }
        if (!(latency >= 0) || Double.isInfinite(latency)) {
            throw new IllegalArgumentException("link: latency is " + latency
                    + " s; expected a finite number >= 0 (e.g. 5e-6)");
        }
        if (!(efficiency > 0 && efficiency <= 1)) {
            throw new IllegalArgumentException("link: efficiency is " + efficiency
                    + "; expected a fraction in (0, 1] of the bandwidth achieved (e.g. 0.8)");
        }
    }

    /** The bandwidth a collective achieves, {@code bandwidth * efficiency}, in bytes per second. */
    public double effectiveBandwidth() {
        return bandwidth * efficiency;
    }

    /** Seconds to send {@code bytes} bytes as one message: {@code latency + bytes / effectiveBandwidth()}. */
    public double seconds(double bytes) {
        return latency + bytes / effectiveBandwidth();
    }
}
