package io.tessera.planner.op;

import io.tessera.layout.DType;
import io.tessera.layout.DeviceMatrix;
import io.tessera.layout.TensorMap;
import org.junit.jupiter.api.Test;

import java.util.List;

import static io.tessera.planner.op.OpTests.rejected;
import static io.tessera.planner.op.OpTests.summaries;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * MoeDispatch and MoeCombine: GShard's capacity per (group, expert), the token split dividing the groups, E and C
 * whole in the operators' own layouts, the shared slot assignment, JSON attributes.
 */
class MoeDispatchTest {

    private static final TensorType X = TensorType.of(DType.FLOAT32, 32, 16);
    private static final TensorType IDX = TensorType.of(DType.INT32, 32, 2);
    private static final TensorType W = TensorType.of(DType.FLOAT32, 32, 2);

    private static List<TensorType> combineInputs(MoeDispatch d) {
        return List.of(d.outputs("d", List.of(X, IDX)).get(0), IDX, W);
    }

    @Test
    void capacityIsGShardsPerGroupAndExpertOrTheGroupSizeWhenDropless() {
        // dropless: T / G rows per (group, expert)
        assertEquals(List.of(TensorType.of(DType.FLOAT32, 1, 8, 32, 16)),
                MoeDispatch.of(8).outputs("d", List.of(X, IDX)));
        assertEquals(List.of(TensorType.of(DType.FLOAT32, 4, 8, 8, 16)),
                new MoeDispatch(8, 0, 4).outputs("d", List.of(X, IDX)));
        // ceil(1.25 * 8 * 2 / 8) = 3; ceil(0.5 * 16 * 2 / 4) = 4; ceil(1.0 * 32 * 1 / 3) = 11
        assertEquals(3, new MoeDispatch(8, 1.25, 4).capacity(32, 2));
        assertEquals(4, new MoeDispatch(4, 0.5, 2).capacity(32, 2));
        assertEquals(11, new MoeDispatch(3, 1.0, 1).capacity(32, 1));
        assertEquals(List.of(TensorType.of(DType.FLOAT32, 32, 16)),
                MoeCombine.of(new MoeDispatch(8, 1.25, 4)).outputs("c", combineInputs(new MoeDispatch(8, 1.25, 4))));
        assertEquals("MoeDispatch", MoeDispatch.of(2).type());
        assertEquals("MoeCombine", MoeCombine.of(MoeDispatch.of(2)).type());
        assertEquals(2, MoeDispatch.of(2).inputCount());
        assertEquals(3, MoeCombine.of(MoeDispatch.of(2)).inputCount());
    }

    @Test
    void slotsFollowGShardsPriorityOrderWithinEachGroup() {
        // 2 groups of 3 tokens, top-2, 3 experts, capacity 2: slot 0 of every token first, then slot 1
        double[] idx = {
            0, 1, // t0
            0, 2, // t1
            0, 1, // t2: slot 0 finds expert 0 full (t0, t1) -> dropped; slot 1 takes expert 1's row 1
            2, 0, // t3 (group 1)
            2, 0, // t4
            1, 2, // t5: slot 1 finds expert 2 full (t3, t4) -> dropped
        };
        int[] rows = MoeSlots.assign(idx, 6, 2, 3, 3, 2, "test");
        assertArrayEquals(new int[] {0, 0, 1, 0, MoeSlots.DROPPED, 1, 0, 0, 1, 1, 0, MoeSlots.DROPPED}, rows);
        // a local slice of whole groups assigns exactly like the whole tensor
        int[] second = MoeSlots.assign(java.util.Arrays.copyOfRange(idx, 6, 12), 3, 2, 3, 3, 2, "test");
        assertArrayEquals(java.util.Arrays.copyOfRange(rows, 6, 12), second);
        // dropless capacity (the group size) keeps every slot of distinct experts
        for (int r : MoeSlots.assign(idx, 6, 2, 3, 3, 3, "test")) {
            assertTrue(r >= 0);
        }
        String m = assertThrows(IllegalArgumentException.class,
                () -> MoeSlots.assign(new double[] {0, 3}, 1, 2, 1, 3, 1, "K")).getMessage();
        assertEquals("K: indices[0, 1] is 3.0; expected an expert id, an integer in [0, 3) (the router's top-k"
                + " output)", m);
    }

    @Test
    void tokenSplitDividingGroupsGivesAGroupSplitBufferWithEAndCWhole() {
        MoeDispatch d = new MoeDispatch(8, 1.25, 4);
        // data parallel 2 x hidden 2 on 8 devices (2 repeated)
        OpSharding sh = d.shard("moe.dispatch", List.of(X, IDX), Strategy.of(new int[] {2, 2}, new int[] {2, 1}),
                null, 8);
        assertEquals(DeviceMatrix.of(2, 2, 2), sh.devMatrix());
        assertEquals(List.of(TensorMap.of(2, 1), TensorMap.of(2, -1)), sh.inputMaps());
        assertEquals(List.of(TensorMap.of(2, -1, -1, 1)), sh.outputMaps());
        assertTrue(sh.forward().isEmpty() && sh.backward().isEmpty(), sh.forward() + " " + sh.backward());
        assertArrayEquals(new long[] {2, 8, 3, 8},
                sh.outputLayout(0, d.outputs("d", List.of(X, IDX)).get(0)).sliceShape());
        assertEquals(Strategy.of(new int[] {4, 1}, new int[] {4, 1}), d.dataParallel(List.of(X, IDX), 8));
        assertEquals(Strategy.of(new int[] {2, 1}, new int[] {2, 1}), d.dataParallel(List.of(X, IDX), 6));
    }

    @Test
    void combineMirrorsTheDispatchAndSumsTheWeightsGradientOverASplitHidden() {
        MoeDispatch d = new MoeDispatch(8, 0, 2);
        MoeCombine c = MoeCombine.of(d);
        OpSharding sh = c.shard("moe.combine", combineInputs(d), Strategy.of(new int[] {2, 1, 1, 2},
                new int[] {2, 1}, new int[] {2, 1}), null, 4);
        assertEquals(DeviceMatrix.of(2, 2), sh.devMatrix());
        assertEquals(List.of(TensorMap.of(1, -1, -1, 0), TensorMap.of(1, -1), TensorMap.of(1, -1)), sh.inputMaps());
        assertEquals(List.of(TensorMap.of(1, 0)), sh.outputMaps());
        assertTrue(sh.forward().isEmpty(), sh.forward().toString());
        // each rank dots only its half of the hidden units: the weights' gradient is summed over the hidden split
        assertEquals(List.of("backward AllReduce(sum) of input 2 gradient over device dims [0]"), summaries(sh.backward()));
        assertEquals(Strategy.of(new int[] {2, 1, 1, 1}, new int[] {2, 1}, new int[] {2, 1}),
                c.dataParallel(combineInputs(d), 8));
    }

    @Test
    void aTokenSplitNotDividingTheGroupsIsRejected() {
        MoeDispatch d = new MoeDispatch(4, 0, 2);
        String m = rejected(() -> d.shard("moe.dispatch", List.of(X, IDX), Strategy.of(new int[] {4, 1},
                new int[] {4, 1}), null, 4), "MoeDispatch 'moe.dispatch'");
        assertEquals("MoeDispatch 'moe.dispatch': input 0 (x) dim 0 (tokens) is split 4 ways but groups is 2; each"
                + " rank must hold whole token groups, so set groups to a multiple of 4 (the plan's token split) or"
                + " split the tokens by a divisor of 2", m);
        MoeCombine c = MoeCombine.of(d);
        // the expert_out's G dim (2) cannot be split 4 ways, and the indices' token split must divide G
        rejected(() -> c.shard("moe.combine", combineInputs(d), Strategy.of(new int[] {1, 1, 1, 1},
                new int[] {4, 1}, new int[] {4, 1}), null, 4), "MoeCombine 'moe.combine'",
                "input 1 (indices) dim 0 (tokens) is split 4 ways but groups is 2");
    }

    @Test
    void splittingTheExpertsOrTheCapacityInTheOperatorsOwnLayoutIsRejected() {
        MoeDispatch d = new MoeDispatch(8, 0, 2);
        MoeCombine c = MoeCombine.of(d);
        String e = rejected(() -> c.shard("moe.combine", combineInputs(d), Strategy.of(new int[] {1, 2, 1, 1},
                new int[] {1, 1}, new int[] {1, 1}), null, 2), "MoeCombine 'moe.combine'");
        assertEquals("MoeCombine 'moe.combine': input 0 (expert_out) dim 1 is split 2 ways but must not be split (the"
                + " experts are whole in the combine's own layout; an expert-split producer is redistributed back by"
                + " an AllToAll); set it to 1", e);
        String cap = rejected(() -> c.shard("moe.combine", combineInputs(d), Strategy.of(new int[] {1, 1, 2, 1},
                new int[] {1, 1}, new int[] {1, 1}), null, 2), "MoeCombine 'moe.combine'");
        assertEquals("MoeCombine 'moe.combine': input 0 (expert_out) dim 2 is split 2 ways but must not be split (a"
                + " group's capacity rows are read together); set it to 1", cap);
        // the dispatch's output layout follows from the token split: an out_strategy asking for E split is refused
        rejected(() -> d.shard("moe.dispatch", List.of(X, IDX), Strategy.of(new int[] {2, 1}, new int[] {2, 1}),
                Strategy.of(new int[] {1, 2, 1, 1}), 2), "MoeDispatch 'moe.dispatch'", "out_strategy");
        rejected(() -> d.shard("moe.dispatch", List.of(X, IDX), Strategy.of(new int[] {2, 1}, new int[] {1, 1}),
                null, 2), "MoeDispatch 'moe.dispatch'", "input 0 (x) dim 0 (tokens) is split 2 ways but input 1"
                + " (indices) dim 0 (tokens) is split 1 ways; the indices must be split like the tokens");
        rejected(() -> d.shard("moe.dispatch", List.of(X, IDX), Strategy.of(new int[] {1, 1}, new int[] {1, 2}),
                null, 2), "MoeDispatch 'moe.dispatch'", "input 1 (indices) dim 1 is split 2 ways but must not be"
                + " split");
        rejected(() -> c.shard("moe.combine", combineInputs(d), Strategy.of(new int[] {2, 1, 1, 1},
                new int[] {2, 1}, new int[] {1, 1}), null, 2), "MoeCombine 'moe.combine'",
                "input 2 (weights) dim 0 (tokens) is split 1 ways but input 1 (indices) dim 0 (tokens) is split 2");
    }

    @Test
    void shapeAndAttributeErrorsAreOneLineNamingTheFix() {
        assertEquals("MoeDispatch 'd': groups 3 does not divide the 32 tokens of input 1 (indices); choose groups"
                + " dividing 32", rejected(() -> new MoeDispatch(4, 0, 3).outputs("d", List.of(X, IDX)),
                "MoeDispatch 'd'"));
        MoeDispatch d = new MoeDispatch(4, 1.0, 2);
        TensorType eo = d.outputs("d", List.of(X, IDX)).get(0);
        assertEquals("MoeCombine 'c': input 2 (weights) Float32[32, 3] does not match input 1 (indices) Int32[32, 2];"
                + " expected one weight per (token, slot), shape [32, 2]",
                rejected(() -> MoeCombine.of(d).outputs("c", List.of(eo, IDX, TensorType.of(DType.FLOAT32, 32, 3))),
                        "MoeCombine 'c'"));
        assertEquals("MoeDispatch: capacity_factor is -0.5; expected 0 (dropless) or a positive finite factor such as"
                + " 1.25", assertThrows(IllegalArgumentException.class, () -> new MoeDispatch(4, -0.5, 1))
                .getMessage());
        assertEquals("MoeCombine: capacity_factor is NaN; expected 0 (dropless) or a positive finite factor such as"
                + " 1.25", assertThrows(IllegalArgumentException.class, () -> new MoeCombine(4, Double.NaN, 1))
                .getMessage());
        rejected(() -> new MoeDispatch(1, 0, 1).outputs("d", List.of(X, IDX)), "MoeDispatch 'd'",
                "picks k = 2 experts per token but experts is 1; expected 1 <= k <= experts");
        rejected(() -> MoeDispatch.of(4).outputs("d", List.of(X, W)), "MoeDispatch 'd'",
                "input 1 (indices) has dtype Float32; expected an integer dtype");
        rejected(() -> MoeDispatch.of(4).outputs("d", List.of(X, TensorType.of(DType.INT32, 16, 2))),
                "MoeDispatch 'd'", "input 0 (x) Float32[32, 16] has 32 tokens but input 1 (indices)");
        // a combine whose attributes differ from the dispatch's sees another capacity
        rejected(() -> new MoeCombine(4, 2.0, 2).outputs("c", List.of(eo, IDX, W)), "MoeCombine 'c'",
                "expected [2, 4, 16, 16] (experts, capacity_factor and groups must equal the dispatch's)");
        assertThrows(IllegalArgumentException.class, () -> new MoeDispatch(0, 0, 1));
        assertThrows(IllegalArgumentException.class, () -> new MoeDispatch(2, 0, 0));
    }

    @Test
    void gradientRuleAndJsonAttributes() {
        MoeDispatch d = new MoeDispatch(8, 1.25, 4);
        MoeCombine c = MoeCombine.of(d);
        assertTrue(d.differentiableInput(0) && !d.differentiableInput(1));
        assertTrue(c.differentiableInput(0) && !c.differentiableInput(1) && c.differentiableInput(2));
        assertEquals(List.of(TensorRef.input(1), TensorRef.input(2)), c.gradientReads(0));
        assertEquals(List.of(TensorRef.input(0), TensorRef.input(1)), c.gradientReads(2));
        assertEquals(OperatorKind.MOE_DISPATCH, OperatorKind.forType("MoeDispatch"));
        assertEquals(OperatorKind.MOE_COMBINE, OperatorKind.forType("MoeCombine"));
        assertEquals(List.of("experts", "capacity_factor", "groups"), OperatorKind.MOE_DISPATCH.attrNames());
        assertEquals("{\"experts\":8,\"capacity_factor\":1.25,\"groups\":4}", d.encodeAttrs().toString());
        assertEquals(d, OperatorKind.MOE_DISPATCH.decode("MoeDispatch", new OpAttrs("ops[0]", d.encodeAttrs())));
        com.fasterxml.jackson.databind.node.ObjectNode only = OpAttrs.object();
        only.put("experts", 4);
        assertEquals(MoeDispatch.of(4), OperatorKind.MOE_DISPATCH.decode("MoeDispatch", new OpAttrs("ops[0]", only)));
        assertEquals(new MoeCombine(4, 0, 1), OperatorKind.MOE_COMBINE.decode("MoeCombine",
                new OpAttrs("ops[1]", only)));
        assertEquals("network JSON: ops[0]: attribute 'experts' is missing; expected the number of experts, a"
                + " positive integer", assertThrows(IllegalArgumentException.class,
                () -> OperatorKind.MOE_DISPATCH.decode("MoeDispatch", new OpAttrs("ops[0]", OpAttrs.object())))
                .getMessage());
        // FLOPs: the dispatch only moves memory, the combine a multiply-add per (token, slot, hidden unit)
        assertEquals(0, d.forwardFlops(List.of(X.shape(), IDX.shape()), List.of(new long[] {4, 8, 3, 16})));
        assertEquals(2L * 32 * 2 * 16, c.forwardFlops(List.of(new long[] {4, 8, 3, 16}, IDX.shape(), W.shape()),
                List.of(X.shape())));
    }
}
