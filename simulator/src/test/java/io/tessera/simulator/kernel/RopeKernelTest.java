package io.tessera.simulator.kernel;

import io.tessera.layout.Box;
import io.tessera.layout.DType;
import io.tessera.planner.op.Rope;
import io.tessera.planner.op.Strategy;
import io.tessera.planner.op.TensorType;
import io.tessera.planner.plan.PlanConfig;
import io.tessera.planner.plan.Planner;
import io.tessera.planner.strategy.DatasetStrategy;
import io.tessera.simulator.array.NDArray;
import io.tessera.simulator.numeric.Simulation;
import io.tessera.simulator.numeric.SimulationOptions;
import io.tessera.simulator.numeric.SimulationReport;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The RoPE kernel against a direct reference written the way Hugging Face's Llama computes it (frequencies
 * {@code 1 / theta^(arange(0, d, 2) / d)}, Llama 3's rescaling with the {@code where} masks of
 * {@code _compute_llama3_parameters}, {@code emb = cat(freqs, freqs)}, {@code x cos + rotate_half(x) sin}); the
 * backward against central differences (with a global sequence offset); a slice with its global box giving the slice
 * of the whole result; and the one-op network simulated with the sequence, the heads or both split equal to one
 * device. Random data seeded (printed; {@code -Dtessera.seed=N} to replay).
 */
class RopeKernelTest {

    private static final long SEED = Long.getLong("tessera.seed", 20261203L);
    private static final Rope.Llama3Scaling LLAMA31 = new Rope.Llama3Scaling(8, 1, 4, 8192);

    static {
        System.out.println("RopeKernelTest: seed " + SEED + " (rerun with -Dtessera.seed=" + SEED + ")");
    }

    /** Hugging Face's inv_freq, Llama 3 rescaled as {@code _compute_llama3_parameters} writes it (masks, where). */
    private static double[] hfInvFreq(double theta, int d, Rope.Llama3Scaling sc) {
        double[] f = new double[d / 2];
        for (int k = 0; k < d; k += 2) {
            f[k / 2] = 1.0 / Math.pow(theta, (double) k / d);
        }
        if (sc == null) {
            return f;
        }
        double lowWavelen = sc.originalMaxPositionEmbeddings() / sc.lowFreqFactor();
        double highWavelen = sc.originalMaxPositionEmbeddings() / sc.highFreqFactor();
        double[] out = new double[f.length];
        for (int i = 0; i < f.length; i++) {
            double wavelen = 2 * Math.PI / f[i];
            double llama = wavelen > lowWavelen ? f[i] / sc.factor() : f[i];
            double smooth = (sc.originalMaxPositionEmbeddings() / wavelen - sc.lowFreqFactor())
                    / (sc.highFreqFactor() - sc.lowFreqFactor());
            double smoothed = (1 - smooth) * llama / sc.factor() + smooth * llama;
            boolean medium = !(wavelen < highWavelen) && !(wavelen > lowWavelen);
            out[i] = medium ? smoothed : llama;
        }
        return out;
    }

    /** {@code x * cos + rotate_half(x) * sin} with {@code emb = cat(freqs, freqs)}, positions {@code pos0 + s}. */
    private static NDArray reference(NDArray x, double theta, Rope.Llama3Scaling sc, long pos0) {
        long[] sh = x.shape();
        int d = (int) sh[3];
        double[] f = hfInvFreq(theta, d, sc);
        NDArray out = NDArray.zeros(sh);
        for (int b = 0; b < sh[0]; b++) {
            for (int h = 0; h < sh[1]; h++) {
                for (int s = 0; s < sh[2]; s++) {
                    int row = (int) (((b * sh[1] + h) * sh[2] + s) * d);
                    for (int j = 0; j < d; j++) {
                        double emb = (pos0 + s) * f[j % (d / 2)];
                        double rot = j < d / 2 ? -x.data()[row + j + d / 2] : x.data()[row + j - d / 2];
                        out.data()[row + j] = x.data()[row + j] * Math.cos(emb) + rot * Math.sin(emb);
                    }
                }
            }
        }
        return out;
    }

    private static KernelContext ctx(NDArray x, Box box) {
        return new KernelContext(List.of(box), List.of(box), DType.FLOAT64, 0);
    }

    private static Box seqBox(long[] shape, long pos0) {
        return Box.of(new long[] {0, 0, pos0, 0}, new long[] {shape[0], shape[1], pos0 + shape[2], shape[3]});
    }

    @Test
    void frequenciesAreHuggingFacesIncludingLlama3Rescaling() {
        // Llama 3.1 (theta 500000, head_dim 128, factor 8, low 1, high 4, original context 8192): the fastest
        // frequency is kept (wavelength 2 pi < 2048), the slowest divided by 8, and those in between interpolated
        double[] f = new Rope(500000, LLAMA31).invFreq(128);
        assertEquals(64, f.length);
        assertEquals(1.0, f[0], 0);
        assertEquals(Math.pow(500000, -126.0 / 128) / 8, f[63], 1e-18);
        double[] hf = hfInvFreq(500000, 128, LLAMA31);
        int kept = 0;
        int divided = 0;
        int smoothed = 0;
        for (int i = 0; i < 64; i++) {
            assertEquals(hf[i], f[i], 1e-15 * hf[i], "inv_freq[" + i + "]");
            double plain = Math.pow(500000, -2.0 * i / 128);
            if (Math.abs(f[i] - plain) <= 1e-15 * plain) {
                kept++;
            } else if (Math.abs(f[i] - plain / 8) <= 1e-15 * plain) {
                divided++;
            } else {
                smoothed++;
                assertTrue(f[i] > plain / 8 && f[i] < plain, "interpolated inv_freq[" + i + "]");
            }
        }
        assertTrue(kept > 0 && divided > 0 && smoothed > 0, kept + " kept, " + divided + " divided, " + smoothed
                + " interpolated");
        assertEquals(List.of(1.0, 0.1), List.of(Rope.of(100).invFreq(4)[0], Rope.of(100).invFreq(4)[1]));
    }

    @ParameterizedTest(name = "theta {0} scaled {1} x [{2}, {3}, {4}, {5}] from position {6}")
    @CsvSource({"10000, false, 2, 3, 5, 4, 0", "10000, false, 1, 2, 7, 8, 1000", "500000, true, 1, 2, 6, 128, 4090",
        "50, true, 2, 2, 9, 8, 3"})
    void forwardEqualsTheDirectReference(double theta, boolean scaled, int b, int h, int s, int d, long pos0) {
        Random r = new Random(SEED + pos0 + d);
        Rope.Llama3Scaling sc = scaled ? (theta == 50 ? new Rope.Llama3Scaling(4, 1, 4, 32) : LLAMA31) : null;
        Rope op = new Rope(theta, sc);
        NDArray x = CentralDifference.uniform(r, b, h, s, d);
        NDArray y = Kernels.forward(op, ctx(x, seqBox(x.shape(), pos0)), List.of(x)).get(0);
        KernelTesting.assertClose(reference(x, theta, sc, pos0), y, 1e-12);
        // a rotation keeps each pair's length
        double nx = 0;
        double ny = 0;
        for (int i = 0; i < x.size(); i++) {
            nx += x.get(i) * x.get(i);
            ny += y.get(i) * y.get(i);
        }
        assertEquals(nx, ny, 1e-12 * nx);
    }

    @Test
    void aFewValuesByHand() {
        // head_dim 2, theta any: inv_freq [1]; position 1 rotates (1, 0) by 1 radian, position 0 leaves it
        NDArray x = NDArray.of(new long[] {1, 1, 2, 2}, new double[] {1, 0, 1, 0});
        NDArray y = Kernels.forward(Rope.of(), ctx(x, Box.full(x.shape())), List.of(x)).get(0);
        KernelTesting.assertClose(NDArray.of(x.shape(), new double[] {1, 0, Math.cos(1), Math.sin(1)}), y, 1e-15);
    }

    @ParameterizedTest(name = "scaled {0}, from position {1}")
    @CsvSource({"false, 0", "true, 5"})
    void backwardMatchesCentralDifferences(boolean scaled, long pos0) {
        Random r = KernelTesting.seeded("RopeKernelTest.backward " + scaled + " " + pos0);
        Rope op = new Rope(50, scaled ? new Rope.Llama3Scaling(4, 1, 4, 32) : null);
        NDArray x = KernelTesting.random(r, 2, 2, 5, 6);
        KernelContext c = ctx(x, seqBox(x.shape(), pos0));
        KernelTesting.checkGradients("RoPE", r, in -> Kernels.forward(op, c, in),
                (in, out, g, n) -> Kernels.backward(op, c, in, out, g, n), List.of(x));
        KernelTesting.checkAbsentGradients("RoPE", (in, out, g, n) -> Kernels.backward(op, c, in, out, g, n),
                List.of(x), Kernels.forward(op, c, List.of(x)), 0);
    }

    @Test
    void aSequenceSliceWithItsGlobalBoxGivesTheSliceOfTheWholeResult() {
        Random r = new Random(SEED + 1);
        Rope op = new Rope(50, new Rope.Llama3Scaling(4, 1, 4, 32));
        NDArray x = CentralDifference.uniform(r, 2, 2, 8, 4);
        NDArray g = CentralDifference.uniform(r, 2, 2, 8, 4);
        KernelContext whole = ctx(x, Box.full(x.shape()));
        NDArray y = Kernels.forward(op, whole, List.of(x)).get(0);
        NDArray dx = Kernels.backward(op, whole, List.of(x), List.of(y), List.of(g), new boolean[] {true}).get(0);
        NDArray xs = CentralDifference.slice(x, 2, 4, 8);
        KernelContext c = ctx(xs, Box.of(new long[] {0, 0, 4, 0}, new long[] {2, 2, 8, 4}));
        NDArray ys = Kernels.forward(op, c, List.of(xs)).get(0);
        KernelTesting.assertClose(CentralDifference.slice(y, 2, 4, 8), ys, 1e-15);
        NDArray dxs = Kernels.backward(op, c, List.of(xs), List.of(ys), List.of(CentralDifference.slice(g, 2, 4, 8)),
                new boolean[] {true}).get(0);
        KernelTesting.assertClose(CentralDifference.slice(dx, 2, 4, 8), dxs, 1e-15);
    }

    @ParameterizedTest(name = "{0} devices, strategy ({1}, {2}, {3}, 1)")
    @CsvSource({"4, 1, 1, 4", "2, 1, 2, 1", "8, 2, 2, 2", "8, 1, 1, 8"})
    void sequenceAndHeadSplitsEqualOneDevice(int devices, int batch, int heads, int seq) {
        OperatorSamples.Sample s = new OperatorSamples.Sample("RoPE llama3", new Rope(50,
                new Rope.Llama3Scaling(4, 1, 4, 32)), List.of(new OperatorSamples.In("x",
                TensorType.of(DType.FLOAT64, 2, 2, 16, 8), OperatorSamples.Role.PARAM, "normal")), true, true);
        int[] t = {batch, heads, seq, 1};
        int[] ones = {1, 1, 1, 1};
        PlanConfig config = PlanConfig.builder(devices)
                .dataset(new DatasetStrategy.Explicit(Strategy.of(ones)))
                .strategy("op", t)
                .strategy("weighted", ones, ones)
                .strategy("loss", ones)
                .build();
        SimulationReport report = Simulation.run(Planner.plan(OperatorSamples.network(s), config),
                new SimulationOptions(1, DType.FLOAT64, 1.0, 11, 2));
        assertTrue(report.passed(), report.summary());
    }

    /**
     * Hugging Face's {@code _compute_yarn_parameters} (DeepSeek's {@code DeepseekV3YarnRotaryEmbedding}) written out:
     * {@code pos_freqs = base^(arange(0, dim, 2) / dim)}, extrapolation {@code 1 / pos_freqs}, interpolation
     * {@code 1 / (factor pos_freqs)}, the truncated correction range and the linear ramp; returns the frequencies
     * followed by the attention factor.
     */
    private static double[] hfYarn(double base, int dim, Rope.YarnScaling y) {
        java.util.function.DoubleUnaryOperator corr = n -> dim * Math.log(y.originalMaxPositionEmbeddings()
                / (n * 2 * Math.PI)) / (2 * Math.log(base));
        double low = Math.max(Math.floor(corr.applyAsDouble(y.betaFast())), 0);
        double high = Math.min(Math.ceil(corr.applyAsDouble(y.betaSlow())), dim - 1);
        if (low == high) {
            high += 0.001;
        }
        double[] out = new double[dim / 2 + 1];
        for (int k = 0; k < dim / 2; k++) {
            double pos = Math.pow(base, 2.0 * k / dim);
            double extraFactor = 1 - Math.min(1, Math.max(0, (k - low) / (high - low)));
            out[k] = 1 / (y.factor() * pos) * (1 - extraFactor) + 1 / pos * extraFactor;
        }
        java.util.function.BiFunction<Double, Double, Double> m = (s, k) -> s <= 1 ? 1 : 0.1 * k * Math.log(s) + 1;
        out[dim / 2] = m.apply(y.factor(), y.mscale()) / m.apply(y.factor(), y.mscaleAllDim());
        return out;
    }

    @Test
    void yarnFrequenciesAndAttentionFactorAreHuggingFaces() {
        // DeepSeek-V3's rope part (dim 64, base 10000, factor 40 from 4096) and a small case with mscale 2 over 1
        for (Object[] c : new Object[][] {{10000.0, 64, new Rope.YarnScaling(40, 4096, 32, 1, 1, 1)},
            {50.0, 8, new Rope.YarnScaling(4, 4, 32, 1, 2, 1)}, {10000.0, 16, new Rope.YarnScaling(8, 64, 8, 2, 1, 0)}}) {
            double theta = (double) c[0];
            int d = (int) c[1];
            Rope.YarnScaling y = (Rope.YarnScaling) c[2];
            double[] hf = hfYarn(theta, d, y);
            Rope op = new Rope(theta, y);
            KernelTesting.assertClose(NDArray.of(new long[] {d / 2}, java.util.Arrays.copyOf(hf, d / 2)),
                    NDArray.of(new long[] {d / 2}, op.invFreq(d)), 1e-15);
            assertEquals(hf[d / 2], op.attentionFactor(), 1e-15);
            // the kernel: x cos + rotate_half(x) sin, both times the attention factor
            Random r = KernelTesting.seeded("RopeKernelTest.yarn " + d);
            NDArray x = KernelTesting.random(r, 1, 2, 5, d);
            NDArray y0 = Kernels.forward(op, ctx(x, seqBox(x.shape(), 3)), List.of(x)).get(0);
            double[] ref = new double[x.data().length];
            for (int row = 0; row < ref.length / d; row++) {
                for (int j = 0; j < d; j++) {
                    int s = row % 5;
                    double emb = (3 + s) * hf[j % (d / 2)];
                    double[] xs = x.data();
                    double rot = j < d / 2 ? -xs[row * d + j + d / 2] : xs[row * d + j - d / 2];
                    ref[row * d + j] = hf[d / 2] * (xs[row * d + j] * Math.cos(emb) + rot * Math.sin(emb));
                }
            }
            KernelTesting.assertClose(NDArray.of(x.shape(), ref), y0, 1e-12);
            KernelContext cx = ctx(x, seqBox(x.shape(), 3));
            KernelTesting.checkGradients("RoPE yarn", r, in -> Kernels.forward(op, cx, in),
                    (in, out, g, n) -> Kernels.backward(op, cx, in, out, g, n), List.of(x));
        }
    }

    @Test
    void interleavedPairsAreDeInterleavedFirstAsDeepSeek() {
        // Hugging Face's apply_rotary_pos_emb_interleave: x.view(b, h, s, d/2, 2).transpose(4, 3).reshape(b, h, s, d),
        // then x cos + rotate_half(x) sin
        Random r = KernelTesting.seeded("RopeKernelTest.interleaved");
        int d = 8;
        NDArray x = KernelTesting.random(r, 2, 2, 5, d);
        NDArray deinterleaved = NDArray.zeros(x.shape());
        for (int row = 0; row < x.data().length / d; row++) {
            for (int i = 0; i < d / 2; i++) {
                deinterleaved.data()[row * d + i] = x.data()[row * d + 2 * i];
                deinterleaved.data()[row * d + d / 2 + i] = x.data()[row * d + 2 * i + 1];
            }
        }
        Rope op = Rope.of(50).withInterleaved(true);
        KernelContext c = ctx(x, seqBox(x.shape(), 2));
        KernelTesting.assertClose(reference(deinterleaved, 50, null, 2), Kernels.forward(op, c, List.of(x)).get(0),
                1e-13);
        KernelTesting.checkGradients("RoPE interleaved", r, in -> Kernels.forward(op, c, in),
                (in, out, g, n) -> Kernels.backward(op, c, in, out, g, n), List.of(x));
    }
}
