package io.tessera.planner.zoo;

import io.tessera.layout.DType;
import io.tessera.layout.init.Initializers;
import io.tessera.layout.param.Parameter;
import io.tessera.planner.graph.Network;
import io.tessera.planner.op.Activation;
import io.tessera.planner.op.Binary;
import io.tessera.planner.op.MatMul;
import io.tessera.planner.op.MoeAuxLoss;
import io.tessera.planner.op.MoeCombine;
import io.tessera.planner.op.MoeDispatch;
import io.tessera.planner.op.MoeRouter;

import java.util.List;

/**
 * Builds the sparse mixture-of-experts MLP of a zoo {@code llama} layer ({@link MoeConfig}; {@link Zoo#llama}
 * documents the graph and its names): the routed experts as Mixtral's block, then the shared experts, if any.
 */
final class MoeBlock {

    /** Hugging Face's linear layers: {@code x W^T} with {@code W [out, in]}. */
    private static final MatMul LINEAR = MatMul.of(false, true);

    /** The stacked experts' linear layers: a batched {@code x W^T} per expert. */
    private static final MatMul BATCHED = MatMul.batched(false, true);

    /** The name of DeepSeek-V3's selection bias under the gate: {@code M.gate.e_score_correction_bias}. */
    static final String CORRECTION_BIAS = "e_score_correction_bias";

    private MoeBlock() {
    }

    /**
     * The block under {@code m} ({@code model.layers.i.<scope>}) of {@code x [T, hidden]}; its auxiliary loss, if
     * any, is appended to {@code auxLosses}; returns the block's output {@code [T, hidden]} (the combine, or the add
     * of the combine and the shared experts).
     */
    static String build(Network.Builder m, String x, LlamaConfig c, List<String> auxLosses) {
        MoeConfig moe = c.moe();
        MoeConfig.Naming names = moe.naming();
        DType dt = c.dtype();
        int e = moe.experts();
        int ffn = moe.expertFfn(c.ffn());
        MoeDispatch dispatch = new MoeDispatch(e, moe.capacityFactor(), moe.groups());
        Network.Builder gateScope = m.scope("gate");
        String gateW = gateScope.parameter("weight", "normal", dt, e, c.hidden());
        String bias = null;
        if (moe.routing().bias()) {
            // not trained: DeepSeek-V3 updates it outside the gradient; a small normal start exercises the selection
            bias = gateScope.parameter(Parameter.lazy(gateScope.initializer(Initializers.byName("normal"),
                    new long[] {e}, dt), CORRECTION_BIAS, false));
        }
        String logits = m.op("gate", LINEAR, x, gateW);
        MoeRouter router = moe.routing().router(moe.topK());
        List<String> routed = bias == null ? m.opOutputs("router", router, logits)
                : m.opOutputs("router", router, logits, bias);
        String weights = routed.get(0);
        String indices = routed.get(1);
        String buf = m.op("dispatch", dispatch, x, indices);
        Network.Builder experts = m.scope("experts");
        String w1 = experts.scope(names.gateProj()).parameter("weight", "normal", dt, e, ffn, c.hidden());
        String w3 = experts.scope(names.upProj()).parameter("weight", "normal", dt, e, ffn, c.hidden());
        String w2 = experts.scope(names.downProj()).parameter("weight", "normal", dt, e, c.hidden(), ffn);
        // the weights [E, ., .] broadcast over the buffer's groups: each expert's rows are its slots of every group
        String gate = experts.op(names.gateProj(), BATCHED, buf, w1);
        String up = experts.op(names.upProj(), BATCHED, buf, w3);
        String act = experts.op("act", Activation.silu(), gate);
        String prod = experts.op("mul", Binary.mul(), act, up);
        String out = experts.op(names.downProj(), BATCHED, prod, w2);
        if (moe.auxLoss()) {
            auxLosses.add(m.op("aux_loss", new MoeAuxLoss(moe.topK(), moe.auxLossCoef()), logits, indices));
        }
        String combined = m.op("combine", MoeCombine.of(dispatch), out, indices, weights);
        if (!moe.shared().present()) {
            return combined;
        }
        String shared = shared(m, x, c);
        return m.op("add_shared", Binary.add(), combined, shared);
    }

    /**
     * The shared experts under {@code m}: the SwiGLU MLP {@code S = m.<shared scope>} ({@code S.gate_proj},
     * {@code S.up_proj}, {@code S.act}, {@code S.mul}, {@code S.down_proj}) and, gated, {@code m.shared_expert_gate}
     * (MatMul by {@code [1, hidden]}), {@code m.shared_expert_gate_act} (sigmoid) and {@code m.shared_expert_scale}
     * (Mul, broadcast over the hidden width).
     */
    private static String shared(Network.Builder m, String x, LlamaConfig c) {
        MoeConfig.Shared sh = c.moe().shared();
        DType dt = c.dtype();
        String down = LlamaNetwork.swiglu(m.scope(c.moe().naming().sharedScope()), x, sh.ffn(), c);
        if (!sh.gate()) {
            return down;
        }
        String w = m.scope("shared_expert_gate").parameter("weight", "normal", dt, 1, c.hidden());
        String g = m.op("shared_expert_gate", LINEAR, x, w);
        g = m.op("shared_expert_gate_act", Activation.sigmoid(), g);
        return m.op("shared_expert_scale", Binary.mul(), down, g);
    }
}
