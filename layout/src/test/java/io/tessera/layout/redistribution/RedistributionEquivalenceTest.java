package io.tessera.layout.redistribution;

import io.tessera.layout.DType;
import io.tessera.layout.Layout;
import io.tessera.layout.RandomLayouts;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Seeded differential test of the allocation-lean {@link Redistribution#plan} against the planner as it was
 * ({@link ReferenceRedistribution}): every step, group, transfer, box and cut dimension must be equal, on thousands of
 * random small cases and on larger layouts of 128 to 512 devices (Megatron-like splits of a [tokens, hidden] tensor).
 */
class RedistributionEquivalenceTest {

    private static final long SEED = 20261202L;
    private static final int CASES = 4000;

    @Test
    void randomPlansEqualTheReferencePlanner() {
        System.out.println("RedistributionEquivalenceTest seed=" + SEED + " cases=" + CASES);
        RandomLayouts gen = RandomLayouts.seeded(SEED);
        int moving = 0;
        for (int k = 0; k < CASES; k++) {
            RandomLayouts.Case c = gen.nextCase();
            RedistributionPlan expected = ReferenceRedistribution.plan(c.from(), c.to(), c.dtype());
            RedistributionPlan actual = Redistribution.plan(c.from(), c.to(), c.dtype());
            assertEquals(expected, actual, "case " + k + " (seed " + SEED + "): " + c.from() + " -> " + c.to());
            moving += actual.communicationStepCount() > 0 ? 1 : 0;
        }
        assertTrue(moving > CASES / 4, "only " + moving + " of " + CASES + " cases moved data; expected most");
    }

    @Test
    void largeLayoutsEqualTheReferencePlanner() {
        System.out.println("RedistributionEquivalenceTest large seed=" + SEED);
        SplittableRandom rnd = new SplittableRandom(SEED);
        long[] shape = {4096, 1024};
        for (int k = 0; k < 40; k++) {
            int devices = 128 << rnd.nextInt(3);
            Layout from = megatronLike(rnd, devices, shape);
            Layout to = megatronLike(rnd, devices, shape);
            RedistributionPlan expected = ReferenceRedistribution.plan(from, to, DType.FLOAT16);
            RedistributionPlan actual = Redistribution.plan(from, to, DType.FLOAT16);
            assertEquals(expected, actual, "large case " + k + " (seed " + SEED + "): " + from + " -> " + to);
        }
        // an AllGather of a row-split tensor to every rank and an AllToAll from rows to columns
        Layout rows = Layout.of(new int[] {256, 1}, new int[] {1, 0}, shape);
        for (Layout to : List.of(Layout.of(new int[] {1, 256}, new int[] {1, 0}, shape),
                Layout.of(new int[] {1, 1, 256}, new int[] {2, 0}, shape))) {
            assertEquals(ReferenceRedistribution.plan(rows, to, DType.FLOAT32),
                    Redistribution.plan(rows, to, DType.FLOAT32), rows + " -> " + to);
            assertEquals(ReferenceRedistribution.plan(to, rows, DType.FLOAT32),
                    Redistribution.plan(to, rows, DType.FLOAT32), to + " -> " + rows);
        }
    }

    /**
     * A layout from a strategy of {@code devices}: rows split {@code dp} ways and columns {@code mp} ways, the rest
     * repeated, as the search's candidates of a [tokens, hidden] tensor are.
     */
    private static Layout megatronLike(SplittableRandom rnd, int devices, long[] shape) {
        int dp = 1 << rnd.nextInt(Integer.numberOfTrailingZeros(devices) + 1);
        int mp = 1 << rnd.nextInt(Integer.numberOfTrailingZeros(devices / dp) + 1);
        return Layout.fromStrategy(shape, new int[] {dp, mp}, devices);
    }
}
