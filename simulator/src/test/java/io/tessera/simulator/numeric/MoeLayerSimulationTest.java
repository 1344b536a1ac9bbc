package io.tessera.simulator.numeric;

import io.tessera.layout.DType;
import io.tessera.layout.comm.CollectiveKind;
import io.tessera.layout.comm.Phase;
import io.tessera.planner.graph.Network;
import io.tessera.planner.op.Activation;
import io.tessera.planner.op.Binary;
import io.tessera.planner.op.MatMul;
import io.tessera.planner.op.MoeCombine;
import io.tessera.planner.op.MoeDispatch;
import io.tessera.planner.op.MoeSlots;
import io.tessera.planner.op.Reduce;
import io.tessera.planner.op.Reshape;
import io.tessera.planner.op.Softmax;
import io.tessera.planner.op.Strategy;
import io.tessera.planner.op.TensorType;
import io.tessera.planner.op.Transpose;
import io.tessera.planner.plan.Communication;
import io.tessera.planner.plan.Plan;
import io.tessera.planner.plan.PlanConfig;
import io.tessera.planner.plan.Planner;
import io.tessera.planner.strategy.DatasetStrategy;
import io.tessera.simulator.array.NDArray;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A tiny mixture-of-experts layer built by hand, executed on simulated ranks, equals one device (float32, 1e-5):
 * tokens x [32, 16] through a dense projection, a router {@code softmax(h @ router)} giving the two weights of each
 * token, fixed expert ids {@code indices [32, 2]} as a network input (the simulator draws two distinct experts in
 * [0, 4) per token), {@code MoeDispatch} into [G, E, C, h], the experts' SwiGLU-free MLP {@code silu(x @ w1) @ w2} as
 * two BatchMatMuls over [E, G * C, h], back to [G, E, C, h], {@code MoeCombine}, a residual and a mean-square loss.
 * Data parallel splits the tokens (G = the token split); expert parallel splits the expert matmuls' E dim, the
 * planner moving the buffer between the dispatch's G-split layout and the experts' E-split one with an AllToAll and
 * back. A tight capacity factor drops slots, the same ones on every rank as on one device.
 */
class MoeLayerSimulationTest {

    private static final int T = 32;
    private static final int H = 16;
    private static final int F = 32;
    private static final int E = 4;
    private static final int K = 2;
    private static final SimulationOptions F32 = SimulationOptions.defaults().withSteps(2);

    private static Network moeLayer(int groups, double capacityFactor) {
        MoeDispatch dispatch = new MoeDispatch(E, capacityFactor, groups);
        int c = dispatch.capacity(T, K);
        Network.Builder b = Network.builder("moe_layer");
        b.input("x", TensorType.of(DType.FLOAT32, T, H));
        b.input("indices", TensorType.of(DType.INT32, T, K));
        String wIn = b.parameter("proj.weight", "xavier_uniform", DType.FLOAT32, H, H);
        String router = b.parameter("router.weight", "xavier_uniform", DType.FLOAT32, H, K);
        String w1 = b.parameter("experts.w1", "xavier_uniform", DType.FLOAT32, E, H, F);
        String w2 = b.parameter("experts.w2", "xavier_uniform", DType.FLOAT32, E, F, H);
        String h = b.op("proj", MatMul.of(false, false), "x", wIn);
        String logits = b.op("router", MatMul.of(false, false), h, router);
        String weights = b.op("router_softmax", Softmax.of(-1), logits);
        String buf = b.op("dispatch", dispatch, h, "indices");
        String byExpert = b.op("to_experts", Transpose.of(1, 0, 2, 3), buf);
        String rows = b.op("expert_rows", Reshape.of(E, (long) groups * c, H), byExpert);
        String up = b.op("expert_up", MatMul.batched(false, false), rows, w1);
        String act = b.op("expert_silu", Activation.silu(), up);
        String down = b.op("expert_down", MatMul.batched(false, false), act, w2);
        String back = b.op("expert_blocks", Reshape.of(E, groups, c, H), down);
        String expertOut = b.op("from_experts", Transpose.of(1, 0, 2, 3), back);
        String y = b.op("combine", MoeCombine.of(dispatch), expertOut, "indices", weights);
        String z = b.op("residual", Binary.add(), h, y);
        String sq = b.op("square", Binary.mul(), z, z);
        b.loss(b.op("loss", Reduce.mean(false), sq));
        return b.build();
    }

    /**
     * Tokens split {@code tokens} ways (the dispatch's groups a multiple of it); the expert matmuls split {@code ep}
     * ways along E and {@code rowSplit} ways along their G * C rows.
     */
    private static PlanConfig config(int devices, int tokens, int ep, int rowSplit) {
        int[] rows = {tokens, 1};
        return PlanConfig.builder(devices)
                .dataset(new DatasetStrategy.Explicit(Strategy.of(rows, rows)))
                .strategy("proj", rows, new int[] {1, 1})
                .strategy("router", rows, new int[] {1, 1})
                .strategy("router_softmax", rows)
                .strategy("dispatch", rows, rows)
                .strategy("to_experts", new int[] {ep == 1 ? tokens : 1, ep, 1, 1})
                .strategy("expert_rows", new int[] {ep, ep == 1 ? tokens : 1, 1, 1})
                .strategy("expert_up", new int[] {ep, rowSplit, 1}, new int[] {ep, 1, 1})
                .strategy("expert_silu", new int[] {ep, rowSplit, 1})
                .strategy("expert_down", new int[] {ep, rowSplit, 1}, new int[] {ep, 1, 1})
                .strategy("expert_blocks", new int[] {ep, rowSplit, 1})
                .strategy("from_experts", new int[] {ep, ep == 1 ? tokens : 1, 1, 1})
                .strategy("combine", new int[] {tokens, 1, 1, 1}, rows, rows)
                .strategy("residual", rows, rows)
                .strategy("square", rows, rows)
                .strategy("loss", rows)
                .build();
    }

    @ParameterizedTest(name = "{0} devices: tokens split {1} (groups {2}), experts split {3}, rows split {4},"
            + " capacity factor {5}")
    @CsvSource({
        // data parallel 2: G = 2, the experts replicated (their gradients AllReduced)
        "2, 2, 2, 1, 2, 0", "2, 2, 2, 1, 2, 0.5",
        // expert parallel 2 and 4: the tokens split the same ways, the buffer AllToAll'd to and from the experts
        "2, 2, 2, 2, 1, 0.5", "4, 4, 4, 4, 1, 0.5", "4, 4, 4, 4, 1, 0", "4, 4, 4, 4, 1, 1.25",
        // expert 2 x data 2 on the experts' rows; more groups than the token split
        "4, 4, 4, 2, 2, 1.0", "4, 2, 4, 4, 1, 0.5", "4, 4, 8, 2, 1, 0.75"})
    void moeLayerEqualsOneDevice(int devices, int tokens, int groups, int ep, int rowSplit, double capacity) {
        Network net = moeLayer(groups, capacity);
        Plan plan = Planner.plan(net, config(devices, tokens, ep, rowSplit));
        SimulationReport r = Simulation.run(plan, F32);
        System.out.println("MoE layer on " + devices + " devices, tokens " + tokens + ", groups " + groups + ", experts "
                + ep + ", rows " + rowSplit + ", capacity " + capacity + ": max relative error " + r.maxRelError()
                + "; forward redistributions " + plan.comms(Phase.FORWARD).stream()
                .filter(c -> c.origin() == Communication.Origin.REDISTRIBUTION)
                .map(c -> c.kind() + " " + c.operator() + " " + c.maxRecvBytes() + " B").toList());
        assertTrue(r.passed(), r.summary());
        assertTrue(r.maxRelError() <= 1e-5, r.summary());
        for (String p : List.of("proj.weight", "router.weight", "experts.w1", "experts.w2")) {
            assertTrue(r.paramErrors().containsKey(p), p + " updated: " + r.paramErrors());
        }
        // the kept slots: every rank's whole groups assign exactly as one device; a tight capacity drops some
        for (int step = 0; step < F32.steps(); step++) {
            int dropped = assertSameSlotsOnEveryTokenSlice(net, step, groups, capacity, tokens);
            if (capacity == 0) {
                assertEquals(0, dropped, "dropless");
            } else if (capacity < 1) {
                assertTrue(dropped >= T * K - groups * E * new MoeDispatch(E, capacity, groups).capacity(T, K),
                        "dropped " + dropped);
                assertTrue(dropped > 0, "capacity " + capacity + " drops slots");
            }
        }
    }

    /** The slots of the indices the simulation draws, globally and per token slice; returns the dropped count. */
    private static int assertSameSlotsOnEveryTokenSlice(Network net, int step, int groups, double capacity,
                                                        int split) {
        NDArray indices = Batches.batch(net, F32.seed(), step).get("indices");
        int groupSize = T / groups;
        int c = MoeSlots.capacity(groupSize, K, E, capacity);
        int[] whole = MoeSlots.assign(indices.data(), T, K, groupSize, E, c, "one device");
        int[] pieces = new int[whole.length];
        int per = T / split;
        for (int s = 0; s < split; s++) {
            double[] local = Arrays.copyOfRange(indices.data(), s * per * K, (s + 1) * per * K);
            int[] rows = MoeSlots.assign(local, per, K, groupSize, E, c, "rank slice " + s);
            System.arraycopy(rows, 0, pieces, s * per * K, rows.length);
        }
        assertArrayEquals(whole, pieces, "slots of step " + step);
        int dropped = 0;
        for (int t = 0; t < T; t++) {
            assertTrue(indices.get(t * K) != indices.get(t * K + 1), "distinct experts per token");
            for (int j = 0; j < K; j++) {
                double e = indices.get(t * K + j);
                assertTrue(e >= 0 && e < E && e == Math.rint(e), "expert id " + e);
                dropped += whole[t * K + j] == MoeSlots.DROPPED ? 1 : 0;
            }
        }
        return dropped;
    }

    @Test
    void expertParallelMovesTheBufferWithAnAllToAllEachWay() {
        // 4 devices, G = 4 groups (one per rank), dropless: the buffer [4, 4, 8, 16] float32 is 8 KiB, 2 KiB a rank
        Plan plan = Planner.plan(moeLayer(4, 0), config(4, 4, 4, 1));
        List<Communication> forward = plan.comms(Phase.FORWARD).stream()
                .filter(c -> c.origin() == Communication.Origin.REDISTRIBUTION).toList();
        List<Communication> toExperts = forward.stream().filter(c -> "to_experts".equals(c.operator())).toList();
        List<Communication> toCombine = forward.stream().filter(c -> "combine".equals(c.operator())).toList();
        assertEquals(1, toExperts.size(), forward.toString());
        assertEquals(1, toCombine.size(), forward.toString());
        for (Communication c : List.of(toExperts.get(0), toCombine.get(0))) {
            assertEquals(CollectiveKind.ALL_TO_ALL, c.kind(), c.toString());
            assertEquals(List.of(List.of(0, 1, 2, 3)), c.groups());
            // each rank keeps its own (group, expert) block and receives the other three: 3/4 of its 2 KiB slice
            for (int rank = 0; rank < 4; rank++) {
                assertEquals(1536, c.recvBytes(rank), c.toString());
            }
        }
        // in backward the gradients take the same AllToAlls the other way
        long backward = plan.comms(Phase.BACKWARD).stream()
                .filter(c -> c.origin() == Communication.Origin.REDISTRIBUTION && c.kind() == CollectiveKind.ALL_TO_ALL)
                .count();
        assertEquals(2, backward, plan.comms(Phase.BACKWARD).toString());
        // the experts' weights are split, not replicated: no gradient AllReduce for them
        assertTrue(plan.comms(Phase.BACKWARD).stream().noneMatch(c -> c.parameter() != null
                && c.parameter().startsWith("experts.")), plan.comms(Phase.BACKWARD).toString());
    }
}
