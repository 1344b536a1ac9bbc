package io.tessera.planner.search;

import io.tessera.planner.cost.ClusterSpec;
import io.tessera.planner.cost.CostModel;
import io.tessera.planner.graph.BackwardGraph;
import io.tessera.planner.graph.Network;
import io.tessera.planner.plan.PlanConfig;

import java.util.function.Consumer;

/**
 * What one strategy search is asked: the network, the semi-auto template every candidate configuration starts from,
 * the cluster with its cost model, the network's backward graph, the cap of candidates per operator and where
 * progress goes.
 *
 * @param net      the network
 * @param template the semi-auto configuration (device count, user strategies, fusion, optimizer)
 * @param cluster  the cluster the cost model estimates on
 * @param cost     the cost model of {@code cluster}
 * @param bg       the backward graph of {@code net} (which tensors need gradients)
 * @param cap      the most candidates per operator, at least 1
 * @param progress serialised progress reports
 */
record SearchSetup(Network net, PlanConfig template, ClusterSpec cluster, CostModel cost, BackwardGraph bg, int cap,
                   SerialProgress progress) {

    /** Validates that every part is present and the cap positive. */
    SearchSetup {
        if (net == null || template == null || cluster == null || cost == null || bg == null || progress == null) {
            throw new IllegalArgumentException("search setup: network, template, cluster, cost model, backward graph "
                    + "and progress are required; found " + (net == null ? "no network" : template == null
                    ? "no template" : cluster == null ? "no cluster" : cost == null ? "no cost model"
                    : bg == null ? "no backward graph" : "no progress") + "; pass each of them");
        }
        if (cap < 1) {
            throw new IllegalArgumentException("search setup: cap is " + cap
                    + "; expected at least 1 candidate per operator");
        }
    }

    /**
     * The setup of searching {@code net} under {@code template} on {@code cluster}; progress lines may be null. The
     * search's objective prices operators by the device's efficiency curve and bandwidth, not by its shape-aware
     * {@link io.tessera.planner.cost.KernelModel}: with kernel costs, views and fused operators cost nothing under any
     * strategy, and the dynamic programming then chose plans its own evaluation found twice as slow as Megatron's on the
     * 96-layer benchmark (a known limitation of this version); the plan it returns is simulated with the kernel model.
     */
    static SearchSetup of(Network net, PlanConfig template, ClusterSpec cluster, int cap, Consumer<String> progress) {
        return new SearchSetup(net, template, cluster, objective(cluster), net.backward(), cap,
                new SerialProgress(SearchProgress.of(progress)));
    }

    /**
     * The cost model of every search objective (the strategy search, its exact evaluation and the parallelism
     * search): {@code cluster}'s device without its kernel model (see {@link #of}).
     */
    static CostModel objective(ClusterSpec cluster) {
        return new CostModel(cluster.withDevice(cluster.device().withKernels(null)));
    }

    /** The number of devices of the template. */
    int devices() {
        return template.devices();
    }
}
