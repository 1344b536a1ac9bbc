package io.tessera.planner.cost;

import io.tessera.layout.DType;
import io.tessera.layout.comm.CollectiveKind;
import io.tessera.planner.graph.Network;
import io.tessera.planner.op.FlashAttention;
import io.tessera.planner.op.Reduce;
import io.tessera.planner.op.Strategy;
import io.tessera.planner.op.TensorType;
import io.tessera.planner.plan.OpPlan;
import io.tessera.planner.plan.Plan;
import io.tessera.planner.plan.PlanConfig;
import io.tessera.planner.plan.Planner;
import io.tessera.planner.strategy.DatasetStrategy;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The costs of context-parallel attention on an H100 node: the slowest rank's causal work (the load balance makes
 * every rank's equal, the natural order gives the last rank the most), and the ring form's {@code cp - 1} steps of
 * {@code max(block compute, block transfer)} after the first block.
 */
class ContextParallelCostTest {

    private static final TensorType Q = TensorType.of(DType.BFLOAT16, 1, 8, 8192, 128);
    private static final TensorType KV = TensorType.of(DType.BFLOAT16, 1, 2, 8192, 128);

    private static Plan plan(int cp, boolean ring, int lb) {
        Network.Builder b = Network.builder("attention");
        b.input("q", Q);
        b.input("k", KV);
        b.input("v", KV);
        String o = b.op("flash", new FlashAttention(0, true, 1, lb), "q", "k", "v");
        b.loss(b.op("loss", Reduce.mean(false), o));
        int[] q = {1, 1, cp, 1};
        int[] kv = {1, 1, ring ? cp : 1, 1};
        return Planner.plan(b.build(), PlanConfig.builder(cp)
                .dataset(new DatasetStrategy.Explicit(Strategy.of(q, kv, kv)))
                .strategy("flash", q, kv, kv)
                .strategy("loss", q)
                .build());
    }

    private static OpPlan flash(Plan p) {
        return p.ops().stream().filter(o -> o.name().equals("flash")).findFirst().orElseThrow();
    }

    @Test
    void theLoadBalanceEvensTheCausalWorkAndTheRingOverlapsItsTransfers() {
        CostModel cm = new CostModel(ClusterSpec.preset("h100-dgx"));
        int cp = 4;
        Plan natural = plan(cp, false, 1);
        Plan balanced = plan(cp, false, cp);
        double n = cm.computeSeconds(natural.network(), flash(natural), false);
        double l = cm.computeSeconds(balanced.network(), flash(balanced), false);
        // the last of 4 natural slices sees 7/16 of the causal pairs, a balanced slice 1/4 of them: 7/4 the FLOPs
        // (the seconds a little less: the tiles' waves round both up)
        assertEquals(7.0 / 4, (double) cm.forwardFlops(natural.network(), flash(natural))
                / cm.forwardFlops(balanced.network(), flash(balanced)), 0.01);
        assertTrue(n > 1.5 * l, n + " vs " + l);
        long pairs = 8192L * 8193 / 2;
        assertEquals(2L * 8 * ((pairs / cp + 8191) / 8192) * 8192 * 256,
                cm.forwardFlops(balanced.network(), flash(balanced)));
        // the ring: the first block, then 3 steps of max(block, transfer of the k and v blocks)
        Plan ring = plan(cp, true, cp);
        long kvBytes = 2L * 2 * 2048 * 128 * 2;
        double transfer = cm.collectiveSeconds(CollectiveKind.COLLECTIVE_PERMUTE, List.of(0, 1, 2, 3), kvBytes);
        double block = l / cp;
        double r = cm.computeSeconds(ring.network(), flash(ring), false);
        assertEquals(block + (cp - 1) * Math.max(block, transfer), r, 0.02 * r);
        assertTrue(transfer < block, "on NVLink the transfer hides behind the block: " + transfer + " vs " + block);
        // backward: k, v, dk and dv travel, and dk, dv return
        double back = cm.computeSeconds(ring.network(), flash(ring), true);
        double gatheredBack = cm.computeSeconds(balanced.network(), flash(balanced), true);
        assertTrue(back >= gatheredBack * 0.98, back + " vs " + gatheredBack);
        System.out.printf(java.util.Locale.ROOT, "context-parallel attention, 8 heads x 8192 tokens bf16 on %d H100s:"
                + " natural %.1f us, load-balanced %.1f us (forward, slowest rank); ring %.1f us forward, %.1f us"
                + " backward (k/v block transfer %.1f us per step, all-gather form backward %.1f us)%n", cp, n * 1e6,
                l * 1e6, r * 1e6, back * 1e6, transfer * 1e6, gatheredBack * 1e6);
    }
}
