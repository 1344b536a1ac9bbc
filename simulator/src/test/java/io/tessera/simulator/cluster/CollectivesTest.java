package io.tessera.simulator.cluster;

import io.tessera.layout.DType;
import io.tessera.layout.Layout;
import io.tessera.layout.redistribution.Block;
import io.tessera.layout.redistribution.Redistribution;
import io.tessera.layout.redistribution.RedistributionExecutor;
import io.tessera.layout.redistribution.RedistributionPlan;
import io.tessera.layout.redistribution.ReduceOp;
import io.tessera.layout.redistribution.Step;
import io.tessera.layout.redistribution.Transfer;
import io.tessera.simulator.array.NDArray;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import java.util.TreeSet;

import static io.tessera.simulator.cluster.ClusterFixtures.add;
import static io.tessera.simulator.cluster.ClusterFixtures.concatRef;
import static io.tessera.simulator.cluster.ClusterFixtures.partRef;
import static io.tessera.simulator.cluster.ClusterFixtures.programs;
import static io.tessera.simulator.cluster.ClusterFixtures.random;
import static io.tessera.simulator.cluster.ClusterFixtures.randomGroups;
import static io.tessera.simulator.cluster.ClusterFixtures.reduceRef;
import static io.tessera.simulator.cluster.ClusterFixtures.sig;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Every collective against a naive reference (built on boxes and element loops) on seeded random data, for group
 * sizes 1 to 8 with several groups running at once; exact (bit-identical) comparisons.
 */
class CollectivesTest {

    /** Random disjoint groups of one size over a cluster, with their programs. */
    private record Setup(Cluster cluster, List<List<Integer>> groups, List<List<Instruction>> programs, Random rnd) {

        /** The collective id of group {@code k}: the first two groups share an id, the others have their own. */
        long id(int k) {
            return k < 2 ? 1 : 3 + k;
        }

        List<Instruction> ops(int rank) {
            return programs.get(rank);
        }
    }

    private static Setup setup(String what, int g, long seed) {
        System.out.println(what + ": group size " + g + ", seed " + seed);
        Random rnd = new Random(seed);
        int count = g <= 4 ? 3 : 2;
        List<List<Integer>> groups = randomGroups(rnd, g, count);
        return new Setup(new Cluster(g * count, 2), groups, programs(g * count), rnd);
    }

    private static List<NDArray> inputs(Setup s, List<Integer> group, String slot) {
        List<NDArray> in = new ArrayList<>();
        for (int r : group) {
            in.add(s.cluster().state(r).get(slot).copy());
        }
        return in;
    }

    @ParameterizedTest
    @ValueSource(ints = {1, 2, 3, 4, 5, 6, 7, 8})
    void allReduceMatchesReference(int g) {
        for (ReduceOp op : ReduceOp.values()) {
            Setup s = setup("allReduce " + op, g, 100L * g + op.ordinal());
            List<List<NDArray>> in = new ArrayList<>();
            for (int k = 0; k < s.groups().size(); k++) {
                List<Integer> group = s.groups().get(k);
                long[] shape = {1 + s.rnd().nextInt(3), 1 + s.rnd().nextInt(4), 1 + s.rnd().nextInt(5)};
                for (int r : group) {
                    s.cluster().state(r).put("x", random(s.rnd(), shape));
                }
                in.add(inputs(s, group, "x"));
                add(s.programs(), s.id(k), "AllReduce(" + op.jsonName() + ") x", group, sig(in.get(k).get(0)),
                        Collectives.allReduce("x", "y", op));
            }
            s.cluster().run(s.programs());
            for (int k = 0; k < s.groups().size(); k++) {
                NDArray expected = reduceRef(in.get(k), op);
                List<Integer> group = s.groups().get(k);
                for (int j = 0; j < group.size(); j++) {
                    RankState st = s.cluster().state(group.get(j));
                    assertEquals(expected, st.get("y"), "rank " + group.get(j));
                    assertEquals(in.get(k).get(j), st.get("x"), "input untouched on rank " + group.get(j));
                }
            }
        }
    }

    @ParameterizedTest
    @ValueSource(ints = {1, 2, 3, 4, 5, 6, 7, 8})
    void fusedAllReduceEqualsSeparateOnes(int g) {
        for (ReduceOp op : ReduceOp.values()) {
            long seed = 200L * g + op.ordinal();
            Setup fused = setup("fused allReduce " + op, g, seed);
            Setup separate = setup("separate allReduce " + op, g, seed);
            List<String> ins = List.of("a", "b", "c");
            List<String> outs = List.of("ga", "gb", "gc");
            for (int k = 0; k < fused.groups().size(); k++) {
                List<Integer> group = fused.groups().get(k);
                long[][] shapes = {{2, 3}, {1 + fused.rnd().nextInt(5)}, {2, 1 + fused.rnd().nextInt(3), 2}};
                for (int r : group) {
                    for (int b = 0; b < ins.size(); b++) {
                        NDArray a = random(fused.rnd(), shapes[b]);
                        fused.cluster().state(r).put(ins.get(b), a);
                        separate.cluster().state(r).put(ins.get(b), a.copy());
                    }
                }
                add(fused.programs(), fused.id(k), "AllReduce(" + op.jsonName() + ") bucket", group, "3 buffers",
                        Collectives.allReduce(ins, outs, op));
                for (int b = 0; b < ins.size(); b++) {
                    add(separate.programs(), 100 * fused.id(k) + b, "AllReduce " + ins.get(b), group, "one",
                            Collectives.allReduce(ins.get(b), outs.get(b), op));
                }
            }
            fused.cluster().run(fused.programs());
            separate.cluster().run(separate.programs());
            for (int r = 0; r < fused.cluster().ranks(); r++) {
                for (String out : outs) {
                    assertEquals(separate.cluster().state(r).get(out), fused.cluster().state(r).get(out),
                            "rank " + r + " " + out);
                }
            }
            List<Integer> group = fused.groups().get(0);
            List<NDArray> a = new ArrayList<>();
            for (int r : group) {
                a.add(fused.cluster().state(r).get("b"));
            }
            assertEquals(reduceRef(a, op), fused.cluster().state(group.get(0)).get("gb"));
        }
    }

    @ParameterizedTest
    @ValueSource(ints = {1, 2, 3, 4, 5, 6, 7, 8})
    void allGatherMatchesReference(int g) {
        Setup s = setup("allGather", g, 300L * g);
        List<List<NDArray>> in = new ArrayList<>();
        int[] dims = new int[s.groups().size()];
        for (int k = 0; k < s.groups().size(); k++) {
            List<Integer> group = s.groups().get(k);
            long[] shape = {1 + s.rnd().nextInt(3), 1 + s.rnd().nextInt(4), 1 + s.rnd().nextInt(3)};
            dims[k] = s.rnd().nextInt(3);
            for (int r : group) {
                s.cluster().state(r).put("x", random(s.rnd(), shape));
            }
            in.add(inputs(s, group, "x"));
            add(s.programs(), s.id(k), "AllGather x dim " + dims[k], group, sig(in.get(k).get(0)),
                    Collectives.allGather("x", "y", dims[k]));
        }
        s.cluster().run(s.programs());
        for (int k = 0; k < s.groups().size(); k++) {
            NDArray expected = concatRef(in.get(k), dims[k]);
            for (int r : s.groups().get(k)) {
                assertEquals(expected, s.cluster().state(r).get("y"), "rank " + r);
            }
        }
    }

    @ParameterizedTest
    @ValueSource(ints = {1, 2, 3, 4, 5, 6, 7, 8})
    void reduceScatterMatchesReference(int g) {
        for (ReduceOp op : ReduceOp.values()) {
            Setup s = setup("reduceScatter " + op, g, 400L * g + op.ordinal());
            List<List<NDArray>> in = new ArrayList<>();
            int[] dims = new int[s.groups().size()];
            for (int k = 0; k < s.groups().size(); k++) {
                List<Integer> group = s.groups().get(k);
                dims[k] = s.rnd().nextInt(3);
                long[] shape = {1 + s.rnd().nextInt(3), 1 + s.rnd().nextInt(3), 1 + s.rnd().nextInt(3)};
                shape[dims[k]] = (long) g * (1 + s.rnd().nextInt(2));
                for (int r : group) {
                    s.cluster().state(r).put("x", random(s.rnd(), shape));
                }
                in.add(inputs(s, group, "x"));
                add(s.programs(), s.id(k), "ReduceScatter x", group, sig(in.get(k).get(0)),
                        Collectives.reduceScatter("x", "y", dims[k], op));
            }
            s.cluster().run(s.programs());
            for (int k = 0; k < s.groups().size(); k++) {
                NDArray reduced = reduceRef(in.get(k), op);
                List<Integer> group = s.groups().get(k);
                for (int j = 0; j < g; j++) {
                    assertEquals(partRef(reduced, dims[k], g, j), s.cluster().state(group.get(j)).get("y"),
                            "rank " + group.get(j));
                }
            }
        }
    }

    @ParameterizedTest
    @ValueSource(ints = {1, 2, 3, 4, 5, 6, 7, 8})
    void allToAllMatchesReference(int g) {
        Setup s = setup("allToAll", g, 500L * g);
        List<List<NDArray>> in = new ArrayList<>();
        int[][] dims = new int[s.groups().size()][];
        for (int k = 0; k < s.groups().size(); k++) {
            List<Integer> group = s.groups().get(k);
            dims[k] = new int[] {s.rnd().nextInt(3), s.rnd().nextInt(3)};
            long[] shape = {1 + s.rnd().nextInt(3), 1 + s.rnd().nextInt(3), 1 + s.rnd().nextInt(3)};
            shape[dims[k][0]] = (long) g * (1 + s.rnd().nextInt(2));
            for (int r : group) {
                s.cluster().state(r).put("x", random(s.rnd(), shape));
            }
            in.add(inputs(s, group, "x"));
            add(s.programs(), s.id(k), "AllToAll x", group, sig(in.get(k).get(0)),
                    Collectives.allToAll("x", "y", dims[k][0], dims[k][1]));
        }
        s.cluster().run(s.programs());
        for (int k = 0; k < s.groups().size(); k++) {
            List<Integer> group = s.groups().get(k);
            for (int j = 0; j < g; j++) {
                List<NDArray> received = new ArrayList<>();
                for (int i = 0; i < g; i++) {
                    received.add(partRef(in.get(k).get(i), dims[k][0], g, j));
                }
                assertEquals(concatRef(received, dims[k][1]), s.cluster().state(group.get(j)).get("y"),
                        "rank " + group.get(j) + " split " + dims[k][0] + " concat " + dims[k][1]);
            }
        }
    }

    @ParameterizedTest
    @ValueSource(ints = {1, 2, 3, 4, 5, 6, 7, 8})
    void broadcastMatchesReference(int g) {
        Setup s = setup("broadcast", g, 600L * g);
        List<List<NDArray>> in = new ArrayList<>();
        int[] roots = new int[s.groups().size()];
        for (int k = 0; k < s.groups().size(); k++) {
            List<Integer> group = s.groups().get(k);
            roots[k] = s.rnd().nextInt(g);
            long[] shape = {1 + s.rnd().nextInt(4), 1 + s.rnd().nextInt(4)};
            for (int r : group) {
                s.cluster().state(r).put("x", random(s.rnd(), shape));
            }
            in.add(inputs(s, group, "x"));
            add(s.programs(), s.id(k), "Broadcast x", group, sig(in.get(k).get(0)),
                    Collectives.broadcast("x", "y", roots[k]));
        }
        s.cluster().run(s.programs());
        for (int k = 0; k < s.groups().size(); k++) {
            for (int r : s.groups().get(k)) {
                assertEquals(in.get(k).get(roots[k]), s.cluster().state(r).get("y"), "rank " + r);
            }
        }
    }

    @ParameterizedTest
    @ValueSource(ints = {1, 2, 3, 4, 5, 6, 7, 8})
    void permuteMatchesReference(int g) {
        Setup s = setup("permute", g, 700L * g);
        List<List<NDArray>> in = new ArrayList<>();
        List<List<int[]>> pairs = new ArrayList<>();
        for (int k = 0; k < s.groups().size(); k++) {
            List<Integer> group = s.groups().get(k);
            List<Integer> perm = new ArrayList<>();
            for (int j = 0; j < g; j++) {
                perm.add(j);
            }
            Collections.shuffle(perm, s.rnd());
            List<int[]> ps = new ArrayList<>();
            for (int j = 0; j < g; j++) {
                if (s.rnd().nextInt(4) != 0) {
                    ps.add(new int[] {j, perm.get(j)});
                }
            }
            pairs.add(ps);
            long[] shape = {1 + s.rnd().nextInt(4), 3};
            for (int r : group) {
                s.cluster().state(r).put("x", random(s.rnd(), shape));
            }
            in.add(inputs(s, group, "x"));
            add(s.programs(), s.id(k), "CollectivePermute x", group, sig(in.get(k).get(0)),
                    Collectives.permute("x", "y", ps));
        }
        s.cluster().run(s.programs());
        for (int k = 0; k < s.groups().size(); k++) {
            List<Integer> group = s.groups().get(k);
            boolean[] received = new boolean[g];
            for (int[] p : pairs.get(k)) {
                received[p[1]] = true;
                assertEquals(in.get(k).get(p[0]), s.cluster().state(group.get(p[1])).get("y"));
            }
            for (int j = 0; j < g; j++) {
                if (!received[j]) {
                    assertFalse(s.cluster().state(group.get(j)).has("y"), "rank " + group.get(j));
                }
            }
        }
    }

    @Test
    void inPlaceCollectivesReadEveryInputBeforeWriting() {
        Random rnd = new Random(800);
        System.out.println("in place: seed 800");
        Cluster c = new Cluster(3, 2);
        List<NDArray> in = new ArrayList<>();
        for (int r = 0; r < 3; r++) {
            c.state(r).put("x", random(rnd, 2, 3));
            in.add(c.state(r).get("x").copy());
        }
        List<List<Instruction>> p = programs(3);
        add(p, 0, "ring shift", List.of(0, 1, 2), "f64[2,3]",
                Collectives.permute("x", "x", List.of(new int[] {0, 1}, new int[] {1, 2}, new int[] {2, 0})));
        add(p, 1, "AllReduce in place", List.of(0, 1, 2), "f64[2,3]", Collectives.allReduce("x", "x", ReduceOp.SUM));
        c.run(p);
        NDArray expected = reduceRef(List.of(in.get(2), in.get(0), in.get(1)), ReduceOp.SUM);
        for (int r = 0; r < 3; r++) {
            assertEquals(expected, c.state(r).get("x"));
        }
    }

    @Test
    void exchangeStepsReproduceTheRedistributionExecutor() {
        int[][][] cases = {
            // {devFrom, mapFrom, devTo, mapTo}
            {{8}, {0, -1}, {8}, {-1, 0}},
            {{8}, {0, -1}, {4, 2}, {1, -1}},
            {{2, 4}, {1, 0}, {2, 4}, {0, 1}},
            {{4, 2}, {1, -1}, {2, 2, 2}, {0, 2}},
        };
        long[] shape = {16, 8};
        int exchanges = 0;
        for (int[][] cs : cases) {
            Layout from = Layout.of(cs[0], cs[1], shape);
            Layout to = Layout.of(cs[2], cs[3], shape);
            RedistributionPlan plan = Redistribution.plan(from, to, DType.FLOAT64);
            List<Block> source = RedistributionExecutor.sourceBlocks(from, idx -> idx[0] * 100 + idx[1] + 0.5);
            List<Block> expected = RedistributionExecutor.run(plan, source);
            int n = plan.ranks();
            Cluster c = new Cluster(n, 2);
            for (int r = 0; r < n; r++) {
                c.state(r).putObject("t", new ArrayList<>(List.of(source.get(r))));
            }
            List<List<Instruction>> p = programs(n);
            long id = 0;
            for (Step step : plan.steps()) {
                if (step instanceof Step.Exchange e) {
                    exchanges++;
                    TreeSet<Integer> members = new TreeSet<>();
                    for (Transfer t : e.transfers()) {
                        members.add(t.src());
                        members.add(t.dst());
                    }
                    add(p, id++, step.op(), List.copyOf(members), step.toString(),
                            Collectives.exchange(e.transfers(), "t", "t"));
                } else if (step instanceof Step.Slice sl) {
                    for (int r = 0; r < n; r++) {
                        io.tessera.layout.Box keep = sl.boxes().get(r);
                        p.get(r).add(Instruction.compute("Slice", st -> {
                            @SuppressWarnings("unchecked")
                            List<Block> held = (List<Block>) st.getObject("t");
                            Block from0 = held.stream().filter(b -> b.box().contains(keep)).findFirst().orElseThrow();
                            st.putObject("t", new ArrayList<>(List.of(from0.region(keep))));
                        }));
                    }
                } else if (step instanceof Step.Concat cc) {
                    for (int r = 0; r < n; r++) {
                        io.tessera.layout.Box box = cc.boxes().get(r);
                        p.get(r).add(Instruction.compute("Concat", st -> {
                            @SuppressWarnings("unchecked")
                            List<Block> held = (List<Block>) st.getObject("t");
                            st.putObject("t", new ArrayList<>(List.of(Block.assemble(box, held))));
                        }));
                    }
                } else {
                    throw new AssertionError("unexpected step in a split-to-split plan: " + step);
                }
            }
            c.run(p);
            for (int r = 0; r < n; r++) {
                assertEquals(List.of(expected.get(r)), c.state(r).getObject("t"), "rank " + r + " of " + plan);
            }
        }
        assertTrue(exchanges >= cases.length, "the plans exercise exchange steps");
    }

    @Test
    void exchangeNamesTheRankWithoutTheBox() {
        Cluster c = new Cluster(2, 1);
        io.tessera.layout.Box held = io.tessera.layout.Box.of(new long[] {0}, new long[] {4});
        io.tessera.layout.Box wanted = io.tessera.layout.Box.of(new long[] {2}, new long[] {6});
        c.state(0).putObject("t", List.of(Block.of(held, new double[4])));
        c.state(1).putObject("t", List.of());
        List<List<Instruction>> p = programs(2);
        add(p, 0, "AllGather t", List.of(0, 1), "s",
                Collectives.exchange(List.of(new Transfer(0, 1, wanted)), "t", "t"));
        RankFailedException e = assertThrows(RankFailedException.class, () -> c.run(p));
        assertEquals(0, e.rank());
        assertTrue(e.getMessage().contains("rank 0") && e.getMessage().contains("AllGather t"), e.getMessage());
    }

    @Test
    void mismatchedShapesBlameTheOddRank() {
        Cluster c = new Cluster(3, 1);
        c.state(0).put("x", NDArray.zeros(2, 2));
        c.state(1).put("x", NDArray.zeros(2, 2));
        c.state(2).put("x", NDArray.zeros(2, 3));
        List<List<Instruction>> p = programs(3);
        add(p, 0, "AllReduce(sum) x", List.of(0, 1, 2), "same", Collectives.allReduce("x", "x", ReduceOp.SUM));
        RankFailedException e = assertThrows(RankFailedException.class, () -> c.run(p));
        assertEquals(2, e.rank());
        assertTrue(e.getMessage().contains("[2, 3]"), e.getMessage());
    }
    @Test
    void sendCopiesAndSendAddAccumulatesBetweenTwoRanks() {
        Random rnd = new Random(900);
        System.out.println("send: seed 900");
        Cluster c = new Cluster(4, 2);
        NDArray x = random(rnd, 3, 2);
        NDArray g = random(rnd, 3, 2);
        NDArray held = random(rnd, 3, 2);
        c.state(2).put("x", x.copy());
        c.state(1).put("g", g.copy());
        c.state(3).put("g", held.copy());
        List<List<Instruction>> p = programs(4);
        // rank 2 sends x to rank 0; rank 1 adds g into rank 3's g; rank 0 has no g: rank 2 receives nothing
        add(p, 0, "send x", List.of(2, 0), "s", Collectives.send("x", "y"));
        add(p, 1, "return g", List.of(1, 3), "s", Collectives.sendAdd("g", "g"));
        add(p, 2, "return nothing", List.of(0, 2), "s", Collectives.sendAdd("g", "g"));
        c.run(p);
        assertEquals(x, c.state(0).get("y"));
        assertTrue(c.state(0).get("y") != c.state(2).get("x"), "a copy");
        NDArray sum = held.copy();
        for (int i = 0; i < sum.size(); i++) {
            sum.data()[i] += g.data()[i];
        }
        assertEquals(sum, c.state(3).get("g"));
        assertEquals(g, c.state(1).get("g"));
        assertFalse(c.state(2).has("g"));

        List<List<Instruction>> three = programs(4);
        add(three, 0, "send x", List.of(0, 1, 2), "s", Collectives.send("x", "y"));
        c.state(0).put("x", x.copy());
        RankFailedException e = assertThrows(RankFailedException.class, () -> c.run(three));
        assertTrue(e.getMessage().contains("expected two, [sender, receiver]"), e.getMessage());
    }
}
