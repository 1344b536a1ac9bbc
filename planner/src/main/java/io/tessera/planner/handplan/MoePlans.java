package io.tessera.planner.handplan;

import io.tessera.planner.graph.Network;
import io.tessera.planner.graph.Node;
import io.tessera.planner.op.MoeDispatch;
import io.tessera.planner.op.Strategy;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Expert-parallel strategies for the mixture-of-experts blocks of a Llama-family network (Mixtral's
 * {@code model.layers.i.block_sparse_moe}, Qwen2-MoE's and DeepSeek-V3's {@code model.layers.i.mlp}, found by their
 * {@code dispatch} node; the block replaces the layer's dense {@code mlp}), beside {@link LlamaPlans}' dense plan. With
 * {@code M} the block's scope, {@code rows = data x context} (the token split, {@code D}), {@code t} the tensor
 * degree and {@code e} the expert degree:
 * <ul>
 *   <li>{@code M.gate} (x {@code (rows, 1)}, weight {@code (1, 1)}), {@code M.router} {@code (rows, 1)} (with
 *       DeepSeek-V3's selection bias {@code (1)}) and {@code M.dispatch} (x and indices {@code (rows, 1)}): the tokens
 *       split as the dense MLP's input, each rank routing and dispatching its own tokens into its own groups of the
 *       buffer {@code [G, E, C, h]} (the network's {@code moe_groups} G is a multiple of {@code D}; the expansion
 *       makes it {@code D}). With sequence parallelism the planner AllGathers the block's input over the tensor
 *       group, as for the dense column-parallel input.</li>
 *   <li>The experts ({@code M.experts.w1}, {@code w3}, {@code act}, {@code mul}, {@code w2}) take the buffer
 *       {@code [G, E, C, h]} split {@code (rows / e, e, 1, 1)}: the groups {@code rows / e} ways and the experts
 *       {@code e} ways, the weights {@code [E, ., .]} (broadcast over G) split {@code (e, t, 1)} for w1 / w3 (the
 *       expert ffn column parallel over the tensor group) and {@code (e, 1, t)} for w2 (row parallel: its partial sums
 *       AllReduced over the tensor group). Rank {@code (a e + b) t + c} (data-x-context rank {@code a e + b}, tensor
 *       rank {@code c}) holds group block {@code a} of experts block {@code b}: the planner's byte-minimal
 *       redistribution from the dispatch's G split is an AllToAll inside each expert-parallel group of {@code e}
 *       consecutive data-x-context ranks (Megatron's order), and {@code M.combine} takes the buffer G-split again
 *       {@code (rows, 1, 1, 1)}: the AllToAll back. With {@code e = 1} the expert ops keep the dispatch's layout and
 *       nothing moves.</li>
 *   <li>Qwen2-MoE's and DeepSeek-V3's experts are {@code M.experts.gate_proj}, {@code up_proj}, {@code down_proj}
 *       in place of {@code w1}, {@code w3}, {@code w2}, planned alike.</li>
 *   <li>{@code M.aux_loss} (when present) takes its inputs whole {@code (1, 1)}.</li>
 *   <li>Shared experts ({@code S = M.shared_expert} or {@code M.shared_experts}): the dense MLP's tensor
 *       parallelism, {@code S.gate_proj} and {@code S.up_proj} column parallel ({@code (rows, 1)}, weight
 *       {@code (t, 1)}), {@code S.act}, {@code S.mul} {@code (rows, t)}, {@code S.down_proj} row parallel (weight
 *       {@code (1, t)}; its partial sums AllReduced over the tensor group); Qwen2-MoE's gate
 *       {@code M.shared_expert_gate} (weight {@code (1, 1)}), {@code M.shared_expert_gate_act} and
 *       {@code M.shared_expert_scale} split the tokens {@code (rows, 1)}, as does the sum {@code M.add_shared} of the
 *       routed and the shared output.</li>
 * </ul>
 * The expert weights ({@code M.experts.*.weight}) are split over the expert-parallel group and replicated over the
 * {@code rows / e} expert groups: their gradients are AllReduced over those ({@code e = rows}: over nothing), while
 * the gate's and the dense weights' are reduced over all {@code rows}.
 */
public final class MoePlans {

    /** Mixtral's scope of a layer's mixture-of-experts block under its layer prefix ({@code model.layers.i.}). */
    public static final String BLOCK = "block_sparse_moe.";

    /** The scopes a block may have under its layer prefix: Mixtral's, then Qwen2-MoE's and DeepSeek-V3's. */
    public static final List<String> SCOPES = List.of(BLOCK, "mlp.");

    /** The shared experts' scopes under a block: Qwen2-MoE's, DeepSeek-V3's. */
    private static final List<String> SHARED_SCOPES = List.of("shared_expert.", "shared_experts.");

    private MoePlans() {
    }

    /**
     * The mixture-of-experts blocks of {@code network} by layer prefix ({@code "model.layers.i."}): every node
     * {@code <prefix><scope>dispatch} ({@link #SCOPES}) whose operator is a {@link MoeDispatch}; empty for a dense
     * model.
     */
    public static Map<String, MoeDispatch> blocks(Network network) {
        Map<String, MoeDispatch> out = new LinkedHashMap<>();
        for (Node n : network.nodes()) {
            String scope = scope(n);
            if (scope != null) {
                String suffix = scope + "dispatch";
                out.put(n.name().substring(0, n.name().length() - suffix.length()), (MoeDispatch) n.op());
            }
        }
        return out;
    }

    /**
     * The full scope of every mixture-of-experts block of {@code network} by layer prefix, e.g.
     * {@code "model.layers.0." -> "model.layers.0.block_sparse_moe."} or {@code "model.layers.3.mlp."}.
     */
    public static Map<String, String> blockPrefixes(Network network) {
        Map<String, String> out = new LinkedHashMap<>();
        for (Node n : network.nodes()) {
            String scope = scope(n);
            if (scope != null) {
                String block = n.name().substring(0, n.name().length() - "dispatch".length());
                out.put(block.substring(0, block.length() - scope.length()), block);
            }
        }
        return out;
    }

    /** The block scope of a dispatch node {@code n}, or null when {@code n} is not one. */
    private static String scope(Node n) {
        if (!(n.op() instanceof MoeDispatch)) {
            return null;
        }
        for (String scope : SCOPES) {
            if (n.name().endsWith(scope + "dispatch")) {
                return scope;
            }
        }
        return null;
    }

    /** The experts' gate, up and down projections of block {@code m}: Mixtral's w1, w3, w2, else gate/up/down_proj. */
    private static List<String> projections(Network network, String m) {
        return network.hasNode(m + "experts.w1") ? List.of("w1", "w3", "w2")
                : List.of("gate_proj", "up_proj", "down_proj");
    }

    /** The shared experts' full scope under block {@code m}, or null without shared experts. */
    private static String sharedPrefix(Network network, String m) {
        for (String s : SHARED_SCOPES) {
            if (network.hasNode(m + s + "gate_proj")) {
                return m + s;
            }
        }
        return null;
    }

    /**
     * The in_strategies of the mixture-of-experts blocks of {@code network} (see the class comment); empty for a dense
     * model.
     *
     * @param network the network, whose blocks are named as Mixtral's
     * @param rows    the token split, {@code data x context}
     * @param tensor  the tensor degree, splitting the experts' ffn
     * @param expert  the expert degree, dividing {@code rows} and every block's experts
     * @throws IllegalArgumentException (one line, naming {@code parallelism.expert} or the network's dimension) as
     *                                  {@link #check}
     */
    public static Map<String, Strategy> strategies(Network network, int rows, int tensor, int expert) {
        Map<String, MoeDispatch> blocks = blocks(network);
        check(network, blocks, rows, tensor, expert);
        int e = expert;
        int t = tensor;
        Map<String, Strategy> s = new LinkedHashMap<>();
        Map<String, String> prefixes = blockPrefixes(network);
        for (String layer : blocks.keySet()) {
            String m = prefixes.get(layer);
            List<String> proj = projections(network, m);
            s.put(m + "gate", Strategy.of(t(rows, 1), t(1, 1)));
            Node router = network.node(m + "router");
            s.put(m + "router", router.inputs().size() == 2 ? Strategy.of(t(rows, 1), t(1)) : Strategy.of(t(rows, 1)));
            s.put(m + "dispatch", Strategy.of(t(rows, 1), t(rows, 1)));
            int outer = rows / e;
            int[] x = t(outer, e, 1, 1);
            int[] hidden = t(outer, e, 1, t);
            s.put(m + "experts." + proj.get(0), Strategy.of(x, t(e, t, 1)));
            s.put(m + "experts." + proj.get(1), Strategy.of(x, t(e, t, 1)));
            s.put(m + "experts.act", Strategy.of(hidden));
            s.put(m + "experts.mul", Strategy.of(hidden, hidden));
            s.put(m + "experts." + proj.get(2), Strategy.of(hidden, t(e, 1, t)));
            s.put(m + "combine", Strategy.of(t(rows, 1, 1, 1), t(rows, 1), t(rows, 1)));
            if (network.hasNode(m + "aux_loss")) {
                s.put(m + "aux_loss", Strategy.of(t(1, 1), t(1, 1)));
            }
            shared(network, m, rows, t, s);
        }
        return s;
    }

    /** The shared experts' entries of block {@code m} (see the class comment); none without shared experts. */
    private static void shared(Network network, String m, int rows, int t, Map<String, Strategy> s) {
        String sh = sharedPrefix(network, m);
        if (sh == null) {
            return;
        }
        s.put(sh + "gate_proj", Strategy.of(t(rows, 1), t(t, 1)));
        s.put(sh + "up_proj", Strategy.of(t(rows, 1), t(t, 1)));
        s.put(sh + "act", Strategy.of(t(rows, t)));
        s.put(sh + "mul", Strategy.of(t(rows, t), t(rows, t)));
        s.put(sh + "down_proj", Strategy.of(t(rows, t), t(1, t)));
        if (network.hasNode(m + "shared_expert_gate")) {
            s.put(m + "shared_expert_gate", Strategy.of(t(rows, 1), t(1, 1)));
            s.put(m + "shared_expert_gate_act", Strategy.of(t(rows, 1)));
            s.put(m + "shared_expert_scale", Strategy.of(t(rows, 1), t(rows, 1)));
        }
        s.put(m + "add_shared", Strategy.of(t(rows, 1), t(rows, 1)));
    }

    /**
     * The expert degree against the network: a one-line error when {@code expert > 1} on a dense model, when it does
     * not divide a block's experts, when it does not divide {@code rows}, when {@code rows} does not
     * divide a block's {@code moe_groups}, or when {@code tensor} does not divide the experts' ffn.
     */
    static void check(Network network, Map<String, MoeDispatch> blocks, int rows, int tensor, int expert) {
        if (expert < 1) {
            throw new IllegalArgumentException("parallelism.expert: found " + expert + "; expected an expert-parallel "
                    + "degree >= 1 (default 1)");
        }
        if (blocks.isEmpty()) {
            if (expert > 1) {
                throw new IllegalArgumentException("parallelism.expert: found " + expert + " for a dense model (no "
                        + "mixture-of-experts layers in network '" + network.name() + "'); expected 1, or a model "
                        + "with experts");
            }
            return;
        }
        Map<String, String> prefixes = blockPrefixes(network);
        for (Map.Entry<String, MoeDispatch> b : blocks.entrySet()) {
            MoeDispatch d = b.getValue();
            if (d.experts() % expert != 0) {
                throw new IllegalArgumentException("parallelism.expert: found " + expert + " for the " + d.experts()
                        + " experts of " + prefixes.get(b.getKey()) + "dispatch; expected a divisor of the experts (each "
                        + "rank of the expert-parallel group holds experts / expert of them)");
            }
        }
        if (rows % expert != 0) {
            throw new IllegalArgumentException("parallelism.expert: found " + expert + " with data x context = "
                    + rows + "; expected a divisor of it (the expert-parallel groups are carved from the data x context "
                    + "ranks): set expert to a common divisor of " + rows + " and the experts");
        }
        for (Map.Entry<String, MoeDispatch> b : blocks.entrySet()) {
            MoeDispatch d = b.getValue();
            if (d.groups() % rows != 0) {
                throw new IllegalArgumentException("moe_groups: found " + d.groups() + " in "
                        + prefixes.get(b.getKey()) + "dispatch with data x context = " + rows + "; expected a multiple of it (each rank "
                        + "dispatches whole groups of its own tokens): remove the network argument moe_groups or make "
                        + "it " + rows);
            }
            String m = prefixes.get(b.getKey());
            String w1 = m + "experts." + projections(network, m).get(0) + ".weight";
            if (network.hasTensor(w1) && network.tensor(w1).dim(1) % tensor != 0) {
                throw new IllegalArgumentException("parallelism.tensor: found " + tensor + " for the experts' ffn "
                        + network.tensor(w1).dim(1) + " (" + w1 + "); expected a divisor of it (tensor parallelism "
                        + "splits every expert's ffn)");
            }
            String sh = sharedPrefix(network, m);
            String sw = sh == null ? null : sh + "gate_proj.weight";
            if (sw != null && network.hasTensor(sw) && network.tensor(sw).dim(0) % tensor != 0) {
                throw new IllegalArgumentException("parallelism.tensor: found " + tensor + " for the shared experts' "
                        + "ffn " + network.tensor(sw).dim(0) + " (" + sw + "); expected a divisor of it (tensor "
                        + "parallelism splits the shared experts' ffn as the dense MLP's)");
            }
        }
    }

    private static int[] t(int... v) {
        return v;
    }
}
