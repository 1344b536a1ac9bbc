package io.tessera.simulator.timeline;

import io.tessera.layout.DType;
import io.tessera.layout.comm.CollectiveKind;
import io.tessera.planner.cost.ClusterSpec;
import io.tessera.planner.cost.CostModel;
import io.tessera.planner.cost.Recompute;
import io.tessera.planner.handplan.HandPlans;
import io.tessera.planner.plan.PipelinePlan;
import io.tessera.planner.zoo.GptConfig;
import io.tessera.planner.zoo.Zoo;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Interleaved 1F1B over planned model chunks, per-chunk tails, recompute memory and scatter/gather sends. */
class InterleavedPipelineTimelineTest {

    private static final ClusterSpec A100 = ClusterSpec.preset("a100-80gb-dgx").withNodes(4);
    private static final GptConfig GPT = new GptConfig(4, 64, 4, 256, 16, 128, 8, DType.FLOAT32);
    private static final double EPS = 1e-12;

    private static PipelinePlan gpt(int stages, int virtualStages, int microBatches) {
        return PipelinePlan.plan(Zoo.gpt(GPT), HandPlans.megatronGptConfig(GPT, 2, 4), stages, virtualStages,
                microBatches, op -> Optional.empty());
    }

    @Test
    void identicalPlannedChunksLayOutAsIdenticalStages() {
        StageCosts.TailStep reduce = new StageCosts.TailStep("backward AllReduce g", TimelineReport.Event.COMM,
                "gradient", 0.25, 0.3);
        StageCosts.TailStep update = new StageCosts.TailStep("optimizer update", TimelineReport.Event.COMPUTE,
                "optimizer", 1, 0.1);
        StageCosts stage = new StageCosts(1.0, 2.0, 0.125, 4000, 10, 0.5, 1000, List.of(reduce, update));
        for (int p : new int[] {2, 4}) {
            for (int v : new int[] {2, 4}) {
                for (Recompute r : Recompute.values()) {
                    for (boolean overlap : new boolean[] {true, false}) {
                        PipelineOptions o = new PipelineOptions(p, 2 * p, PipelineSchedule.INTERLEAVED_1F1B, v);
                        List<StageCosts> chunks = new ArrayList<>();
                        for (int k = 0; k < p * v; k++) {
                            // the stage's tail on each device's chunk 0, whose last backward ends the device's
                            chunks.add(new StageCosts(1.0 / v, 2.0 / v, 0.125, 4000 / v, 10, 0.5 / v, 1000 / v,
                                    k < p ? stage.tail() : List.of()));
                        }
                        PipelineReport same = PipelineTimeline.layout(stage, o, r, overlap);
                        PipelineReport planned = PipelineTimeline.layout(chunks, o, r, overlap);
                        String what = "p " + p + " v " + v + " " + r + " overlap " + overlap;
                        assertEquals(same.stepSeconds(), planned.stepSeconds(), EPS, what);
                        assertEquals(same.bubbleFraction(), planned.bubbleFraction(), EPS, what);
                        assertEquals(Arrays.toString(same.peakActivationBytes()),
                                Arrays.toString(planned.peakActivationBytes()), what);
                        assertEquals(Arrays.toString(same.peakInFlight()), Arrays.toString(planned.peakInFlight()));
                        assertEquals(same.events(), planned.events(), what);
                        assertEquals(p * v, planned.stageCosts().size());
                    }
                }
            }
        }
    }

    @Test
    void interleavedChunksOfTheirOwnCostMatchANaiveRelaxation() {
        long seed = 20261202L;
        System.out.println("InterleavedPipelineTimelineTest seed " + seed);
        Random rnd = new Random(seed);
        for (int trial = 0; trial < 200; trial++) {
            int p = 2 + rnd.nextInt(3);
            int v = 2 + rnd.nextInt(3);
            int m = p * (1 + rnd.nextInt(3));
            Recompute rec = Recompute.values()[rnd.nextInt(3)];
            int chunks = p * v;
            double[] f = new double[chunks];
            double[] b = new double[chunks];
            double[] att = new double[chunks];
            List<StageCosts> costs = new ArrayList<>();
            for (int k = 0; k < chunks; k++) {
                f[k] = 0.2 + rnd.nextDouble();
                b[k] = 0.5 + 2 * rnd.nextDouble();
                att[k] = 0.1 * rnd.nextDouble();
                costs.add(new StageCosts(f[k], b[k], 0, 100, 10, att[k], 20, List.of()));
            }
            PipelineReport r = PipelineTimeline.layout(costs,
                    new PipelineOptions(p, m, PipelineSchedule.INTERLEAVED_1F1B, v), rec, true);
            // naive: Megatron-LM's order per device, times relaxed to the least fixed point of
            // start = max(device free, input ready), by sweeping until nothing changes
            double[][] fe = new double[chunks][m];
            double[][] be = new double[chunks][m];
            List<List<int[]>> orders = new ArrayList<>();
            for (int d = 0; d < p; d++) {
                orders.add(megatronOrder(p, v, m, d));
            }
            boolean changed = true;
            while (changed) {
                changed = false;
                for (int d = 0; d < p; d++) {
                    double free = 0;
                    for (int[] u : orders.get(d)) {
                        int k = u[1] * p + d;
                        int mb = u[2];
                        double end;
                        if (u[0] == 1) {
                            double ready = k == 0 ? 0 : fe[k - 1][mb];
                            end = Math.max(free, ready) + f[k];
                            changed |= end != fe[k][mb];
                            fe[k][mb] = end;
                        } else {
                            double ready = k == chunks - 1 ? fe[k][mb] : Math.max(fe[k][mb], be[k + 1][mb]);
                            double extra = rec == Recompute.FULL ? f[k] : rec == Recompute.SELECTIVE ? att[k] : 0;
                            end = Math.max(free, ready) + extra + b[k];
                            changed |= end != be[k][mb];
                            be[k][mb] = end;
                        }
                        free = end;
                    }
                }
            }
            double step = 0;
            for (double[] row : be) {
                for (double x : row) {
                    step = Math.max(step, x);
                }
            }
            assertEquals(step, r.stepSeconds(), 1e-9, "trial " + trial + " p " + p + " v " + v + " m " + m + " "
                    + rec);
        }
    }

    /** Megatron-LM's schedule on device {@code d}: {forward?1:0, chunk, micro-batch} in order, from its definition. */
    private static List<int[]> megatronOrder(int p, int v, int m, int d) {
        int total = m * v;
        int warm = Math.min(total, (p - d - 1) * 2 + (v - 1) * p);
        List<int[]> out = new ArrayList<>();
        int nf = 0;
        int nb = 0;
        for (int i = 0; i < warm; i++) {
            out.add(unit(p, v, nf++, true));
        }
        while (nf < total) {
            out.add(unit(p, v, nf++, true));
            out.add(unit(p, v, nb++, false));
        }
        while (nb < total) {
            out.add(unit(p, v, nb++, false));
        }
        return out;
    }

    private static int[] unit(int p, int v, int k, boolean forward) {
        int inGroup = k % (p * v);
        int chunk = inGroup / p;
        return new int[] {forward ? 1 : 0, forward ? chunk : v - 1 - chunk, (k / (p * v)) * p + k % p};
    }

    @Test
    void eachChunksReductionsFollowItsOwnLastBackward() {
        int p = 2;
        int v = 2;
        StageCosts.TailStep early = new StageCosts.TailStep("backward AllReduce chunk2", TimelineReport.Event.COMM,
                "gradient", 0.5, 0.05);
        StageCosts.TailStep late = new StageCosts.TailStep("backward AllReduce chunk0", TimelineReport.Event.COMM,
                "gradient", 0.5, 0.05);
        StageCosts.TailStep update = new StageCosts.TailStep("optimizer update", TimelineReport.Event.COMPUTE,
                "optimizer", 1, 0.1);
        List<StageCosts> costs = new ArrayList<>();
        for (int k = 0; k < p * v; k++) {
            List<StageCosts.TailStep> tail = k == 0 ? List.of(late, update) : k == 2 ? List.of(early) : List.of();
            costs.add(new StageCosts(1, 2, 0, 100, 10, 0, 0, tail));
        }
        PipelineOptions o = new PipelineOptions(p, 4, PipelineSchedule.INTERLEAVED_1F1B, v);
        for (boolean overlap : new boolean[] {true, false}) {
            PipelineReport r = PipelineTimeline.layout(costs, o, Recompute.NONE, overlap);
            TimelineReport.Event lastChunk2 = last(r, "backward mb 3 chunk 1");
            TimelineReport.Event lastChunk0 = last(r, "backward mb 3 chunk 0");
            TimelineReport.Event e = last(r, early.name());
            TimelineReport.Event l = last(r, late.name());
            TimelineReport.Event u = last(r, update.name());
            assertTrue(lastChunk2.end() < lastChunk0.start() + EPS, lastChunk2 + " " + lastChunk0);
            if (overlap) {
                // chunk 2 (chunk 1 of device 0) reduces in the middle of its own last backward, before chunk 0's
                assertEquals(lastChunk2.start() + 0.5 * 2, e.start(), EPS);
                assertEquals(lastChunk0.start() + 0.5 * 2, l.start(), EPS);
            } else {
                assertEquals(lastChunk0.end(), e.start(), EPS);
                assertEquals(e.end(), l.start(), EPS);
            }
            assertEquals(Math.max(l.end(), lastChunk0.end()), u.start(), EPS);
            assertEquals(0, e.rank());
        }
    }

    private static TimelineReport.Event last(PipelineReport r, String name) {
        return r.events().stream().filter(e -> e.rank() == 0 && e.name().equals(name)).reduce((a, b) -> b)
                .orElseThrow(() -> new AssertionError("no event " + name + " in " + r.events()));
    }

    @Test
    void plannedChunksRunInterleaved() {
        TimelineOptions t = TimelineOptions.of(A100);
        PipelinePlan two = gpt(2, 2, 4);
        List<StageCosts> costs = PipelineTimeline.stageCosts(two, t);
        assertEquals(4, costs.size());
        for (int k = 0; k < 4; k++) {
            assertTrue(costs.get(k).forwardSeconds() > 0 && costs.get(k).backwardSeconds() > 0, costs.get(k)
                    .toString());
            // every chunk but the last sends its hidden state on
            assertEquals(k < 3, costs.get(k).sendSeconds() > 0, "chunk " + k);
            assertTrue(costs.get(k).tail().stream().anyMatch(s -> s.category().equals("gradient")), "chunk " + k);
            // the device's update once, on its chunk 0
            assertEquals(k < 2, costs.get(k).tail().stream().anyMatch(s -> s.category().equals("optimizer")));
        }
        // the head makes the last chunk the most expensive
        assertTrue(costs.get(3).forwardSeconds() > costs.get(1).forwardSeconds());
        PipelineReport inter = PipelineTimeline.run(two, PipelineSchedule.INTERLEAVED_1F1B, Recompute.NONE, t);
        assertEquals(2, inter.options().virtualStages());
        assertEquals(4, inter.stageCosts().size());
        assertTrue(inter.summary().contains("chunk 2 (stage 0) per micro-batch: forward "), inter.summary());
        long sends = inter.events().stream().filter(e -> e.category().equals("pipeline")).count();
        assertEquals(2L * 4 * 3, sends);
        for (Recompute r : List.of(Recompute.SELECTIVE, Recompute.FULL)) {
            PipelineReport re = PipelineTimeline.run(two, PipelineSchedule.INTERLEAVED_1F1B, r, t);
            assertTrue(re.stepSeconds() > inter.stepSeconds(), r + re.summary());
            for (int d = 0; d < 2; d++) {
                assertTrue(re.peakActivationBytes()[d] < inter.peakActivationBytes()[d], r + re.summary());
            }
        }
        PipelineReport ofob = PipelineTimeline.run(gpt(2, 1, 4), PipelineSchedule.ONE_F_ONE_B, Recompute.NONE, t);
        assertTrue(inter.bubbleFraction() < ofob.bubbleFraction(), inter.summary() + ofob.summary());
        // the interleaved schedule needs chunks, the others one chunk per stage, micro-batches a multiple of p
        IllegalArgumentException one = assertThrows(IllegalArgumentException.class, () -> PipelineTimeline.run(
                gpt(2, 1, 4), PipelineSchedule.INTERLEAVED_1F1B, Recompute.NONE, t));
        assertTrue(one.getMessage().startsWith("the interleaved schedule needs a plan with virtual stages >= 2"),
                one.getMessage());
        IllegalArgumentException flat = assertThrows(IllegalArgumentException.class, () -> PipelineTimeline.run(two,
                PipelineSchedule.ONE_F_ONE_B, Recompute.NONE, t));
        assertTrue(flat.getMessage().contains("use the interleaved schedule"), flat.getMessage());
        IllegalArgumentException odd = assertThrows(IllegalArgumentException.class, () -> PipelineTimeline.run(
                gpt(2, 2, 3), PipelineSchedule.INTERLEAVED_1F1B, Recompute.NONE, t));
        assertEquals("interleaved 1F1B: 3 micro-batches is not a multiple of the 2 stages; use a multiple of 2 "
                + "micro-batches (Megatron-LM's rule)", odd.getMessage());
        assertThrows(IllegalArgumentException.class, () -> PipelineTimeline.layout(costs.subList(0, 2),
                new PipelineOptions(2, 4, PipelineSchedule.INTERLEAVED_1F1B, 2), Recompute.NONE, true));
    }

    @Test
    void plannedRecomputeMemoryIsPerLayer() {
        TimelineOptions t = TimelineOptions.of(A100);
        // GPipe keeps all m micro-batches of every chunk: the peak is m times the kept bytes plus one live set
        PipelinePlan pipe = gpt(2, 1, 4);
        List<StageCosts> c = PipelineTimeline.stageCosts(pipe, t);
        PipelineReport none = PipelineTimeline.run(pipe, PipelineSchedule.GPIPE, Recompute.NONE, t);
        PipelineReport sel = PipelineTimeline.run(pipe, PipelineSchedule.GPIPE, Recompute.SELECTIVE, t);
        PipelineReport full = PipelineTimeline.run(pipe, PipelineSchedule.GPIPE, Recompute.FULL, t);
        for (int s = 0; s < 2; s++) {
            StageCosts x = c.get(s);
            assertEquals(4 * x.activationBytes(), none.peakActivationBytes()[s]);
            assertEquals(4 * (x.activationBytes() - x.attentionBytes()) + x.attentionWorkingBytes(),
                    sel.peakActivationBytes()[s]);
            assertEquals(4 * x.fullKeptBytes() + x.fullWorkingBytes(), full.peakActivationBytes()[s]);
            // two layers per stage: full keeps two hidden states (tp-replicated, dp-split) besides what the
            // embedding or the head keeps, and has one layer live; selective one core attention
            long hidden = (long) GPT.batch() / 2 * GPT.seq() * GPT.hidden() * 4;
            assertTrue(x.fullKeptBytes() >= 2 * hidden, x.toString());
            assertTrue(x.fullWorkingBytes() * 2 <= x.activationBytes(), x.toString());
            assertEquals(x.attentionBytes(), 2 * x.attentionWorkingBytes(), x.toString());
            assertTrue(full.peakActivationBytes()[s] < sel.peakActivationBytes()[s]
                    && sel.peakActivationBytes()[s] < none.peakActivationBytes()[s]);
        }
        // stage 0: its two layer inputs (the embedding keeps nothing: its token ids are a data input)
        assertEquals(2L * GPT.batch() / 2 * GPT.seq() * GPT.hidden() * 4, c.get(0).fullKeptBytes());
        // selective re-runs the core attention: both batched MatMuls, the scale and the softmax
        io.tessera.planner.cost.CostModel cm = new io.tessera.planner.cost.CostModel(A100);
        double attention = 0;
        for (String op : io.tessera.planner.cost.Recompute.selectiveOps(pipe.plan().network())) {
            if (pipe.stageOf(op) == 0) {
                attention += cm.computeSeconds(pipe.plan().network(), pipe.plan().op(op), false);
            }
        }
        assertEquals(attention, c.get(0).attentionSeconds(), 1e-18);
    }

    @Test
    void scatterGatherSendsATpthAndGathersOverNvlink() {
        // tp4 x dp2 stages: the hidden state between stages is split by dp and replicated over the 4 tp ranks;
        // 4 MiB per rank, so that bandwidth, not latency, decides
        GptConfig big = new GptConfig(4, 1024, 16, 4096, 256, 128, 8, DType.FLOAT32);
        PipelinePlan pipe = PipelinePlan.plan(Zoo.gpt(big), HandPlans.megatronGptConfig(big, 2, 4), 2, 1, 4,
                op -> Optional.empty());
        PipelinePlan.Boundary b = pipe.boundaries().get(0);
        assertEquals(4, b.layout().repeatedCount());
        TimelineOptions t = TimelineOptions.of(A100);
        CostModel cm = new CostModel(A100);
        double plain = 0;
        double scattered = 0;
        for (int j = 0; j < 8; j++) {
            plain = Math.max(plain, cm.collectiveSeconds(CollectiveKind.SEND_RECV, List.of(j, 8 + j), b.bytes()));
            List<Integer> group = new ArrayList<>();
            for (int g : b.layout().repeatedGroup(j)) {
                group.add(8 + g);
            }
            assertEquals(4, group.size());
            scattered = Math.max(scattered, cm.collectiveSeconds(CollectiveKind.SEND_RECV, List.of(j, 8 + j),
                    (b.bytes() + 3) / 4) + cm.collectiveSeconds(CollectiveKind.ALL_GATHER, group, b.bytes()));
        }
        List<StageCosts> off = PipelineTimeline.stageCosts(pipe, t);
        List<StageCosts> on = PipelineTimeline.stageCosts(pipe, t, true);
        assertEquals(plain, off.get(0).sendSeconds(), 1e-18);
        assertEquals(scattered, on.get(0).sendSeconds(), 1e-18);
        // stages on different nodes: a quarter over the network and a gather over NVLink beats the whole slice
        assertTrue(on.get(0).sendSeconds() < off.get(0).sendSeconds(), on.get(0) + " vs " + off.get(0));
        assertEquals(off.get(1).forwardSeconds(), on.get(1).forwardSeconds());
        PipelineReport faster = PipelineTimeline.run(pipe, PipelineSchedule.ONE_F_ONE_B, Recompute.NONE, t, true);
        assertTrue(faster.options().scatterGatherSends());
        assertTrue(faster.stepSeconds() < PipelineTimeline.run(pipe, PipelineSchedule.ONE_F_ONE_B, Recompute.NONE,
                t).stepSeconds());
        // a boundary that is not replicated sends as before
        PipelinePlan dp = PipelinePlan.plan(Zoo.gpt(big), HandPlans.megatronGptConfig(big, 8, 1), 2, 1, 4,
                op -> Optional.empty());
        assertEquals(1, dp.boundaries().get(0).layout().repeatedCount());
        assertEquals(PipelineTimeline.stageCosts(dp, t).get(0).sendSeconds(),
                PipelineTimeline.stageCosts(dp, t, true).get(0).sendSeconds());
        // identical stages: the option of PipelineOptions, on the stage's boundary (its first floating output)
        io.tessera.planner.plan.Plan stage = pipe.plan();
        PipelineOptions o = new PipelineOptions(2, 4, PipelineSchedule.ONE_F_ONE_B);
        io.tessera.layout.Layout first = stage.op("embedding.lookup").outputLayouts().get(0);
        long micro = (first.sliceBytes(DType.FLOAT32) + 3) / 4;
        assertEquals(PipelineTimeline.sendSeconds(cm, first, micro, 8, 0, 1, true),
                PipelineTimeline.stageCosts(stage, o.withScatterGatherSends(true), t).sendSeconds(), 1e-18);
        assertEquals(PipelineTimeline.sendSeconds(cm, first, micro, 8, 0, 1, false),
                PipelineTimeline.stageCosts(stage, o, t).sendSeconds(), 1e-18);
    }
}
