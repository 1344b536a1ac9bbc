package io.tessera.simulator.cluster;

import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.ForkJoinPool;
import java.util.concurrent.Future;

/**
 * An in-process cluster of N simulated ranks, each with its own {@link RankState}, running one program per rank in
 * lockstep.
 *
 * <p>Scheduling: every rank runs its {@link Instruction.Compute} steps until it blocks at an
 * {@link Instruction.Collective} or ends (the ranks' compute segments run in parallel on {@code threads} workers;
 * results are deterministic because a rank touches only its own state). The scheduler then takes the pending
 * collective with the smallest id (ties: the lowest rank holding it): when every member of its group is blocked at a
 * collective with the same id, op, group and signature, its function runs once and the members advance; otherwise
 * the run fails at once with a {@link CollectiveMismatchException} (a member that ended, waits on another collective,
 * has another group or signature; the message starts with {@code deadlock} when a member reaches the collective
 * only later in its program, so that the ranks wait on each other). Ready collectives of disjoint groups that
 * follow in id order run in the same round. There are no blocking waits between ranks, so a faulty program never
 * hangs. A throwing step fails the run with a {@link RankFailedException} naming the rank and the step.
 *
 * <p>Step indices in messages are 0-based positions in the rank's program. Rank states persist across runs: seed
 * them through {@link #state(int)} before a run and read results after it.
 */
public final class Cluster {

    /** Scheduling rounds of the last run ({@link #rounds()}). */
    private volatile long rounds;

    private final int ranks;
    private final int threads;
    private final List<RankState> states;

    /** A cluster of {@code ranks} ranks using as many worker threads as there are available processors. */
    public Cluster(int ranks) {
        this(ranks, Runtime.getRuntime().availableProcessors());
    }

    /** A cluster of {@code ranks} ranks whose compute segments run on {@code threads} worker threads. */
    public Cluster(int ranks, int threads) {
        if (ranks < 1) {
            throw new IllegalArgumentException("Cluster: " + ranks + " ranks; expected at least 1");
        }
        if (threads < 1) {
            throw new IllegalArgumentException("Cluster: " + threads + " threads; expected at least 1");
        }
        this.ranks = ranks;
        this.threads = threads;
        List<RankState> s = new ArrayList<>(ranks);
        for (int r = 0; r < ranks; r++) {
            s.add(new RankState(r));
        }
        this.states = Collections.unmodifiableList(s);
    }

    /** The number of ranks. */
    public int ranks() {
        return ranks;
    }

    /** The number of worker threads. */
    public int threads() {
        return threads;
    }

    /** The memory of {@code rank}. */
    public RankState state(int rank) {
        if (rank < 0 || rank >= ranks) {
            throw new IllegalArgumentException("Cluster: no rank " + rank + " in a cluster of " + ranks);
        }
        return states.get(rank);
    }

    /** Every rank's memory, indexed by rank. */
    public List<RankState> states() {
        return states;
    }

    /**
     * Runs one program per rank (index = rank) to completion.
     *
     * @throws CollectiveMismatchException when the ranks of a group disagree on a collective or no rank can progress
     * @throws RankFailedException         when a compute step or a collective's function throws
     */
    public void run(List<List<Instruction>> programs) {
        rounds = 0;
        if (programs == null || programs.size() != ranks) {
            throw new IllegalArgumentException("Cluster: " + (programs == null ? "no" : programs.size())
                    + " programs for " + ranks + " ranks; give one program per rank");
        }
        List<List<Instruction>> progs = new ArrayList<>(ranks);
        for (int r = 0; r < ranks; r++) {
            List<Instruction> p = programs.get(r);
            if (p == null) {
                throw new IllegalArgumentException("Cluster: the program of rank " + r + " is null");
            }
            progs.add(List.copyOf(p));
        }
        ExecutorService pool = threads > 1 ? new ForkJoinPool(threads) : null;
        try {
            new Run(progs, pool).execute();
        } finally {
            if (pool != null) {
                pool.shutdownNow();
            }
        }
    }

    /**
     * The scheduling rounds of the last {@link #run} (also when it failed): each round runs every rank's compute steps
     * up to its next collective, then every collective whose group is complete. Counted work, for tests and
     * benchmarks: a run never waits, so a mismatch is reported in the round it occurs.
     */
    public long rounds() {
        return rounds;
    }

    /**
     * The most scheduling rounds a run of {@code programs} can take ({@link #rounds()}): one more than the most
     * collectives any rank's program makes, since every round completes at least one collective of every rank that
     * is not done. A run that reports a mismatch takes at most as many.
     */
    public static long roundBound(List<List<Instruction>> programs) {
        long most = 0;
        for (List<Instruction> p : programs) {
            most = Math.max(most, p.stream().filter(i -> i instanceof Instruction.Collective).count());
        }
        return most + 1;
    }

    /** One collective ready to run: its instruction and its members. */
    private record Ready(Instruction.Collective collective, List<RankState> members) {
    }

    /** The state of one run. */
    private final class Run {
        private final List<List<Instruction>> programs;
        private final ExecutorService pool;
        private final int[] pc;

        Run(List<List<Instruction>> programs, ExecutorService pool) {
            this.programs = programs;
            this.pool = pool;
            this.pc = new int[ranks];
        }

        void execute() {
            List<Integer> advance = new ArrayList<>(ranks);
            for (int r = 0; r < ranks; r++) {
                advance.add(r);
            }
            while (true) {
                rounds++;
                computePhase(advance);
                List<Integer> blocked = new ArrayList<>();
                for (int r = 0; r < ranks; r++) {
                    if (!ended(r)) {
                        blocked.add(r);
                    }
                }
                if (blocked.isEmpty()) {
                    return;
                }
                blocked.sort(Comparator.<Integer>comparingLong(r -> at(r).id()).thenComparingInt(r -> r));
                List<Ready> batch = collectReady(blocked);
                runCollectives(batch);
                advance = new ArrayList<>();
                for (Ready ready : batch) {
                    for (int m : ready.collective().group()) {
                        pc[m]++;
                        advance.add(m);
                    }
                }
                Collections.sort(advance);
            }
        }

        private boolean ended(int r) {
            return pc[r] >= programs.get(r).size();
        }

        /** The collective rank {@code r} is blocked at (valid after a compute phase, when r has not ended). */
        private Instruction.Collective at(int r) {
            return (Instruction.Collective) programs.get(r).get(pc[r]);
        }

        private boolean atCompute(int r) {
            return !ended(r) && programs.get(r).get(pc[r]) instanceof Instruction.Compute;
        }

        /** Runs each listed rank's compute steps until it blocks at a collective or ends. */
        private void computePhase(List<Integer> candidates) {
            List<Integer> work = new ArrayList<>();
            for (int r : candidates) {
                if (atCompute(r)) {
                    work.add(r);
                }
            }
            if (work.isEmpty()) {
                return;
            }
            if (pool == null || work.size() == 1) {
                for (int r : work) {
                    RankFailedException f = segment(r);
                    if (f != null) {
                        throw f;
                    }
                }
                return;
            }
            List<Callable<RankFailedException>> tasks = new ArrayList<>(work.size());
            for (int r : work) {
                tasks.add(() -> segment(r));
            }
            for (RankFailedException f : invokeAll(tasks)) {
                if (f != null) {
                    throw f;
                }
            }
        }

        /** Rank {@code r}'s compute segment; returns its failure, if any. */
        private RankFailedException segment(int r) {
            List<Instruction> program = programs.get(r);
            RankState state = states.get(r);
            while (atCompute(r)) {
                Instruction.Compute c = (Instruction.Compute) program.get(pc[r]);
                try {
                    c.action().accept(state);
                } catch (RuntimeException | Error e) {
                    return new RankFailedException(r, pc[r], c.label(), e);
                }
                pc[r]++;
            }
            return null;
        }

        private <T> List<T> invokeAll(List<Callable<T>> tasks) {
            List<T> out = new ArrayList<>(tasks.size());
            try {
                for (Future<T> f : pool.invokeAll(tasks)) {
                    out.add(f.get());
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("Cluster: interrupted while running the ranks", e);
            } catch (ExecutionException e) {
                throw new IllegalStateException("Cluster: a worker failed: " + e.getCause(), e.getCause());
            }
            return out;
        }

        /**
         * The collectives that can run now, in id order: the first pending one (it must be ready, else the run
         * fails) and the following ones of untouched ranks up to the first that is not ready.
         */
        private List<Ready> collectReady(List<Integer> blocked) {
            boolean[] taken = new boolean[ranks];
            List<Ready> batch = new ArrayList<>();
            for (int i = 0; i < blocked.size(); i++) {
                int r = blocked.get(i);
                if (taken[r]) {
                    continue;
                }
                Instruction.Collective c = at(r);
                boolean clash = false;
                for (int m : c.group()) {
                    if (m < ranks && taken[m]) {
                        clash = true;
                        break;
                    }
                }
                if (clash) {
                    break;
                }
                CollectiveMismatchException fault = diagnose(r, c, blocked, i);
                if (fault != null) {
                    if (batch.isEmpty()) {
                        throw fault;
                    }
                    break;
                }
                List<RankState> members = new ArrayList<>(c.group().size());
                for (int m : c.group()) {
                    taken[m] = true;
                    members.add(states.get(m));
                }
                batch.add(new Ready(c, members));
            }
            return batch;
        }

        /**
         * Why collective {@code c}, at which rank {@code r} is blocked, cannot run; null when every member is blocked
         * at the same collective and no other rank at the same id claims an overlapping group.
         */
        private CollectiveMismatchException diagnose(int r, Instruction.Collective c, List<Integer> blocked,
                int index) {
            List<String> problems = new ArrayList<>();
            Set<Integer> culprits = new TreeSet<>();
            boolean deadlock = false;
            if (!c.group().contains(r)) {
                problems.add("rank " + r + " is not in the group");
                culprits.add(r);
            }
            for (int m : c.group()) {
                if (m == r) {
                    continue;
                }
                if (m >= ranks) {
                    problems.add("rank " + m + " does not exist (the cluster has " + ranks + " ranks)");
                    culprits.add(m);
                    continue;
                }
                if (ended(m)) {
                    problems.add("rank " + m + " ended after its " + programs.get(m).size()
                            + " steps without reaching it");
                    culprits.add(m);
                    continue;
                }
                Instruction.Collective d = at(m);
                String where = "rank " + m + " at step " + pc[m];
                if (d.id() != c.id()) {
                    int later = laterStep(m, c.id());
                    problems.add(where + " waits on " + describe(d) + " instead"
                            + (later < 0 ? " and never reaches #" + c.id()
                                    : " and reaches #" + c.id() + " only at step " + later));
                    culprits.add(m);
                    if (later >= 0) {
                        deadlock = true;
                    }
                    continue;
                }
                List<String> diffs = differences(c, d);
                if (!diffs.isEmpty()) {
                    problems.add(where + " has " + String.join(", ", diffs));
                    culprits.add(m);
                }
            }
            if (problems.isEmpty()) {
                Set<Integer> members = new HashSet<>(c.group());
                for (int j = index + 1; j < blocked.size() && at(blocked.get(j)).id() == c.id(); j++) {
                    int q = blocked.get(j);
                    Instruction.Collective d = at(q);
                    if (members.contains(q) || Collections.disjoint(members, d.group())) {
                        continue;
                    }
                    problems.add("rank " + q + " at step " + pc[q] + " has the same id with "
                            + String.join(", ", differences(c, d)));
                    culprits.add(q);
                }
            }
            if (problems.isEmpty()) {
                return null;
            }
            Set<Integer> involved = new TreeSet<>(culprits);
            involved.add(r);
            String message = (deadlock ? "deadlock" : "collective mismatch") + " at " + describe(c)
                    + ": rank " + r + " at step " + pc[r] + " waits on it; " + String.join("; ", problems);
            return new CollectiveMismatchException(message, c.id(), c.op(), new ArrayList<>(involved));
        }

        /** The step after rank {@code m}'s current one where it reaches collective {@code id}; -1 if none. */
        private int laterStep(int m, long id) {
            List<Instruction> program = programs.get(m);
            for (int k = pc[m] + 1; k < program.size(); k++) {
                if (program.get(k) instanceof Instruction.Collective d && d.id() == id) {
                    return k;
                }
            }
            return -1;
        }

        private List<String> differences(Instruction.Collective expected, Instruction.Collective actual) {
            List<String> diffs = new ArrayList<>();
            if (!expected.op().equals(actual.op())) {
                diffs.add("op '" + actual.op() + "'");
            }
            if (!expected.group().equals(actual.group())) {
                diffs.add("group " + actual.group());
            }
            if (!expected.signature().equals(actual.signature())) {
                diffs.add("signature '" + actual.signature() + "' instead of '" + expected.signature() + "'");
            }
            return diffs;
        }

        private String describe(Instruction.Collective c) {
            return "#" + c.id() + " '" + c.op() + "' on group " + c.group();
        }

        /** Runs the collectives' functions (disjoint groups, so in parallel when there are several). */
        private void runCollectives(List<Ready> batch) {
            if (pool == null || batch.size() == 1) {
                for (Ready ready : batch) {
                    RankFailedException f = apply(ready);
                    if (f != null) {
                        throw f;
                    }
                }
                return;
            }
            List<Callable<RankFailedException>> tasks = new ArrayList<>(batch.size());
            for (Ready ready : batch) {
                tasks.add(() -> apply(ready));
            }
            for (RankFailedException f : invokeAll(tasks)) {
                if (f != null) {
                    throw f;
                }
            }
        }

        private RankFailedException apply(Ready ready) {
            Instruction.Collective c = ready.collective();
            try {
                c.fn().apply(Collections.unmodifiableList(ready.members()));
                return null;
            } catch (RuntimeException | Error e) {
                int rank = c.group().get(0);
                if (e instanceof MemberException me && c.group().contains(me.rank())) {
                    rank = me.rank();
                }
                return new RankFailedException(rank, pc[rank], describe(c), e);
            }
        }
    }
}
