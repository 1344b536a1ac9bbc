package io.tessera.simulator.numeric;

import io.tessera.layout.DType;
import io.tessera.layout.param.ParallelMode;
import io.tessera.layout.param.Parameter;
import io.tessera.layout.redistribution.ReduceOp;
import io.tessera.planner.graph.Network;
import io.tessera.planner.graph.Node;
import io.tessera.planner.op.Activation;
import io.tessera.planner.op.MatMul;
import io.tessera.planner.op.Reduce;
import io.tessera.planner.op.TensorType;
import io.tessera.planner.plan.Communication;
import io.tessera.planner.plan.ParamPlan;
import io.tessera.planner.plan.Plan;
import io.tessera.planner.plan.PlanConfig;
import io.tessera.planner.plan.Planner;
import io.tessera.planner.strategy.OptimizerKind;
import io.tessera.planner.zoo.GptConfig;
import io.tessera.planner.zoo.Zoo;
import io.tessera.simulator.array.NDArray;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.HashSet;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code gradients_mean} as in MindSpore: in semi_auto / auto parallel each parameter's reduced gradient is the
 * one-device gradient times {@code 1 / size} of its gradient reduction group (the mirror operator's {@code mean_flag}
 * divides by its {@code dev_num}); in data_parallel mode, where each rank's loss is its shard's mean, the mean gives
 * the one-device gradient and the sum that times the group size. The one-device reference computes the same, so a
 * correct plan passes with either setting.
 */
class GradientsMeanTest {

    private static final SimulationOptions F64 = SimulationOptions.defaults().withSteps(2).withDtype(DType.FLOAT64);
    private static final GptConfig GPT = new GptConfig(2, 32, 4, 64, 8, 64, 8, DType.FLOAT64);
    /** The operators split 2 x 4 in the mixed plan (the rest is data parallel over the 8 devices). */
    private static final String[] SPLIT = {"layers.0.attention.q", "layers.0.ffn.fc1"};
    /** One-step SGD runs, shared by the parameters of a plan (parallel) or network (one device). */
    private final Map<Plan, Simulation> sims = new IdentityHashMap<>();
    private final Map<Network, Simulation> refs = new IdentityHashMap<>();

    /** 8 devices, semi_auto: {@link #SPLIT} split 2 x 4 when {@code mixed}, the rest data parallel; momentum. */
    private static PlanConfig.Builder semiAuto(boolean mixed, boolean mean) {
        PlanConfig.Builder b = PlanConfig.builder(8).gradientsMean(mean).optimizer(OptimizerKind.MOMENTUM);
        if (mixed) {
            for (String op : SPLIT) {
                b.strategy(op, new int[] {2, 1}, new int[] {1, 4});
            }
        }
        return b;
    }

    private static void assertPasses(Plan plan) {
        SimulationReport r = Simulation.run(plan, F64);
        assertTrue(r.passed(), r.summary());
        assertTrue(r.maxRelError() <= 1e-12, r.summary());
    }

    /** The repro: semi_auto, two operators split 2 x 4 (data parallel degree 2) and the rest data parallel (8). */
    @ParameterizedTest
    @ValueSource(booleans = {true, false})
    void semiAutoWithMixedDataParallelDegreesPasses(boolean mean) {
        assertPasses(Planner.plan(Zoo.gpt(GPT), semiAuto(true, mean).build()));
    }

    @ParameterizedTest
    @ValueSource(booleans = {true, false})
    void semiAutoDataParallelStrategiesPass(boolean mean) {
        assertPasses(Planner.plan(Zoo.gpt(GPT), semiAuto(false, mean).build()));
    }

    @ParameterizedTest
    @ValueSource(booleans = {true, false})
    void dataParallelModePasses(boolean mean) {
        PlanConfig c = PlanConfig.builder(8).mode(ParallelMode.DATA_PARALLEL).gradientsMean(mean)
                .optimizer(OptimizerKind.MOMENTUM).build();
        assertPasses(Planner.plan(Zoo.gpt(GPT), c));
    }

    /** A weight consumed by two MatMuls: the planner sums their partial gradients and reduces them once. */
    @ParameterizedTest
    @ValueSource(booleans = {true, false})
    void parameterSharedByTwoConsumersPasses(boolean mean) {
        Network.Builder b = Network.builder("shared");
        b.input("x", TensorType.of(DType.FLOAT64, 16, 32));
        String w = b.parameter("w", "normal", DType.FLOAT64, 32, 32);
        String h = b.op("mm1", MatMul.of(false, false), "x", w);
        String t = b.op("tanh", Activation.tanh(), h);
        String y = b.op("mm2", MatMul.of(false, false), t, w);
        b.loss(b.op("loss", Reduce.mean(false), b.op("sigmoid", Activation.sigmoid(), y)));
        Plan plan = Planner.plan(b.build(), PlanConfig.builder(8).gradientsMean(mean)
                .optimizer(OptimizerKind.MOMENTUM).build());
        List<Communication> reductions = plan.comms().stream()
                .filter(c -> c.origin() == Communication.Origin.GRADIENT).toList();
        assertEquals(1, reductions.size(), reductions.toString());
        assertEquals(mean ? ReduceOp.MEAN : ReduceOp.SUM, reductions.get(0).reduce());
        assertPasses(plan);
    }

    /**
     * The semantics: one SGD step of the parallel run moves each parameter by its one-device gradient step times
     * 1/2 for the parameters of the operators split 2 x 4 (replicated over 2 ranks), 1/8 for the data-parallel ones
     * (replicated over 8), and 1 without {@code gradients_mean}.
     */
    @ParameterizedTest
    @ValueSource(booleans = {true, false})
    void semiAutoMeanDividesEachGradientByItsReductionGroupSize(boolean mean) {
        Network net = Zoo.gpt(GPT);
        Plan parallel = Planner.plan(net, semiAuto(true, mean).optimizer(OptimizerKind.SGD).build());
        Set<String> splitParams = new HashSet<>();
        for (String op : SPLIT) {
            Node n = net.node(op);
            n.inputs().stream().filter(net::isParameter).forEach(splitParams::add);
        }
        assertEquals(2, splitParams.size(), splitParams.toString());
        int checked = 0;
        for (ParamPlan p : parallel.params()) {
            if (p.trainable()) {
                double expected = !mean ? 1 : splitParams.contains(p.name()) ? 0.5 : 0.125;
                assertStepRatio(parallel, p.name(), expected);
                checked++;
            }
        }
        assertTrue(checked > 10, "trainable parameters checked: " + checked);
    }

    /** data_parallel mode: the sum of the ranks' shard-mean gradients is 8 times the one-device gradient. */
    @Test
    void dataParallelModeSumIsTheGroupSizeTimesTheOneDeviceGradient() {
        Plan parallel = Planner.plan(Zoo.gpt(GPT), PlanConfig.builder(8).mode(ParallelMode.DATA_PARALLEL)
                .optimizer(OptimizerKind.SGD).build());
        for (ParamPlan p : parallel.params()) {
            if (p.trainable()) {
                assertStepRatio(parallel, p.name(), 8);
            }
        }
    }

    /** After one SGD step, {@code w0 - w1} of the parallel run equals {@code ratio} times the one-device one's. */
    private void assertStepRatio(Plan parallel, String param, double ratio) {
        SimulationOptions one = F64.withSteps(1);
        Simulation sim = sims.computeIfAbsent(parallel, p -> {
            Simulation s = Simulation.of(p, one);
            s.run();
            return s;
        });
        Plan single = Planner.plan(parallel.network(), PlanConfig.builder(1).mode(ParallelMode.STAND_ALONE)
                .optimizer(OptimizerKind.SGD).build());
        Simulation ref = refs.computeIfAbsent(parallel.network(), n -> {
            Simulation s = Simulation.of(single, one);
            s.run();
            return s;
        });
        double[] w0 = single.materialize(0).get(param).tensor().toDoubleArray();
        double[] par = sim.gatheredParameter(param).data();
        double[] dev = ref.gatheredParameter(param).data();
        NDArray check = sim.referenceParameter(param);
        double scale = 0;
        for (int k = 0; k < w0.length; k++) {
            scale = Math.max(scale, Math.abs(w0[k] - dev[k]));
        }
        assertTrue(scale > 0, param + ": the one-device step does not move it");
        for (int k = 0; k < w0.length; k++) {
            assertEquals(ratio * (w0[k] - dev[k]), w0[k] - par[k], 1e-9 * scale, param + "[" + k + "]");
            assertEquals(par[k], check.data()[k], 1e-12 * Math.max(1, Math.abs(par[k])), param + " reference");
        }
    }
}
