package io.tessera.simulator.numeric;

import io.tessera.layout.Box;
import io.tessera.layout.DType;
import io.tessera.planner.handplan.HandPlans;
import io.tessera.planner.op.Dropout;
import io.tessera.planner.plan.PipelinePlan;
import io.tessera.planner.plan.Plan;
import io.tessera.planner.plan.Planner;
import io.tessera.planner.zoo.GptConfig;
import io.tessera.planner.zoo.Zoo;
import io.tessera.simulator.array.NDArray;
import io.tessera.simulator.kernel.DropoutKernel;
import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.HashSet;
import java.util.Optional;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Dropout masks are seeded per operator, step and micro-batch: two Dropouts of the same shape draw different masks,
 * one Dropout draws a new mask every step and micro-batch, and the masks stay keyed by global coordinates, so a sharded
 * run draws on each rank the slice of the one-device mask and equals one device.
 */
class DropoutSeedTest {

    private static final String ATTENTION = "layers.0.attention.dropout";
    private static final String FFN = "layers.0.ffn.dropout";

    /** 2 layers, hidden 32, 4 heads, ffn 64, seq 8, vocab 64, batch 4, every switch on, dropout 0.25. */
    private static GptConfig gpt() {
        return new GptConfig(2, 32, 4, 64, 8, 64, 4, DType.FLOAT64).asTrained(0.25);
    }

    private static Plan plan(int tp, int dp, boolean sequenceParallel) {
        return Planner.plan(Zoo.gpt(gpt()), HandPlans.megatronGptConfig(gpt(), dp, tp, sequenceParallel));
    }

    /** The keep mask a Dropout applied on a rank: its output is 0 exactly where it dropped (inputs are not 0). */
    private static double[] keptPattern(Simulation sim, int rank, String dropout) {
        double[] out = sim.rank(rank).get("act/" + dropout).data();
        double[] kept = new double[out.length];
        for (int i = 0; i < out.length; i++) {
            kept[i] = out[i] != 0 ? 1 : 0;
        }
        return kept;
    }

    @Test
    void twoDropoutsOfOneShapeDrawDifferentMasks() {
        Plan plan = plan(2, 2, false);
        assertArrayEquals(plan.op(ATTENTION).outputLayouts().get(0).sliceBox(0).shape(),
                plan.op(FFN).outputLayouts().get(0).sliceBox(0).shape());
        Simulation sim = Simulation.of(plan, SimulationOptions.defaults().withDtype(DType.FLOAT64));
        sim.parallelStep(0);
        double[] a = keptPattern(sim, 0, ATTENTION);
        double[] f = keptPattern(sim, 0, FFN);
        assertFalse(Arrays.equals(a, f), "the two dropouts of layer 0 drew the same mask");
        // both drop about a quarter of the elements
        for (double[] m : new double[][] {a, f}) {
            double dropped = 1 - Arrays.stream(m).sum() / m.length;
            assertTrue(dropped > 0.15 && dropped < 0.35, "dropped fraction " + dropped);
        }
    }

    @Test
    void oneDropoutDrawsANewMaskEveryStep() {
        Simulation sim = Simulation.of(plan(2, 2, false), SimulationOptions.defaults().withDtype(DType.FLOAT64));
        sim.parallelStep(0);
        double[] first = keptPattern(sim, 0, FFN);
        sim.parallelStep(1);
        double[] second = keptPattern(sim, 0, FFN);
        assertFalse(Arrays.equals(first, second), "the ffn dropout drew the same mask in steps 0 and 1");
    }

    @Test
    void seedsDifferByOperatorStepAndMicroBatchOnly() {
        ExecutionContext cx = new ExecutionContext(PipelinePlan.single(plan(2, 2, false)),
                SimulationOptions.defaults());
        Set<Long> seeds = new HashSet<>();
        for (int step = 0; step < 3; step++) {
            for (int micro = 0; micro < 3; micro++) {
                cx.startMicroBatch(step, micro);
                for (String op : new String[] {ATTENTION, FFN, "embedding.dropout", "layers.1.ffn.dropout"}) {
                    long s = cx.seed(op);
                    assertEquals(s, cx.seed(op));
                    assertTrue(seeds.add(s), op + " step " + step + " micro-batch " + micro + " repeats a seed");
                }
            }
        }
        ExecutionContext other = new ExecutionContext(PipelinePlan.single(plan(1, 4, false)),
                SimulationOptions.defaults());
        cx.startMicroBatch(1, 2);
        other.startMicroBatch(1, 2);
        // a function of the run's seed, the operator, the step and the micro-batch, not of the plan
        assertEquals(cx.seed(FFN), other.seed(FFN));
        ExecutionContext reseeded = new ExecutionContext(PipelinePlan.single(plan(2, 2, false)),
                new SimulationOptions(2, DType.FLOAT32, 0.01, 7, 1));
        reseeded.startMicroBatch(1, 2);
        assertFalse(cx.seed(FFN) == reseeded.seed(FFN));
    }

    @Test
    void eachRankDrawsItsSliceOfTheGlobalMask() {
        Plan plan = plan(2, 2, true);
        Simulation sim = Simulation.of(plan, SimulationOptions.defaults().withDtype(DType.FLOAT64));
        sim.parallelStep(0);
        ExecutionContext cx = new ExecutionContext(PipelinePlan.single(plan), SimulationOptions.defaults());
        cx.startMicroBatch(0, 0);
        double keep = ((Dropout) plan.network().node(FFN).op()).keepProb();
        for (int r = 0; r < plan.devices(); r++) {
            Box box = plan.op(FFN).outputLayouts().get(0).sliceBox(r);
            NDArray mask = DropoutKernel.mask(keep, cx.seed(FFN), box);
            assertArrayEquals(mask.data(), keptPattern(sim, r, FFN), "rank " + r);
        }
    }

    @Test
    void shardedRunsOverMicroBatchesEqualOneDevice() {
        for (DType d : new DType[] {DType.FLOAT64, DType.FLOAT32}) {
            GptConfig c = new GptConfig(2, 32, 4, 64, 8, 64, 4, d).asTrained(0.25);
            PipelinePlan pipe = PipelinePlan.plan(Zoo.gpt(c), HandPlans.megatronGptConfig(c, 2, 2, true), 1, 2,
                    op -> Optional.empty());
            SimulationReport r = Simulation.run(pipe, SimulationOptions.defaults().withSteps(2).withDtype(d));
            System.out.printf("dropout seeds, 2 micro-batches of tp 2 x dp 2 sp, %s: max rel err %.3e%n",
                    d.jsonName(), r.maxRelError());
            assertTrue(r.passed(), r.summary());
        }
    }
}
