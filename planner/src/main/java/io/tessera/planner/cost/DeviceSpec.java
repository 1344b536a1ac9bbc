package io.tessera.planner.cost;

import io.tessera.layout.DType;

import java.util.Collections;
import java.util.EnumMap;
import java.util.Map;

/**
 * One accelerator: peak arithmetic per dtype, memory capacity and bandwidth, and how much of the peak an operation
 * achieves as a function of its size. Immutable.
 *
 * <p>Efficiency curve: {@code efficiency(f) = min + (max - min) * f / (f + half)} for an operation of {@code f}
 * FLOPs (a saturating hyperbola): {@code min} for a tiny operation, exactly halfway between {@code min} and
 * {@code max} at {@code f = halfEfficiencyFlops}, approaching {@code max} for huge ones, smooth and increasing.
 *
 * @param name                the device's name, e.g. {@code A100-SXM4-80GB}
 * @param peakFlops           dense peak FLOP/s per dtype; must hold {@link DType#FLOAT32} (the fallback)
 * @param memoryBytes         device memory capacity in bytes
 * @param memoryBandwidth     device memory bandwidth in bytes per second
 * @param minEfficiency       fraction of peak a tiny operation achieves, in (0, maxEfficiency]
 * @param maxEfficiency       fraction of peak a huge operation approaches, in [minEfficiency, 1]
 * @param halfEfficiencyFlops the operation size in FLOPs at which the efficiency is midway, positive
 * @param kernels             shape-aware kernel costs ({@link KernelModel}), or null to price every operator by the
 *                            efficiency curve and the memory bandwidth alone (no launch overhead)
 */
public record DeviceSpec(String name, Map<DType, Double> peakFlops, long memoryBytes, double memoryBandwidth,
                         double minEfficiency, double maxEfficiency, double halfEfficiencyFlops,
                         KernelModel kernels) {

    /** Validates every figure and copies the map (unmodifiable, in dtype order). */
    public DeviceSpec {
        if (name == null || name.isBlank()) {
            throw new IllegalArgumentException("device: name is " + (name == null ? "null" : "blank")
                    + "; expected a non-empty name such as 'A100-SXM4-80GB'");
        }
        if (peakFlops == null || !peakFlops.containsKey(DType.FLOAT32)) {
            throw new IllegalArgumentException("device '" + name + "': peak_flops " + peakFlops
                    + " has no float32 entry; expected at least {\"float32\": <FLOP/s>} (the fallback of other dtypes)");
        }
        EnumMap<DType, Double> copy = new EnumMap<>(DType.class);
        for (Map.Entry<DType, Double> e : peakFlops.entrySet()) {
            Double v = e.getValue();
            if (e.getKey() == null || v == null || !(v > 0) || v.isInfinite()) {
                throw new IllegalArgumentException("device '" + name + "': peak_flops of " + e.getKey() + " is " + v
                        + "; expected a positive finite FLOP/s figure (e.g. 312e12)");
            }
            copy.put(e.getKey(), v);
        }
        peakFlops = Collections.unmodifiableMap(copy);
        if (memoryBytes <= 0) {
            throw new IllegalArgumentException("device '" + name + "': memory_bytes is " + memoryBytes
                    + "; expected a positive byte count (e.g. 85899345920 for 80 GiB)");
        }
        if (!(memoryBandwidth > 0) || Double.isInfinite(memoryBandwidth)) {
            throw new IllegalArgumentException("device '" + name + "': memory_bandwidth is " + memoryBandwidth
                    + " bytes/s; expected a positive finite number (e.g. 2.039e12)");
        }
        if (!(minEfficiency > 0 && minEfficiency <= maxEfficiency && maxEfficiency <= 1)) {
            throw new IllegalArgumentException("device '" + name + "': efficiency range [" + minEfficiency + ", "
                    + maxEfficiency + "] is invalid; expected 0 < min_efficiency <= max_efficiency <= 1");
        }
        if (!(halfEfficiencyFlops > 0) || Double.isInfinite(halfEfficiencyFlops)) {
            throw new IllegalArgumentException("device '" + name + "': half_efficiency_flops is "
                    + halfEfficiencyFlops + "; expected a positive finite FLOP count (e.g. 1e9)");
        }
    }

    /** A device without a kernel model: every operator priced by the efficiency curve and the bandwidth. */
    public DeviceSpec(String name, Map<DType, Double> peakFlops, long memoryBytes, double memoryBandwidth,
                      double minEfficiency, double maxEfficiency, double halfEfficiencyFlops) {
        this(name, peakFlops, memoryBytes, memoryBandwidth, minEfficiency, maxEfficiency, halfEfficiencyFlops, null);
    }

    /** A copy with kernel model {@code k} (null: none). */
    public DeviceSpec withKernels(KernelModel k) {
        return new DeviceSpec(name, peakFlops, memoryBytes, memoryBandwidth, minEfficiency, maxEfficiency,
                halfEfficiencyFlops, k);
    }

    /**
     * The fraction of peak an operation of {@code flops} FLOPs achieves:
     * {@code min + (max - min) * f / (f + halfEfficiencyFlops)}, {@code min} for {@code flops <= 0}.
     */
    public double efficiency(double flops) {
        if (!(flops > 0)) {
            return minEfficiency;
        }
        if (Double.isInfinite(flops)) {
            return maxEfficiency;
        }
        return minEfficiency + (maxEfficiency - minEfficiency) * flops / (flops + halfEfficiencyFlops);
    }

    /**
     * Dense peak FLOP/s for {@code dtype}; the float32 figure when the device lists none for it (e.g. integers),
     * except for the FP8 formats, which never fall back.
     *
     * @throws IllegalArgumentException when {@code dtype} is null, or an FP8 format the device lists no peak for
     *                                  (one line naming the device and suggesting bf16)
     */
    public double peak(DType dtype) {
        if (dtype == null) {
            throw new IllegalArgumentException("device '" + name + "': peak of dtype null; expected a dtype such as "
                    + "float32 (listed: " + peakFlops.keySet() + ")");
        }
        Double v = peakFlops.get(dtype);
        if (v == null && dtype.isFp8()) {
            throw new IllegalArgumentException("device '" + name + "': no " + dtype.jsonName() + " peak (peak_flops "
                    + "lists " + peakFlops.keySet() + "); FP8 GEMMs (precision fp8) need FP8 tensor cores: use "
                    + "precision bf16 on this device, or a device with an FP8 peak such as the h100-dgx preset");
        }
        return v != null ? v : peakFlops.get(DType.FLOAT32);
    }

    /** Whether the device lists its own peak for {@code dtype} (no float32 fallback). */
    public boolean hasPeak(DType dtype) {
        return peakFlops.containsKey(dtype);
    }
}
