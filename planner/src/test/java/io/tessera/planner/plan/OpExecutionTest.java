package io.tessera.planner.plan;

import io.tessera.layout.DType;
import io.tessera.layout.Layout;
import io.tessera.layout.comm.CollectiveKind;
import io.tessera.layout.comm.Phase;
import io.tessera.layout.redistribution.Redistribution;
import io.tessera.layout.redistribution.RedistributionPlan;
import io.tessera.planner.handplan.HandPlans;
import io.tessera.planner.zoo.GptConfig;
import io.tessera.planner.zoo.Zoo;
import org.junit.jupiter.api.Test;

import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The execution record each operator plan carries ({@link OpExecution}) and the plans redistributions keep. */
class OpExecutionTest {

    private static Plan sequenceParallelGpt() {
        GptConfig c = new GptConfig(2, 32, 4, 64, 8, 64, 4, DType.FLOAT32);
        return Planner.plan(Zoo.gpt(c), HandPlans.megatronGptConfig(c, 2, 4, true));
    }

    @Test
    void eachOperatorListsExactlyItsOwnCommunicationsInPlanOrder() {
        for (Plan plan : List.of(Planner.plan(PlannerTest.megatronMlp(2), PlannerTest.megatronConfig(2)),
                sequenceParallelGpt(), PlannerTest.planFile("gpt-optimizer-parallel.json"))) {
            Map<Communication, Integer> index = new IdentityHashMap<>();
            for (int i = 0; i < plan.comms().size(); i++) {
                index.put(plan.comms().get(i), i);
            }
            int listed = 0;
            for (OpPlan op : plan.ops()) {
                OpExecution e = op.requireExecution();
                assertEquals(op.inputLayouts().size(), e.inputs().size(), op.name());
                for (Phase phase : List.of(Phase.FORWARD, Phase.BACKWARD)) {
                    List<Communication> expected = plan.comms().stream()
                            .filter(c -> c.phase() == phase && op.name().equals(c.operator())).toList();
                    List<Communication> got = phase == Phase.FORWARD ? e.forward() : e.backward();
                    assertEquals(expected.size(), got.size(), op.name() + " " + phase);
                    int last = -1;
                    for (int k = 0; k < got.size(); k++) {
                        // the plan's own objects, in plan order
                        assertSame(expected.get(k), got.get(k), op.name());
                        assertTrue(index.get(got.get(k)) > last);
                        last = index.get(got.get(k));
                    }
                    listed += got.size();
                }
            }
            long withOperator = plan.comms().stream().filter(c -> c.operator() != null).count();
            assertEquals(withOperator, listed);
        }
    }

    @Test
    void redistributionsKeepThePlanOfTheStepsTheyExecute() {
        Plan plan = sequenceParallelGpt();
        long carried = 0;
        for (Communication c : plan.comms()) {
            if (c.origin() != Communication.Origin.REDISTRIBUTION) {
                assertNull(c.redistribution(), c.toString());
                continue;
            }
            if (c.redistribution() == null) {
                // only a gradient reduce-scattered into its producer's layout is no step of a redistribution plan
                assertEquals(CollectiveKind.REDUCE_SCATTER, c.kind(), c.toString());
                assertEquals(Phase.BACKWARD, c.phase(), c.toString());
                continue;
            }
            carried++;
            RedistributionPlan rp = c.redistribution();
            assertEquals(c.from(), rp.from());
            assertEquals(c.to(), rp.to());
            assertTrue(rp.steps().stream().anyMatch(s -> s.groups().equals(c.groups())), c.toString());
        }
        assertTrue(carried > 0);
    }

    @Test
    void inputRoutesCarryForwardPlansTheirTransposesAndLocalOnlyRedistributions() {
        Plan plan = sequenceParallelGpt();
        boolean localOnly = false;
        for (OpPlan op : plan.ops()) {
            OpExecution e = op.requireExecution();
            for (int i = 0; i < e.inputs().size(); i++) {
                OpExecution.Input in = e.input(i);
                String t = plan.network().node(op.name()).inputs().get(i);
                Layout from = plan.network().isParameter(t) ? plan.param(t).layout() : plan.layouts().get(t);
                Layout to = op.inputLayouts().get(i);
                boolean moves = !Redistribution.plan(from, to, plan.network().tensor(t).dtype()).steps().isEmpty();
                assertEquals(moves, in.redistributed(), op.name() + " input " + i);
                if (!moves) {
                    assertNull(in.backward());
                    continue;
                }
                assertEquals(from, in.forward().from());
                assertEquals(to, in.forward().to());
                if (in.backward() != null) {
                    assertEquals(to, in.backward().from());
                    assertEquals(from, in.backward().to());
                    assertNull(op.reuse(i), "a reusing input returns its gradient through its owner");
                }
                if (in.forward().communicationStepCount() == 0) {
                    // a local slice: no forward communication, but its transpose gathers the gradient back
                    localOnly = true;
                    final int input = i;
                    assertFalse(e.forward().stream().anyMatch(c -> c.input() == input
                            && c.origin() == Communication.Origin.REDISTRIBUTION), op.name());
                    if (in.backward() != null) {
                        assertTrue(in.backward().communicationStepCount() > 0, op.name());
                    }
                }
            }
        }
        assertTrue(localOnly, "the sequence-parallel embedding output is sliced locally");
        assertNotNull(plan.op("layers.0.ln1").requireExecution().input(0).forward());
    }

    @Test
    void twoPlanningsGiveEqualOperatorPlans() {
        Plan a = sequenceParallelGpt();
        Plan b = sequenceParallelGpt();
        assertEquals(a.ops(), b.ops());
        assertEquals(a.comms(), b.comms());
    }

    @Test
    void invalidRecordsAreRejectedWithTheirReason() {
        Plan plan = sequenceParallelGpt();
        OpPlan ln = plan.op("layers.0.ln1");
        RedistributionPlan rp = ln.requireExecution().input(0).forward();
        RedistributionPlan empty = Redistribution.plan(rp.from(), rp.from(), rp.dtype());
        IllegalArgumentException ex = assertThrows(IllegalArgumentException.class,
                () -> new OpExecution.Input(empty, null));
        assertTrue(ex.getMessage().contains("has no steps"), ex.getMessage());
        ex = assertThrows(IllegalArgumentException.class, () -> new OpExecution.Input(rp, rp));
        assertTrue(ex.getMessage().contains("not the transpose"), ex.getMessage());
        ex = assertThrows(IllegalArgumentException.class, () -> new OpExecution.Input(null, rp));
        assertTrue(ex.getMessage().contains("not the transpose"), ex.getMessage());

        Communication backward = plan.comms(Phase.BACKWARD).get(0);
        ex = assertThrows(IllegalArgumentException.class,
                () -> new OpExecution(List.of(), List.of(backward), List.of()));
        assertTrue(ex.getMessage().contains("forward list holds the backward communication"), ex.getMessage());

        OpExecution e = ln.requireExecution();
        ex = assertThrows(IllegalArgumentException.class, () -> ln.withExecution(
                new OpExecution(e.inputs().subList(0, 1), e.forward(), e.backward())));
        assertTrue(ex.getMessage().contains("input routes"), ex.getMessage());
        Communication other = plan.comms().stream().filter(c -> c.phase() == Phase.FORWARD
                && c.operator() != null && !c.operator().equals(ln.name())).findFirst().orElseThrow();
        ex = assertThrows(IllegalArgumentException.class, () -> ln.withExecution(
                new OpExecution(e.inputs(), List.of(other), List.of())));
        assertTrue(ex.getMessage().contains("serves operator"), ex.getMessage());

        Communication op = plan.comms().stream().filter(c -> c.origin() == Communication.Origin.OPERATOR)
                .findFirst().orElseThrow();
        ex = assertThrows(IllegalArgumentException.class, () -> new Communication(op.kind(), op.origin(), op.phase(),
                op.operator(), op.input(), op.tensor(), op.parameter(), op.reduce(), null, null, op.groups(),
                op.recvBytes(), op.reason(), rp));
        assertTrue(ex.getMessage().contains("carries a redistribution plan"), ex.getMessage());

        OpPlan bare = new OpPlan(ln.name(), ln.type(), ln.inStrategy(), ln.outStrategy(), ln.userStrategy(),
                ln.sharding(), ln.inputLayouts(), ln.outputLayouts());
        IllegalStateException none = assertThrows(IllegalStateException.class, bare::requireExecution);
        assertTrue(none.getMessage().contains("carries no execution record"), none.getMessage());
    }
}
