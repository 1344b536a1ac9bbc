package io.tessera.simulator.search;

import io.tessera.layout.DType;
import io.tessera.planner.cost.ClusterSpec;
import io.tessera.planner.graph.Network;
import io.tessera.planner.plan.PlanConfig;
import io.tessera.planner.plan.Planner;
import io.tessera.planner.search.Candidate;
import io.tessera.planner.search.Search;
import io.tessera.planner.search.SearchResult;
import io.tessera.planner.strategy.SearchMode;
import io.tessera.planner.zoo.GptConfig;
import io.tessera.planner.handplan.HandPlans;
import io.tessera.planner.zoo.Zoo;
import io.tessera.simulator.timeline.Timeline;
import io.tessera.simulator.timeline.TimelineOptions;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * On gpt from 8 to 1,024 devices the searched plan's simulated step (the analytic timeline, gradient communication
 * overlapped and not) is never worse than the Megatron-style hand plan's: tensor parallel {@code min(8, devices)}
 * ways inside a node, data parallel across. The search's own estimate is compared too.
 */
class SearchVersusMegatronTest {

    /** Batch 128, 8 heads, ffn 512, vocabulary 256: Megatron is valid at every size. */
    private static final GptConfig GPT = new GptConfig(2, 128, 8, 512, 16, 256, 128, DType.FLOAT32);

    @ParameterizedTest
    @ValueSource(ints = {8, 16, 32, 64, 128, 256, 512, 1024})
    void searchedStepIsNeverWorseThanMegatron(int devices) {
        Network net = Zoo.gpt(GPT);
        // the search's objective prices operators by the efficiency curve (SearchSetup.objective): compare the plans
        // on that model, which the timeline then uses too
        ClusterSpec a100 = ClusterSpec.preset("a100-80gb-dgx");
        ClusterSpec preset = a100.withDevice(a100.device().withKernels(null));
        ClusterSpec cluster = preset.withNodes(Math.max(1, devices / preset.devicesPerNode()));
        long t = System.nanoTime();
        SearchResult r = Search.search(net, devices, cluster, SearchMode.DYNAMIC_PROGRAMMING, null, null);
        double seconds = (System.nanoTime() - t) / 1e9;
        int mp = Math.min(8, devices);
        PlanConfig megatron = HandPlans.megatronGptConfig(GPT, devices / mp, mp);
        Candidate hand = Search.evaluate(net, megatron, cluster, "megatron");
        TimelineOptions overlap = TimelineOptions.of(cluster).withRecordedRanks(0);
        double searched = Timeline.run(Planner.plan(net, r.best()), overlap).stepSeconds();
        double handStep = Timeline.run(Planner.plan(net, megatron), overlap).stepSeconds();
        TimelineOptions serial = overlap.withOverlapGradientComm(false);
        double searchedSerial = Timeline.run(Planner.plan(net, r.best()), serial).stepSeconds();
        double handSerial = Timeline.run(Planner.plan(net, megatron), serial).stepSeconds();
        System.out.printf("gpt on %4d devices: timeline searched %.4f ms, megatron %.4f ms; estimate %.4f ms vs "
                + "%.4f ms; search %.2f s%n", devices, searched * 1e3, handStep * 1e3, r.bestSeconds() * 1e3,
                hand.seconds() * 1e3, seconds);
        String what = devices + " devices: " + r.explanation() + "\n" + hand;
        assertTrue(searched <= handStep * (1 + 1e-9), "timeline " + searched + " vs " + handStep + " on " + what);
        assertTrue(searchedSerial <= handSerial * (1 + 1e-9), "timeline without overlap " + searchedSerial + " vs "
                + handSerial + " on " + what);
        assertTrue(r.bestSeconds() <= hand.seconds() * (1 + 1e-9), "estimate on " + what);
    }
}
