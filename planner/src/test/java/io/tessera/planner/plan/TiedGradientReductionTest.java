package io.tessera.planner.plan;

import io.tessera.layout.DType;
import io.tessera.layout.comm.CollectiveKind;
import io.tessera.layout.comm.Phase;
import io.tessera.layout.redistribution.RedistributionPlan;
import io.tessera.planner.handplan.HandPlans;
import io.tessera.planner.zoo.GptConfig;
import io.tessera.planner.zoo.Zoo;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A parameter used by several operators is reduced once per step: the zoo gpt's tied word table (read by
 * {@code embedding.lookup} replicated and, transposed and split over the vocabulary, by {@code head}) gets one
 * gradient AllReduce over its data-parallel groups, of the whole table, after the head's partial gradient has returned
 * (still partial) to the table's layout; its fusion bucket counts the table once.
 */
class TiedGradientReductionTest {

    private static final String TABLE = "embedding.word_table";

    private static Plan plan(int tp, int dp, boolean sequenceParallel) {
        GptConfig c = new GptConfig(2, 32, 4, 64, 8, 64, 4, DType.FLOAT32).asTrained(0.25);
        return Planner.plan(Zoo.gpt(c), HandPlans.megatronGptConfig(c, dp, tp, sequenceParallel));
    }

    @ParameterizedTest(name = "tp {0} x dp {1}, sequence parallel {2}")
    @CsvSource({"2, 2, false", "2, 2, true", "2, 4, false", "4, 2, true"})
    void theTiedTableIsReducedOnce(int tp, int dp, boolean sequenceParallel) {
        Plan plan = plan(tp, dp, sequenceParallel);
        List<Communication> reductions = plan.comms().stream().filter(c -> TABLE.equals(c.parameter())
                && c.origin() == Communication.Origin.GRADIENT).toList();
        assertEquals(1, reductions.size(), reductions.toString());
        Communication r = reductions.get(0);
        assertEquals(CollectiveKind.ALL_REDUCE, r.kind());
        assertEquals("embedding.lookup", r.operator());
        assertEquals(dp, r.groups().get(0).size());
        assertEquals(tp, r.groups().size());
        assertTrue(r.reason().contains("[embedding.lookup, head]"), r.reason());
        // the whole table, reduced once: a ring AllReduce of its bytes over dp ranks
        long table = plan.param(TABLE).sliceBytes();
        assertEquals(64L * 32 * 4, table);
        for (int rank = 0; rank < plan.devices(); rank++) {
            assertEquals(2 * table * (dp - 1) / dp, r.recvBytes(rank));
        }
        // the head returns its partial through the transposed redistribution and reduces nothing itself
        OpExecution head = plan.op("head").requireExecution();
        assertTrue(head.backward().stream().noneMatch(c -> c.origin() == Communication.Origin.GRADIENT),
                head.backward().toString());
        assertNotNull(head.input(1).backward());
        assertTrue(head.backward().stream().anyMatch(c -> c.origin() == Communication.Origin.REDISTRIBUTION
                && c.input() == 1 && c.phase() == Phase.BACKWARD && c.reason().startsWith("still partial")),
                head.backward().toString());
        // the analytic side counts the table once: in one bucket, once, its bytes once
        long inBuckets = 0;
        for (Bucket b : plan.buckets()) {
            long members = b.members().stream().filter(TABLE::equals).count();
            inBuckets += members;
            assertEquals(b.members().size(), b.members().stream().distinct().count(), b.members().toString());
            long bytes = b.members().stream().mapToLong(m -> plan.param(m).sliceBytes()).sum();
            assertEquals(bytes, b.bytes(), "bucket " + b.id());
        }
        assertEquals(1, inBuckets);
    }

    @ParameterizedTest(name = "tp {0} x dp {1}")
    @CsvSource({"2, 2", "2, 4"})
    void aPartialReturnsBeforeItsReductionOnlyWithinItsShare(int tp, int dp) {
        Plan plan = plan(tp, dp, false);
        RedistributionPlan back = plan.op("head").requireExecution().input(1).backward();
        Communication r = plan.comms().stream().filter(c -> TABLE.equals(c.parameter())
                && c.origin() == Communication.Origin.GRADIENT).findFirst().orElseThrow();
        // the AllGather of the vocabulary slices moves among the tensor-parallel ranks of one data-parallel shard
        assertTrue(PartialSums.commutes(back, r.groups()));
        // over groups whose same-position members sit in different shards, the movements mix shares
        List<List<Integer>> tensorParallel = back.steps().stream().filter(s -> s.isCommunication())
                .findFirst().orElseThrow().groups();
        assertFalse(PartialSums.commutes(back, tensorParallel));
    }
}
