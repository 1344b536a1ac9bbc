package io.tessera.simulator.timeline;

import io.tessera.planner.cost.Recompute;
import io.tessera.planner.cost.ClusterSpec;
import io.tessera.planner.cost.Link;
import io.tessera.planner.cost.RankMapping;
import io.tessera.planner.plan.Plan;
import org.junit.jupiter.api.Test;

import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class PipelineTimelineTest {

    private static final double F = 1.0;
    private static final double B = 2.0;
    private static final double EPS = 1e-9;
    private static final StageCosts TOY = StageCosts.uniform(F, B, 1000, 10);

    private static PipelineReport toy(int p, int m, PipelineSchedule s, int v, Recompute r) {
        return PipelineTimeline.layout(TOY, new PipelineOptions(p, m, s, v), r, true);
    }

    @Test
    void gpipeAndOneFOneBMatchTheClosedForm() {
        for (int p : new int[] {1, 2, 4}) {
            for (int m : new int[] {4, 8}) {
                for (PipelineSchedule s : List.of(PipelineSchedule.GPIPE, PipelineSchedule.ONE_F_ONE_B)) {
                    PipelineReport r = toy(p, m, s, 1, Recompute.NONE);
                    assertEquals((m + p - 1) * (F + B), r.stepSeconds(), EPS, s + " p=" + p + " m=" + m);
                    assertEquals((p - 1.0) / (m + p - 1), r.bubbleFraction(), EPS, s + " p=" + p + " m=" + m);
                    assertConsistent(r, 0);
                }
            }
        }
    }

    @Test
    void oneFOneBKeepsAtMostPMinusSMicroBatchesInFlight() {
        int p = 4;
        int m = 8;
        PipelineReport gpipe = toy(p, m, PipelineSchedule.GPIPE, 1, Recompute.NONE);
        PipelineReport ofob = toy(p, m, PipelineSchedule.ONE_F_ONE_B, 1, Recompute.NONE);
        for (int s = 0; s < p; s++) {
            assertEquals(m, gpipe.peakInFlight()[s]);
            assertTrue(ofob.peakInFlight()[s] <= p - s, "stage " + s + ": " + ofob.peakInFlight()[s]);
            assertEquals(m * 1000L, gpipe.peakActivationBytes()[s]);
            assertEquals(ofob.peakInFlight()[s] * 1000L, ofob.peakActivationBytes()[s]);
        }
        assertEquals(p, ofob.peakInFlight()[0]);
    }

    @Test
    void interleavedDividesTheBubbleByTheChunks() {
        int p = 4;
        int m = 8;
        for (int v : new int[] {2, 4}) {
            PipelineReport r = toy(p, m, PipelineSchedule.INTERLEAVED_1F1B, v, Recompute.NONE);
            assertConsistent(r, 0);
            // per device m*v chunk units of (F+B)/v plus a bubble of (p-1) chunk units: (p-1)/(v*m + p-1)
            assertEquals((p - 1.0) / (v * m + p - 1), r.bubbleFraction(), EPS, "v=" + v);
            assertEquals((m + (p - 1.0) / v) * (F + B), r.stepSeconds(), EPS, "v=" + v);
            assertTrue(r.bubbleFraction() < toy(p, m, PipelineSchedule.ONE_F_ONE_B, 1, Recompute.NONE)
                    .bubbleFraction());
        }
    }

    @Test
    void sendsDelayTheNextStageAndInterleavedSendsMore() {
        StageCosts sending = TOY.withSendSeconds(0.25);
        for (PipelineSchedule s : PipelineSchedule.values()) {
            int v = s == PipelineSchedule.INTERLEAVED_1F1B ? 2 : 1;
            PipelineReport r = PipelineTimeline.layout(sending, new PipelineOptions(4, 8, s, v), Recompute.NONE,
                    true);
            assertConsistent(r, 0.25);
            long sends = r.events().stream().filter(e -> e.category().equals("pipeline")).count();
            // every chunk boundary is crossed twice (activation and gradient) per micro-batch
            assertEquals(2L * 8 * (4 * v - 1), sends, s.toString());
            assertTrue(r.stepSeconds() > PipelineTimeline.layout(TOY, new PipelineOptions(4, 8, s, v),
                    Recompute.NONE, true).stepSeconds());
        }
    }

    @Test
    void fullRecomputeAddsAForwardPerMicroBatchAndKeepsOnlyInputs() {
        int p = 4;
        int m = 8;
        for (PipelineSchedule s : List.of(PipelineSchedule.GPIPE, PipelineSchedule.ONE_F_ONE_B)) {
            PipelineReport none = toy(p, m, s, 1, Recompute.NONE);
            PipelineReport full = toy(p, m, s, 1, Recompute.FULL);
            assertConsistent(full, 0);
            for (int d = 0; d < p; d++) {
                assertEquals(busy(none, d) + m * F, busy(full, d), EPS);
                // lower wherever more than one micro-batch is in flight (the working set is one micro-batch's)
                if (none.peakInFlight()[d] > 1) {
                    assertTrue(full.peakActivationBytes()[d] < none.peakActivationBytes()[d]);
                }
                assertEquals(full.peakInFlight()[d] * 10L + 1000, full.peakActivationBytes()[d]);
            }
            // the critical path crosses m + p - 1 backwards, each one forward longer
            assertEquals((m + p - 1) * (F + B + F), full.stepSeconds(), EPS);
        }
    }

    @Test
    void selectiveRecomputeAddsTheAttentionForward() {
        StageCosts costs = new StageCosts(F, B, 0, 1000, 10, 0.1, 300, List.of());
        PipelineOptions o = new PipelineOptions(2, 4, PipelineSchedule.ONE_F_ONE_B);
        PipelineReport none = PipelineTimeline.layout(costs, o, Recompute.NONE, true);
        PipelineReport sel = PipelineTimeline.layout(costs, o, Recompute.SELECTIVE, true);
        assertEquals(busy(none, 0) + 4 * 0.1, busy(sel, 0), EPS);
        assertEquals(2 * 700L + 300, sel.peakActivationBytes()[0]);
        assertEquals(2 * 1000L, none.peakActivationBytes()[0]);
    }

    @Test
    void tailReductionsOverlapTheLastBackwardOnlyWithOverlap() {
        StageCosts costs = new StageCosts(F, B, 0, 1000, 10, 0, 0, List.of(
                new StageCosts.TailStep("backward AllReduce g", TimelineReport.Event.COMM, "gradient", 0.5, 0.5),
                new StageCosts.TailStep("optimizer update", TimelineReport.Event.COMPUTE, "optimizer", 1, 0.1)));
        PipelineOptions o = new PipelineOptions(2, 2, PipelineSchedule.ONE_F_ONE_B);
        double base = PipelineTimeline.layout(StageCosts.uniform(F, B, 1000, 10), o, Recompute.NONE, true)
                .stepSeconds();
        // stage 0 ends last: its last backward is [base - B, base]; the reduction runs from base - B/2 for 0.5 s
        assertEquals(base + 0.1, PipelineTimeline.layout(costs, o, Recompute.NONE, true).stepSeconds(), EPS);
        assertEquals(base + 0.5 + 0.1, PipelineTimeline.layout(costs, o, Recompute.NONE, false).stepSeconds(), EPS);
    }

    @Test
    void optionsAreValidated() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> new PipelineOptions(4, 2, PipelineSchedule.ONE_F_ONE_B));
        assertEquals("1F1B with 4 stages needs at least 4 micro-batches; found 2", e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> new PipelineOptions(0, 2, PipelineSchedule.GPIPE));
        assertThrows(IllegalArgumentException.class, () -> new PipelineOptions(2, 0, PipelineSchedule.GPIPE));
        assertThrows(IllegalArgumentException.class, () -> new PipelineOptions(2, 4, PipelineSchedule.GPIPE, 2));
        assertThrows(IllegalArgumentException.class,
                () -> new PipelineOptions(2, 4, PipelineSchedule.INTERLEAVED_1F1B, 1));
        assertThrows(IllegalArgumentException.class,
                () -> new PipelineOptions(4, 6, PipelineSchedule.INTERLEAVED_1F1B, 2));
        new PipelineOptions(2, 4, PipelineSchedule.INTERLEAVED_1F1B, 2).checkLayers(8);
        e = assertThrows(IllegalArgumentException.class,
                () -> new PipelineOptions(2, 4, PipelineSchedule.INTERLEAVED_1F1B, 2).checkLayers(6));
        assertEquals("6 layers do not split evenly into 2 stages x 2 chunks; expected a positive multiple of 4",
                e.getMessage());
        assertEquals(PipelineSchedule.ONE_F_ONE_B, PipelineSchedule.parse("1F1B"));
        assertEquals(Recompute.SELECTIVE, Recompute.parse("selective"));
        assertThrows(IllegalArgumentException.class, () -> PipelineSchedule.parse("zero-bubble"));
        assertThrows(IllegalArgumentException.class, () -> Recompute.parse("some"));
    }

    @Test
    void gptStagesFromThePlan() throws Exception {
        Plan plan = TimelineTest.gpt();
        ClusterSpec cluster = ClusterSpec.preset("a100-80gb-dgx").withNodes(2);
        TimelineOptions t = TimelineOptions.of(cluster);
        PipelineOptions o = new PipelineOptions(2, 4, PipelineSchedule.ONE_F_ONE_B);
        StageCosts c = PipelineTimeline.stageCosts(plan, o, t);
        TimelineReport one = Timeline.run(plan, t);
        assertTrue(c.forwardSeconds() > 0 && c.backwardSeconds() > c.forwardSeconds(), c.toString());
        assertTrue((c.forwardSeconds() + c.backwardSeconds()) * 4 <= one.stepSeconds() + EPS);
        assertTrue(c.sendSeconds() > 0 && c.inputBytes() > 0 && c.activationBytes() > c.inputBytes());
        assertTrue(c.attentionSeconds() > 0 && c.attentionBytes() > 0, c.toString());
        assertTrue(c.tail().stream().anyMatch(s -> s.category().equals("optimizer")));
        PipelineReport r = PipelineTimeline.run(plan, o, Recompute.NONE, t);
        assertConsistent(r, c.sendSeconds());
        assertTrue(r.bubbleFraction() > 0 && r.bubbleFraction() < 1);
        PipelineReport full = PipelineTimeline.run(plan, o, Recompute.FULL, t);
        assertTrue(full.stepSeconds() > r.stepSeconds());
        assertTrue(full.peakActivationBytes()[0] < r.peakActivationBytes()[0]);
        // one stage, one micro-batch: the one-stage timeline's step
        PipelineReport single = PipelineTimeline.run(plan, new PipelineOptions(1, 1, PipelineSchedule.GPIPE),
                Recompute.NONE, t);
        assertEquals(one.stepSeconds(), single.stepSeconds(), one.stepSeconds() * 1e-9);
        TimelineOptions serial = t.withOverlapGradientComm(false);
        assertEquals(Timeline.run(plan, serial).stepSeconds(), PipelineTimeline.run(plan,
                new PipelineOptions(1, 1, PipelineSchedule.GPIPE), Recompute.NONE, serial).stepSeconds(), 1e-12);
        String trace = ChromeTrace.write(r.toTimelineReport(), 8, "stage");
        assertTrue(trace.contains("\"stage 1\"") && trace.contains("send forward mb 0 to stage 1"), trace);
        assertThrows(IllegalArgumentException.class, () -> PipelineTimeline.stageCosts(plan,
                new PipelineOptions(4, 4, PipelineSchedule.GPIPE), t));
        assertThrows(IllegalArgumentException.class, () -> PipelineTimeline.stageCosts(plan,
                new PipelineOptions(2, 3, PipelineSchedule.GPIPE), t));
    }

    @Test
    void stageSendsFollowTheRankMapping() throws Exception {
        Plan plan = TimelineTest.gpt();
        PipelineOptions o = new PipelineOptions(2, 4, PipelineSchedule.ONE_F_ONE_B);
        ClusterSpec block = ClusterSpec.preset("a100-80gb-dgx").withNodes(2);
        // block: stage 0 (ranks 0..7) on node 0, stage 1 (ranks 8..15) on node 1, every send crosses nodes
        StageCosts apart = PipelineTimeline.stageCosts(plan, o, TimelineOptions.of(block));
        Link inter = block.interNode();
        assertEquals(inter.latency() + apart.inputBytes() / (inter.bandwidth() * inter.efficiency()),
                apart.sendSeconds(), 1e-15);
        // ranks j and 8 + j on one node (ranks 0..3 and 8..11 on node 0): every send stays in a node
        int[] paired = new int[16];
        for (int r = 0; r < 16; r++) {
            paired[r] = (r % 8) / 4;
        }
        ClusterSpec together = block.withRankMapping(RankMapping.explicit(paired));
        StageCosts near = PipelineTimeline.stageCosts(plan, o, TimelineOptions.of(together));
        Link intra = block.intraNode();
        assertEquals(near.inputBytes(), apart.inputBytes());
        assertEquals(intra.latency() + near.inputBytes() / (intra.bandwidth() * intra.efficiency()),
                near.sendSeconds(), 1e-15);
        assertTrue(near.sendSeconds() < apart.sendSeconds());
    }

    private static double busy(PipelineReport r, int stage) {
        return r.events().stream().filter(e -> e.rank() == stage && e.stream().equals(TimelineReport.Event.COMPUTE))
                .mapToDouble(TimelineReport.Event::duration).sum();
    }

    /**
     * No two events overlap on one stream of one stage; each micro-batch's forward of chunk k + 1 starts after the
     * forward of chunk k plus the send; each backward of chunk k starts after the backward of k + 1 plus the send.
     */
    private static void assertConsistent(PipelineReport r, double send) {
        int p = r.options().stages();
        for (int d = 0; d < p; d++) {
            for (String stream : List.of(TimelineReport.Event.COMPUTE, TimelineReport.Event.COMM)) {
                final int stage = d;
                List<TimelineReport.Event> es = r.events().stream()
                        .filter(e -> e.rank() == stage && e.stream().equals(stream))
                        .sorted((a, b) -> Double.compare(a.start(), b.start())).collect(Collectors.toList());
                for (int i = 1; i < es.size(); i++) {
                    assertTrue(es.get(i).start() >= es.get(i - 1).end() - EPS, "overlap on stage " + d + ": "
                            + es.get(i - 1) + " and " + es.get(i));
                }
            }
        }
        Map<String, TimelineReport.Event> units = new HashMap<>();
        for (TimelineReport.Event e : r.events()) {
            if (e.category().equals("forward") || e.category().equals("backward")) {
                String[] w = e.name().split(" ");
                int chunk = w.length > 3 ? Integer.parseInt(w[4]) : 0;
                units.put(w[0] + " " + w[2] + " " + (chunk * p + e.rank()), e);
            }
        }
        int chunks = r.options().chunks();
        int sendCross = p > 1 ? 1 : 0;
        for (int i = 0; i < r.options().microBatches(); i++) {
            for (int k = 0; k + 1 < chunks; k++) {
                TimelineReport.Event a = units.get("forward " + i + " " + k);
                TimelineReport.Event b = units.get("forward " + i + " " + (k + 1));
                assertTrue(b.start() >= a.end() + sendCross * send - EPS, a + " then " + b);
                TimelineReport.Event gb = units.get("backward " + i + " " + (k + 1));
                TimelineReport.Event ga = units.get("backward " + i + " " + k);
                assertTrue(ga.start() >= gb.end() + sendCross * send - EPS, gb + " then " + ga);
            }
            TimelineReport.Event last = units.get("forward " + i + " " + (chunks - 1));
            assertTrue(units.get("backward " + i + " " + (chunks - 1)).start() >= last.end() - EPS);
        }
    }
}
