package io.tessera.simulator.kernel;

import io.tessera.layout.DType;
import io.tessera.layout.init.Initializers;
import io.tessera.layout.param.Parameter;
import io.tessera.planner.graph.Network;
import io.tessera.planner.op.Activation;
import io.tessera.planner.op.BatchNorm;
import io.tessera.planner.op.BiasAdd;
import io.tessera.planner.op.Binary;
import io.tessera.planner.op.BroadcastTo;
import io.tessera.planner.op.Cast;
import io.tessera.planner.op.Concat;
import io.tessera.planner.op.CausalMask;
import io.tessera.planner.op.Conv2D;
import io.tessera.planner.op.Dropout;
import io.tessera.planner.op.FlashAttention;
import io.tessera.planner.op.Gather;
import io.tessera.planner.op.LayerNorm;
import io.tessera.planner.op.MatMul;
import io.tessera.planner.op.MoeCombine;
import io.tessera.planner.op.MoeDispatch;
import io.tessera.planner.op.MoeAuxLoss;
import io.tessera.planner.op.MoeRouter;
import io.tessera.planner.op.OpSharding;
import io.tessera.planner.op.Operator;
import io.tessera.planner.op.RMSNorm;
import io.tessera.planner.op.Reduce;
import io.tessera.planner.op.Reshape;
import io.tessera.planner.op.Rope;
import io.tessera.planner.op.Softmax;
import io.tessera.planner.op.SoftmaxCrossEntropyWithLogits;
import io.tessera.planner.op.Split;
import io.tessera.planner.op.Strategy;
import io.tessera.planner.op.TensorType;
import io.tessera.planner.op.Transpose;
import io.tessera.simulator.array.NDArray;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Random;
import java.util.Set;

/**
 * The samples of {@link OperatorContractTest}: for every operator record, operator instances with input shapes
 * covering each of its MindSpore type names and its main attribute variants. <b>Adding an operator means adding its
 * samples here</b> (the contract test fails for a record without any).
 */
final class OperatorSamples {

    private static final DType F64 = DType.FLOAT64;

    private OperatorSamples() {
    }

    /** How an input enters the one-op network of a sample. */
    enum Role {
        /** A trainable parameter: its gradient is checked through the update. */
        PARAM,
        /** A parameter without gradient (BatchNorm's moving statistics). */
        FROZEN,
        /** A data input (indices, labels), laid out by the dataset strategy. */
        DATA
    }

    /**
     * One input of a sample.
     *
     * @param name the tensor name
     * @param type its type
     * @param role how it enters the network
     * @param init the initializer of a parameter ({@code normal}, {@code ones}, {@code zeros}, or {@code wide}:
     *             {@code normal} in the network); {@code ones} also keeps finite-difference values positive and away
     *             from zero, {@code wide} spreads them over [-4, 4] away from 0
     */
    record In(String name, TensorType type, Role role, String init) {
    }

    /**
     * An operator with inputs to run the contract on.
     *
     * @param label  the name in reports
     * @param op     the operator
     * @param inputs its inputs
     * @param smooth whether the float64 forward is differentiable (false for a rounding Cast)
     * @param core   whether the sharded simulation runs on it by default (the attribute and shape variants moved
     *               from the kernel tests run it only in the full sweep; every other check runs on all samples)
     */
    record Sample(String label, Operator op, List<In> inputs, boolean smooth, boolean core) {
        Sample {
            inputs = List.copyOf(inputs);
        }

        /** The input types. */
        List<TensorType> types() {
            List<TensorType> out = new ArrayList<>();
            inputs.forEach(i -> out.add(i.type()));
            return out;
        }

        @Override
        public String toString() {
            return label;
        }
    }

    /**
     * A valid strategy of a sample's operator.
     *
     * @param devices  the number of devices
     * @param strategy the in_strategy
     * @param sharding what the operator's rule derives from it
     */
    record Sharded(int devices, Strategy strategy, OpSharding sharding) {
        @Override
        public String toString() {
            return devices + " devices, in_strategy " + strategy;
        }
    }

    private static In p(String name, long... shape) {
        return new In(name, TensorType.of(F64, shape), Role.PARAM, "normal");
    }

    private static In positive(String name, long... shape) {
        return new In(name, TensorType.of(F64, shape), Role.PARAM, "ones");
    }

    private static Sample s(String label, Operator op, In... inputs) {
        return new Sample(label, op, List.of(inputs), true, true);
    }

    private static Sample v(String label, Operator op, In... inputs) {
        return new Sample(label, op, List.of(inputs), true, false);
    }

    private static In wide(String name, long... shape) {
        return new In(name, TensorType.of(F64, shape), Role.PARAM, "wide");
    }

    private static In data(String name, DType dtype, long... shape) {
        return new In(name, TensorType.of(dtype, shape), Role.DATA, "");
    }

    /** Chosen experts: an int32 frozen tensor (zeros in the network; in range for the kernel checks). */
    private static In routed(String name, long... shape) {
        return new In(name, TensorType.of(DType.INT32, shape), Role.FROZEN, "zeros");
    }

    private static In frozen(String name, String init, long... shape) {
        return new In(name, TensorType.of(F64, shape), Role.FROZEN, init);
    }

    private static long[] dims(long... d) {
        return d;
    }

    private static int[] ints(int... v) {
        return v;
    }

    /** Every sample, operator by operator. */
    static List<Sample> all() {
        List<Sample> out = new ArrayList<>();
        out.add(s("MatMul [8, 6] x [6, 4]", MatMul.of(false, false), p("a", 8, 6), p("b", 6, 4)));
        out.add(s("MatMul^T [6, 8] x [4, 6]^T", MatMul.of(true, true), p("a", 6, 8), p("b", 4, 6)));
        out.add(s("MatMul FP8 inputs [8, 6] x [6, 4]", MatMul.of(false, false).withGemmDtype(DType.FLOAT8_E4M3FN),
                p("a", 8, 6), p("b", 6, 4)));
        out.add(s("BatchMatMul [2, 4, 6] x [2, 4, 6]^T", MatMul.batched(false, true), p("a", 2, 4, 6),
                p("b", 2, 4, 6)));
        out.add(s("BatchMatMul [2, 4, 6] x [6, 4] broadcast", MatMul.batched(false, false), p("a", 2, 4, 6),
                p("b", 6, 4)));
        out.add(s("Add [8, 6] + [6]", Binary.add(), p("x", 8, 6), p("y", 6)));
        out.add(s("Sub [8, 6] - [8, 6]", Binary.sub(), p("x", 8, 6), p("y", 8, 6)));
        out.add(s("Mul [4, 6] * [4, 1]", Binary.mul(), p("x", 4, 6), p("y", 4, 1)));
        out.add(s("Div [8, 6] / [8, 6]", Binary.div(), p("x", 8, 6), positive("y", 8, 6)));
        out.add(s("BiasAdd [4, 6, 2, 2] + [6]", new BiasAdd(), p("x", 4, 6, 2, 2), p("bias", 6)));
        for (Activation.Kind k : Activation.Kind.values()) {
            out.add(s(k.type() + " [8, 6]", new Activation(k), p("x", 8, 6)));
        }
        out.add(s("Dropout 0.75 [8, 6]", new Dropout(0.75), p("x", 8, 6)));
        // attention scores [batch, heads, q, k]: a split of q or k masks by global coordinates; a fill value of the
        // inputs' size keeps central differences exact (the default -10000 is run by the gpt simulation tests)
        out.add(s("CausalMask [2, 2, 6, 6] fill -4", new CausalMask(-4), p("x", 2, 2, 6, 6)));
        out.add(s("Cast float64 [8, 6]", new Cast(DType.FLOAT64), p("x", 8, 6)));
        out.add(new Sample("Cast float32 [8, 6]", new Cast(DType.FLOAT32), List.of(p("x", 8, 6)), false, true));
        out.add(s("Softmax -1 [8, 6]", Softmax.of(-1), p("x", 8, 6)));
        out.add(s("LogSoftmax 1 [4, 6, 2]", Softmax.log(1), p("x", 4, 6, 2)));
        out.add(s("LayerNorm -1 [4, 3, 6]", new LayerNorm(-1, -1, 1e-5), p("x", 4, 3, 6), p("gamma", 6),
                p("beta", 6)));
        out.add(s("LayerNorm 1 [4, 2, 3]", LayerNorm.of(1), p("x", 4, 2, 3), p("gamma", 2, 3), p("beta", 2, 3)));
        // batch and sequence dims both splittable (powers of two)
        out.add(s("RMSNorm [4, 2, 6]", RMSNorm.of(), p("x", 4, 2, 6), p("weight", 6)));
        out.add(s("RMSNorm eps 0.1 [8, 4]", new RMSNorm(0.1), p("x", 8, 4), p("weight", 4)));
        out.add(s("BatchNorm [8, 4, 2, 2]", BatchNorm.of(), p("x", 8, 4, 2, 2), positive("scale", 4), p("bias", 4),
                frozen("mean", "zeros", 4), frozen("variance", "ones", 4)));
        out.add(s("SoftmaxCrossEntropyWithLogits [8, 6]", new SoftmaxCrossEntropyWithLogits(), p("logits", 8, 6),
                new In("labels", TensorType.of(F64, 8, 6), Role.DATA, "")));
        out.add(s("Reshape [4, 6, 2] -> [4, 12]", Reshape.of(4, 12), p("x", 4, 6, 2)));
        out.add(s("Reshape [8, 6] -> [2, 4, -1]", Reshape.of(2, 4, -1), p("x", 8, 6)));
        out.add(s("Transpose [2, 4, 6] (2, 0, 1)", Transpose.of(2, 0, 1), p("x", 2, 4, 6)));
        out.add(s("Transpose [4, 6] (1, 0)", Transpose.of(1, 0), p("x", 4, 6)));
        // the attention block's merge_heads: [b, h, s, d] -> [b, s, h, d], devices numbered in the output's order
        out.add(s("Transpose [2, 4, 4, 2] (0, 2, 1, 3) output device order",
                Transpose.of(0, 2, 1, 3).withOutputDeviceOrder(), p("x", 2, 4, 4, 2)));
        out.add(s("ReduceSum 1 [8, 6]", Reduce.sum(false, 1), p("x", 8, 6)));
        out.add(s("ReduceMean -1 keep [4, 6, 2]", Reduce.mean(true, -1), p("x", 4, 6, 2)));
        out.add(s("ReduceMax 0 [8, 6]", Reduce.max(false, 0), p("x", 8, 6)));
        out.add(s("ReduceMin all [4, 6]", Reduce.min(false), p("x", 4, 6)));
        out.add(s("Gather 0 [16, 6] by [8]", Gather.of(0), p("table", 16, 6),
                new In("indices", TensorType.of(DType.INT32, 8), Role.DATA, "")));
        out.add(s("Gather 1 [4, 16] by [2, 3]", Gather.of(1), p("table", 4, 16),
                new In("indices", TensorType.of(DType.INT32, 2, 3), Role.DATA, "")));
        out.add(s("Conv2D 3x3 pad 1 [4, 4, 6, 6]", Conv2D.of(8, new int[] {3, 3}, new int[] {1, 1},
                new int[] {1, 1, 1, 1}), p("x", 4, 4, 6, 6), p("w", 8, 4, 3, 3)));
        out.add(s("Conv2D 2x2 stride 2 group 2 [2, 4, 4, 4]", new Conv2D(8, new int[] {2, 2}, new int[] {2, 2},
                new int[] {0, 0, 0, 0}, new int[] {1, 1}, 2), p("x", 2, 4, 4, 4), p("w", 8, 2, 2, 2)));
        // attention [batch, heads, seq, head_dim]: plain; causal with dropout and grouped-query heads (2 kv heads for
        // 4 query heads, a narrower v)
        out.add(s("FlashAttentionScore [2, 4, 6, 4]", FlashAttention.of(), p("q", 2, 4, 6, 4), p("k", 2, 4, 6, 4),
                p("v", 2, 4, 6, 4)));
        out.add(s("FlashAttentionScore causal keep 0.75 GQA [2, 4, 6, 4] kv [2, 2, 6, 4] v_dim 3",
                FlashAttention.of(true, 0.75), p("q", 2, 4, 6, 4), p("k", 2, 2, 6, 4), p("v", 2, 2, 6, 3)));
        // context parallelism's causal load balance (2 chunk pairs: the sequence in Megatron's order), with
        // grouped-query heads that a tensor split beyond the key/value heads shares
        out.add(s("FlashAttentionScore causal load_balance 2 GQA [2, 4, 8, 4] kv [2, 2, 8, 4]",
                FlashAttention.of(true, 1).withLoadBalance(2), p("q", 2, 4, 8, 4), p("k", 2, 2, 8, 4),
                p("v", 2, 2, 8, 4)));
        out.add(s("FlashAttentionScore causal keep 0.75 MQA [1, 4, 8, 2] kv [1, 1, 8, 2]",
                FlashAttention.of(true, 0.75),
                p("q", 1, 4, 8, 2), p("k", 1, 1, 8, 2), p("v", 1, 1, 8, 2)));
        // rotary position embedding [batch, heads, seq, head_dim]: a split of the sequence rotates by global positions;
        // a small theta and Llama 3's rescaling (with a short original context, so that every branch is taken) make
        // the angles large enough to matter
        out.add(s("RotaryPositionEmbedding theta 10000 [2, 4, 8, 4]", Rope.of(), p("x", 2, 4, 8, 4)));
        out.add(s("RotaryPositionEmbedding theta 50 llama3 [2, 2, 8, 8]", new Rope(50,
                new Rope.Llama3Scaling(4, 1, 4, 32)), p("x", 2, 2, 8, 8)));
        out.add(s("RotaryPositionEmbedding theta 50 yarn mscale 2 interleaved [2, 2, 8, 8]", new Rope(50,
                new Rope.YarnScaling(4, 4, 32, 1, 2, 1), 1, true), p("x", 2, 2, 8, 8)));
        out.add(v("RotaryPositionEmbedding theta 50 interleaved [2, 2, 4, 6]", Rope.of(50).withInterleaved(true),
                p("x", 2, 2, 4, 6)));
        // GPT-2's fused q, k, v [tokens, 3 * hidden] cut along the last axis; a middle axis with a split dim after it
        out.add(s("Split -1 into 3 [8, 12]", Split.of(-1, 3), p("x", 8, 12)));
        out.add(s("Split 1 into 2 [4, 6, 4]", Split.of(1, 2), p("x", 4, 6, 4)));
        out.add(s("RotaryPositionEmbedding theta 50 load_balance 2 [2, 2, 8, 4]", new Rope(50, null, 2),
                p("x", 2, 2, 8, 4)));
        // mixture-of-experts dispatch and combine: dropless, and a tight capacity that drops slots, over several groups
        for (double[] c : new double[][] {{0, 2, 8}, {0.5, 4, 16}, {1.25, 1, 8}}) {
            MoeDispatch d = new MoeDispatch(4, c[0], (int) c[1]);
            long tokens = (long) c[2];
            String what = " E 4 capacity " + c[0] + " G " + (int) c[1] + " [" + tokens + ", 4] top-2";
            out.add(s("MoeDispatch" + what, d, p("x", tokens, 4), data("indices", DType.INT32, tokens, 2)));
            out.add(s("MoeCombine" + what, MoeCombine.of(d), p("expert_out", (long) c[1], 4, d.capacity(tokens, 2), 4),
                    data("indices", DType.INT32, tokens, 2), p("weights", tokens, 2)));
        }
        // mixture-of-experts routers on [tokens, experts] logits: Mixtral's softmax top-2 (plain and renormalised),
        // DeepSeek-V3's sigmoid with the selection bias and a grouped top-3 (4 groups of 2, 2 kept), scaled
        out.add(s("MoeRouter softmax top-2 [8, 8]", MoeRouter.softmax(2, false), p("logits", 8, 8)));
        out.add(s("MoeRouter softmax top-2 norm [8, 8]", MoeRouter.softmax(2, true), p("logits", 8, 8)));
        out.add(s("MoeRouter sigmoid bias grouped 4 keep 2 top-3 norm scale 2.5 [8, 8]", MoeRouter.deepseek(3, 4, 2,
                2.5), p("logits", 8, 8), data("bias", F64, 8)));
        // the load-balancing loss on a top-2 routing of 8 tokens over 6 experts (indices: a frozen int32 tensor, in
        // range for the kernel checks; 16 slots never spread evenly over 6 experts, which would zero the gradient; a
        // coefficient of 4 keeps the gradient above the check's floor)
        out.add(s("MoeAuxLoss top-2 coefficient 4 [8, 6]", new MoeAuxLoss(2, 4), p("logits", 8, 6),
                routed("indices", 8, 2)));
        // DeepSeek-V3's latent attention: kv_a_proj_with_mqa's output cut into the compressed kv and the rotary key
        // (SplitV sizes), the key's nope and rope parts joined per head, the one shared rotary key repeated over heads
        out.add(s("Split -1 sizes [6, 2] [8, 8]", Split.sizes(-1, 6, 2), p("x", 8, 8)));
        out.add(s("Concat -1 [2, 4, 4, 6] + [2, 4, 4, 2]", Concat.of(-1), p("x", 2, 4, 4, 6), p("y", 2, 4, 4, 2)));
        out.add(s("BroadcastTo [2, 1, 4, 2] -> [2, 4, 4, 2]", BroadcastTo.of(2, 4, 4, 2), p("x", 2, 1, 4, 2)));
        out.addAll(variants());
        return out;
    }

    /**
     * The attribute and shape variants of the kernel tests' former finite-difference checks (moved here so that
     * every variant also runs the needsGrad, absent-gradient, shape and JSON checks).
     */
    static List<Sample> variants() {
        List<Sample> out = new ArrayList<>();
        // MatMul: batch dims broadcast either way, every transpose (BatchMatMul)
        long[][][] batches = {{{}, {}}, {{3}, {}}, {{}, {2}}, {{2}, {2}}, {{2, 1}, {3}}, {{1, 3}, {2, 1}},
            {{2, 3}, {2, 3}}};
        for (long[][] bs : batches) {
            for (int t = 0; t < 4; t++) {
                boolean ta = (t & 1) != 0;
                boolean tb = (t & 2) != 0;
                out.add(v("BatchMatMul " + Arrays.toString(bs[0]) + " x " + Arrays.toString(bs[1]) + " ta " + ta
                        + " tb " + tb, MatMul.batched(ta, tb), p("a", stored(bs[0], 3, 2, ta)),
                        p("b", stored(bs[1], 2, 4, tb))));
            }
        }
        // Binary: numpy broadcasting, scalars included; Div's denominator away from zero
        long[][][] pairs = {{{2, 3}, {2, 3}}, {{2, 3}, {3}}, {{3}, {2, 3}}, {{2, 3}, {2, 1}}, {{4, 1}, {1, 5}},
            {{2, 1, 4}, {3, 1}}, {{2, 3, 4}, {1, 3, 1}}, {{}, {2, 3}}, {{2, 3}, {}}, {{1}, {2, 2}}};
        for (Binary.Kind k : Binary.Kind.values()) {
            for (long[][] sh : pairs) {
                out.add(v(k.type() + " " + Arrays.toString(sh[0]) + " " + Arrays.toString(sh[1]), new Binary(k),
                        p("x", sh[0]), k == Binary.Kind.DIV ? positive("y", sh[1]) : p("y", sh[1])));
            }
        }
        for (long[] x : new long[][] {{3, 4}, {2, 3, 5}, {2, 3, 2, 2}, {1, 1}}) {
            out.add(v("BiasAdd " + Arrays.toString(x), new BiasAdd(), p("x", x), p("bias", x[1])));
        }
        // activations away from ReLU's kink at 0, wide enough to reach the saturated parts of tanh, sigmoid, GeLU
        for (Activation.Kind k : Activation.Kind.values()) {
            out.add(v(k.type() + " wide [3, 5]", new Activation(k), wide("x", 3, 5)));
        }
        for (int axis : new int[] {0, 1, 2, -1, -2}) {
            for (boolean log : new boolean[] {false, true}) {
                out.add(v((log ? "LogSoftmax " : "Softmax ") + axis + " [2, 3, 4]", new Softmax(axis, log),
                        p("x", 2, 3, 4)));
            }
        }
        Object[][] ln = {{dims(2, 3, 4), -1, -1}, {dims(2, 3, 4), 1, 1}, {dims(2, 3, 4), 1, 2}, {dims(2, 3, 4), 2, 1},
            {dims(2, 3, 4), -2, 0}, {dims(4, 5), 0, 0}, {dims(3, 5), -1, -1}};
        for (Object[] c : ln) {
            long[] x = (long[]) c[0];
            int params = (int) c[2];
            long[] ps = Arrays.copyOfRange(x, params < 0 ? params + x.length : params, x.length);
            out.add(v("LayerNorm " + Arrays.toString(x) + " norm " + c[1] + " params " + params,
                    new LayerNorm((int) c[1], params, 1e-5), p("x", x), p("gamma", ps), p("beta", ps)));
        }
        for (long[] x : new long[][] {{5}, {3, 2}, {2, 3, 1, 4}}) {
            out.add(v("RMSNorm " + Arrays.toString(x), new RMSNorm(1e-5), p("x", x), p("weight", x[x.length - 1])));
        }
        for (long[] x : new long[][] {{4, 3}, {2, 3, 4}, {2, 2, 3, 2}, {3, 1, 2, 2}}) {
            out.add(v("BatchNorm " + Arrays.toString(x), BatchNorm.of(), p("x", x), p("scale", x[1]), p("bias", x[1]),
                    frozen("mean", "zeros", x[1]), frozen("variance", "ones", x[1])));
        }
        // fewer or more keys than queries, a custom fill value
        out.add(v("CausalMask [4, 6] fill -3", new CausalMask(-3), p("x", 4, 6)));
        out.add(v("CausalMask [3, 6, 4] fill 2", new CausalMask(2), p("x", 3, 6, 4)));
        // fewer queries than keys under the causal mask, an explicit scale, dropout without the mask
        out.add(v("FlashAttentionScore causal scale 0.5 [1, 2, 4, 3] kv [1, 2, 6, 3]", new FlashAttention(0.5, true, 1),
                p("q", 1, 2, 4, 3), p("k", 1, 2, 6, 3), p("v", 1, 2, 6, 3)));
        out.add(v("FlashAttentionScore keep 0.5 MQA [2, 2, 3, 2] kv [2, 1, 5, 2]", FlashAttention.of(false, 0.5),
                p("q", 2, 2, 3, 2), p("k", 2, 1, 5, 2), p("v", 2, 1, 5, 2)));
        out.add(v("Reshape [2, 3, 4] -> [-1, 4, 2]", Reshape.of(-1, 4, 2), p("x", 2, 3, 4)));
        for (int[] c : new int[][] {{0, 2}, {0, 1}, {2, 4}, {-2, 3}, {-3, 2}}) {
            out.add(v("Split " + c[0] + " into " + c[1] + " [2, 3, 4]", Split.of(c[0], c[1]), p("x", 2, 3, 4)));
        }
        out.add(v("Split 1 sizes [1, 2] [2, 3, 4]", Split.sizes(1, 1, 2), p("x", 2, 3, 4)));
        out.add(v("Split 0 sizes [1, 1, 2] [4, 3]", Split.sizes(0, 1, 1, 2), p("x", 4, 3)));
        out.add(v("Concat 0 of 3 [1, 3] [2, 3] [1, 3]", new Concat(0, 3), p("x", 1, 3), p("y", 2, 3), p("z", 1, 3)));
        out.add(v("Concat 1 [2, 1, 4] + [2, 3, 4]", Concat.of(1), p("x", 2, 1, 4), p("y", 2, 3, 4)));
        out.add(v("Concat -1 of 1 [2, 3]", new Concat(-1, 1), p("x", 2, 3)));
        out.add(v("BroadcastTo [1, 3, 1] -> [2, 3, 4]", BroadcastTo.of(2, 3, 4), p("x", 1, 3, 1)));
        out.add(v("BroadcastTo [1, 1] -> [4, 2]", BroadcastTo.of(4, 2), p("x", 1, 1)));
        out.add(v("BroadcastTo [2, 3] -> [2, 3]", BroadcastTo.of(2, 3), p("x", 2, 3)));
        for (int[] perm : new int[][] {{0, 1, 2}, {0, 2, 1}, {1, 0, 2}, {1, 2, 0}, {2, 0, 1}, {2, 1, 0},
            {3, 1, 0, 2}, {1, 3, 2, 0}, {0}}) {
            out.add(v("Transpose " + Arrays.toString(perm), Transpose.of(perm),
                    p("x", Arrays.copyOf(new long[] {2, 3, 4, 5}, perm.length))));
            out.add(v("Transpose " + Arrays.toString(perm) + " output device order",
                    Transpose.of(perm).withOutputDeviceOrder(),
                    p("x", Arrays.copyOf(new long[] {2, 3, 4, 5}, perm.length))));
        }
        for (Reduce.Kind k : Reduce.Kind.values()) {
            for (int[] axes : new int[][] {{}, {0}, {1}, {-1}, {0, 2}, {2, 0, 1}, {-2, -1}}) {
                for (boolean keep : new boolean[] {false, true}) {
                    out.add(v(k.type() + " " + Arrays.toString(axes) + (keep ? " keep" : "") + " [2, 3, 4]",
                            new Reduce(k, axes, keep), p("x", 2, 3, 4)));
                }
            }
        }
        Object[][] gathers = {{dims(5), 0, dims(7)}, {dims(5, 3), 0, dims(2, 4)}, {dims(5, 3), 1, dims(6)},
            {dims(3, 4, 2), 1, dims(2, 3)}, {dims(3, 4, 2), -1, dims(5)}, {dims(3, 4, 2), 0, dims()},
            {dims(4, 3), -2, dims(3, 2, 2)}};
        for (Object[] c : gathers) {
            out.add(v("Gather " + Arrays.toString((long[]) c[0]) + " axis " + c[1] + " by "
                    + Arrays.toString((long[]) c[2]), Gather.of((int) c[1]), p("table", (long[]) c[0]),
                    data("indices", DType.INT32, (long[]) c[2])));
        }
        // top-1 and top-3 routing, one group, a capacity factor below and above 1
        for (double[] c : new double[][] {{0.75, 1, 1}, {2, 1, 3}, {0, 3, 3}}) {
            MoeDispatch d = new MoeDispatch(6, c[0], (int) c[1]);
            int k = (int) c[2];
            String what = " E 6 capacity " + c[0] + " G " + (int) c[1] + " [6, 3] top-" + k;
            out.add(v("MoeDispatch" + what, d, p("x", 6, 3), data("indices", DType.INT32, 6, k)));
            out.add(v("MoeCombine" + what, MoeCombine.of(d), p("expert_out", (long) c[1], 6, d.capacity(6, k), 3),
                    data("indices", DType.INT32, 6, k), p("weights", 6, k)));
        }
        Object[][] convs = {{new Conv2D(3, ints(3), ints(1), ints(0), ints(1), 1), 4},
            {new Conv2D(3, ints(3), ints(2), ints(1), ints(1), 1), 4},
            {new Conv2D(2, ints(3, 2), ints(1), ints(1, 2), ints(2), 1), 4},
            {new Conv2D(4, ints(2, 3), ints(2, 1), ints(0, 1, 2, 1), ints(1, 2), 1), 2},
            {new Conv2D(4, ints(3), ints(1), ints(1), ints(1), 2), 4},
            {new Conv2D(8, ints(2), ints(2), ints(1, 0, 2, 1), ints(2), 4), 4},
            {new Conv2D(2, ints(1), ints(3), ints(0), ints(1), 1), 3}};
        for (Object[] c : convs) {
            Conv2D op = (Conv2D) c[0];
            int ci = (int) c[1];
            out.add(v("Conv2D " + op + " C-in " + ci, op, p("x", 2, ci, 6, 7),
                    p("w", op.outChannels(), ci / op.group(), op.kernel()[0], op.kernel()[1])));
        }
        Object[][] routers = {{new MoeRouter(2, MoeRouter.Score.SIGMOID, false, 1, 1, 1, false), 6},
            {new MoeRouter(2, MoeRouter.Score.SOFTMAX, true, 1, 1, 1, true), 6},
            {new MoeRouter(2, MoeRouter.Score.SIGMOID, true, 1.5, 4, 2, false), 8},
            {new MoeRouter(2, MoeRouter.Score.SIGMOID, false, 1, 4, 3, true), 4},
            {new MoeRouter(1, MoeRouter.Score.SOFTMAX, false, 2, 2, 1, false), 4},
            {MoeRouter.softmax(4, true), 4}};
        for (Object[] c : routers) {
            MoeRouter op = (MoeRouter) c[0];
            long e = (int) c[1];
            String label = "MoeRouter " + op + " [3, " + e + "]";
            out.add(op.withBias() ? v(label, op, p("logits", 3, e), data("bias", F64, e))
                    : v(label, op, p("logits", 3, e)));
        }
        out.add(v("MoeAuxLoss top-1 coefficient 3 [5, 3]", new MoeAuxLoss(1, 3), p("logits", 5, 3),
                routed("indices", 5, 1)));
        out.add(v("MoeAuxLoss top-3 coefficient -8 [4, 5]", new MoeAuxLoss(3, -8), p("logits", 4, 5),
                routed("indices", 4, 3)));
        return out;
    }

    /** Logical {@code (rows, cols)} matrices stored per the transpose, batch dims in front. */
    private static long[] stored(long[] batch, long rows, long cols, boolean transposed) {
        long[] s = Arrays.copyOf(batch, batch.length + 2);
        s[batch.length] = transposed ? cols : rows;
        s[batch.length + 1] = transposed ? rows : cols;
        return s;
    }

    /**
     * The one-op network of a sample: its inputs, the operator {@code op}, a data input {@code loss_weights} of output
     * 0's type, {@code weighted = op * loss_weights} and the loss {@code loss = ReduceSum(weighted)}.
     */
    static Network network(Sample s) {
        Network.Builder b = Network.builder("contract");
        List<String> names = new ArrayList<>();
        for (In in : s.inputs()) {
            TensorType t = in.type();
            switch (in.role()) {
                case DATA -> names.add(b.input(in.name(), t));
                case PARAM -> names.add(b.parameter(in.name(), init(in), t.dtype(), t.shape()));
                case FROZEN -> names.add(b.parameter(Parameter.lazy(b.initializer(Initializers.byName(in.init()),
                        t.shape(), t.dtype()), in.name(), false)));
                default -> throw new IllegalStateException("unreachable: " + in.role());
            }
        }
        String y = b.op("op", s.op(), names.toArray(new String[0]));
        TensorType out = s.op().outputs("op", s.types()).get(0);
        String w = b.input("loss_weights", out);
        String m = b.op("weighted", Binary.mul(), y, w);
        b.loss(b.op("loss", Reduce.sum(false), m));
        return b.build();
    }

    private static String init(In in) {
        return in.init().equals("wide") ? "normal" : in.init();
    }

    /**
     * Input values for the kernel checks: one-hot labels, indices within the table, positive values away from zero
     * for {@code ones} inputs, magnitudes in [0.01, 4) with random signs for {@code wide} ones, uniform in [-1, 1)
     * otherwise.
     */
    static List<NDArray> values(Sample s, Random r) {
        List<NDArray> out = new ArrayList<>();
        for (int i = 0; i < s.inputs().size(); i++) {
            In in = s.inputs().get(i);
            long[] shape = in.type().shape();
            NDArray a = NDArray.zeros(shape);
            if (s.op() instanceof SoftmaxCrossEntropyWithLogits && i == 1) {
                long classes = shape[shape.length - 1];
                for (int row = 0; row < a.size() / classes; row++) {
                    a.set((int) (row * classes + r.nextInt((int) classes)), 1);
                }
            } else if (s.op() instanceof Gather g && i == 1) {
                long[] table = s.inputs().get(0).type().shape();
                int axis = g.axis() < 0 ? g.axis() + table.length : g.axis();
                for (int k = 0; k < a.size(); k++) {
                    a.set(k, r.nextInt((int) table[axis]));
                }
            } else if ((s.op() instanceof MoeDispatch || s.op() instanceof MoeCombine) && i == 1) {
                // k distinct expert ids per token, as a router's top-k gives
                int experts = s.op() instanceof MoeDispatch d ? d.experts() : ((MoeCombine) s.op()).experts();
                int k = (int) shape[1];
                for (int t = 0; t < shape[0]; t++) {
                    List<Integer> ids = new ArrayList<>();
                    for (int e = 0; e < experts; e++) {
                        ids.add(e);
                    }
                    java.util.Collections.shuffle(ids, r);
                    for (int j = 0; j < k; j++) {
                        a.set((int) (t * k + j), ids.get(j));
                    }
                }
            } else if (s.op() instanceof MoeAuxLoss && i == 1) {
                long experts = s.inputs().get(0).type().dim(1);
                for (int k = 0; k < a.size(); k++) {
                    a.set(k, r.nextInt((int) experts));
                }
            } else if (in.init().equals("ones")) {
                for (int k = 0; k < a.size(); k++) {
                    a.set(k, 0.5 + r.nextDouble());
                }
            } else if (in.init().equals("wide")) {
                for (int k = 0; k < a.size(); k++) {
                    double m = 0.01 + 3.99 * r.nextDouble();
                    a.set(k, r.nextBoolean() ? m : -m);
                }
            } else {
                a = CentralDifference.uniform(r, shape);
            }
            out.add(a);
        }
        return out;
    }

    private static boolean unsplit(int[][] tuples) {
        for (int[] t : tuples) {
            for (int v : t) {
                if (v > 1) {
                    return false;
                }
            }
        }
        return true;
    }

    /**
     * Up to {@code count} distinct valid strategies of the sample's operator, drawn at random: a device count from
     * {@code devices}, then per tensor dim a power of two dividing it; a draw the operator's rule rejects, or (in the
     * first 200 draws) one that splits nothing, is drawn again. Falls back to the data-parallel strategy when no draw
     * is valid.
     */
    static List<Sharded> strategies(Sample s, Random r, int count, int[] devices) {
        List<TensorType> types = s.types();
        List<Sharded> out = new ArrayList<>();
        Set<String> seen = new HashSet<>();
        for (int attempt = 0; attempt < 400 && out.size() < count; attempt++) {
            int d = devices[r.nextInt(devices.length)];
            int[][] tuples = new int[types.size()][];
            for (int i = 0; i < tuples.length; i++) {
                long[] shape = types.get(i).shape();
                tuples[i] = new int[shape.length];
                int left = d;
                for (int k = 0; k < shape.length; k++) {
                    int split = 1;
                    int max = r.nextInt(4) == 0 ? 1 : left;
                    while (split * 2 <= max && shape[k] % (split * 2) == 0 && r.nextInt(3) > 0) {
                        split *= 2;
                    }
                    tuples[i][k] = split;
                    left /= split;
                }
            }
            if (s.op() instanceof FlashAttention) {
                // k and v share q's batch split; their heads are split like q's or (grouped-query attention beyond
                // the key/value heads) by kv_heads; their sequence whole (context parallel, all-gather form) or like
                // q's (ring form)
                int[] k = tuples[0].clone();
                long kvHeads = types.get(1).dim(1);
                if (k[1] > kvHeads && k[1] % kvHeads == 0 && r.nextBoolean()) {
                    k[1] = (int) kvHeads;
                }
                if (r.nextBoolean()) {
                    k[2] = 1;
                }
                tuples[1] = k;
                tuples[2] = k.clone();
            }
            if (s.op() instanceof BroadcastTo b) {
                // one tuple over the output's dims: a broadcast dimension may split the output alone
                long[] shape = b.shape();
                int left = d;
                for (int k = 0; k < shape.length; k++) {
                    int split = 1;
                    while (split * 2 <= left && shape[k] % (split * 2) == 0 && r.nextInt(3) > 0) {
                        split *= 2;
                    }
                    tuples[0][k] = split;
                    left /= split;
                }
            }
            if (s.op() instanceof Concat) {
                for (int i = 1; i < tuples.length; i++) {
                    tuples[i] = tuples[0].clone();
                }
            }
            Strategy st = Strategy.of(tuples);
            if (!seen.add(d + " " + st) || (attempt < 200 && unsplit(tuples))) {
                continue; // drawn before, or nothing split while a split may still be drawn
            }
            try {
                out.add(new Sharded(d, st, s.op().shard("op", types, st, null, d)));
            } catch (IllegalArgumentException rejected) {
                // not a valid strategy of this operator: draw again
            }
        }
        if (out.isEmpty()) {
            int d = devices[0];
            Strategy st = s.op().dataParallel(types, d);
            out.add(new Sharded(d, st, s.op().shard("op", types, st, null, d)));
        }
        return out;
    }
}
