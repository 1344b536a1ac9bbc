package io.tessera.simulator.numeric;

import io.tessera.layout.DType;
import io.tessera.planner.handplan.HandPlans;
import io.tessera.planner.plan.Plan;
import io.tessera.planner.plan.Planner;
import io.tessera.planner.zoo.GptConfig;
import io.tessera.planner.zoo.Zoo;
import io.tessera.simulator.array.NDArray;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.util.Locale;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The comparison's round-off floor: the zoo gpt with biases from their default zero initialisation passes, although
 * the key bias {@code attention.bk} (whose gradient is 0 in exact arithmetic) stays at round-off size where a purely
 * relative error is of order 1; a rank whose parameter is corrupted, even the key bias, still fails.
 */
class RoundOffFloorTest {

    private static final String KEY_BIAS = "layers.0.attention.bk";

    /** 2 layers, hidden 32, 4 heads, ffn 64, seq 8, vocab 64, batch 4, every switch on (zero biases), dropout 0.25. */
    private static Plan plan(DType d, int tp, int dp, boolean sequenceParallel) {
        GptConfig c = new GptConfig(2, 32, 4, 64, 8, 64, 4, d).asTrained(0.25);
        return Planner.plan(Zoo.gpt(c), HandPlans.megatronGptConfig(c, dp, tp, sequenceParallel));
    }

    private static SimulationOptions options(DType d) {
        return SimulationOptions.defaults().withSteps(2).withDtype(d);
    }

    @ParameterizedTest(name = "tp {0} x dp {1}, sequence parallel {2}, {3}")
    @CsvSource({"2, 2, false, float32", "2, 2, false, float64", "4, 2, true, float32", "4, 2, true, float64"})
    void zeroInitialisedBiasesPass(int tp, int dp, boolean sequenceParallel, String dtype) {
        DType d = DType.parse(dtype);
        Simulation sim = Simulation.of(plan(d, tp, dp, sequenceParallel), options(d));
        SimulationReport r = sim.run();
        // the key bias is round-off on both sides: relative to itself the two runs differ completely
        NDArray ref = sim.referenceParameter(KEY_BIAS);
        double relative = sim.gatheredParameter(KEY_BIAS).relativeError(ref);
        double size = java.util.Arrays.stream(ref.data()).map(Math::abs).max().orElseThrow();
        System.out.printf(Locale.ROOT, "zero biases tp %d x dp %d%s %s: key bias %.3e, relative error %.3e, "
                + "report %.3e%n", tp, dp, sequenceParallel ? " sp" : "", dtype, size, relative, r.maxRelError());
        assertTrue(size < 1e-10, "key bias " + size);
        assertTrue(relative > r.options().tolerance(), "relative error " + relative);
        assertTrue(r.passed(), r.summary());
        assertTrue(r.paramErrors().get(KEY_BIAS) <= r.options().tolerance(), r.paramErrors().toString());
        // the other biases moved: their errors are still purely relative, and small
        assertTrue(r.paramErrors().get("layers.0.attention.bq") < 1e-6, r.paramErrors().toString());
    }

    @ParameterizedTest(name = "{0} on the last rank, {1}")
    @CsvSource({"layers.0.attention.bk, float32", "layers.0.attention.bk, float64",
        "layers.1.attention.bq, float32", "layers.1.attention.bq, float64", "layers.0.ffn.w1, float32"})
    void aCorruptedRankStillFails(String param, String dtype) {
        DType d = DType.parse(dtype);
        Plan plan = plan(d, 2, 2, false);
        Simulation sim = Simulation.of(plan, options(d));
        // the last rank's slice (the one gathered for the comparison) is off by 1e-6 in one element
        NDArray slice = sim.rank(plan.devices() - 1).get("param/" + param);
        slice.data()[0] += 1e-6;
        SimulationReport r = sim.run();
        System.out.printf(Locale.ROOT, "corrupted %s %s: error %.3e%n", param, dtype, r.paramErrors().get(param));
        assertFalse(r.passed(), r.summary());
        assertTrue(r.paramErrors().get(param) > r.options().tolerance(), r.paramErrors().toString());
    }

    @Test
    void theFloorBoundsTheScaleFromBelow() {
        NDArray reference = NDArray.of(new long[] {2}, new double[] {1e-20, -2e-20});
        NDArray got = NDArray.of(new long[] {2}, new double[] {-1e-20, 2e-20});
        assertEquals(2.0, got.relativeError(reference), 1e-12);
        assertEquals(4e-20 / 1e-9, got.relativeError(reference, 1e-9), 1e-24);
        // a floor below the tensor's own magnitude changes nothing
        assertEquals(got.relativeError(reference), got.relativeError(reference, 1e-21));
        assertEquals(0.0, reference.relativeError(reference, 1));
        assertThrows(IllegalArgumentException.class, () -> got.relativeError(reference, -1));
        assertThrows(IllegalArgumentException.class, () -> got.relativeError(reference, Double.NaN));
    }
}
