package io.tessera.planner.plan;

import io.tessera.layout.comm.Phase;

import io.tessera.layout.Layout;
import io.tessera.layout.param.ParamLayout;
import io.tessera.layout.param.Parameter;
import io.tessera.planner.graph.Network;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * A parallel plan: per operator its strategy and layouts, per tensor its layout, every inserted communication with its
 * provenance, and per parameter its layout. Each operator also carries what executing it needs
 * ({@link OpPlan#execution()}: its inputs' redistribution plans and its communications, the objects of
 * {@link #comms()}), so an executor plans nothing again. Immutable; produced by {@link Planner#plan}.
 *
 * @param network the planned network
 * @param config  the configuration it was planned with
 * @param ops     the operators in execution order
 * @param layouts the layout of every tensor as its producer leaves it (parameters: as stored)
 * @param comms   the inserted communications in execution order (forward, then backward)
 * @param params  the parameters in declaration order
 * @param buckets the fusion buckets of the gradient and optimizer-parallel communications
 * @param notes   warnings about the plan (e.g. a fusion bucket whose parameters disagree on recompute)
 */
public record Plan(Network network, PlanConfig config, List<OpPlan> ops, Map<String, Layout> layouts,
                   List<Communication> comms, List<ParamPlan> params, List<Bucket> buckets, List<String> notes) {

    /** Copies the collections. */
    public Plan {
        ops = List.copyOf(ops);
        layouts = java.util.Collections.unmodifiableMap(new LinkedHashMap<>(layouts));
        comms = List.copyOf(comms);
        params = List.copyOf(params);
        buckets = List.copyOf(buckets);
        notes = List.copyOf(notes);
    }

    /** Number of devices. */
    public int devices() {
        return config.devices();
    }

    /** The plan of operator {@code name}, or null. */
    public OpPlan op(String name) {
        for (OpPlan o : ops) {
            if (o.name().equals(name)) {
                return o;
            }
        }
        return null;
    }

    /** The plan of parameter {@code name}, or null. */
    public ParamPlan param(String name) {
        for (ParamPlan p : params) {
            if (p.name().equals(name)) {
                return p;
            }
        }
        return null;
    }

    /** The communications of one phase. */
    public List<Communication> comms(Phase phase) {
        return comms.stream().filter(c -> c.phase() == phase).toList();
    }

    /** Parameter bytes held by each rank between steps (index = rank): its shards, or whole slices when unsharded. */
    public long[] paramBytesPerRank() {
        long[] out = new long[devices()];
        for (int r = 0; r < out.length; r++) {
            out[r] = memory(r).params();
        }
        return out;
    }

    /**
     * The memory of rank {@code rank}: parameter shards, gradients, optimizer state (float32, by the configured
     * optimizer), float32 master copies of 16-bit parameters, gathered weights kept from forward to backward, the
     * largest recomputed gathered weight, the largest fusion bucket, and the cached FP8 copies of FP8 products
     * weights ({@link RankMemory#fp8Weights}). Activations are not counted.
     */
    public RankMemory memory(int rank) {
        return memory(rank, p -> true, b -> true, 1);
    }

    /**
     * {@link #memory(int)} with Megatron's distributed optimizer over {@code optimizerShards} data-parallel ranks: each
     * parameter's optimizer state and master copy are split over {@code min(optimizerShards, its replicas)} ranks (the
     * ranks holding the same slice, {@link Layout#repeatedCount}: an expert's weights are split over its expert-data
     * replicas only), rounded up per shard count; parameters and gradients stay whole.
     *
     * @throws IllegalArgumentException when {@code optimizerShards < 1}
     */
    public RankMemory memory(int rank, int optimizerShards) {
        return memory(rank, p -> true, b -> true, optimizerShards);
    }

    /** {@link #memory(int, int)} counting only the parameters and fusion buckets the filters accept. */
    RankMemory memory(int rank, java.util.function.Predicate<ParamPlan> paramFilter,
                      java.util.function.Predicate<Bucket> bucketFilter, int optimizerShards) {
        if (optimizerShards < 1) {
            throw new IllegalArgumentException("rank " + rank + " memory: optimizer shards " + optimizerShards
                    + "; expected at least 1 (the data-parallel degree with the distributed optimizer)");
        }
        // optimizer state and master bytes by the number of ranks sharing them
        java.util.TreeMap<Integer, long[]> byShards = new java.util.TreeMap<>();
        long params = 0;
        long grads = 0;
        long state = 0;
        long master = 0;
        long gathered = 0;
        long recompute = 0;
        long fp8 = 0;
        int states = config.optimizer().statesPerElement();
        java.util.Set<String> fp8Weights = fp8Weights();
        for (ParamPlan p : this.params) {
            if (!paramFilter.test(p)) {
                continue;
            }
            if (fp8Weights.contains(p.name())) {
                fp8 += 2 * (p.sliceBytes() / p.dtype().bytes());
            }
            // shard groups partition the ranks: every rank holds one shard of a sharded parameter
            boolean sharded = p.shard().sharded();
            long held = sharded ? p.shardBytes() : p.sliceBytes();
            params += held;
            if (!p.trainable()) {
                continue;
            }
            // with gradient_accumulation_shard a sharded parameter keeps only its shard of the gradient
            grads += sharded && config.optimizerConfig().gradientAccumulationShard() ? p.shardBytes() : p.sliceBytes();
            long elements = held / p.dtype().bytes();
            int shards = Math.max(1, Math.min(optimizerShards, p.layout().repeatedCount()));
            long[] sm = byShards.computeIfAbsent(shards, k -> new long[2]);
            sm[0] += elements * states * 4L;
            if (p.dtype().bytes() == 2) {
                sm[1] += elements * 4L;
            }
            if (sharded && p.recompute()) {
                recompute = Math.max(recompute, p.sliceBytes());
            } else if (sharded) {
                gathered += p.sliceBytes();
            }
        }
        for (java.util.Map.Entry<Integer, long[]> e : byShards.entrySet()) {
            state += ceilDiv(e.getValue()[0], e.getKey());
            master += ceilDiv(e.getValue()[1], e.getKey());
        }
        // every bucket's groups partition the ranks, so every rank takes part in every bucket
        long fusion = 0;
        for (Bucket b : buckets) {
            if (!bucketFilter.test(b)) {
                continue;
            }
            fusion = Math.max(fusion, b.bytes());
        }
        return new RankMemory(rank, params, grads, state, master, gathered, recompute, fusion, fp8);
    }

    private static long ceilDiv(long a, long b) {
        return (a + b - 1) / b;
    }

    /** The parameters an FP8 product reads ({@code MatMul} with a {@code gemm_dtype}): their FP8 copies are cached. */
    private java.util.Set<String> fp8Weights() {
        java.util.Set<String> out = new java.util.HashSet<>();
        for (io.tessera.planner.graph.Node n : network.nodes()) {
            if (n.op() instanceof io.tessera.planner.op.MatMul m && m.gemmDtype() != null) {
                for (String t : n.inputs()) {
                    if (network.isParameter(t)) {
                        out.add(t);
                    }
                }
            }
        }
        return out;
    }

    /**
     * Count and total received bytes of the communications, by phase and kind: keys like {@code forward AllReduce}.
     * Values are {@code [count, bytes received by all ranks]}.
     */
    public Map<String, long[]> commTotals() {
        Map<String, long[]> out = new TreeMap<>();
        for (Communication c : comms) {
            long[] v = out.computeIfAbsent(c.phase().jsonName() + " " + c.kind(), k -> new long[2]);
            v[0]++;
            v[1] += c.totalRecvBytes();
        }
        return out;
    }

    /**
     * Materialises rank {@code rank}'s parameter slices through {@code init_data(layout, set_sliced=true)}: each
     * parameter is cloned and initialised for its layout (with its optimizer-shard group when sharded: the rank's
     * shard), generating only the rank's region.
     *
     * @return the sliced parameters by name, in declaration order
     */
    public Map<String, Parameter> materialize(int rank) {
        if (rank < 0 || rank >= devices()) {
            throw new IllegalArgumentException("rank " + rank + " is out of range; the plan has " + devices()
                    + " ranks (0.." + (devices() - 1) + ")");
        }
        Map<String, Parameter> out = new LinkedHashMap<>();
        for (ParamPlan p : params) {
            Parameter source = network.parameter(p.name());
            List<Integer> group = p.shard().groupOf(rank);
            int[] g = group == null ? null : group.stream().mapToInt(Integer::intValue).toArray();
            out.put(p.name(), source.clone().initData(ParamLayout.of(p.layout(), g), rank, true));
        }
        return out;
    }
}
