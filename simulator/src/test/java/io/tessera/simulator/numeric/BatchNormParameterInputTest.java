package io.tessera.simulator.numeric;

import io.tessera.layout.DType;
import io.tessera.layout.comm.CollectiveKind;
import io.tessera.layout.comm.Phase;
import io.tessera.layout.init.Initializers;
import io.tessera.layout.param.Parameter;
import io.tessera.layout.redistribution.ReduceOp;
import io.tessera.planner.graph.Network;
import io.tessera.planner.op.BatchNorm;
import io.tessera.planner.op.Binary;
import io.tessera.planner.op.Reduce;
import io.tessera.planner.op.Strategy;
import io.tessera.planner.op.TensorType;
import io.tessera.planner.plan.Communication;
import io.tessera.planner.plan.Plan;
import io.tessera.planner.plan.PlanConfig;
import io.tessera.planner.plan.Planner;
import io.tessera.planner.strategy.DatasetStrategy;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Regression: a BatchNorm whose input x is a trainable parameter, with x's non-channel dims split under repeated
 * calculation. The planner used to turn BatchNorm's backward AllReduce of the per-channel gradient statistics into a
 * gradient reduction of parameter x (origin gradient, fused with scale's and bias's), so the simulator did not reduce
 * the statistics and found no pending partial gradient of x for the fused AllReduce ({@code no array 'pend/x|...'}).
 * x's gradient is complete once the statistics are reduced: that AllReduce stays the operator's.
 */
class BatchNormParameterInputTest {

    private static final SimulationOptions F64 = new SimulationOptions(2, DType.FLOAT64, 1.0, 11, 2);

    /** {@code loss = ReduceSum(BatchNorm(x, scale, bias, mean, variance) * loss_weights)}, x a parameter. */
    static Network network() {
        Network.Builder b = Network.builder("bn_param_x");
        String x = b.parameter("x", "normal", DType.FLOAT64, 8, 4, 2, 2);
        String scale = b.parameter("scale", "ones", DType.FLOAT64, 4);
        String bias = b.parameter("bias", "normal", DType.FLOAT64, 4);
        String mean = b.parameter(Parameter.lazy(b.initializer(Initializers.byName("zeros"), new long[] {4},
                DType.FLOAT64), "mean", false));
        String variance = b.parameter(Parameter.lazy(b.initializer(Initializers.byName("ones"), new long[] {4},
                DType.FLOAT64), "variance", false));
        String y = b.op("bn", BatchNorm.of(), x, scale, bias, mean, variance);
        String w = b.input("loss_weights", TensorType.of(DType.FLOAT64, 8, 4, 2, 2));
        b.loss(b.op("loss", Reduce.sum(false), b.op("weighted", Binary.mul(), y, w)));
        return b.build();
    }

    private static Plan plan(int[] sx, int channels, boolean gradientsMean) {
        int[] c = {channels};
        int[] ones = {1, 1, 1, 1};
        return Planner.plan(network(), PlanConfig.builder(8)
                .dataset(new DatasetStrategy.Explicit(Strategy.of(ones)))
                .strategy("bn", Strategy.of(sx, c, c, c, c))
                .strategy("weighted", ones, ones)
                .strategy("loss", ones)
                .gradientsMean(gradientsMean)
                .build());
    }

    private static int[] split(String dims) {
        return Arrays.stream(dims.split(" ")).mapToInt(Integer::parseInt).toArray();
    }

    @ParameterizedTest(name = "x split [{0}], channels {1}")
    @CsvSource({"1 1 2 1, 1", "2 2 1 1, 2", "1 1 1 1, 1"})
    void batchNormReadingAParameterSimulatesOnEightDevices(String dims, int channels) {
        Plan plan = plan(split(dims), channels, false);
        SimulationReport r = Simulation.run(plan, F64);
        assertTrue(r.passed(), r.summary() + "\nparameter errors " + r.paramErrors());
        assertTrue(r.maxRelError() <= 1e-12, r.summary());
    }

    /**
     * x's only backward communication is the operator's sum of the gradient statistics, also with gradients_mean
     * (which averages parameters' gradient reductions, here scale's and bias's; so the one-device comparison is not
     * run: averaging partial gradients departs from one device by design).
     */
    @ParameterizedTest(name = "x split [{0}], channels {1}, gradients_mean {2}")
    @CsvSource({"1 1 2 1, 1, false", "1 1 2 1, 1, true", "2 2 1 1, 2, true", "1 1 1 1, 1, false"})
    void theGradientStatisticsAreTheOperatorsNotAGradientReductionOfX(String dims, int channels, boolean mean) {
        int[] sx = split(dims);
        Plan plan = plan(sx, channels, mean);
        List<Communication> gradX = plan.comms(Phase.BACKWARD).stream()
                .filter(k -> k.tensor().equals("grad/x")).toList();
        boolean batchSplit = sx[0] * sx[2] * sx[3] > 1;
        assertEquals(batchSplit ? 1 : 0, gradX.size(), "grad/x communications: " + gradX);
        for (Communication k : gradX) {
            assertEquals(Communication.Origin.OPERATOR, k.origin(), k.toString());
            assertEquals(CollectiveKind.ALL_REDUCE, k.kind(), k.toString());
            assertEquals(ReduceOp.SUM, k.reduce(), k.toString());
            assertNull(k.parameter(), k.toString());
        }
        for (String p : List.of("scale", "bias")) {
            // scale's and bias's partial gradients stay gradient reductions, averaged with gradients_mean
            List<Communication> g = plan.comms(Phase.BACKWARD).stream()
                    .filter(k -> k.tensor().equals("grad/" + p)).toList();
            assertEquals(batchSplit ? 1 : 0, g.size(), "grad/" + p + " communications: " + g);
            for (Communication k : g) {
                assertEquals(Communication.Origin.GRADIENT, k.origin(), k.toString());
                assertEquals(mean ? ReduceOp.MEAN : ReduceOp.SUM, k.reduce(), k.toString());
            }
        }
    }
}
