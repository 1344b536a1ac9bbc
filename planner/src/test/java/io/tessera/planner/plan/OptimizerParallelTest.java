package io.tessera.planner.plan;

import io.tessera.planner.api.StrategyPlans;

import io.tessera.layout.comm.CollectiveKind;

import io.tessera.layout.comm.Phase;

import io.tessera.layout.DType;
import io.tessera.layout.Layout;
import io.tessera.layout.tensor.Tensor;
import io.tessera.planner.graph.Network;
import io.tessera.planner.strategy.CommFusionConfig;
import io.tessera.planner.strategy.CommFusionMode;
import io.tessera.planner.strategy.OptimizerKind;
import io.tessera.planner.strategy.ParallelOptimizerConfig;
import io.tessera.planner.strategy.StrategyCheckpoint;
import io.tessera.planner.zoo.GptConfig;
import io.tessera.planner.handplan.HandPlans;
import io.tessera.planner.zoo.Zoo;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Optimizer parallel (spec §5), fusion buckets (§6) and per-rank memory, against published and hand-derived values. */
class OptimizerParallelTest {

    private static final ParallelOptimizerConfig DEFAULTS = ParallelOptimizerConfig.defaults();

    private static OptimizerShard decide(ParallelOptimizerConfig c, Layout l) {
        return OptimizerSharding.decide(true, c, true, true, l, DType.FLOAT32);
    }

    @Test
    void publishedShardShapes() {
        OptimizerShard full = decide(DEFAULTS, Layout.of(new int[] {8, 4}, new int[] {1, 0}, 512, 1024));
        assertFalse(full.sharded());
        assertTrue(full.reason().startsWith("no repeated devices"), full.reason());

        Layout l1 = Layout.of(new int[] {8, 4}, new int[] {-1, 0}, 512, 1024);
        assertArrayEquals(new long[] {64, 256}, OptimizerSharding.shardShape(l1, decide(DEFAULTS, l1)));
        Layout l2 = Layout.of(new int[] {4, 4, 2}, new int[] {1, 0}, 512, 1024);
        assertArrayEquals(new long[] {32, 512}, OptimizerSharding.shardShape(l2, decide(DEFAULTS, l2)));

        OptimizerShard odd = decide(DEFAULTS, Layout.of(new int[] {4, 4, 2}, new int[] {1, 0}, 20, 1024));
        assertFalse(odd.sharded());
        assertTrue(odd.reason().contains("would be split 16 ways"), odd.reason());
    }

    @Test
    void publishedThirtyTwoDeviceCases() {
        ParallelOptimizerConfig kb1 = ParallelOptimizerConfig.of(1, -1);
        Layout p1 = Layout.fromStrategy(new long[] {48, 64}, new int[] {8, 1}, 32);
        Layout p2 = Layout.fromStrategy(new long[] {64, 16}, new int[] {4, 2}, 32);
        assertFalse(decide(kb1, p1).sharded(), "48 % 32 != 0");
        OptimizerShard s2 = decide(kb1, p2);
        assertTrue(s2.sharded());
        assertEquals(4, s2.shards());

        ParallelOptimizerConfig k2 = ParallelOptimizerConfig.of(1, 2);
        assertEquals(2, decide(k2, p1).shards());
        assertEquals(2, decide(k2, p2).shards());
        assertEquals(2, decide(k2, p1).groups().get(0).size());

        assertFalse(OptimizerSharding.decide(true, kb1, true, false, p2, DType.FLOAT32).sharded(),
                "parallel_optimizer=False is never sharded");
        assertFalse(OptimizerSharding.decide(false, kb1, true, true, p2, DType.FLOAT32).sharded());
        assertFalse(OptimizerSharding.decide(true, kb1, false, true, p2, DType.FLOAT32).sharded());

        Layout big = Layout.fromStrategy(new long[] {1152, 16}, new int[] {1, 1}, 32);
        assertTrue(decide(DEFAULTS, big).sharded(), "72 KB >= 64 KB");
        OptimizerShard at100 = decide(ParallelOptimizerConfig.of(100, -1), big);
        assertFalse(at100.sharded());
        assertEquals("its full size 72.0 KB is below parallel_optimizer_threshold 100 KB", at100.reason());
    }

    @Test
    void publishedGroupsWithShardSizeAndMirrors() {
        // dim 0 split over the 8-sized device dim: the repeated group of rank 0 is [0, 8, 16, 24]
        Layout l = Layout.of(new int[] {4, 8}, new int[] {0}, 64);
        assertArrayEquals(new int[] {0, 8, 16, 24}, l.repeatedGroup(0));
        OptimizerShard s = decide(ParallelOptimizerConfig.of(0, 2), l);
        assertEquals(List.of(0, 8), s.groupOf(0));
        assertEquals(List.of(16, 24), s.groupOf(24));
        assertTrue(s.mirrorGroups().contains(List.of(0, 16)));
        assertTrue(s.mirrorGroups().contains(List.of(8, 24)));
        assertEquals(8, s.step());
        assertEquals(2, s.checkpointSize());
        OptimizerShard whole = decide(ParallelOptimizerConfig.of(0, -1), l);
        assertEquals(List.of(0, 8, 16, 24), whole.groupOf(16));
        assertTrue(whole.mirrorGroups().isEmpty());
        assertEquals(-1, whole.checkpointSize(), "-1 when optimizer_weight_shard_size is not configured");
        OptimizerShard three = decide(ParallelOptimizerConfig.of(0, 3), l);
        assertFalse(three.sharded());
        assertTrue(three.reason().contains("does not divide its repeated group of 4"), three.reason());
    }

    /** The 8-device Megatron GPT (tp 4 x dp 2) of the zoo's defaults with optimizer parallel, threshold 1 KB, Adam. */
    private static Plan gpt(boolean recomputeLayer1) {
        GptConfig c = new GptConfig(2, 64, 4, 256, 16, 128, 8, DType.FLOAT32);
        Network net = Zoo.gpt(c);
        if (recomputeLayer1) {
            net.trainableParams("layers.1").forEach(p -> p.setParallelOptimizerCommRecompute(true));
        }
        PlanConfig.Builder b = PlanConfig.builder(8).parallelOptimizer(ParallelOptimizerConfig.of(1, -1))
                .optimizer(OptimizerKind.ADAM)
                .dataset(HandPlans.megatronGptConfig(c, 2, 4).dataset());
        HandPlans.megatronGpt(c, 2, 4).forEach(b::strategy);
        return Planner.plan(net, b.build());
    }

    @Test
    void gptOnEightDevicesMatchesHandDerivedCountsBucketsAndMemory() {
        Plan plan = gpt(false);
        // sharded: word_table and position (replicated on all 8: 8 shards), the 6 matrices of each layer and the head
        // (repeated over the 2 data-parallel ranks: 2 shards); not: 10 LayerNorm vectors of 256 B, 2 frozen scales
        List<String> sharded = plan.params().stream().filter(p -> p.shard().sharded()).map(ParamPlan::name).toList();
        assertEquals(15, sharded.size(), sharded.toString());
        assertEquals(8, plan.param("embedding.word_table").shard().shards());
        assertEquals(2, plan.param("layers.0.ffn.w1").shard().shards());
        assertArrayEquals(new long[] {32, 64}, OptimizerSharding.shardShape(plan.param("layers.0.ffn.w1").layout(),
                plan.param("layers.0.ffn.w1").shard()));

        long gathers = plan.comms().stream().filter(c -> c.origin() == Communication.Origin.PARALLEL_OPTIMIZER
                && c.kind() == CollectiveKind.ALL_GATHER).count();
        long scatters = plan.comms().stream().filter(c -> c.kind() == CollectiveKind.REDUCE_SCATTER).count();
        assertEquals(15, gathers);
        assertEquals(15, scatters);
        assertTrue(plan.comms().stream().noneMatch(c -> c.origin() == Communication.Origin.GRADIENT
                && sharded.contains(c.parameter())), "sharded parameters are reduce-scattered, not AllReduced");

        // buckets (auto, 64 MB, all comm_fusion 1): forward AllGather over all 8 (table, position) and over the
        // data-parallel pairs (12 layer matrices and the head); the same two for ReduceScatter; one AllReduce of the
        // 10 LayerNorm vectors' gradients over the pairs
        assertEquals(5, plan.buckets().size(), plan.buckets().toString());
        Bucket pairs = plan.buckets().stream().filter(b -> b.kind() == CollectiveKind.ALL_GATHER
                && b.groups().get(0).size() == 2).findFirst().orElseThrow();
        assertEquals(List.of("layers.0.attention.wq", "layers.0.attention.wk", "layers.0.attention.wv",
                "layers.0.attention.wo", "layers.0.ffn.w1", "layers.0.ffn.w2", "layers.1.attention.wq",
                "layers.1.attention.wk", "layers.1.attention.wv", "layers.1.attention.wo", "layers.1.ffn.w1",
                "layers.1.ffn.w2", "head.weight"), pairs.members());
        // 2 x (3 x 4096 + 4096 + 16384 + 16384) + 8192 bytes of model-parallel slices
        assertEquals(106496, pairs.bytes());
        assertEquals(pairs.comms().get(0), pairs.issuedAt(), "a forward AllGather is issued before its first member");
        Bucket table = plan.buckets().stream().filter(b -> b.kind() == CollectiveKind.ALL_GATHER
                && b.groups().get(0).size() == 8).findFirst().orElseThrow();
        assertEquals(List.of("embedding.word_table", "embedding.position"), table.members());
        assertEquals(32768 + 4096, table.bytes());
        Bucket norms = plan.buckets().stream().filter(b -> b.kind() == CollectiveKind.ALL_REDUCE).findFirst().orElseThrow();
        assertEquals(10, norms.members().size());
        assertEquals(2560, norms.bytes());
        assertEquals(norms.comms().get(norms.comms().size() - 1), norms.issuedAt());

        // memory of every rank, by hand (float32, Adam):
        // params: shards 4096 + 512 + 2 x 24576 + 4096, whole 2560 (LayerNorm) + 8 (scales) = 60424
        // gradients: slices 32768 + 4096 + 2 x 49152 + 8192 + 2560 = 145920
        // Adam: 2 float32 values per held trainable element: 2 x (60424 - 8) = 120832
        // gathered (kept from forward to backward): the sharded slices 32768 + 4096 + 98304 + 8192 = 143360
        // fusion: the largest bucket, 106496
        for (int r = 0; r < 8; r++) {
            RankMemory m = plan.memory(r);
            assertEquals(new RankMemory(r, 60424, 145920, 120832, 0, 143360, 0, 106496), m);
            assertEquals(577032, m.total());
        }
        assertTrue(plan.notes().isEmpty(), plan.notes().toString());
    }

    @Test
    void recomputeGathersAgainInBackwardAndKeepsNothingAlive() {
        Plan plan = gpt(true);
        List<Communication> again = plan.comms(Phase.BACKWARD).stream().filter(c -> c.kind() == CollectiveKind.ALL_GATHER)
                .toList();
        assertEquals(List.of("layers.1.ffn.w2", "layers.1.ffn.w1", "layers.1.attention.wo", "layers.1.attention.wv",
                "layers.1.attention.wk", "layers.1.attention.wq"), again.stream().map(Communication::parameter)
                .toList(), "in backward order");
        RankMemory m = plan.memory(3);
        assertEquals(143360 - 49152, m.gatheredWeights(), "layer 1's six slices are no longer kept");
        assertEquals(16384, m.recomputeBuffer(), "the largest recomputed slice, one at a time");
        // layer 1's matrices now disagree with the other members of their comm_fusion 1 AllGather bucket
        assertEquals(1, plan.notes().size(), plan.notes().toString());
        assertTrue(plan.notes().get(0).contains("mixes parameters with and without parallel_optimizer_comm_recompute"));
    }

    @Test
    void fusionModesAndIdZero() {
        GptConfig c = new GptConfig(2, 64, 4, 256, 16, 128, 8, DType.FLOAT32);
        Network net = Zoo.gpt(c);
        net.parameter("layers.0.ffn.w1").setCommFusion(0);
        PlanConfig.Builder b = PlanConfig.builder(8).parallelOptimizer(ParallelOptimizerConfig.of(1, -1))
                .dataset(HandPlans.megatronGptConfig(c, 2, 4).dataset())
                // 20 KB AllGather buckets; AllReduce split before the 4th LayerNorm gradient
                .commFusion(CommFusionConfig.of(new CommFusionMode.Index(new int[] {3}),
                        new CommFusionMode.Size(20.0 / 1024), new CommFusionMode.Auto()));
        HandPlans.megatronGpt(c, 2, 4).forEach(b::strategy);
        Plan plan = Planner.plan(net, b.build());
        List<Bucket> gathers = plan.buckets().stream().filter(x -> x.kind() == CollectiveKind.ALL_GATHER
                && x.groups().get(0).size() == 2).toList();
        // id 0: w1 alone; the other 12 in graph order, a new bucket whenever 20480 bytes would be passed:
        // [wq, wk, wv, wo] 16384, [w2(l0)] 16384 .. each bucket stays <= 20480 unless a single member is larger
        for (Bucket g : gathers) {
            assertTrue(g.bytes() <= 20480 || g.members().size() == 1, g.toString());
        }
        assertTrue(gathers.stream().anyMatch(g -> g.members().equals(List.of("layers.0.ffn.w1"))
                && g.fusionId() == 0));
        assertEquals(List.of("layers.0.attention.wq", "layers.0.attention.wk", "layers.0.attention.wv",
                "layers.0.attention.wo"), gathers.get(0).members());
        List<Bucket> reduces = plan.buckets().stream().filter(x -> x.kind() == CollectiveKind.ALL_REDUCE).toList();
        assertEquals(List.of(3, 7), reduces.stream().map(x -> x.members().size()).toList());
    }

    @Test
    void checkpointAndMaterialisedShards() {
        Plan plan = gpt(false);
        StrategyCheckpoint ckpt = StrategyPlans.checkpoint(plan);
        assertEquals(4, ckpt.layouts().get("layers.0.attention.wq").optWeightShardStep(),
                "the data-parallel pair of rank r is {r, r + 4}");
        assertEquals(-1, ckpt.layouts().get("layers.0.attention.wq").optWeightShardSize());
        assertEquals(1, ckpt.layouts().get("embedding.word_table").optWeightShardStep());
        assertEquals(0, ckpt.layouts().get("layers.0.ln1.gamma").optWeightShardStep());

        // init_data with the shard group: ranks 1 and 5 hold the two halves of rank 1's slice of w1
        ParamPlan w1 = plan.param("layers.0.ffn.w1");
        Tensor slice = plan.network().parameter(w1.name()).clone().initData().tensor().slice(w1.layout().sliceBox(1));
        Tensor a = plan.materialize(1).get(w1.name()).tensor();
        Tensor b = plan.materialize(5).get(w1.name()).tensor();
        assertArrayEquals(new long[] {32, 64}, a.shape());
        assertEquals(slice, Tensor.concat(List.of(a, b), 0));
        assertNull(plan.param("layers.0.ln1.gamma").shard().groupOf(0));
    }
}
