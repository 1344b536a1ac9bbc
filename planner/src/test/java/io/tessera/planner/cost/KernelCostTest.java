package io.tessera.planner.cost;

import io.tessera.layout.DType;
import io.tessera.layout.param.Parameter;
import io.tessera.planner.graph.Network;
import io.tessera.planner.graph.Node;
import io.tessera.planner.op.Activation;
import io.tessera.planner.op.BiasAdd;
import io.tessera.planner.op.Binary;
import io.tessera.planner.op.Gemm;
import io.tessera.planner.op.MatMul;
import io.tessera.planner.op.Reduce;
import io.tessera.planner.op.Reshape;
import io.tessera.planner.op.Softmax;
import io.tessera.planner.op.TensorType;
import io.tessera.planner.op.Transpose;
import io.tessera.planner.plan.Plan;
import io.tessera.planner.plan.PlanConfig;
import io.tessera.planner.plan.Planner;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The shape-aware kernel costs of {@link KernelModel} and their use by {@link CostModel}. */
class KernelCostTest {

    /** 4 units, 2 x 2 tiles, efficiency 1, no half-k, full bandwidth, no launch time. */
    private static final KernelModel TOY = new KernelModel(4, 2, 2, 1.0, 0, 1.0, 0, "toy");

    /** A naive reference: count tiles by enumerating them, waves by filling units one tile at a time. */
    private static double naive(KernelModel k, Gemm g, double peak, double bw, int elem) {
        long tiles = 0;
        for (long b = 0; b < g.batch(); b++) {
            for (long i = 0; i < g.m(); i += k.tileM()) {
                for (long j = 0; j < g.n(); j += k.tileN()) {
                    tiles++;
                }
            }
        }
        double waves = 0;
        for (long left = tiles; left > 0; left -= k.computeUnits()) {
            // stream-K: the last wave costs the share of the units it keeps busy
            waves += k.streamK() ? Math.min(left, k.computeUnits()) / (double) k.computeUnits() : 1;
        }
        if (k.streamK()) {
            waves = Math.max(1, waves); // less than one wave still takes one
        }
        double tileFlops = 2.0 * k.tileM() * k.tileN() * (g.k() + k.gemmHalfK());
        double compute = waves * tileFlops / (peak * k.gemmEfficiency() / k.computeUnits());
        double bytes = (double) elem * g.batch() * (g.m() * g.k() + g.k() * g.n() + g.m() * g.n());
        return Math.max(compute, bytes / (bw * k.memoryEfficiency())) + k.launchSeconds();
    }

    @Test
    void gemmSecondsMatchesTileAndWaveCounting() {
        long seed = 20261202L;
        System.out.println("KernelCostTest seed " + seed);
        Random rnd = new Random(seed);
        for (int trial = 0; trial < 300; trial++) {
            KernelModel k = new KernelModel(1 + rnd.nextInt(8), 1 + rnd.nextInt(8), 1 + rnd.nextInt(8),
                    0.1 + 0.9 * rnd.nextDouble(), rnd.nextInt(64), 0.1 + 0.9 * rnd.nextDouble(),
                    rnd.nextDouble() * 1e-5, rnd.nextBoolean(), "random");
            Gemm g = Gemm.of(1 + rnd.nextInt(4), 1 + rnd.nextInt(40), 1 + rnd.nextInt(40), 1 + rnd.nextInt(40));
            double peak = 1e9 * (1 + rnd.nextInt(100));
            double bw = 1e8 * (1 + rnd.nextInt(100));
            int elem = 1 << rnd.nextInt(3);
            double expected = naive(k, g, peak, bw, elem);
            assertEquals(expected, k.gemmSeconds(g, peak, bw, elem), 1e-12 * expected,
                    "seed " + seed + " trial " + trial + ": " + k + " " + g);
        }
    }

    @Test
    void partialTilesAndPartialWavesCostAsFullOnes() {
        double peak = 1e12;
        // 4 units: an 8 x 8 result is 16 tiles = 4 waves; 9 x 8 adds a row of 4 partial tiles = a 5th wave
        double full = TOY.gemmSeconds(Gemm.of(1, 8, 8, 1000), peak, 1e30, 2);
        double ragged = TOY.gemmSeconds(Gemm.of(1, 9, 8, 1000), peak, 1e30, 2);
        assertEquals(5.0 / 4, ragged / full, 1e-12);
        // efficiency per FLOP drops: 9/8 more work for 5/4 more time
        assertTrue(ragged / Gemm.of(1, 9, 8, 1000).flops() > full / Gemm.of(1, 8, 8, 1000).flops());
    }

    @Test
    void streamKChargesAPartialLastWaveItsShare() {
        KernelModel sk = new KernelModel(4, 2, 2, 1.0, 0, 1.0, 0, true, "toy stream-K");
        double peak = 1e12;
        // 2 x 2 tiles on 4 units: 9 x 8 is 20 tiles = 5 full waves either way; 9 x 6 is 15 tiles (the partial row of
        // tiles still costs as full tiles) = 3.75 waves with stream-K, 4 without
        double full = sk.gemmSeconds(Gemm.of(1, 8, 8, 1000), peak, 1e30, 2);
        assertEquals(5.0 / 4, sk.gemmSeconds(Gemm.of(1, 9, 8, 1000), peak, 1e30, 2) / full, 1e-12);
        double ragged = sk.gemmSeconds(Gemm.of(1, 9, 6, 1000), peak, 1e30, 2);
        assertEquals(3.75 / 4, ragged / full, 1e-12);
        assertEquals(4.0 / 4, TOY.gemmSeconds(Gemm.of(1, 9, 6, 1000), peak, 1e30, 2)
                / TOY.gemmSeconds(Gemm.of(1, 8, 8, 1000), peak, 1e30, 2), 1e-12);
        // less than one wave (2 tiles of 4 units) still takes a whole wave, as without stream-K
        assertEquals(sk.gemmSeconds(Gemm.of(1, 4, 4, 1000), peak, 1e30, 2),
                sk.gemmSeconds(Gemm.of(1, 2, 4, 1000), peak, 1e30, 2), 0);
        assertEquals(full / 4, sk.gemmSeconds(Gemm.of(1, 2, 4, 1000), peak, 1e30, 2), 1e-12 * full);
    }

    @Test
    void fusedProductsShareTheKernelsWaves() {
        KernelModel sk = new KernelModel(4, 2, 2, 1.0, 0, 1.0, 0, true, "toy stream-K");
        double peak = 1e12;
        // two products of 2 tiles each (half a wave each) fused: one wave together; apart each would take a wave
        Gemm a = Gemm.of(1, 2, 4, 1000);
        Gemm b = Gemm.of(1, 4, 2, 1000);
        double wave = sk.gemmComputeSeconds(a, peak);
        assertEquals(wave, sk.fusedComputeSeconds(List.of(a, b), peak), 1e-12 * wave);
        assertEquals(2 * wave, sk.gemmComputeSeconds(a, peak) + sk.gemmComputeSeconds(b, peak), 1e-12 * wave);
        // a single small product still takes a whole wave of its tile
        assertEquals(wave, sk.fusedComputeSeconds(List.of(a), peak), 1e-12 * wave);
        // without stream-K each product's waves are rounded up, as separate kernels
        assertEquals(TOY.gemmComputeSeconds(a, peak) + TOY.gemmComputeSeconds(b, peak),
                TOY.fusedComputeSeconds(List.of(a, b), peak), 0);
    }

    @Test
    void streamKIsReadAndWrittenInClusterJson() {
        ClusterSpec h100 = ClusterSpec.preset(ClusterPreset.H100_DGX);
        assertTrue(h100.device().kernels().streamK());
        assertFalse(ClusterSpec.preset(ClusterPreset.A100_80GB_DGX).device().kernels().streamK());
        String json = ClusterSpecs.write(h100);
        assertTrue(json.contains("\"stream_k\" : true"), json);
        assertEquals(h100, ClusterSpecs.parse(json));
        ClusterSpec off = ClusterSpecs.parse("{\"preset\": \"h100-dgx\", \"device\": {\"kernels\": {\"stream_k\": false}}}");
        assertFalse(off.device().kernels().streamK());
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ClusterSpecs.parse(
                "{\"preset\": \"h100-dgx\", \"device\": {\"kernels\": {\"stream_k\": \"yes\"}}}"));
        assertEquals("cluster spec: device.kernels.stream_k is the string \"yes\"; expected true or false",
                e.getMessage());
    }

    @Test
    void shortReductionsRunSlower() {
        KernelModel k = new KernelModel(4, 2, 2, 1.0, 64, 1.0, 0, "half k 64");
        double peak = 1e12;
        Gemm longK = Gemm.of(1, 8, 8, 4096);
        Gemm shortK = Gemm.of(1, 8, 8, 64);
        double effLong = longK.flops() / k.gemmSeconds(longK, peak, 1e30, 2) / peak;
        double effShort = shortK.flops() / k.gemmSeconds(shortK, peak, 1e30, 2) / peak;
        assertEquals(0.5, effShort, 1e-12);
        assertEquals(4096.0 / (4096 + 64), effLong, 1e-12);
    }

    @Test
    void memoryBoundProductsAreBoundByTheirBytes() {
        // a (1 x 1000) x (1000 x 1000) product: 2 MFLOP but 1M elements of weights to stream
        Gemm gemv = Gemm.of(1, 1, 1000, 1000);
        double bw = 1e9;
        double s = TOY.gemmSeconds(gemv, 1e15, bw, 2);
        assertEquals(2.0 * (1000 + 1000 * 1000 + 1000) / bw, s, 1e-15);
    }

    @Test
    void invalidFiguresAreRejectedWithTheirName() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> new KernelModel(108, 256, 128, 1.5, 64, 0.9, 5e-6, "x"));
        assertTrue(e.getMessage().contains("gemm_efficiency is 1.5"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> new KernelModel(0, 256, 128, 0.8, 64, 0.9, 5e-6, "x"));
        assertTrue(e.getMessage().contains("compute_units 0"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> new KernelModel(108, 256, 128, 0.8, 64, 0.9, -1, "x"));
        assertTrue(e.getMessage().contains("launch_seconds is -1"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> new KernelModel(108, 256, 128, 0.8, 64, 0.9, 0, " "));
    }

    @Test
    void matMulForwardAndBackwardProductsHaveTheOperatorsFlops() {
        MatMul mm = MatMul.of(false, true);
        List<long[]> in = List.of(new long[] {64, 32}, new long[] {16, 32});
        List<long[]> out = List.of(new long[] {64, 16});
        List<Gemm> fwd = mm.forwardGemms(in, out);
        assertEquals(List.of(Gemm.of(1, 64, 16, 32)), fwd);
        assertEquals(mm.forwardFlops(in, out), fwd.get(0).flops(), 0);
        List<Gemm> bwd = mm.backwardGemms(in, out);
        // dA (64 x 32) reduces over n = 16; dB (as 32 x 16) reduces over m = 64
        assertEquals(List.of(Gemm.of(1, 64, 32, 16), Gemm.of(1, 32, 16, 64)), bwd);
        assertEquals(2.0 * mm.forwardFlops(in, out), bwd.get(0).flops() + bwd.get(1).flops(), 0);
        MatMul bmm = MatMul.batched(false, false);
        List<Gemm> b = bmm.forwardGemms(List.of(new long[] {2, 3, 8, 4}, new long[] {2, 3, 4, 5}),
                List.of(new long[] {2, 3, 8, 5}));
        assertEquals(List.of(Gemm.of(6, 8, 5, 4)), b);
        assertTrue(new Binary(Binary.Kind.ADD).forwardGemms(in, out).isEmpty());
    }

    /** x [8, 64] -> mm -> bias -> gelu -> reshape -> transpose -> bmm with itself -> scale -> softmax -> loss. */
    private static Network chain() {
        Network.Builder b = Network.builder("chain");
        b.input("x", TensorType.of(DType.FLOAT16, 8, 64));
        String w = b.parameter(Parameter.fromInitializer("normal", new long[] {64, 64}, DType.FLOAT16, "w"));
        String bias = b.parameter(Parameter.fromInitializer("zeros", new long[] {64}, DType.FLOAT16, "b"));
        String s = b.parameter(Parameter.fromInitializer("ones", new long[] {1}, DType.FLOAT16, "s"));
        String y = b.op("mm", MatMul.of(false, false), "x", w);
        String yb = b.op("bias", new BiasAdd(), y, bias);
        String g = b.op("gelu", new Activation(Activation.Kind.GELU), yb);
        String r = b.op("split", new Reshape(new long[] {8, 4, 16}), g);
        String t = b.op("heads", new Transpose(new int[] {1, 0, 2}), r);
        String sc = b.op("scores", MatMul.batched(false, true), t, t);
        String scaled = b.op("scale", new Binary(Binary.Kind.MUL), sc, s);
        String p = b.op("softmax", new Softmax(-1, false), scaled);
        b.op("loss", Reduce.mean(false), p);
        b.loss("loss");
        return b.build();
    }

    @Test
    void fusedAndViewOperatorsLaunchNoKernel() {
        Network net = chain();
        Map<String, Boolean> expected = Map.of("mm", false, "bias", true, "gelu", false, "split", true, "heads",
                true, "scores", false, "scale", true, "softmax", false, "loss", false);
        for (Node n : net.nodes()) {
            assertEquals(expected.get(n.name()), CostModel.launchesNoKernel(net, n), n.name());
        }
        Plan plan = Planner.plan(net, PlanConfig.builder(1).build());
        CostModel shaped = new CostModel(ClusterSpec.preset("a100-80gb-dgx"));
        for (String name : List.of("bias", "split", "heads", "scale")) {
            assertEquals(0, shaped.computeSeconds(net, plan.op(name), false), name);
            assertEquals(0, shaped.computeSeconds(net, plan.op(name), true), name);
        }
        double launch = shaped.spec().device().kernels().launchSeconds();
        assertTrue(shaped.computeSeconds(net, plan.op("gelu"), false) > launch);
        assertTrue(shaped.computeSeconds(net, plan.op("softmax"), true) > launch);
    }

    @Test
    void aTransposeReadByAnElementwiseOperatorIsACopy() {
        Network.Builder b = Network.builder("copy");
        b.input("x", TensorType.of(DType.FLOAT16, 8, 4));
        String t = b.op("t", new Transpose(new int[] {1, 0}), "x");
        String r = b.op("relu", new Activation(Activation.Kind.RELU), t);
        b.op("loss", Reduce.mean(false), r);
        b.loss("loss");
        Network net = b.build();
        assertFalse(CostModel.launchesNoKernel(net, net.node("t")));
    }

    @Test
    void theBackwardOfAProductIsItsTwoGradientProducts() {
        Network.Builder b = Network.builder("mm");
        b.input("x", TensorType.of(DType.FLOAT16, 4096, 1024));
        String w = b.parameter(Parameter.fromInitializer("normal", new long[] {1024, 8192}, DType.FLOAT16, "w"));
        String y = b.op("mm", MatMul.of(false, false), "x", w);
        b.op("loss", Reduce.mean(false), y);
        b.loss("loss");
        Network net = b.build();
        Plan plan = Planner.plan(net, PlanConfig.builder(1).build());
        ClusterSpec a100 = ClusterSpec.preset("a100-80gb-dgx");
        KernelModel k = a100.device().kernels();
        double peak = a100.device().peak(DType.FLOAT16);
        double bw = a100.device().memoryBandwidth();
        CostModel cm = new CostModel(a100);
        assertEquals(k.gemmSeconds(Gemm.of(1, 4096, 8192, 1024), peak, bw, 2),
                cm.computeSeconds(net, plan.op("mm"), false), 1e-15);
        assertEquals(k.gemmSeconds(Gemm.of(1, 4096, 1024, 8192), peak, bw, 2)
                        + k.gemmSeconds(Gemm.of(1, 1024, 8192, 4096), peak, bw, 2),
                cm.computeSeconds(net, plan.op("mm"), true), 1e-15);
        // without a kernel model, the device's efficiency curve alone (twice the forward in backward)
        CostModel curve = new CostModel(a100.withDevice(a100.device().withKernels(null)));
        assertEquals(2 * curve.computeSeconds(net, plan.op("mm"), false), curve.computeSeconds(net, plan.op("mm"),
                true), 1e-15);
    }

    @Test
    void kernelsRoundTripThroughClusterJson() {
        ClusterSpec a100 = ClusterSpec.preset("a100-80gb-dgx");
        assertEquals(a100, ClusterSpecs.parse(ClusterSpecs.write(a100)));
        ClusterSpec tuned = ClusterSpecs.parse("{\"preset\": \"a100-80gb-dgx\", \"device\": {\"kernels\": "
                + "{\"gemm_efficiency\": 0.5}}}");
        assertEquals(0.5, tuned.device().kernels().gemmEfficiency());
        assertEquals(a100.device().kernels().computeUnits(), tuned.device().kernels().computeUnits());
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ClusterSpecs.parse(
                "{\"preset\": \"a100-80gb-dgx\", \"device\": {\"kernels\": {\"gemm_eff\": 0.5}}}"));
        assertTrue(e.getMessage().contains("device.kernels has unknown key 'gemm_eff'"), e.getMessage());
    }
}
