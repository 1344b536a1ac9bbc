package io.tessera.simulator.numeric;

import io.tessera.layout.DType;
import io.tessera.planner.graph.Network;
import io.tessera.planner.op.Activation;
import io.tessera.planner.op.Binary;
import io.tessera.planner.op.Gather;
import io.tessera.planner.op.MatMul;
import io.tessera.planner.op.RMSNorm;
import io.tessera.planner.op.Reduce;
import io.tessera.planner.op.Reshape;
import io.tessera.planner.op.SoftmaxCrossEntropyWithLogits;
import io.tessera.planner.op.TensorType;
import io.tessera.planner.zoo.LlamaConfig;
import io.tessera.planner.zoo.MlaAttention;
import io.tessera.planner.zoo.MlaConfig;

/**
 * Test-side DeepSeek-like decoder until the zoo wires {@link MlaAttention} in: the zoo {@code llama} graph and names
 * (embedding, {@code input_layernorm}, {@code residual1}, {@code post_attention_layernorm}, a dense SwiGLU
 * {@code mlp}, {@code residual2}, {@code model.norm}, {@code lm_head}, the cross-entropy loss) with every layer's
 * {@code self_attn} built by {@link MlaAttention#build}.
 */
final class MlaTestNetwork {

    private static final MatMul LINEAR = MatMul.of(false, true);

    private MlaTestNetwork() {
    }

    /** The network of {@code c} with latent attention {@code m} in every layer. */
    static Network build(LlamaConfig c, MlaConfig m) {
        DType dt = c.dtype();
        long tokens = (long) c.batch() * c.seq();
        Network.Builder b = Network.builder("deepseek-tiny");
        String ids = b.input("input_ids", TensorType.of(DType.INT32, c.batch(), c.seq()));
        String labels = b.input("labels", TensorType.of(dt, tokens, c.vocab()));
        Network.Builder model = b.scope("model");
        String table = model.scope("embed_tokens").parameter("weight", "normal", dt, c.vocab(), c.hidden());
        String h = model.op("embed_tokens", Gather.of(0), table, ids);
        h = model.op("embed_flatten", Reshape.of(tokens, c.hidden()), h);
        for (int i = 0; i < c.layers(); i++) {
            Network.Builder l = model.scope("layers." + i);
            String x = rmsNorm(l, "input_layernorm", h, c);
            String a = MlaAttention.build(l.scope("self_attn"), x, c, m);
            String r1 = l.op("residual1", Binary.add(), h, a);
            String x2 = rmsNorm(l, "post_attention_layernorm", r1, c);
            Network.Builder mlp = l.scope("mlp");
            String wGate = mlp.scope("gate_proj").parameter("weight", "normal", dt, c.ffn(), c.hidden());
            String wUp = mlp.scope("up_proj").parameter("weight", "normal", dt, c.ffn(), c.hidden());
            String wDown = mlp.scope("down_proj").parameter("weight", "normal", dt, c.hidden(), c.ffn());
            String gate = mlp.op("gate_proj", LINEAR, x2, wGate);
            String up = mlp.op("up_proj", LINEAR, x2, wUp);
            String act = mlp.op("act", Activation.silu(), gate);
            String prod = mlp.op("mul", Binary.mul(), act, up);
            String down = mlp.op("down_proj", LINEAR, prod, wDown);
            h = l.op("residual2", Binary.add(), r1, down);
        }
        h = rmsNorm(model, "norm", h, c);
        String head = b.scope("lm_head").parameter("weight", "normal", dt, c.vocab(), c.hidden());
        h = b.op("lm_head", LINEAR, h, head);
        String l = b.op("loss_fn", new SoftmaxCrossEntropyWithLogits(), h, labels);
        return b.loss(b.op("loss", Reduce.mean(false), l)).build();
    }

    private static String rmsNorm(Network.Builder b, String name, String x, LlamaConfig c) {
        String w = b.scope(name).parameter("weight", "ones", c.dtype(), c.hidden());
        return b.op(name, new RMSNorm(c.rmsEps()), x, w);
    }
}
