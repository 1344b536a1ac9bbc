package io.tessera.simulator.numeric;

import io.tessera.planner.plan.PipelinePlan;
import io.tessera.simulator.cluster.CollectiveFn;
import io.tessera.simulator.cluster.Instruction;
import io.tessera.simulator.cluster.RankState;

import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;

/**
 * Builds the per-rank programs of one training step: compute steps and collectives appended to the programs of the
 * current stage's ranks (or of every rank), collectives numbered in emission order. The emitters write to it; the
 * cluster runs what it built.
 */
final class RankPrograms {

    private final PipelinePlan pipe;
    /** Ranks per stage. */
    private final int n;
    private final List<List<Instruction>> programs = new ArrayList<>();
    private long nextId;
    /** The stage whose ranks {@link #compute} and {@link #collective} emit to. */
    private int stage;

    /** Empty programs for every rank of {@code pipe}. */
    RankPrograms(PipelinePlan pipe) {
        this.pipe = pipe;
        this.n = pipe.plan().devices();
        for (int r = 0; r < pipe.devices(); r++) {
            programs.add(new ArrayList<>());
        }
    }

    /** The programs, one per global rank (mutable: a test hook may alter them before they run). */
    List<List<Instruction>> programs() {
        return programs;
    }

    /** Emits to the ranks of stage {@code s} from now on. */
    void stage(int s) {
        this.stage = s;
    }

    /** Adds a compute step to the programs of the current stage's ranks. */
    void compute(String label, Consumer<RankState> action) {
        for (int r = 0; r < n; r++) {
            programs.get(pipe.globalRank(stage, r)).add(new Instruction.Compute(label, action));
        }
    }

    /** Adds a compute step to every rank's program. */
    void computeAll(String label, Consumer<RankState> action) {
        for (List<Instruction> p : programs) {
            p.add(new Instruction.Compute(label, action));
        }
    }

    /** Adds a collective over {@code groups} of the current stage's local ranks. */
    void collective(String op, List<List<Integer>> groups, CollectiveFn fn) {
        collectiveGlobal(op, pipe.globalGroups(stage, groups), fn);
    }

    /** Adds a collective over {@code groups} of global ranks. */
    void collectiveGlobal(String op, List<List<Integer>> groups, CollectiveFn fn) {
        for (int g = 0; g < groups.size(); g++) {
            List<Integer> group = groups.get(g);
            Instruction.Collective c = new Instruction.Collective(nextId + g, op, group, op, fn);
            for (int r : group) {
                programs.get(r).add(c);
            }
        }
        nextId += groups.size();
    }
}
