package io.tessera.simulator.cluster;

import io.tessera.layout.redistribution.ReduceOp;
import io.tessera.simulator.array.NDArray;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.function.Consumer;

import static io.tessera.simulator.cluster.ClusterFixtures.add;
import static io.tessera.simulator.cluster.ClusterFixtures.programs;
import static io.tessera.simulator.cluster.ClusterFixtures.random;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The lockstep scheduler: determinism across thread counts, fault detection without hangs, scale. */
class ClusterTest {

    /**
     * A guard against a hang, not a speed assertion: a run never waits, so it returns (or reports) long before this;
     * hitting it means the cluster blocked. Speed is asserted as counted work ({@link Cluster#rounds()}).
     */
    private static final Duration HANG_GUARD = Duration.ofSeconds(60);
    private static final List<Integer> ALL4 = List.of(0, 1, 2, 3);

    // ---- determinism ----

    /** A mixed program on a 2 x 4 mesh: compute, AllReduce over rows, AllGather over columns, and so on. */
    private static List<List<Instruction>> mixedProgram(long seed) {
        List<List<Instruction>> p = programs(8);
        for (int r = 0; r < 8; r++) {
            int rank = r;
            p.get(r).add(Instruction.compute("init", st -> st.put("x", random(new Random(seed + rank), 8, 6))));
            p.get(r).add(Instruction.compute("scale", st -> {
                double[] d = st.get("x").data();
                for (int i = 0; i < d.length; i++) {
                    d[i] = d[i] * 1.1 + Math.sin(rank + i);
                }
            }));
        }
        for (int row = 0; row < 2; row++) {
            List<Integer> g = List.of(4 * row, 4 * row + 1, 4 * row + 2, 4 * row + 3);
            add(p, 1, "AllReduce(mean) x", g, "f64[8,6]", Collectives.allReduce("x", "m", ReduceOp.MEAN));
        }
        for (int r = 0; r < 8; r++) {
            p.get(r).add(Instruction.compute("square", st -> {
                double[] d = st.get("m").data();
                for (int i = 0; i < d.length; i++) {
                    d[i] = d[i] * d[i] - 0.3;
                }
            }));
        }
        for (int col = 0; col < 4; col++) {
            add(p, 2 + col, "AllGather m", List.of(col + 4, col), "f64[8,6]", Collectives.allGather("m", "g", 0));
        }
        List<Integer> all = List.of(7, 6, 5, 4, 3, 2, 1, 0);
        add(p, 10, "ReduceScatter(sum) g", all, "f64[16,6]", Collectives.reduceScatter("g", "s", 0, ReduceOp.SUM));
        add(p, 11, "AllToAll x", all, "f64[8,6]", Collectives.allToAll("x", "t", 0, 1));
        add(p, 12, "AllReduce(max) bucket", all, "2 buffers",
                Collectives.allReduce(List.of("s", "t"), List.of("s2", "t2"), ReduceOp.MAX));
        return p;
    }

    private static List<List<NDArray>> snapshot(Cluster c) {
        List<List<NDArray>> out = new ArrayList<>();
        for (RankState st : c.states()) {
            List<NDArray> arrays = new ArrayList<>();
            for (String name : st.names()) {
                arrays.add(st.get(name));
            }
            out.add(arrays);
        }
        return out;
    }

    @Test
    void resultsAreBitIdenticalWithOneAndFourThreads() {
        long seed = 42;
        System.out.println("determinism: seed " + seed);
        List<List<List<NDArray>>> runs = new ArrayList<>();
        for (int threads : new int[] {1, 4, 1, 4}) {
            Cluster c = new Cluster(8, threads);
            c.run(mixedProgram(seed));
            runs.add(snapshot(c));
        }
        assertEquals(7, runs.get(0).get(0).size(), "slots g, m, s, s2, t, t2, x");
        for (int k = 1; k < runs.size(); k++) {
            assertEquals(runs.get(0), runs.get(k), "run " + k);
        }
    }

    // ---- faults ----

    /** A program of 4 ranks: init, #1 AllReduce(sum) x, compute, #2 AllGather x; {@code edit} changes it. */
    private static List<List<Instruction>> fourRanks(Consumer<List<List<Instruction>>> edit) {
        List<List<Instruction>> p = programs(4);
        for (int r = 0; r < 4; r++) {
            p.get(r).add(Instruction.compute("init", st -> st.put("x", NDArray.full(1, 2, 2))));
        }
        add(p, 1, "AllReduce(sum) x", ALL4, "f64[2,2]", Collectives.allReduce("x", "x", ReduceOp.SUM));
        for (int r = 0; r < 4; r++) {
            p.get(r).add(Instruction.compute("relu", st -> { }));
        }
        add(p, 2, "AllGather x", ALL4, "f64[2,2]", Collectives.allGather("x", "y", 0));
        edit.accept(p);
        return p;
    }

    private static CollectiveMismatchException mismatch(int ranks, List<List<Instruction>> p) {
        Cluster c = new Cluster(ranks, 2);
        CollectiveMismatchException e = assertTimeoutPreemptively(HANG_GUARD,
                () -> assertThrows(CollectiveMismatchException.class, () -> c.run(p)));
        System.out.println("reported after " + c.rounds() + " rounds: " + e.getMessage());
        // reported in the round it occurs: no more rounds than collectives in the longest program, plus one
        assertTrue(c.rounds() <= Cluster.roundBound(p), c.rounds() + " rounds");
        assertTrue(!e.getMessage().contains("\n"), "one line");
        return e;
    }

    private static void assertMentions(Exception e, String... parts) {
        for (String part : parts) {
            assertTrue(e.getMessage().contains(part), "'" + part + "' missing from: " + e.getMessage());
        }
    }

    @Test
    void theProgramRunsWhenNothingIsWrong() {
        Cluster c = new Cluster(4, 2);
        c.run(fourRanks(p -> { }));
        for (int r = 0; r < 4; r++) {
            assertEquals(NDArray.full(4, 8, 2), c.state(r).get("y"));
        }
    }

    @Test
    void aMissingCollectiveIsReported() {
        CollectiveMismatchException e = mismatch(4, fourRanks(p -> p.get(2).remove(1)));
        assertTrue(e.getMessage().startsWith("collective mismatch"), e.getMessage());
        assertMentions(e, "#1 'AllReduce(sum) x'", "rank 0 at step 1", "rank 2 at step 2 waits on #2 'AllGather x'",
                "never reaches #1");
        assertEquals(List.of(0, 2), e.ranks());
        assertEquals(1, e.collectiveId());
        assertEquals("AllReduce(sum) x", e.op());
    }

    @Test
    void aMismatchedIdIsReported() {
        CollectiveMismatchException e = mismatch(4, fourRanks(p -> p.get(3).set(1,
                Instruction.collective(7, "AllReduce(sum) x", ALL4, "f64[2,2]",
                        Collectives.allReduce("x", "x", ReduceOp.SUM)))));
        assertMentions(e, "#1 'AllReduce(sum) x'", "rank 3 at step 1 waits on #7 'AllReduce(sum) x'");
        assertEquals(List.of(0, 3), e.ranks());
    }

    @Test
    void aWrongGroupIsReported() {
        CollectiveMismatchException e = mismatch(4, fourRanks(p -> p.get(1).set(3,
                Instruction.collective(2, "AllGather x", List.of(1, 0, 2, 3), "f64[2,2]",
                        Collectives.allGather("x", "y", 0)))));
        assertMentions(e, "#2 'AllGather x'", "rank 0 at step 3", "rank 1 at step 3 has group [1, 0, 2, 3]");
        assertEquals(List.of(0, 1), e.ranks());
    }

    @Test
    void aRankClaimingAnOverlappingGroupUnderTheSameIdIsReported() {
        List<List<Instruction>> p = programs(3);
        add(p, 5, "AllReduce(sum) g", List.of(0, 1), "f64[1]", members -> { });
        add(p, 5, "AllReduce(sum) g", List.of(1, 2), "f64[1]", members -> { });
        p.get(1).remove(1);
        CollectiveMismatchException e = mismatch(3, p);
        assertMentions(e, "#5 'AllReduce(sum) g' on group [0, 1]", "rank 2 at step 0", "group [1, 2]");
        assertTrue(e.ranks().contains(2), e.ranks().toString());
    }

    @Test
    void aGroupNamingAMissingRankIsReported() {
        List<List<Instruction>> p = programs(2);
        add(p, 0, "Broadcast w", List.of(0, 1), "f64[1]", members -> { });
        p.get(0).set(0, Instruction.collective(0, "Broadcast w", List.of(0, 1, 5), "f64[1]", members -> { }));
        CollectiveMismatchException e = mismatch(2, p);
        assertMentions(e, "rank 5 does not exist", "Broadcast w");
    }

    @Test
    void aWrongSignatureIsReported() {
        CollectiveMismatchException e = mismatch(4, fourRanks(p -> p.get(3).set(1,
                Instruction.collective(1, "AllReduce(sum) x", ALL4, "f64[2,3]",
                        Collectives.allReduce("x", "x", ReduceOp.SUM)))));
        assertMentions(e, "#1 'AllReduce(sum) x'", "rank 3 at step 1 has signature 'f64[2,3]' instead of 'f64[2,2]'");
        assertEquals(List.of(0, 3), e.ranks());
    }

    @Test
    void aRankThatEndsEarlyIsReported() {
        CollectiveMismatchException e = mismatch(4, fourRanks(p -> p.get(1).remove(3)));
        assertMentions(e, "#2 'AllGather x'", "rank 0 at step 3", "rank 1 ended after its 3 steps");
        assertEquals(List.of(0, 1), e.ranks());
    }

    @Test
    void aDeadlockIsReported() {
        List<List<Instruction>> p = programs(2);
        Instruction.Collective a = Instruction.collective(1, "AllReduce(sum) a", List.of(0, 1), "f64[1]",
                members -> { });
        Instruction.Collective b = Instruction.collective(2, "AllReduce(sum) b", List.of(0, 1), "f64[1]",
                members -> { });
        p.get(0).addAll(List.of(a, b));
        p.get(1).addAll(List.of(b, a));
        CollectiveMismatchException e = mismatch(2, p);
        assertTrue(e.getMessage().startsWith("deadlock"), e.getMessage());
        assertMentions(e, "rank 0 at step 0", "rank 1 at step 0 waits on #2 'AllReduce(sum) b'",
                "reaches #1 only at step 1");
        assertEquals(List.of(0, 1), e.ranks());
    }

    @Test
    void aThrowingComputeNamesTheRankAndTheStep() {
        for (int threads : new int[] {1, 4}) {
            List<List<Instruction>> p = fourRanks(q -> {
                q.get(2).add(2, Instruction.compute("bad op", st -> {
                    throw new IllegalStateException("boom");
                }));
                q.get(3).add(2, Instruction.compute("worse op", st -> {
                    throw new ArithmeticException("bang");
                }));
            });
            Cluster c = new Cluster(4, threads);
            RankFailedException e = assertTimeoutPreemptively(HANG_GUARD,
                    () -> assertThrows(RankFailedException.class, () -> c.run(p)));
            assertTrue(c.rounds() <= Cluster.roundBound(p), c.rounds() + " rounds");
            assertEquals(2, e.rank(), "the lowest failing rank is reported");
            assertEquals(2, e.step());
            assertEquals("bad op", e.label());
            assertNotNull(e.getCause());
            assertMentions(e, "rank 2", "step 2", "bad op", "boom");
        }
    }

    @Test
    void aThrowingCollectiveNamesTheRank() {
        List<List<Instruction>> p = fourRanks(q -> q.get(1).set(0, Instruction.compute("no init", st -> { })));
        RankFailedException e = assertThrows(RankFailedException.class, () -> new Cluster(4, 2).run(p));
        assertEquals(1, e.rank());
        assertEquals(1, e.step());
        assertMentions(e, "rank 1", "AllReduce(sum) x", "no array 'x'");
    }

    @Test
    void programsMustMatchTheRanks() {
        assertThrows(IllegalArgumentException.class, () -> new Cluster(3).run(programs(2)));
        assertThrows(IllegalArgumentException.class, () -> new Cluster(0));
        assertThrows(IllegalArgumentException.class,
                () -> Instruction.collective(0, "x", List.of(0, 0), "s", members -> { }));
        assertThrows(IllegalArgumentException.class,
                () -> Instruction.collective(0, "x", List.of(), "s", members -> { }));
    }

    // ---- scale ----

    @Test
    void sixtyFourRanksWithManyCollectivesRunFast() {
        int side = 8;
        int n = side * side;
        int rounds = 150;
        long seed = 64;
        System.out.println("64 ranks: seed " + seed);
        List<List<Instruction>> p = programs(n);
        for (int r = 0; r < n; r++) {
            int rank = r;
            p.get(r).add(Instruction.compute("init", st -> st.put("x", random(new Random(seed + rank), 16))));
        }
        long id = 0;
        for (int round = 0; round < rounds; round++) {
            for (int r = 0; r < n; r++) {
                p.get(r).add(Instruction.compute("axpy", st -> {
                    double[] d = st.get("x").data();
                    for (int i = 0; i < d.length; i++) {
                        d[i] = d[i] * 0.5 + 1;
                    }
                }));
            }
            for (int row = 0; row < side; row++) {
                List<Integer> g = new ArrayList<>();
                for (int c = 0; c < side; c++) {
                    g.add(row * side + c);
                }
                add(p, id++, "AllReduce(mean) row " + row, g, "f64[16]",
                        Collectives.allReduce("x", "x", ReduceOp.MEAN));
            }
            for (int col = 0; col < side; col++) {
                List<Integer> g = new ArrayList<>();
                for (int row = 0; row < side; row++) {
                    g.add(row * side + col);
                }
                add(p, id, "AllGather col", g, "f64[16]", Collectives.allGather("x", "g", 0));
                add(p, id, "ReduceScatter col", g, "f64[128]",
                        Collectives.reduceScatter("g", "x", 0, ReduceOp.MEAN));
            }
            id++;
        }
        Cluster c = new Cluster(n, 2);
        assertTimeoutPreemptively(HANG_GUARD, () -> c.run(p));
        System.out.println("64 ranks, " + (rounds * (side + 2 * side)) + " collectives: " + c.rounds() + " rounds");
        NDArray first = c.state(0).get("g");
        for (int r = 0; r < n; r++) {
            assertEquals(16, c.state(r).get("x").size());
            assertEquals(first, c.state(r % side).get("g"));
        }
        // counted work instead of wall-clock time: disjoint groups run in the same round, so each of the program's
        // rounds takes at most one scheduling round per collective a rank makes (side row groups share one)
        assertTrue(c.rounds() <= Cluster.roundBound(p), c.rounds() + " rounds; the bound is "
                + Cluster.roundBound(p));
    }
}
