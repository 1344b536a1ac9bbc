package io.tessera.simulator.search;

import io.tessera.planner.strategy.NetworkRef;
import io.tessera.planner.strategy.StrategyFile;
import io.tessera.planner.zoo.LlamaConfig;
import io.tessera.planner.zoo.MoeConfig;
import io.tessera.planner.zoo.Zoo;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * What the degree search needs of a Llama-family network: the dimensions the degrees split and the parameter count.
 *
 * @param config     the configuration as the file gives it (without the batch and load balance the expansion sets)
 * @param parameters trainable parameter elements
 */
record LlamaModel(LlamaConfig config, long parameters) {

    /**
     * The model of a zoo llama or Hugging Face network of {@code file}.
     *
     * @throws IllegalArgumentException (one line) when the configuration cannot be read
     */
    static LlamaModel of(StrategyFile file) {
        NetworkRef ref = file.network();
        Map<String, Object> args = new LinkedHashMap<>(ref instanceof NetworkRef.HfConfig h ? h.args()
                : ((NetworkRef.Zoo) ref).args());
        args.remove("batch");
        args.remove("load_balance");
        args.remove("moe_groups");
        LlamaConfig c = ref instanceof NetworkRef.HfConfig h ? Zoo.hfConfig(file.resolve(h.path()), args)
                : Zoo.llamaConfig(args);
        return new LlamaModel(c, Zoo.llama(c).trainableElements());
    }

    /**
     * The routed experts' weight elements (every sparse layer's stacked {@code gate}, {@code up} and {@code down}
     * projections), split by the expert degree on top of tensor and pipeline; 0 for a dense model.
     */
    long expertParameters() {
        MoeConfig moe = config.moe();
        if (moe == null || !moe.sparse()) {
            return 0;
        }
        long perLayer = 3L * moe.experts() * moe.expertFfn(config.ffn()) * config.hidden();
        long total = 0;
        for (int i = 0; i < config.layers(); i++) {
            if (moe.sparse(i)) {
                total += perLayer;
            }
        }
        return total;
    }

    int layers() {
        return config.layers();
    }

    int seq() {
        return config.seq();
    }

    /** Bytes per element of the network's own dtype. */
    int dtypeBytes() {
        return config.dtype().bytes();
    }

    /**
     * Whether Megatron's tensor parallelism splits the model {@code t} ways (as {@code LlamaPlans} needs): {@code t}
     * divides the heads, the FFN width, the experts' and the shared experts' widths and the vocabulary, and divides
     * the KV heads or is a multiple of them.
     */
    boolean acceptsTensor(int t) {
        LlamaConfig c = config;
        if (c.heads() % t != 0 || c.ffn() % t != 0 || c.vocab() % t != 0) {
            return false;
        }
        MoeConfig moe = c.moe();
        if (moe != null && moe.sparse() && (moe.expertFfn(c.ffn()) % t != 0
                || moe.shared().present() && moe.shared().ffn() % t != 0)) {
            return false;
        }
        return t <= c.kvHeads() ? c.kvHeads() % t == 0 : t % c.kvHeads() == 0;
    }

    /**
     * The expert-parallel degrees tried for a token split of {@code data x context}: 1 for a dense model, else every
     * power of 2 dividing both that split and the experts (1 included), ascending.
     */
    List<Integer> expertDegrees(int data, int context) {
        MoeConfig moe = config.moe();
        List<Integer> out = new ArrayList<>(List.of(1));
        if (moe == null || !moe.sparse()) {
            return out;
        }
        long group = (long) data * context;
        for (int e = 2; e <= group && e <= moe.experts(); e *= 2) {
            if (group % e == 0 && moe.experts() % e == 0) {
                out.add(e);
            }
        }
        return out;
    }

    /**
     * The context-parallel degrees tried: 1, and with {@code seq >= }{@link DegreeSearch#CONTEXT_MIN_SEQ} every power
     * of 2 with {@code seq / context >= }{@link DegreeSearch#CONTEXT_MIN_TOKENS} and {@code 2 x context} dividing seq.
     */
    List<Integer> contextDegrees() {
        List<Integer> out = new ArrayList<>(List.of(1));
        int seq = config.seq();
        if (seq >= DegreeSearch.CONTEXT_MIN_SEQ) {
            for (int cp = 2; seq / cp >= DegreeSearch.CONTEXT_MIN_TOKENS; cp *= 2) {
                if (seq % (2L * cp) == 0) {
                    out.add(cp);
                }
            }
        }
        return out;
    }
}
