package io.tessera.simulator.timeline;

import io.tessera.layout.comm.CollectiveKind;
import io.tessera.layout.comm.Phase;
import io.tessera.planner.api.StrategyPlans;
import io.tessera.planner.cost.ClusterSpec;
import io.tessera.planner.cost.Link;
import io.tessera.planner.plan.Bucket;
import io.tessera.planner.plan.Plan;
import io.tessera.planner.strategy.StrategyFile;
import io.tessera.planner.strategy.StrategyFiles;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The prefetch limit of ZeRO-3 weight AllGathers ({@link TimelineOptions#prefetchLayers}, {@link PrefetchLimit}): a
 * comm-bound step gets slower than with unlimited prefetch and stays above the communication stream's busy time; the
 * gathers respect their floors; gathered weights of the window count in memory; the default is unlimited.
 */
class PrefetchLimitTest {

    /** 2 A100 nodes whose inter-node link is slowed to 1 GB/s (data parallel 16 over them: communication-bound). */
    static final ClusterSpec SLOW = ClusterSpec.preset("a100-80gb-dgx").withNodes(2)
            .withLinks(ClusterSpec.preset("a100-80gb-dgx").intraNode(), new Link(1e9, 5e-6, 0.9));

    /** A 4-layer gpt, hidden 256, vocab 512 (the layers hold most weights), ZeRO-3 over data 16, bf16. */
    private static final String LAYERS_HEAVY = "'layers': 4, 'hidden': 256, 'heads': 4, 'seq': 128, 'vocab': 512";

    static StrategyFile zero3(String args, int prefetch) {
        return StrategyFiles.parse(("{'network': {'zoo': 'gpt', 'args': {" + args + "}}, 'devices': 16, "
                + "'parallelism': {'data': 16, 'precision': 'bf16', 'zero_stage': 3"
                + (prefetch >= 0 ? ", 'prefetch_layers': " + prefetch : "") + "}}").replace('\'', '"'), Path.of("."));
    }

    static Plan zero3Plan() {
        return StrategyPlans.plan(zero3(LAYERS_HEAVY, -1));
    }

    @Test
    void theLimitSlowsACommBoundStepAndTheStepCoversTheCommunication() {
        // a large vocabulary (32768 x 128 embedding and head, 4 layers of 128): without a limit the head's weight
        // AllGather runs under the layers' forward; with one layer of prefetch only under the last layer's
        Plan plan = StrategyPlans.plan(zero3("'layers': 4, 'hidden': 128, 'heads': 4, 'seq': 256, 'vocab': 32768",
                -1));
        TimelineOptions unlimited = new TimelineOptions(SLOW, true, 16);
        TimelineReport free = Timeline.run(plan, unlimited);
        double last = free.stepSeconds();
        for (int k : new int[] {2, 1, 0}) {
            TimelineReport limited = Timeline.run(plan, unlimited.withPrefetchLayers(k));
            double busy = commBusy(limited, 0);
            System.out.printf("prefetch %d: step %.6f s (unlimited %.6f), comm busy %.6f, compute %.6f%n", k,
                    limited.stepSeconds(), free.stepSeconds(), busy, limited.computeSeconds());
            assertTrue(limited.stepSeconds() >= busy, "the step covers rank 0's communication stream");
            assertTrue(limited.stepSeconds() >= last, "a tighter limit is never faster: k " + k);
            assertEquals(commBusy(free, 0), busy, 1e-12, "the same collectives, only later");
            last = limited.stepSeconds();
        }
        TimelineReport one = Timeline.run(plan, unlimited.withPrefetchLayers(1));
        assertTrue(one.stepSeconds() > free.stepSeconds() * 1.05, one.stepSeconds() + " vs unlimited "
                + free.stepSeconds());
        assertTrue(commBusy(free, 0) > free.computeSeconds(), "communication-bound");
        assertTrue(free.stepSeconds() >= commBusy(free, 0));
    }

    @Test
    void forwardGathersStartNoEarlierThanTheLayerBefore() {
        Plan plan = zero3Plan();
        TimelineReport r = Timeline.run(plan, new TimelineOptions(SLOW, true, 1).withPrefetchLayers(1));
        int checked = 0;
        for (Bucket b : plan.buckets()) {
            // comm_fusion ids by unit: 1 embedding, 2 + i layer i
            int layer = b.fusionId() - 2;
            if (b.kind() != CollectiveKind.ALL_GATHER || b.phase() != Phase.FORWARD || layer < 1 || layer > 3) {
                continue;
            }
            double gather = start(r, "forward AllGather bucket " + b.id() + " ", TimelineReport.Event.COMM);
            double before = start(r, "layers." + (layer - 1) + ".ln1", TimelineReport.Event.COMPUTE);
            double own = start(r, "layers." + layer + ".ln1", TimelineReport.Event.COMPUTE);
            assertTrue(gather >= before, "layer " + layer + ": gather at " + gather + " before layer " + (layer - 1)
                    + " starts at " + before);
            assertTrue(gather < own, "layer " + layer + ": gathered before its own layer");
            checked++;
        }
        assertTrue(checked >= 3, "checked " + checked);
    }

    @Test
    void theWindowsGatheredWeightsCountInMemory() {
        Plan plan = zero3Plan();
        TimelineOptions o = new TimelineOptions(SLOW, true, 0);
        long unlimited = Timeline.run(plan, o).peakMemoryBytes()[0];
        long one = Timeline.run(plan, o.withPrefetchLayers(1)).peakMemoryBytes()[0];
        long two = Timeline.run(plan, o.withPrefetchLayers(2)).peakMemoryBytes()[0];
        // a layer's gathered bf16 weights: 4 * 256^2 (attention) + 2 * 256 * 1024 (ffn) + 4 * 256 (LayerNorms)
        long layer = 2L * (4 * 256 * 256 + 2 * 256 * 1024 + 4 * 256);
        long largest = plan.memory(0).recomputeBuffer();
        assertEquals(unlimited + 2 * layer - largest, one, "two layers live instead of the largest weight");
        assertEquals(unlimited + 3 * layer - largest, two);
    }

    @Test
    void unlimitedIsTheDefaultAndOnlyZeroStage3SetsALimit() {
        assertEquals(TimelineOptions.UNLIMITED_PREFETCH, TimelineOptions.of(SLOW).prefetchLayers());
        assertEquals(-1, TimelineOptions.UNLIMITED_PREFETCH);
        assertEquals(1, StrategyStep.prefetchLayers(zero3(LAYERS_HEAVY, -1)));
        assertEquals(3, StrategyStep.prefetchLayers(zero3(LAYERS_HEAVY, 3)));
        StrategyFile megatron = StrategyFiles.read(Path.of("../strategies/gpt-megatron-degrees.json"));
        assertEquals(TimelineOptions.UNLIMITED_PREFETCH, StrategyStep.prefetchLayers(megatron));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> TimelineOptions.of(SLOW).withPrefetchLayers(-2));
        assertTrue(e.getMessage().startsWith("prefetchLayers: found -2"), e.getMessage());
    }

    /** Seconds rank {@code rank}'s communication stream is busy: its collectives run one after another. */
    static double commBusy(TimelineReport r, int rank) {
        return r.events().stream().filter(e -> e.rank() == rank && e.stream().equals(TimelineReport.Event.COMM))
                .mapToDouble(TimelineReport.Event::duration).sum();
    }

    private static double start(TimelineReport r, String name, String stream) {
        List<TimelineReport.Event> matching = r.events().stream().filter(e -> e.rank() == 0
                && e.stream().equals(stream) && (e.name() + " ").startsWith(name)
                && (stream.equals(TimelineReport.Event.COMM) || e.category().equals("forward"))).toList();
        assertTrue(!matching.isEmpty(), "no event " + name);
        return matching.get(0).start();
    }
}
