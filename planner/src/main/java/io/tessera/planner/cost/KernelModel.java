package io.tessera.planner.cost;

import io.tessera.planner.op.Gemm;

import java.util.List;

/**
 * How long one device's kernels take, from their shapes: the physical constants of a device's matrix-product and
 * streaming kernels. Immutable; part of a {@link DeviceSpec} and of the cluster JSON ({@code device.kernels}).
 *
 * <p><b>Matrix products</b> ({@link Gemm}): the result is cut into {@code tileM x tileN} tiles, which the device's
 * {@code computeUnits} run in waves; a tile of a product reducing over {@code k} costs
 * {@code 2 * tileM * tileN * (k + gemmHalfK)} FLOPs of work at {@code peak * gemmEfficiency / computeUnits} FLOP/s
 * (the {@code gemmHalfK} term is the tile's fixed prologue and epilogue, so a product reducing over
 * {@code k = gemmHalfK} runs at half speed). So
 * {@code compute = ceil(tiles / computeUnits) * 2 tileM tileN (k + gemmHalfK) * computeUnits / (peak * gemmEfficiency)}
 * with {@code tiles = batch * ceil(m / tileM) * ceil(n / tileN)}: partial tiles cost as full ones, and so does a
 * partial last wave unless {@code streamK}: persistent stream-K kernels (cuBLAS and CUTLASS 3 on Hopper) split the
 * last wave's work evenly over the units, so {@code waves = max(1, tiles / computeUnits)} unrounded (a product of
 * less than one wave still takes a whole wave: its tiles run side by side, none faster). The product also streams its operands and result once:
 * {@code memory = batch (mk + kn + mn) * elementBytes / (memoryBandwidth * memoryEfficiency)}. Seconds:
 * {@code max(compute, memory) + launchSeconds}.
 *
 * <p><b>Other kernels</b> stream their bytes: {@code bytes / (memoryBandwidth * memoryEfficiency) + launchSeconds}
 * (or their FLOPs, whichever is slower; see {@link CostModel#computeSeconds}).
 *
 * @param computeUnits     units that run tiles concurrently (streaming multiprocessors), at least 1
 * @param tileM            rows of a result tile, at least 1
 * @param tileN            columns of a result tile, at least 1
 * @param gemmEfficiency   fraction of the dense peak a full wave of full tiles with a long reduction achieves,
 *                         in (0, 1]
 * @param gemmHalfK        the reduction length, in elements, at which a tile runs at half speed, at least 0
 * @param memoryEfficiency fraction of the memory bandwidth a streaming kernel achieves, in (0, 1]
 * @param launchSeconds    fixed time per kernel (launch and tail), in seconds, at least 0
 * @param streamK          whether a partial last wave after the first costs only its share of a wave (persistent
 *                         stream-K kernels); false rounds the waves up (wave quantisation, as cuBLAS on Ampere)
 * @param provenance       where the figures come from (datasheet, fit), free text, not blank
 */
public record KernelModel(int computeUnits, int tileM, int tileN, double gemmEfficiency, double gemmHalfK,
                          double memoryEfficiency, double launchSeconds, boolean streamK,
                          String provenance) {

    /** Validates every figure. */
    public KernelModel {
        if (computeUnits < 1 || tileM < 1 || tileN < 1) {
            throw new IllegalArgumentException("kernels: compute_units " + computeUnits + ", tile_m " + tileM
                    + ", tile_n " + tileN + "; expected each >= 1 (e.g. 108 SMs and 128 x 128 tiles for an A100)");
        }
        if (!(gemmEfficiency > 0 && gemmEfficiency <= 1)) {
            throw new IllegalArgumentException("kernels: gemm_efficiency is " + gemmEfficiency
                    + "; expected a fraction of peak in (0, 1]");
        }
        if (!(gemmHalfK >= 0) || Double.isInfinite(gemmHalfK)) {
            throw new IllegalArgumentException("kernels: gemm_half_k is " + gemmHalfK
                    + "; expected a finite reduction length >= 0 (elements)");
        }
        if (!(memoryEfficiency > 0 && memoryEfficiency <= 1)) {
            throw new IllegalArgumentException("kernels: memory_efficiency is " + memoryEfficiency
                    + "; expected a fraction of the memory bandwidth in (0, 1]");
        }
        if (!(launchSeconds >= 0) || Double.isInfinite(launchSeconds)) {
            throw new IllegalArgumentException("kernels: launch_seconds is " + launchSeconds
                    + "; expected a finite time >= 0 in seconds (e.g. 4e-6)");
        }
        if (provenance == null || provenance.isBlank()) {
            throw new IllegalArgumentException("kernels: provenance is " + (provenance == null ? "null" : "blank")
                    + "; expected a note of where the figures come from");
        }
    }

    /** A kernel model with wave quantisation ({@code streamK} false). */
    public KernelModel(int computeUnits, int tileM, int tileN, double gemmEfficiency, double gemmHalfK,
                       double memoryEfficiency, double launchSeconds, String provenance) {
        this(computeUnits, tileM, tileN, gemmEfficiency, gemmHalfK, memoryEfficiency, launchSeconds, false,
                provenance);
    }

    /**
     * Seconds of one matrix-product kernel (see the class comment).
     *
     * @param g               the product
     * @param peak            the device's dense peak for the product's dtype, FLOP/s
     * @param memoryBandwidth the device's memory bandwidth, bytes/s
     * @param elementBytes    bytes of one element of the operands and result
     */
    public double gemmSeconds(Gemm g, double peak, double memoryBandwidth, int elementBytes) {
        double memory = g.elements() * elementBytes / (memoryBandwidth * memoryEfficiency);
        return Math.max(gemmComputeSeconds(g, peak), memory) + launchSeconds;
    }

    /**
     * Seconds of one matrix-product kernel whose operands and result have different element sizes (an FP8 product:
     * 1-byte operands, a 16-bit result): as {@link #gemmSeconds(Gemm, double, double, int)} with memory
     * {@code batch ((mk + kn) * operandBytes + mn * resultBytes) / (memoryBandwidth * memoryEfficiency)}.
     */
    public double gemmSeconds(Gemm g, double peak, double memoryBandwidth, int operandBytes, int resultBytes) {
        double operands = (double) g.batch() * ((double) g.m() * g.k() + (double) g.k() * g.n());
        double result = (double) g.batch() * g.m() * g.n();
        double memory = (operands * operandBytes + result * resultBytes) / (memoryBandwidth * memoryEfficiency);
        return Math.max(gemmComputeSeconds(g, peak), memory) + launchSeconds;
    }

    /**
     * The tile-and-wave compute time of a product run as its own kernel, seconds: no memory traffic and no launch.
     */
    public double gemmComputeSeconds(Gemm g, double peak) {
        double tiles = tiles(g);
        double waves = streamK ? Math.max(1, tiles / computeUnits) : Math.ceil(tiles / computeUnits);
        return waves * waveSeconds(g, peak);
    }

    /**
     * The compute time of products fused into one kernel that exchanges their operands and results on chip
     * (FlashAttention), seconds: no memory traffic and no launch. Without {@code streamK} each product's waves are
     * rounded up (the sum of {@link #gemmComputeSeconds}); with it the products' tiles share the kernel's waves, so
     * the kernel costs the sum of each product's {@code tiles / computeUnits} waves, and at least one wave of its
     * longest tile.
     */
    public double fusedComputeSeconds(List<Gemm> gemms, double peak) {
        double sum = 0;
        double oneWave = 0;
        for (Gemm g : gemms) {
            if (streamK) {
                sum += tiles(g) / computeUnits * waveSeconds(g, peak);
                oneWave = Math.max(oneWave, waveSeconds(g, peak));
            } else {
                sum += gemmComputeSeconds(g, peak);
            }
        }
        return Math.max(sum, oneWave);
    }

    /**
     * Seconds of one grouped matrix-product kernel (a mixture of experts' grouped GEMM: one launch running
     * {@code gemms.size()} independent products, e.g. one per local expert with that expert's rows). Each product is
     * cut into its own tiles (so a product with few rows wastes most of its partial tiles: small per-expert
     * {@code m} lowers the efficiency); the tiles of all products share the waves: with {@code streamK} the kernel
     * costs {@code sum(tiles_i / computeUnits * wave_i)}, at least one wave of its longest tile; without it the tile
     * count is rounded up to whole waves ({@code ceil(sum tiles_i / computeUnits)} waves at the tile-weighted mean
     * wave time). Memory: every product's operands and result once. Seconds:
     * {@code max(compute, memory) + launchSeconds}; 0 for no products.
     *
     * @param gemms           the products, one per group (any batch each)
     * @param peak            the device's dense peak for the products' dtype, FLOP/s
     * @param memoryBandwidth the device's memory bandwidth, bytes/s
     * @param elementBytes    bytes of one element of the operands and results
     */
    public double groupedGemmSeconds(List<Gemm> gemms, double peak, double memoryBandwidth, int elementBytes) {
        if (gemms.isEmpty()) {
            return 0;
        }
        double tiles = 0;
        double work = 0;
        double oneWave = 0;
        double elements = 0;
        for (Gemm g : gemms) {
            double t = tiles(g);
            double w = waveSeconds(g, peak);
            tiles += t;
            work += t * w;
            oneWave = Math.max(oneWave, w);
            elements += g.elements();
        }
        double compute = streamK ? Math.max(oneWave, work / computeUnits)
                : Math.ceil(tiles / computeUnits) * (work / tiles);
        double memory = elements * elementBytes / (memoryBandwidth * memoryEfficiency);
        return Math.max(compute, memory) + launchSeconds;
    }

    private double tiles(Gemm g) {
        return (double) g.batch() * ceilDiv(g.m(), tileM) * ceilDiv(g.n(), tileN);
    }

    /** Seconds of one full wave of {@code g}'s tiles. */
    private double waveSeconds(Gemm g, double peak) {
        return 2.0 * tileM * tileN * (g.k() + gemmHalfK) * computeUnits / (peak * gemmEfficiency);
    }

    /** Seconds of one streaming kernel moving {@code bytes}: {@code bytes / (bandwidth * efficiency) + launch}. */
    public double streamSeconds(double bytes, double memoryBandwidth) {
        return bytes / (memoryBandwidth * memoryEfficiency) + launchSeconds;
    }

    /** A copy with another matrix-product efficiency. */
    public KernelModel withGemmEfficiency(double e) {
        return new KernelModel(computeUnits, tileM, tileN, e, gemmHalfK, memoryEfficiency, launchSeconds, streamK,
                provenance);
    }

    private static long ceilDiv(long a, long b) {
        return (a + b - 1) / b;
    }
}
