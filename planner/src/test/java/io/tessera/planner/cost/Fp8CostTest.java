package io.tessera.planner.cost;

import io.tessera.layout.DType;
import io.tessera.layout.param.Parameter;
import io.tessera.planner.graph.Network;
import io.tessera.planner.graph.NetworkJson;
import io.tessera.planner.op.Activation;
import io.tessera.planner.op.Binary;
import io.tessera.planner.op.Gemm;
import io.tessera.planner.op.MatMul;
import io.tessera.planner.op.Reduce;
import io.tessera.planner.op.Strategy;
import io.tessera.planner.op.TensorType;
import io.tessera.planner.plan.Plan;
import io.tessera.planner.plan.PlanConfig;
import io.tessera.planner.plan.Planner;
import io.tessera.planner.strategy.DatasetStrategy;
import org.junit.jupiter.api.Test;

import java.util.List;


import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** FP8 linear layers in the cost model: the casts' bytes by hand, the FP8 peak, and devices without one. */
class Fp8CostTest {

    private static final MatMul FP8 = MatMul.of(false, false).withGemmDtype(DType.FLOAT8_E4M3FN);

    /**
     * {@code x [64, 32]} (bfloat16), GeLU, then two FP8 linear layers {@code fc} ({@code w [32, 16]}) and {@code fc_b}
     * ({@code w2 [32, 16]}) that share the input, summed, mean loss; on 2 devices, batch split 2 ways.
     */
    private static Network network() {
        Network.Builder b = Network.builder("fp8");
        b.input("x", TensorType.of(DType.BFLOAT16, 64, 32));
        String w = b.parameter(Parameter.fromInitializer("normal", new long[] {32, 16}, DType.BFLOAT16, "w"));
        String w2 = b.parameter(Parameter.fromInitializer("normal", new long[] {32, 16}, DType.BFLOAT16, "w2"));
        String h = b.op("gelu", Activation.gelu(), "x");
        String y = b.op("fc", FP8, h, w);
        String z = b.op("fc_b", FP8, h, w2);
        b.loss(b.op("loss", Reduce.mean(false), b.op("sum", Binary.add(), y, z)));
        return b.build();
    }

    private static Plan plan(Network net) {
        return Planner.plan(net, PlanConfig.builder(2)
                .dataset(new DatasetStrategy.Explicit(Strategy.of(new int[] {2, 1})))
                .strategy("gelu", new int[] {2, 1})
                .strategy("fc", new int[] {2, 1}, new int[] {1, 1})
                .strategy("fc_b", new int[] {2, 1}, new int[] {1, 1})
                .build());
    }

    @Test
    void castBytesOfOneLinearLayerByHand() {
        Network net = network();
        Plan plan = plan(net);
        // forward: the rank's slice [32, 32] of the GeLU output read as bfloat16 (2 bytes) and written as FP8 twice (1 + 1 bytes)
        assertEquals(32 * 32 * (2 + 1 + 1), Fp8Casts.castBytes(net, plan.op("fc"), false));
        // fc_b reads the same tensor: its FP8 copy is shared (cast once, on the first FP8 consumer)
        assertEquals(0, Fp8Casts.castBytes(net, plan.op("fc_b"), false));
        // backward: the output gradient slice [32, 16] in bfloat16, written as E5M2 twice
        assertEquals(32 * 16 * (2 + 1 + 1), Fp8Casts.castBytes(net, plan.op("fc"), true));
        assertEquals(32 * 16 * (2 + 1 + 1), Fp8Casts.castBytes(net, plan.op("fc_b"), true));
        // the weight, once per step: [32, 16] (replicated) read once, written twice
        assertEquals(32 * 16 * (2 + 1 + 1), Fp8Casts.weightCastBytes(plan.param("w")));
        assertEquals(0, Fp8Casts.castBytes(net, plan.op("sum"), false));
    }

    @Test
    void fp8LayersKeepTheirInputsFp8CopyAndCacheFp8Weights() {
        Network fp8 = network();
        Network plain = bf16Network();
        List<String> ops = List.of("gelu", "fc", "fc_b", "sum", "loss");
        // the GeLU output [32, 32] per rank, saved once for both products: bfloat16 2 bytes, its FP8 copy 1 byte
        assertEquals(32 * 32 * 2, ActivationMemory.of(plan(plain)).keptBytes(ops));
        assertEquals(32 * 32, ActivationMemory.of(plan(fp8)).keptBytes(ops));
        // two weights [32, 16], each cached row-wise and transposed in FP8
        assertEquals(2 * 2 * 32 * 16, plan(fp8).memory(0).fp8Weights());
        assertEquals(plan(plain).memory(0).total() + 2 * 2 * 32 * 16, plan(fp8).memory(0).total());
        assertEquals(0, plan(plain).memory(0).fp8Weights());
    }

    @Test
    void fp8ProductsRunAtTheFp8PeakPlusTheirCasts() {
        Network net = network();
        Plan plan = plan(net);
        ClusterSpec h100 = ClusterSpec.preset("h100-dgx");
        CostModel cm = new CostModel(h100);
        DeviceSpec d = h100.device();
        KernelModel k = d.kernels();
        assertEquals(1978.9e12, d.peak(DType.FLOAT8_E4M3FN));
        assertEquals(1978.9e12, d.peak(DType.FLOAT8_E5M2));
        double bw = d.memoryBandwidth();
        double forward = k.gemmSeconds(Gemm.of(1, 32, 16, 32), 1978.9e12, bw, 1, 2)
                + k.streamSeconds(32 * 32 * 4, bw);
        assertEquals(forward, cm.computeSeconds(net, plan.op("fc"), false), 1e-18);
        double backward = k.gemmSeconds(Gemm.of(1, 32, 32, 16), 1978.9e12, bw, 1, 2)
                + k.gemmSeconds(Gemm.of(1, 32, 16, 32), 1978.9e12, bw, 1, 2) + k.streamSeconds(32 * 16 * 4, bw);
        assertEquals(backward, cm.computeSeconds(net, plan.op("fc"), true), 1e-18);
        assertEquals(2 * k.streamSeconds(32 * 16 * 4, bw), cm.fp8WeightCastSeconds(net, plan.params()), 1e-18);
        // the roofline (no kernel model) also uses the FP8 peak and adds the cast bytes
        CostModel roofline = new CostModel(h100.withDevice(d.withKernels(null)));
        double flops = 2.0 * 32 * 16 * 32;
        double bytes = 2.0 * (32 * 32 + 32 * 16 + 32 * 16);
        assertEquals(Math.max(flops / (1978.9e12 * d.efficiency(flops)), bytes / bw) + 32 * 32 * 4 / bw,
                roofline.computeSeconds(net, plan.op("fc"), false), 1e-18);
    }

    @Test
    void aDeviceWithoutAnFp8PeakIsAOneLineError() {
        Network net = network();
        Plan plan = plan(net);
        CostModel a100 = new CostModel(ClusterSpec.preset("a100-80gb-dgx"));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> a100.computeSeconds(net, plan.op("fc"), false));
        assertTrue(e.getMessage().startsWith("device 'A100-SXM4-80GB': no float8_e4m3fn peak")
                && e.getMessage().contains("use precision bf16") && !e.getMessage().contains("\n"), e.getMessage());
        assertFalse(ClusterSpec.preset("a100-80gb-dgx").device().hasPeak(DType.FLOAT8_E4M3FN));
        Network plain = bf16Network();
        assertEquals(0, a100.fp8WeightCastSeconds(plain, plan(plain).params()));
        assertEquals(a100.computeSeconds(plain, plan(plain).op("fc"), false) > 0, true);
    }

    private static Network bf16Network() {
        Network.Builder b = Network.builder("bf16");
        b.input("x", TensorType.of(DType.BFLOAT16, 64, 32));
        String w = b.parameter(Parameter.fromInitializer("normal", new long[] {32, 16}, DType.BFLOAT16, "w"));
        String w2 = b.parameter(Parameter.fromInitializer("normal", new long[] {32, 16}, DType.BFLOAT16, "w2"));
        String h = b.op("gelu", Activation.gelu(), "x");
        String y = b.op("fc", MatMul.of(false, false), h, w);
        String z = b.op("fc_b", MatMul.of(false, false), h, w2);
        b.loss(b.op("loss", Reduce.mean(false), b.op("sum", Binary.add(), y, z)));
        return b.build();
    }

    @Test
    void gemmDtypeRoundTripsThroughNetworkJsonAndIsValidated() {
        Network net = network();
        String json = NetworkJson.write(net);
        assertTrue(json.contains("\"gemm_dtype\": \"float8_e4m3fn\""), json);
        Network back = NetworkJson.parse(json);
        assertEquals(FP8, back.node("fc").op());
        assertFalse(NetworkJson.write(bf16Network()).contains("gemm_dtype"), "written only when set");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> MatMul.of(false, false).withGemmDtype(DType.BFLOAT16));
        assertTrue(e.getMessage().startsWith("MatMul: gemm_dtype is bfloat16; expected float8_e4m3fn"),
                e.getMessage());
    }
}
