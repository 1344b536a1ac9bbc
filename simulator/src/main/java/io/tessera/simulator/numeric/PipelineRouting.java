package io.tessera.simulator.numeric;

import io.tessera.planner.graph.Node;
import io.tessera.planner.plan.PipelinePlan;
import io.tessera.simulator.cluster.Collectives;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

/**
 * Where tensors cross pipeline stages: the stage computing the loss, the stages loading each data input, the
 * boundaries sent after each producer's forward (each producer rank to the consumer-stage rank of the same local
 * rank, a two-rank SendRecv) and the gradients returned after the backward of their earliest consumer in the
 * consumer stage (added to the producer's gradient).
 */
final class PipelineRouting {

    private final ExecutionContext cx;
    /** The stage of the operator producing the loss. */
    private final int lossStage;
    /** The boundaries sent after each producer operator's forward. */
    private final Map<String, List<PipelinePlan.Boundary>> sentAfter = new HashMap<>();
    /** The boundaries whose gradient returns after the backward of the operator at each index. */
    private final Map<Integer, List<PipelinePlan.Boundary>> returnedAfter = new HashMap<>();
    /** The stages loading each data input. */
    private final Map<String, Set<Integer>> inputStages = new HashMap<>();

    PipelineRouting(ExecutionContext cx) {
        this.cx = cx;
        PipelinePlan pipe = cx.pipe;
        int loss = 0;
        Map<String, Integer> index = new HashMap<>();
        for (int k = 0; k < cx.plan.ops().size(); k++) {
            Node node = cx.net.node(cx.plan.ops().get(k).name());
            index.put(node.name(), k);
            if (node.outputs().contains(cx.net.loss())) {
                loss = pipe.stageOf(node.name());
            }
        }
        this.lossStage = loss;
        for (PipelinePlan.Boundary b : pipe.boundaries()) {
            sentAfter.computeIfAbsent(b.producer(), k -> new ArrayList<>()).add(b);
            if (cx.bg.gradientOf(b.tensor()) == null) {
                continue;
            }
            // the consumer stage's gradient of the tensor is complete after the backward of its earliest consumer
            int earliest = Integer.MAX_VALUE;
            for (Node c : cx.net.consumers(b.tensor())) {
                if (pipe.stageOf(c.name()) == b.toStage()) {
                    earliest = Math.min(earliest, index.get(c.name()));
                }
            }
            returnedAfter.computeIfAbsent(earliest, k -> new ArrayList<>()).add(b);
        }
        for (String input : cx.net.inputs()) {
            Set<Integer> at = new TreeSet<>();
            cx.net.consumers(input).forEach(c -> at.add(pipe.stageOf(c.name())));
            inputStages.put(input, at.isEmpty() ? Set.of(0) : at);
        }
    }

    /** The stage of the operator producing the loss. */
    int lossStage() {
        return lossStage;
    }

    /** The stages whose ranks load data input {@code input} (stage 0 when nothing consumes it). */
    Set<Integer> inputStages(String input) {
        return inputStages.get(input);
    }

    /** After {@code producer}'s forward: each producer rank sends its slice of every boundary tensor to its peer. */
    void emitSends(RankPrograms p, String producer) {
        for (PipelinePlan.Boundary b : sentAfter.getOrDefault(producer, List.of())) {
            String slot = Slot.activation(b.tensor()).key();
            p.collectiveGlobal("send " + b.tensor() + " stage " + b.fromStage() + " -> " + b.toStage(),
                    pairs(b.fromStage(), b.toStage()), Collectives.send(slot, slot));
        }
    }

    /**
     * After the backward of the operator at index {@code k}: the gradients of tensors received from earlier stages
     * return to their producers, added to their sums.
     */
    void emitReturns(RankPrograms p, int k) {
        for (PipelinePlan.Boundary b : returnedAfter.getOrDefault(k, List.of())) {
            String slot = Slot.gradient(b.tensor()).key();
            p.collectiveGlobal("return gradient of " + b.tensor() + " stage " + b.toStage() + " -> "
                    + b.fromStage(), pairs(b.toStage(), b.fromStage()), Collectives.sendAdd(slot, slot));
        }
    }

    /** The pairs {@code [rank of from, rank of to]} of equal local rank, for a SendRecv between two stages. */
    private List<List<Integer>> pairs(int from, int to) {
        List<List<Integer>> out = new ArrayList<>(cx.n);
        for (int r = 0; r < cx.n; r++) {
            out.add(List.of(cx.pipe.globalRank(from, r), cx.pipe.globalRank(to, r)));
        }
        return out;
    }
}
