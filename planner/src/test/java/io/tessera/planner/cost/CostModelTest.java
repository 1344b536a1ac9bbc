package io.tessera.planner.cost;

import io.tessera.layout.comm.CollectiveKind;

import io.tessera.layout.DType;
import io.tessera.layout.param.Parameter;
import io.tessera.planner.graph.Network;
import io.tessera.planner.op.Binary;
import io.tessera.planner.op.Conv2D;
import io.tessera.planner.op.MatMul;
import io.tessera.planner.op.Reduce;
import io.tessera.planner.op.TensorType;
import io.tessera.planner.plan.Communication;
import io.tessera.planner.plan.OpPlan;
import io.tessera.layout.comm.Phase;
import io.tessera.planner.plan.Plan;
import io.tessera.planner.plan.PlanConfig;
import io.tessera.planner.plan.Planner;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class CostModelTest {

    /** 2 nodes x 4 devices, round figures: intra 100 GB/s 1 us, inter 10 GB/s 10 us, efficiency 1. */
    private static ClusterSpec toy(CollectiveAlgorithm a) {
        DeviceSpec d = new DeviceSpec("toy", Map.of(DType.FLOAT32, 1e12), 1L << 34, 1e12, 0.5, 0.5, 1e9);
        return new ClusterSpec("toy", 4, 2, d, new Link(100e9, 1e-6, 1), new Link(10e9, 10e-6, 1), a);
    }

    private static final List<Integer> ALL = List.of(0, 1, 2, 3, 4, 5, 6, 7);

    /** x [64, 1024] x w [1024, 4096] -> mean, with the MatMul split (2, 1) x (1, 4) on 8 devices. */
    private static Network matmul(DType t, long m, long k, long n) {
        Network.Builder b = Network.builder("mm");
        b.input("x", TensorType.of(t, m, k));
        String w = b.parameter(Parameter.fromInitializer("normal", new long[] {k, n}, t, "w"));
        String y = b.op("mm", MatMul.of(false, false), "x", w);
        b.op("loss", Reduce.mean(false), y);
        b.loss("loss");
        return b.build();
    }

    @Test
    void matMulSliceFlops() {
        Network net = matmul(DType.FLOAT32, 64, 1024, 4096);
        Plan plan = Planner.plan(net, PlanConfig.builder(8).strategy("mm", new int[] {2, 1}, new int[] {1, 4})
                .build());
        CostModel cm = new CostModel(ClusterSpec.preset("a100-80gb-dgx"));
        assertEquals(2L * 32 * 1024 * 1024, cm.forwardFlops(net, plan.op("mm")));
        // x slice [32, 1024], w slice [1024, 1024], y slice [32, 1024], float32
        assertEquals(4L * (32 * 1024 + 1024 * 1024 + 32 * 1024), cm.forwardBytes(net, plan.op("mm")));
        // split contraction: (1, 8) x (8, 1): k = 128 per rank
        Plan k = Planner.plan(net, PlanConfig.builder(8).strategy("mm", new int[] {1, 8}, new int[] {8, 1}).build());
        assertEquals(2L * 64 * 128 * 4096, cm.forwardFlops(net, k.op("mm")));
    }

    @Test
    void batchMatMulCountsTheBroadcastBatch() {
        Network.Builder b = Network.builder("bmm");
        b.input("a", TensorType.of(DType.FLOAT16, 4, 8, 16, 32));
        b.input("c", TensorType.of(DType.FLOAT16, 8, 64, 32));
        String y = b.op("bmm", MatMul.batched(false, true), "a", "c");
        b.op("loss", Reduce.mean(false), y);
        b.loss("loss");
        Network net = b.build();
        Plan plan = Planner.plan(net, PlanConfig.builder(1).build());
        assertEquals(2L * 4 * 8 * 16 * 64 * 32,
                new CostModel(ClusterSpec.preset("h100-dgx")).forwardFlops(net, plan.op("bmm")));
    }

    @Test
    void conv2DSliceFlops() {
        Network.Builder b = Network.builder("conv");
        b.input("x", TensorType.of(DType.FLOAT32, 8, 16, 32, 32));
        String w = b.parameter(Parameter.fromInitializer("normal", new long[] {32, 16, 3, 3}, DType.FLOAT32, "w"));
        String y = b.op("conv", Conv2D.of(32, new int[] {3, 3}, new int[] {1, 1}, new int[] {1}), "x", w);
        b.op("loss", Reduce.mean(false), y);
        b.loss("loss");
        Network net = b.build();
        Plan plan = Planner.plan(net, PlanConfig.builder(8)
                .strategy("conv", new int[] {2, 2, 1, 1}, new int[] {2, 2, 1, 1}).build());
        // N 8/2, Co 32/2, Ho = Wo = 32, Ci 16/2, 3x3 kernel
        assertEquals(2L * 4 * 16 * 32 * 32 * 8 * 3 * 3,
                new CostModel(ClusterSpec.preset("a100-80gb-dgx")).forwardFlops(net, plan.op("conv")));
    }

    @Test
    void bigMatMulIsComputeBoundAndElementwiseIsMemoryBound() {
        // the efficiency curve alone (a device without a kernel model; KernelCostTest covers kernel models)
        ClusterSpec a100 = ClusterSpec.preset("a100-80gb-dgx");
        CostModel cm = new CostModel(a100.withDevice(a100.device().withKernels(null)));
        DeviceSpec d = cm.spec().device();
        Network net = matmul(DType.BFLOAT16, 4096, 4096, 4096);
        OpPlan mm = Planner.plan(net, PlanConfig.builder(1).build()).op("mm");
        double flops = 2.0 * 4096 * 4096 * 4096;
        assertEquals(flops / (312e12 * d.efficiency(flops)), cm.computeSeconds(net, mm, false), 1e-12);
        assertTrue(cm.computeSeconds(net, mm, false) > cm.forwardBytes(net, mm) / d.memoryBandwidth());
        assertEquals(2 * cm.computeSeconds(net, mm, false), cm.computeSeconds(net, mm, true), 1e-12);

        Network.Builder b = Network.builder("add");
        b.input("x", TensorType.of(DType.FLOAT32, 4096, 4096));
        b.input("y", TensorType.of(DType.FLOAT32, 4096, 4096));
        String z = b.op("add", new Binary(Binary.Kind.ADD), "x", "y");
        b.op("loss", Reduce.mean(false), z);
        b.loss("loss");
        Network addNet = b.build();
        OpPlan add = Planner.plan(addNet, PlanConfig.builder(1).build()).op("add");
        assertEquals(4096L * 4096, cm.forwardFlops(addNet, add));
        long bytes = 3L * 4096 * 4096 * 4;
        assertEquals(bytes, cm.forwardBytes(addNet, add));
        assertEquals(bytes / d.memoryBandwidth(), cm.computeSeconds(addNet, add, false), 1e-15);
        assertEquals(2 * bytes / d.memoryBandwidth(), cm.computeSeconds(addNet, add, true), 1e-15);
    }

    @Test
    void collectiveClosedFormsOnAHandComputedCase() {
        long bytes = 1_000_000_000L;
        double ring = 2 * 7 / 8.0 * bytes / 10e9 + 14 * 10e-6;
        double tree = 2 * 3 * (10e-6 + bytes / 10e9);
        double intra = 3 / 4.0 * bytes / 100e9 + 3 * 1e-6;
        double inter = 1 / 2.0 * (bytes / 4.0) / 10e9 + 10e-6;
        double hier = 2 * intra + 2 * inter;
        assertEquals(ring, new CostModel(toy(CollectiveAlgorithm.RING)).collectiveSeconds(CollectiveKind.ALL_REDUCE, ALL, bytes),
                1e-12);
        assertEquals(tree, new CostModel(toy(CollectiveAlgorithm.TREE)).collectiveSeconds(CollectiveKind.ALL_REDUCE, ALL, bytes),
                1e-12);
        assertEquals(hier, new CostModel(toy(CollectiveAlgorithm.HIERARCHICAL))
                .collectiveSeconds(CollectiveKind.ALL_REDUCE, ALL, bytes), 1e-12);
        CostModel auto = new CostModel(toy(CollectiveAlgorithm.AUTO));
        assertEquals(Math.min(ring, Math.min(tree, hier)), auto.collectiveSeconds(CollectiveKind.ALL_REDUCE, ALL, bytes), 1e-12);
        assertEquals(hier, auto.collectiveSeconds(CollectiveAlgorithm.HIERARCHICAL, CollectiveKind.ALL_REDUCE, ALL, bytes),
                1e-12);
        // AllGather / ReduceScatter: one ring pass
        double agRing = 7 / 8.0 * bytes / 10e9 + 7 * 10e-6;
        assertEquals(agRing, auto.collectiveSeconds(CollectiveAlgorithm.RING, CollectiveKind.ALL_GATHER, ALL, bytes), 1e-12);
        assertEquals(agRing, auto.collectiveSeconds(CollectiveAlgorithm.RING, CollectiveKind.REDUCE_SCATTER, ALL, bytes), 1e-12);
        assertEquals(intra + inter, auto.collectiveSeconds(CollectiveAlgorithm.HIERARCHICAL, CollectiveKind.ALL_GATHER, ALL,
                bytes), 1e-12);
        assertEquals(7 / 8.0 * bytes / 10e9 + 3 * 10e-6,
                auto.collectiveSeconds(CollectiveAlgorithm.TREE, CollectiveKind.ALL_GATHER, ALL, bytes), 1e-12);
        // AllToAll: flat with ring; with auto the cheaper of flat and the two-level form (3/8 inside the node and
        // 4/8 across, concurrently)
        assertEquals(agRing, auto.collectiveSeconds(CollectiveAlgorithm.RING, CollectiveKind.ALL_TO_ALL, ALL, bytes),
                1e-12);
        double twoLevel = Math.max(3 / 8.0 * bytes / 100e9 + 3 * 1e-6, 4 / 8.0 * bytes / 10e9 + 4 * 10e-6);
        assertEquals(Math.min(agRing, twoLevel), auto.collectiveSeconds(CollectiveKind.ALL_TO_ALL, ALL, bytes), 1e-12);
    }

    @Test
    void theGroupsPlacementPicksTheLink() {
        CostModel cm = new CostModel(toy(CollectiveAlgorithm.RING));
        long bytes = 1_000_000;
        assertEquals(3 / 4.0 * bytes / 100e9 + 3e-6, cm.collectiveSeconds(CollectiveKind.ALL_GATHER, List.of(4, 5, 6, 7), bytes),
                1e-15);
        assertEquals(1 / 2.0 * bytes / 10e9 + 10e-6, cm.collectiveSeconds(CollectiveKind.ALL_GATHER, List.of(3, 4), bytes), 1e-15);
        assertEquals(1e-6 + bytes / 100e9, cm.collectiveSeconds(CollectiveKind.SEND_RECV, List.of(0, 1), bytes), 1e-15);
        assertEquals(10e-6 + bytes / 10e9, cm.collectiveSeconds(CollectiveKind.COLLECTIVE_PERMUTE, List.of(0, 4), bytes), 1e-15);
        for (CollectiveKind kind : CollectiveKind.values()) {
            assertEquals(0, cm.collectiveSeconds(kind, List.of(5), bytes), kind.jsonName());
        }
    }

    @Test
    void badCollectivesAreRejected() {
        CostModel cm = new CostModel(toy(CollectiveAlgorithm.AUTO));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> cm.collectiveSeconds((CollectiveKind) null, ALL, 1));
        assertTrue(e.getMessage().contains("kind is null") && e.getMessage().contains("AllReduce"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> CollectiveKind.parse("Broadcastt"));
        assertTrue(e.getMessage().contains("'Broadcastt'") && e.getMessage().contains("AllReduce"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> cm.collectiveSeconds(CollectiveKind.ALL_REDUCE, List.of(0, 8), 1));
        assertTrue(e.getMessage().contains("rank 8"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> cm.collectiveSeconds(CollectiveKind.ALL_REDUCE, ALL, -1));
        assertTrue(e.getMessage().contains("-1 bytes"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> cm.collectiveSeconds(CollectiveKind.ALL_REDUCE, List.of(), 1));
    }

    @Test
    void communicationInvertsTheReceivedBytes() {
        CostModel cm = new CostModel(toy(CollectiveAlgorithm.AUTO));
        long buffer = 8_000_000;
        long[] recv = new long[8];
        Arrays.fill(recv, 2 * buffer * 7 / 8);
        Communication ar = comm(CollectiveKind.ALL_REDUCE, List.of(List.of(0, 1, 2, 3), List.of(4, 5, 6, 7)), recv);
        assertEquals(cm.collectiveSeconds(CollectiveKind.ALL_REDUCE, List.of(0, 1, 2, 3), 2 * buffer * 7 / 8 * 4 / 6),
                cm.communicationSeconds(ar), 1e-15);
        assertEquals(buffer, CostModel.bufferBytes(CollectiveKind.ALL_REDUCE, 8, 2 * buffer * 7 / 8));
        assertEquals(buffer, CostModel.bufferBytes(CollectiveKind.ALL_GATHER, 8, buffer * 7 / 8));
        assertEquals(buffer, CostModel.bufferBytes(CollectiveKind.REDUCE_SCATTER, 8, buffer * 7 / 8));
        assertEquals(buffer, CostModel.bufferBytes(CollectiveKind.SEND_RECV, 2, buffer));
        Arrays.fill(recv, buffer * 7 / 8);
        Communication ag = comm(CollectiveKind.ALL_GATHER, List.of(ALL), recv);
        assertEquals(cm.collectiveSeconds(CollectiveKind.ALL_GATHER, ALL, buffer), cm.communicationSeconds(ag), 1e-15);
        // the slowest group wins: a cross-node pair beside an intra-node pair
        long[] pair = new long[8];
        Arrays.fill(pair, buffer);
        Communication p = comm(CollectiveKind.COLLECTIVE_PERMUTE, List.of(List.of(0, 1), List.of(3, 4)), pair);
        assertEquals(cm.collectiveSeconds(CollectiveKind.COLLECTIVE_PERMUTE, List.of(3, 4), buffer), cm.communicationSeconds(p),
                1e-15);
    }

    @Test
    void plannedCommunicationsAndActivations() {
        Network net = matmul(DType.FLOAT32, 64, 1024, 4096);
        Plan plan = Planner.plan(net, PlanConfig.builder(8).strategy("mm", new int[] {1, 8}, new int[] {8, 1})
                .build());
        CostModel cm = new CostModel(ClusterSpec.preset("a100-80gb-dgx"));
        Communication fwd = plan.comms(Phase.FORWARD).stream().filter(c -> "mm".equals(c.operator())
                && c.origin() == Communication.Origin.OPERATOR).findFirst()
                .orElseThrow();
        assertEquals(CollectiveKind.ALL_REDUCE, fwd.kind());
        // the partial [64, 4096] float32 output is AllReduced over all 8 ranks inside one node
        assertEquals(cm.collectiveSeconds(CollectiveKind.ALL_REDUCE, ALL, 64L * 4096 * 4), cm.communicationSeconds(fwd), 1e-12);
        long act = 0;
        for (OpPlan op : plan.ops()) {
            act += op.outputLayouts().get(0).sliceBytes(DType.FLOAT32);
        }
        assertEquals(act, cm.activationBytes(net, plan, 3));
        assertTrue(act >= 64L * 4096 * 4);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> cm.activationBytes(net, plan, 8));
        assertTrue(e.getMessage().contains("rank 8"), e.getMessage());
    }

    @Test
    void moreBytesAreNeverCheaper() {
        Random rnd = new Random(7);
        ClusterSpec base = ClusterSpec.preset("h100-dgx").withNodes(4);
        for (int trial = 0; trial < 200; trial++) {
            List<Integer> ranks = new ArrayList<>();
            for (int r = 0; r < base.devices(); r++) {
                ranks.add(r);
            }
            Collections.shuffle(ranks, rnd);
            List<Integer> group = new ArrayList<>(ranks.subList(0, 1 + rnd.nextInt(base.devices())));
            Collections.sort(group);
            long b1 = (long) (rnd.nextDouble() * 1e9);
            long b2 = b1 + (long) (rnd.nextDouble() * 1e9);
            for (CollectiveAlgorithm a : CollectiveAlgorithm.values()) {
                CostModel cm = new CostModel(base.withAlgorithm(a));
                for (CollectiveKind kind : CollectiveKind.values()) {
                    double t1 = cm.collectiveSeconds(kind, group, b1);
                    double t2 = cm.collectiveSeconds(kind, group, b2);
                    assertTrue(t1 >= 0 && t1 <= t2, a + " " + kind + " over " + group + ": " + b1 + " bytes "
                            + t1 + " s > " + b2 + " bytes " + t2 + " s");
                }
                if (a == CollectiveAlgorithm.AUTO) {
                    for (CollectiveKind kind : List.of(CollectiveKind.ALL_REDUCE, CollectiveKind.ALL_GATHER, CollectiveKind.REDUCE_SCATTER)) {
                        double t = cm.collectiveSeconds(kind, group, b2);
                        for (CollectiveAlgorithm c : List.of(CollectiveAlgorithm.RING, CollectiveAlgorithm.TREE,
                                CollectiveAlgorithm.HIERARCHICAL)) {
                            assertTrue(t <= cm.collectiveSeconds(c, kind, group, b2) + 1e-15, kind + " " + c);
                        }
                    }
                }
            }
        }
    }

    @Test
    void ringAllReduceApproachesTwiceBytesOverBandwidth() {
        DeviceSpec d = ClusterSpec.preset("a100-80gb-dgx").device();
        Link link = new Link(100e9, 0, 0.8);
        CostModel cm = new CostModel(new ClusterSpec("flat", 1024, 1, d, link, link, CollectiveAlgorithm.RING));
        long bytes = 1L << 30;
        double limit = 2.0 * bytes / link.effectiveBandwidth();
        double prev = 0;
        for (int p = 2; p <= 1024; p *= 2) {
            List<Integer> group = new ArrayList<>();
            for (int r = 0; r < p; r++) {
                group.add(r);
            }
            double t = cm.collectiveSeconds(CollectiveKind.ALL_REDUCE, group, bytes);
            assertTrue(t > prev && t < limit, "p=" + p + ": " + t);
            assertEquals(limit * (p - 1) / p, t, limit * 1e-12);
            prev = t;
        }
        assertTrue(limit - prev < limit * 1e-3);
    }

    private static Communication comm(CollectiveKind kind, List<List<Integer>> groups, long[] recv) {
        return new Communication(kind, Communication.Origin.OPERATOR, Phase.FORWARD, "op", -1, "t", null, null,
                null, null, groups, recv, "test");
    }
}
