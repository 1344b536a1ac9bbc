package io.tessera.simulator.timeline;

import io.tessera.layout.comm.CollectiveKind;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.tessera.layout.DType;
import io.tessera.layout.param.Parameter;
import io.tessera.planner.cost.ClusterSpec;
import io.tessera.planner.cost.CostModel;
import io.tessera.planner.graph.Network;
import io.tessera.planner.op.Activation;
import io.tessera.planner.op.BiasAdd;
import io.tessera.planner.op.MatMul;
import io.tessera.planner.op.Reduce;
import io.tessera.planner.op.SoftmaxCrossEntropyWithLogits;
import io.tessera.planner.op.Strategy;
import io.tessera.planner.op.TensorType;
import io.tessera.planner.plan.Communication;
import io.tessera.planner.plan.Plan;
import io.tessera.planner.plan.PlanConfig;
import io.tessera.planner.plan.Planner;
import io.tessera.planner.api.StrategyPlans;
import io.tessera.planner.strategy.CommFusionConfig;
import io.tessera.planner.strategy.CommFusionMode;
import io.tessera.planner.strategy.DatasetStrategy;
import io.tessera.planner.strategy.OptimizerKind;
import io.tessera.planner.strategy.StrategyFiles;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class TimelineTest {

    private static final ClusterSpec A100 = ClusterSpec.preset("a100-80gb-dgx");

    /** y = x [64, 32] @ w [32, 16] with w split by columns over 2 ranks, then the mean of y: one forward AllReduce. */
    static Plan twoOpsOneAllReduce() {
        Network.Builder b = Network.builder("two_ops");
        b.input("x", TensorType.of(DType.FLOAT32, 64, 32));
        String w = b.parameter(Parameter.fromInitializer("normal", new long[] {32, 16}, DType.FLOAT32, "w"));
        String y = b.op("fc", MatMul.of(false, false), "x", w);
        b.loss(b.op("loss", Reduce.mean(false), y));
        PlanConfig config = PlanConfig.builder(2).optimizer(OptimizerKind.SGD)
                .dataset(new DatasetStrategy.Explicit(Strategy.of(new int[] {1, 1})))
                .strategy("fc", new int[] {1, 1}, new int[] {1, 2})
                .strategy("loss", new int[] {1, 2}).build();
        return Planner.plan(b.build(), config);
    }

    /** An MLP x [64, 32] -> 64 -> 16 classes, data parallel over {@code dp} ranks, gradients not fused. */
    static Plan dataParallelMlp(int dp) {
        Network.Builder b = Network.builder("mlp");
        b.input("x", TensorType.of(DType.FLOAT32, 64, 32));
        b.input("labels", TensorType.of(DType.FLOAT32, 64, 16));
        String w1 = b.parameter(Parameter.fromInitializer("normal", new long[] {32, 64}, DType.FLOAT32, "w1"));
        String b1 = b.parameter(Parameter.fromInitializer("normal", new long[] {64}, DType.FLOAT32, "b1"));
        String w2 = b.parameter(Parameter.fromInitializer("normal", new long[] {64, 16}, DType.FLOAT32, "w2"));
        String h = b.op("fc1", MatMul.of(false, false), "x", w1);
        String a = b.op("gelu", Activation.gelu(), b.op("bias", new BiasAdd(), h, b1));
        String y = b.op("fc2", MatMul.of(false, false), a, w2);
        String l = b.op("loss_fn", new SoftmaxCrossEntropyWithLogits(), y, "labels");
        b.loss(b.op("loss", Reduce.mean(false), l));
        // buckets of at most 1 KiB: one AllReduce per parameter, issued right after its gradient is complete
        CommFusionMode small = CommFusionMode.size(1.0 / 1024);
        return Planner.plan(b.build(), PlanConfig.builder(dp).commFusion(CommFusionConfig.of(small, small, small))
                .build());
    }

    static Plan gpt() throws Exception {
        return StrategyPlans.plan(StrategyFiles.read(Path.of("../strategies/gpt-megatron-tp4-dp2.json")));
    }

    @Test
    void handComputedTwoRankStep() {
        Plan plan = twoOpsOneAllReduce();
        assertEquals(1, plan.comms().size(), plan.comms().toString());
        Communication ar = plan.comms().get(0);
        assertEquals(CollectiveKind.ALL_REDUCE, ar.kind());
        assertEquals(List.of(List.of(0, 1)), ar.groups());
        CostModel cost = new CostModel(A100);
        double f1 = cost.computeSeconds(plan.network(), plan.op("fc"), false);
        double f2 = cost.computeSeconds(plan.network(), plan.op("loss"), false);
        double b1 = cost.computeSeconds(plan.network(), plan.op("fc"), true);
        double b2 = cost.computeSeconds(plan.network(), plan.op("loss"), true);
        double comm = cost.communicationSeconds(ar);
        // SGD on w's slice [32, 8] float32: the norm (4 bytes), clipping (8), the update reading the weight and the
        // gradient and writing the weight (12): 24 bytes an element, streamed as one kernel
        assertEquals(24.0 * 32 * 8, CostModel.updateBytes(plan.params(), plan.config().optimizer()), 0);
        double update = A100.device().kernels().streamSeconds(24.0 * 32 * 8, A100.device().memoryBandwidth());
        double expected = f1 + f2 + comm + b2 + b1 + update;
        assertTrue(f1 > 0 && f2 > 0 && comm > 0 && b1 > 0 && b2 > 0);

        TimelineReport r = Timeline.run(plan, TimelineOptions.of(A100));
        assertEquals(expected, r.stepSeconds(), 0.0);
        assertEquals(f1 + f2 + b2 + b1 + update, r.computeSeconds(), 1e-18);
        assertEquals(comm, r.exposedCommSeconds(), 1e-15);
        assertEquals(Map.of("forward AllReduce", ar.totalRecvBytes()), r.commBytesByKind());
        long[] memory = r.peakMemoryBytes();
        assertEquals(2, memory.length);
        for (int rank = 0; rank < 2; rank++) {
            assertEquals(plan.memory(rank).total() + cost.activationBytes(plan.network(), plan, rank), memory[rank]);
        }
        assertTrue(r.mfu() > 0 && r.mfu() <= 1, "mfu " + r.mfu());
        // per rank: 2 forward, 2 backward, 1 update on compute; the AllReduce on comm, after the loss
        for (int rank = 0; rank < 2; rank++) {
            int id = rank;
            List<TimelineReport.Event> compute = r.events().stream()
                    .filter(e -> e.rank() == id && e.stream().equals("compute")).toList();
            List<TimelineReport.Event> comms = r.events().stream()
                    .filter(e -> e.rank() == id && e.stream().equals("comm")).toList();
            assertEquals(List.of("fc", "loss", "loss", "fc", "optimizer update"),
                    compute.stream().map(TimelineReport.Event::name).toList());
            assertEquals(1, comms.size());
            assertEquals(f1 + f2, comms.get(0).start(), 0.0);
            assertEquals("operator", comms.get(0).category());
            assertEquals(f1 + f2 + comm, compute.get(2).start(), 0.0);
        }
    }

    @Test
    void aCollectiveWaitsForItsSlowestMember() {
        Plan plan = twoOpsOneAllReduce();
        TimelineReport even = Timeline.run(plan, TimelineOptions.of(A100));
        TimelineReport r = Timeline.run(plan, TimelineOptions.of(A100), new double[] {1, 3});
        double slowReady = endOf(r, 1, "compute", 1);
        assertTrue(slowReady > endOf(r, 0, "compute", 1), "rank 1 is slower");
        for (int rank = 0; rank < 2; rank++) {
            TimelineReport.Event ar = events(r, rank, "comm").get(0);
            assertEquals(slowReady, ar.start(), 0.0, "rank " + rank);
        }
        // rank 0 idles until the AllReduce ends, then runs its backward at its own speed
        assertEquals(events(r, 0, "comm").get(0).end(), events(r, 0, "compute").get(2).start(), 0.0);
        assertTrue(r.stepSeconds() > even.stepSeconds());
    }

    @Test
    void overlappingGradientCommunicationIsFaster() throws Exception {
        for (int dp : new int[] {2, 4, 8}) {
            Plan plan = dataParallelMlp(dp);
            assertTrue(plan.comms().stream().anyMatch(c -> c.origin() == Communication.Origin.GRADIENT));
            TimelineReport on = Timeline.run(plan, TimelineOptions.of(A100));
            TimelineReport off = Timeline.run(plan, TimelineOptions.of(A100).withOverlapGradientComm(false));
            assertTrue(on.stepSeconds() < off.stepSeconds(), on.stepSeconds() + " vs " + off.stepSeconds());
            assertEquals(on.computeSeconds(), off.computeSeconds(), 1e-15);
            assertTrue(on.exposedCommSeconds() < off.exposedCommSeconds());
            assertEquals(on.commBytesByKind(), off.commBytesByKind());
        }
        // the shipped GPT fuses every gradient into one bucket issued after the last backward: never slower
        Plan gpt = gpt();
        assertTrue(Timeline.run(gpt, TimelineOptions.of(A100)).stepSeconds()
                <= Timeline.run(gpt, TimelineOptions.of(A100).withOverlapGradientComm(false)).stepSeconds());
        // nothing to overlap: equal
        Plan plain = twoOpsOneAllReduce();
        assertEquals(Timeline.run(plain, TimelineOptions.of(A100)).stepSeconds(),
                Timeline.run(plain, TimelineOptions.of(A100).withOverlapGradientComm(false)).stepSeconds(), 0.0);
    }

    @Test
    void gptOnPresetsHasSaneFigures() throws Exception {
        Plan plan = gpt();
        for (String name : ClusterSpec.presets()) {
            ClusterSpec cluster = ClusterSpec.preset(name);
            TimelineReport r = Timeline.run(plan, TimelineOptions.of(cluster));
            assertTrue(r.mfu() > 0 && r.mfu() <= 1, name + " mfu " + r.mfu());
            assertTrue(r.stepSeconds() >= r.computeSeconds(), name);
            assertEquals(r.stepSeconds(), r.computeSeconds() + r.exposedCommSeconds(), 1e-12);
            Map<String, Long> expected = new HashMap<>();
            plan.commTotals().forEach((k, v) -> expected.put(k, v[1]));
            assertEquals(expected, r.commBytesByKind());
            assertEquals(8, r.devices());
            assertTrue(r.minPeakMemoryBytes() > 0);
            assertNoOverlapWithinAStream(r, 8);
            assertTrue(r.summary().contains("step time:"), r.summary());
        }
        // spanning two nodes of 4 devices is slower than one node of 8
        ClusterSpec small = new ClusterSpec("two-nodes", 4, 2, A100.device(), A100.intraNode(), A100.interNode(),
                A100.algorithm());
        assertTrue(Timeline.run(plan, TimelineOptions.of(small)).stepSeconds()
                > Timeline.run(plan, TimelineOptions.of(A100)).stepSeconds());
    }

    @Test
    void rejectsAClusterSmallerThanThePlan() throws Exception {
        ClusterSpec four = new ClusterSpec("four", 4, 1, A100.device(), A100.intraNode(), A100.interNode(),
                A100.algorithm());
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> Timeline.run(gpt(), TimelineOptions.of(four)));
        assertTrue(e.getMessage().contains("has 4 devices but the plan needs 8"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> new TimelineOptions(A100, true, -1));
    }

    @Test
    void recordedRanksLimitTheEventsNotTheFigures() throws Exception {
        Plan plan = gpt();
        TimelineReport all = Timeline.run(plan, TimelineOptions.of(A100));
        TimelineReport two = Timeline.run(plan, TimelineOptions.of(A100).withRecordedRanks(2));
        assertEquals(all.stepSeconds(), two.stepSeconds(), 0.0);
        assertTrue(two.events().stream().allMatch(e -> e.rank() < 2));
        assertEquals(all.events().stream().filter(e -> e.rank() < 2).toList(), two.events());
    }

    @Test
    void chromeTraceIsValidAndOrdered() throws Exception {
        Plan plan = gpt();
        TimelineReport r = Timeline.run(plan, TimelineOptions.of(A100));
        String text = ChromeTrace.write(r);
        assertEquals(text, ChromeTrace.write(Timeline.run(plan, TimelineOptions.of(A100))), "deterministic");
        JsonNode root = new ObjectMapper().readTree(text);
        JsonNode events = root.get("traceEvents");
        assertTrue(events.isArray() && events.size() > 0);
        Map<String, Double> lastTs = new HashMap<>();
        Map<Integer, Integer> computePerRank = new HashMap<>();
        Map<Integer, Integer> commPerRank = new HashMap<>();
        Map<String, String> threadNames = new HashMap<>();
        int processes = 0;
        for (JsonNode e : events) {
            String ph = e.get("ph").asText();
            int pid = e.get("pid").asInt();
            assertTrue(pid >= 0 && pid < 8);
            if (ph.equals("M")) {
                if (e.get("name").asText().equals("process_name")) {
                    assertEquals("rank " + pid, e.get("args").get("name").asText());
                    processes++;
                } else if (e.get("name").asText().equals("thread_name")) {
                    threadNames.put(pid + "/" + e.get("tid").asInt(), e.get("args").get("name").asText());
                }
                continue;
            }
            assertEquals("X", ph);
            int tid = e.get("tid").asInt();
            double ts = e.get("ts").asDouble();
            double dur = e.get("dur").asDouble();
            assertTrue(ts >= 0 && dur >= 0);
            assertTrue(e.hasNonNull("name") && e.hasNonNull("cat"));
            Double prev = lastTs.put(pid + "/" + tid, ts);
            assertTrue(prev == null || prev <= ts, "timestamps go back on " + pid + "/" + tid);
            (tid == 0 ? computePerRank : commPerRank).merge(pid, 1, Integer::sum);
        }
        assertEquals(8, processes);
        assertEquals("compute", threadNames.get("3/0"));
        assertEquals("communication", threadNames.get("3/1"));
        for (int rank = 0; rank < 8; rank++) {
            assertEquals(2 * plan.ops().size() + 1, computePerRank.get(rank));
            int id = rank;
            long comms = r.events().stream().filter(e -> e.rank() == id && e.stream().equals("comm")).count();
            assertEquals(comms, commPerRank.get(rank).longValue());
            assertTrue(comms > 0);
        }
        // the step's end is within the last microsecond of the trace
        double end = 0;
        for (JsonNode e : events) {
            if (e.get("ph").asText().equals("X")) {
                end = Math.max(end, e.get("ts").asDouble() + e.get("dur").asDouble());
            }
        }
        assertEquals(r.stepSeconds() * 1e6, end, 1e-2);

        JsonNode capped = new ObjectMapper().readTree(ChromeTrace.write(r, 2)).get("traceEvents");
        for (JsonNode e : capped) {
            assertTrue(e.get("pid").asInt() < 2);
        }
        assertThrows(IllegalArgumentException.class, () -> ChromeTrace.write(r, 0));
    }

    @Test
    void microsecondsArePlainDecimals() {
        assertEquals("0", ChromeTrace.micros(0));
        assertEquals("1.5", ChromeTrace.micros(1.5e-6));
        assertEquals("0.001", ChromeTrace.micros(1e-9));
        assertEquals("2000000", ChromeTrace.micros(2));
    }

    private static void assertNoOverlapWithinAStream(TimelineReport r, int ranks) {
        for (int rank = 0; rank < ranks; rank++) {
            for (String stream : List.of("compute", "comm")) {
                double free = 0;
                for (TimelineReport.Event e : events(r, rank, stream)) {
                    assertTrue(e.start() >= free - 1e-18, "rank " + rank + " " + stream + " " + e);
                    free = e.end();
                }
            }
        }
    }

    private static List<TimelineReport.Event> events(TimelineReport r, int rank, String stream) {
        return r.events().stream().filter(e -> e.rank() == rank && e.stream().equals(stream)).toList();
    }

    private static double endOf(TimelineReport r, int rank, String stream, int index) {
        return events(r, rank, stream).get(index).end();
    }
}
