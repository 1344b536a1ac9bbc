package io.tessera.layout.redistribution;

import io.tessera.layout.Box;
import io.tessera.layout.DType;
import io.tessera.layout.Layout;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Redistribution plans for the cases of spec §8, where MindSpore's own plans are known, and the executor's errors. */
class RedistributionTest {

    private static RedistributionPlan plan(int[] devA, int[] mapA, int[] devB, int[] mapB, long... shape) {
        RedistributionPlan p = Redistribution.plan(Layout.of(devA, mapA, shape), Layout.of(devB, mapB, shape),
                DType.FLOAT32);
        assertTrue(RedistributionExecutor.verify(p), "plan does not verify: " + p);
        assertTrue(p.isByteMinimal(), "plan is not byte-minimal: " + p);
        return p;
    }

    private static List<String> ops(RedistributionPlan p) {
        return p.steps().stream().map(Step::op).toList();
    }

    @Test
    void splitToCoarserSplitIsOneAllGatherOverPairs() {
        // MindSpore: one AllGather over ranks {0,1} (for rank 0)
        RedistributionPlan p = plan(new int[] {8}, new int[] {0, -1}, new int[] {4, 2}, new int[] {1, -1}, 32, 256);
        assertEquals(List.of("AllGather", "Concat"), ops(p));
        assertEquals(List.of(List.of(0, 1), List.of(2, 3), List.of(4, 5), List.of(6, 7)), p.steps().get(0).groups());
        assertArrayEquals(new int[] {0}, ((Step.AllGather) p.steps().get(0)).concatDims());
        // each rank receives its partner's 4 x 256 float32 rows
        for (long b : p.recvBytes()) {
            assertEquals(4 * 256 * 4, b);
        }
    }

    @Test
    void twoDimensionalSplitToReplicatedIsOneAllGatherNotTwo() {
        // MindSpore: AllGather over {0,2,4,6} then over {0,1}; Tessera: one AllGather over all 8
        RedistributionPlan p = plan(new int[] {4, 2}, new int[] {1, 0}, new int[] {1, 8}, new int[] {-1, -1}, 32, 256);
        assertEquals(List.of("AllGather", "Concat"), ops(p));
        assertEquals(List.of(List.of(0, 1, 2, 3, 4, 5, 6, 7)), p.steps().get(0).groups());
        assertArrayEquals(new int[] {0, 1}, ((Step.AllGather) p.steps().get(0)).concatDims());
        assertEquals(1, p.communicationStepCount());
    }

    @Test
    void rowSplitToColumnSplitIsOneAllToAllNotGatherThenSlice() {
        // MindSpore: AllGather over all 8 then StridedSlice (receives 7/8 of the tensor); Tessera: one AllToAll
        RedistributionPlan p = plan(new int[] {8, 1}, new int[] {1, -1}, new int[] {1, 8}, new int[] {-1, 0}, 32, 64);
        assertEquals(List.of("AllToAll", "Concat"), ops(p));
        Step.AllToAll a = (Step.AllToAll) p.steps().get(0);
        assertEquals(List.of(List.of(0, 1, 2, 3, 4, 5, 6, 7)), a.groups());
        assertArrayEquals(new int[] {1}, a.splitDims());
        assertArrayEquals(new int[] {0}, a.concatDims());
        // 7 pieces of 4 rows x 8 columns: 7/64 of the tensor, not 7/8 of it
        for (long b : p.recvBytes()) {
            assertEquals(7 * 4 * 8 * 4, b);
        }
    }

    @Test
    void deviceMatrixChangeWithReplicasExchangesBetweenMatchingReplicas() {
        RedistributionPlan p = plan(new int[] {2, 4}, new int[] {1, -1}, new int[] {8}, new int[] {-1, 0}, 32, 64);
        assertEquals(List.of("AllToAll", "Concat"), ops(p));
        assertEquals(List.of(List.of(0, 4), List.of(1, 5), List.of(2, 6), List.of(3, 7)), p.steps().get(0).groups());
    }

    @Test
    void replicatedToSplitIsALocalSlice() {
        RedistributionPlan p = plan(new int[] {8}, new int[] {-1, -1}, new int[] {2, 4}, new int[] {0, 1}, 32, 64);
        assertEquals(List.of("Slice"), ops(p));
        assertEquals(0, p.totalRecvBytes());
    }

    @Test
    void identicalSlicesNeedNoStep() {
        // the same layout twice needs nothing; a different one needs communication
        RedistributionPlan p = plan(new int[] {2, 4}, new int[] {1, -1}, new int[] {2, 4}, new int[] {1, -1}, 8, 8);
        assertEquals(List.of(), ops(p));
        RedistributionPlan q = plan(new int[] {8}, new int[] {0, -1}, new int[] {2, 4}, new int[] {1, 0}, 8, 8);
        assertTrue(q.communicationStepCount() > 0);
    }

    @Test
    void irregularSplitRatioIsAPermute() {
        // halves over 6 ranks to thirds over 6 ranks: only ranks 2 and 3 miss a piece
        RedistributionPlan p = plan(new int[] {2, 3}, new int[] {1, -1}, new int[] {3, 2}, new int[] {1, -1}, 12, 6);
        assertEquals(List.of("CollectivePermute", "Concat"), ops(p));
        assertArrayEquals(new long[] {0, 0, 48, 48, 0, 0}, p.recvBytes());
    }

    @Test
    void mismatchedShapesAndDeviceCountsAreRejected() {
        Layout a = Layout.of(new int[] {8}, new int[] {0, -1}, 32, 256);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> Redistribution.plan(a, Layout.of(new int[] {8}, new int[] {0, -1}, 32, 128), DType.FLOAT32));
        assertTrue(e.getMessage().contains("[32, 256]") && e.getMessage().contains("[32, 128]"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> Redistribution.plan(a, Layout.of(new int[] {4}, new int[] {0, -1}, 32, 256), DType.FLOAT32));
        assertTrue(e.getMessage().contains("8 devices") && e.getMessage().contains("4"), e.getMessage());
    }

    @Test
    void executorNamesTheStepAndRankOfABrokenPlan() {
        Layout from = Layout.of(new int[] {2}, new int[] {0}, 4);
        Layout to = Layout.of(new int[] {2}, new int[] {-1}, 4);
        // rank 0 claims to send rank 1's half
        Box wrong = Box.of(new long[] {2}, new long[] {4});
        Step bad = new Step.CollectivePermute(List.of(List.of(0, 1)), List.of(new Transfer(0, 1, wrong)));
        RedistributionPlan p = new RedistributionPlan(from, to, DType.FLOAT32,
                List.of(bad, new Step.Concat(List.of(to.sliceBox(0), to.sliceBox(1)))));
        List<Block> in = RedistributionExecutor.sourceBlocks(from, idx -> idx[0]);
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> RedistributionExecutor.run(p, in));
        assertEquals("step 0 (CollectivePermute): rank 0 is to send [[2, 4)] to rank 1 but holds no block containing it",
                e.getMessage());
        assertTrue(!RedistributionExecutor.verify(p));
    }

    @Test
    void reductionsCombineGroupsElementWise() {
        Box box = Box.of(new long[] {0}, new long[] {4});
        List<Block> in = List.of(Block.of(box, new double[] {1, 2, 3, 4}), Block.of(box, new double[] {4, 3, 2, 1}),
                Block.of(box, new double[] {10, 10, 10, 10}));
        List<List<Integer>> groups = List.of(List.of(0, 1), List.of(2));
        assertArrayEquals(new double[] {5, 5, 5, 5},
                RedistributionExecutor.run(List.of(new Step.AllReduce(groups, ReduceOp.SUM, 4)), in).get(1).data());
        assertArrayEquals(new double[] {2.5, 2.5, 2.5, 2.5},
                RedistributionExecutor.run(List.of(new Step.AllReduce(groups, ReduceOp.MEAN, 4)), in).get(0).data());
        assertArrayEquals(new double[] {4, 3, 3, 4},
                RedistributionExecutor.run(List.of(new Step.AllReduce(groups, ReduceOp.MAX, 4)), in).get(0).data());
        List<Box> halves = List.of(Box.of(new long[] {0}, new long[] {2}), Box.of(new long[] {2}, new long[] {4}), box);
        List<Block> rs = RedistributionExecutor.run(
                List.of(new Step.ReduceScatter(groups, ReduceOp.MIN, 4, halves)), in);
        assertArrayEquals(new double[] {1, 2}, rs.get(0).data());
        assertArrayEquals(new double[] {2, 1}, rs.get(1).data());
        assertArrayEquals(new double[] {10, 10, 10, 10}, rs.get(2).data());
        RedistributionPlan p = new RedistributionPlan(Layout.of(new int[] {2}, new int[] {-1}, 4),
                Layout.of(new int[] {2}, new int[] {-1}, 4), DType.FLOAT32,
                List.of(new Step.AllReduce(List.of(List.of(0, 1)), ReduceOp.SUM, 4)));
        // ring AllReduce over 2 ranks: each receives 2 * (2-1)/2 * 4 elements * 4 bytes
        assertArrayEquals(new long[] {16, 16}, p.recvBytes());
    }
}
