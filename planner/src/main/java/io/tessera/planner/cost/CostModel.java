package io.tessera.planner.cost;

import io.tessera.layout.comm.CollectiveKind;
import io.tessera.layout.DType;
import io.tessera.layout.Layout;
import io.tessera.planner.graph.Network;
import io.tessera.planner.graph.Node;
import io.tessera.planner.op.Flops;
import io.tessera.planner.op.Operator;
import io.tessera.planner.plan.Communication;
import io.tessera.planner.plan.OpPlan;
import io.tessera.planner.plan.Plan;

import java.util.ArrayList;
import java.util.List;

/**
 * Analytic costs on a {@link ClusterSpec}: FLOPs, memory traffic and seconds of one rank's slice of an operator, and
 * seconds of collectives on the ranks' real placement (the cluster's {@link RankMapping}). Stateless apart from the
 * spec; thread-safe.
 *
 * <p>Compute: a roofline, {@code max(flops / (peak(dtype) * efficiency(flops)), bytes / memoryBandwidth)}.
 * Communication: the alpha-beta model on the slowest link a group crosses (see {@link #collectiveSeconds}).
 */
public final class CostModel {

    /** What {@link CollectiveAlgorithm#AUTO} chooses from. */
    private static final List<CollectiveAlgorithm> AUTO_CHOICES = List.of(CollectiveAlgorithm.RING,
            CollectiveAlgorithm.TREE, CollectiveAlgorithm.HIERARCHICAL);

    private final ClusterSpec spec;

    /** A cost model on {@code spec}. */
    public CostModel(ClusterSpec spec) {
        if (spec == null) {
            throw new IllegalArgumentException("cost model: cluster spec is null; expected a ClusterSpec such as "
                    + "ClusterSpec.preset(ClusterPreset.A100_80GB_DGX)");
        }
        this.spec = spec;
    }

    /** The cluster this model costs on. */
    public ClusterSpec spec() {
        return spec;
    }

    /**
     * FLOPs of one rank's slice of the operator's forward, from the slice shapes of its input and output layouts
     * (the operator's rule {@link Operator#forwardFlops}, device-independent).
     *
     * @throws IllegalArgumentException when the network has no node {@code op.name()}
     */
    public long forwardFlops(Network net, OpPlan op) {
        Operator o = net.node(op.name()).op();
        try {
            if (o instanceof io.tessera.planner.op.FlashAttention fa) {
                return fa.rankFlops(op.inputLayouts(), op.outputLayouts()); // context parallel: the slowest rank's
            }
            return o.forwardFlops(Flops.sliceShapes(op.inputLayouts()), Flops.sliceShapes(op.outputLayouts()));
        } catch (IllegalArgumentException e) {
            if (String.valueOf(e.getMessage()).startsWith("FLOPs ")) {
                throw new IllegalArgumentException("operator '" + op.name() + "' (" + o.type() + "): "
                        + e.getMessage(), e);
            }
            throw e;
        }
    }

    /**
     * Bytes one rank's forward reads and writes, from the slice shapes of its input and output layouts and its
     * tensors' dtypes: the operator's own rule ({@link Operator#forwardBytes}; usually every input slice plus every
     * output slice, while Gather reads only the rows it gathers).
     */
    public long forwardBytes(Network net, OpPlan op) {
        return forwardBytes(net, op, Flops.sliceShapes(op.inputLayouts()), Flops.sliceShapes(op.outputLayouts()));
    }

    /** {@link #forwardBytes(Network, OpPlan)} on the slice shapes {@code in} and {@code out}. */
    private long forwardBytes(Network net, OpPlan op, List<long[]> in, List<long[]> out) {
        Node node = net.node(op.name());
        List<DType> inTypes = new ArrayList<>(op.inputLayouts().size());
        for (int i = 0; i < op.inputLayouts().size(); i++) {
            inTypes.add(net.tensor(node.input(i)).dtype());
        }
        List<DType> outTypes = new ArrayList<>(op.outputLayouts().size());
        for (int i = 0; i < op.outputLayouts().size(); i++) {
            outTypes.add(net.tensor(node.output(i)).dtype());
        }
        return node.op().forwardBytes(in, inTypes, out, outTypes);
    }

    /**
     * Seconds of one rank's slice of the operator, forward or backward.
     *
     * <p>On a device with a {@link KernelModel} ({@link DeviceSpec#kernels()}): a matrix product is priced from its
     * shapes ({@link Operator#forwardGemms}; the backward's data-gradient and weight-gradient products separately,
     * {@link Operator#backwardGemms}) by {@link KernelModel#gemmSeconds}; a fused kernel whose products keep their
     * intermediates on chip ({@link Operator#keepsIntermediatesOnChip}, FlashAttention) costs the slower of its
     * products' compute ({@link KernelModel#fusedComputeSeconds}) plus one launch and its own bytes
     * ({@code 2x} in backward) streamed; a layout-only operator that needs no kernel
     * costs 0 when it {@linkplain #launchesNoKernel launches no kernel} (a view, a GEMM epilogue, a fused elementwise
     * prologue); any other operator is one kernel each way, the slower of its FLOPs at the
     * efficiency curve and its bytes ({@code 2x} in backward: the output gradient and the saved input read, the input
     * gradient written) by {@link KernelModel#streamSeconds}, plus the launch time.
     *
     * <p>Without a kernel model: the roofline
     * {@code max(flops / (peak(dtype) * efficiency(flops)), bytes / memoryBandwidth)}, with the dtype of the first
     * floating input (else of the first output); the backward costs 2x the forward FLOPs and bytes, at the efficiency
     * of one forward-sized operation.
     *
     * <p>An FP8 linear layer (a {@code MatMul} with a {@code gemm_dtype}, Transformer Engine's recipe) computes its
     * products at the device's peak for {@code gemm_dtype} (the backward's E4M3 x E5M2 products at the same peak)
     * with 1-byte operands and a result in the tensors' dtype, plus its casts ({@link Fp8Casts#castBytes}: the
     * activation input in forward, the output gradient in backward) as one streaming kernel; the weight casts are
     * once per step ({@link #fp8WeightCastSeconds}).
     *
     * @throws IllegalArgumentException for an FP8 product on a device that lists no peak for its {@code gemm_dtype}
     *                                  (one line naming the device and suggesting bf16)
     */
    public double computeSeconds(Network net, OpPlan op, boolean backward) {
        double seconds = computeSecondsOnce(net, op, backward);
        if (net.node(op.name()).op() instanceof io.tessera.planner.op.FlashAttention
                && io.tessera.planner.op.FlashAttention.contextForm(op.inputLayouts())
                == io.tessera.planner.op.FlashAttention.ContextForm.RING) {
            return ringSeconds(net, op, backward, seconds);
        }
        return seconds;
    }

    /**
     * Context-parallel attention in the ring form ({@code cp} ranks): the rank's work {@code seconds} in {@code cp}
     * blocks, the first computed at once and each of the {@code cp - 1} others {@code max(block compute, block
     * transfer)}: its key/value block arrives from the previous rank while the block in hand is computed (a
     * collective permute of the k and v blocks; in backward of k, v and their gradients, which one more transfer
     * returns to their owners).
     */
    private double ringSeconds(Network net, OpPlan op, boolean backward, double seconds) {
        Node node = net.node(op.name());
        Layout k = op.inputLayouts().get(1);
        Layout v = op.inputLayouts().get(2);
        List<Integer> ring = io.tessera.planner.op.OpComm.groupsAlong(k.devMatrix(), k.tensorMap().entry(2).axes())
                .get(0);
        int cp = ring.size();
        long kv = k.sliceBytes(net.tensor(node.input(1)).dtype()) + v.sliceBytes(net.tensor(node.input(2)).dtype());
        double transfer = collectiveSeconds(CollectiveKind.COLLECTIVE_PERMUTE, ring, backward ? 2 * kv : kv);
        double block = seconds / cp;
        return block + (cp - 1) * Math.max(block, transfer)
                + (backward ? collectiveSeconds(CollectiveKind.COLLECTIVE_PERMUTE, ring, kv) : 0);
    }

    private double computeSecondsOnce(Network net, OpPlan op, boolean backward) {
        return shapeSeconds(net, op, backward, Flops.sliceShapes(op.inputLayouts()),
                Flops.sliceShapes(op.outputLayouts()));
    }

    /**
     * Seconds of one rank's operator as {@link #computeSeconds} prices it, on the slice shapes {@code in} and
     * {@code out} instead of its layouts' (FlashAttention's context-parallel forms and FP8 casts still follow the
     * layouts).
     */
    private double shapeSeconds(Network net, OpPlan op, boolean backward, List<long[]> in, List<long[]> out) {
        DeviceSpec d = spec.device();
        KernelModel k = d.kernels();
        if (k != null) {
            return kernelSeconds(net, op, backward, d, k, in, out);
        }
        Operator o = net.node(op.name()).op();
        double factor = backward ? 2 : 1;
        long flops = o instanceof io.tessera.planner.op.FlashAttention fa
                ? fa.rankFlops(op.inputLayouts(), op.outputLayouts()) : o.forwardFlops(in, out);
        long bytes = forwardBytes(net, op, in, out);
        DType fp8 = Fp8Casts.gemmDtype(net.node(op.name()));
        double compute = flops == 0 ? 0
                : factor * flops / (d.peak(fp8 != null ? fp8 : computeType(net, op)) * d.efficiency(flops));
        double memory = factor * bytes / d.memoryBandwidth();
        return Math.max(compute, memory) + Fp8Casts.castBytes(net, op, backward) / d.memoryBandwidth();
    }

    /**
     * Seconds of one rank's operator run as one grouped kernel over {@code in.size()} independent problems (a
     * mixture of experts' grouped GEMM: one product per local expert with that expert's rows), problem {@code g}
     * on input slice shapes {@code in.get(g)} and output slice shapes {@code out.get(g)}. On a device with a
     * {@link KernelModel}, each of the operator's products (forward: one; backward: the data and the weight gradient)
     * is one grouped kernel over the problems' products ({@link KernelModel#groupedGemmSeconds}: the problems' tiles
     * share the waves, each problem's partial tiles cost as full ones, one launch); an operator without products, an
     * FP8 or fused product, or a device without a kernel model costs the sum of the problems' seconds on their
     * shapes.
     *
     * @throws IllegalArgumentException when {@code in} and {@code out} differ in size or are empty
     */
    public double groupedSeconds(Network net, OpPlan op, boolean backward, List<List<long[]>> in,
                                 List<List<long[]>> out) {
        if (in.isEmpty() || in.size() != out.size()) {
            throw new IllegalArgumentException("cost model: grouped '" + op.name() + "' has " + in.size()
                    + " input shape lists and " + out.size() + " output shape lists; expected as many, at least 1");
        }
        DeviceSpec d = spec.device();
        KernelModel k = d.kernels();
        Operator o = net.node(op.name()).op();
        List<List<io.tessera.planner.op.Gemm>> products = new ArrayList<>();
        for (int g = 0; g < in.size(); g++) {
            List<io.tessera.planner.op.Gemm> gemms = backward ? o.backwardGemms(in.get(g), out.get(g))
                    : o.forwardGemms(in.get(g), out.get(g));
            for (int i = 0; i < gemms.size(); i++) {
                if (products.size() <= i) {
                    products.add(new ArrayList<>());
                }
                products.get(i).add(gemms.get(i));
            }
        }
        if (k == null || products.isEmpty() || o.keepsIntermediatesOnChip()
                || Fp8Casts.gemmDtype(net.node(op.name())) != null) {
            double s = 0;
            for (int g = 0; g < in.size(); g++) {
                s += shapeSeconds(net, op, backward, in.get(g), out.get(g));
            }
            return s;
        }
        DType t = computeType(net, op);
        double s = 0;
        for (List<io.tessera.planner.op.Gemm> p : products) {
            s += k.groupedGemmSeconds(p, d.peak(t), d.memoryBandwidth(), t.bytes());
        }
        return s;
    }

    private double kernelSeconds(Network net, OpPlan op, boolean backward, DeviceSpec d, KernelModel k,
                                 List<long[]> in, List<long[]> out) {
        Node node = net.node(op.name());
        Operator o = node.op();
        DType t = computeType(net, op);
        List<io.tessera.planner.op.Gemm> gemms = o instanceof io.tessera.planner.op.FlashAttention fa
                ? fa.rankGemms(op.inputLayouts(), op.outputLayouts(), backward) // context parallel: slowest rank
                : backward ? o.backwardGemms(in, out) : o.forwardGemms(in, out);
        if (!gemms.isEmpty() && o.keepsIntermediatesOnChip()) {
            // one fused kernel (FlashAttention): its products' compute against its own bytes (2x in backward)
            double compute = k.fusedComputeSeconds(gemms, d.peak(t));
            double bytes = (backward ? 2.0 : 1.0) * forwardBytes(net, op, in, out);
            return Math.max(compute + k.launchSeconds(), k.streamSeconds(bytes, d.memoryBandwidth()));
        }
        DType fp8 = Fp8Casts.gemmDtype(node);
        if (!gemms.isEmpty() && fp8 != null) {
            double s = 0;
            for (io.tessera.planner.op.Gemm g : gemms) {
                s += k.gemmSeconds(g, d.peak(fp8), d.memoryBandwidth(), fp8.bytes(), t.bytes());
            }
            double cast = Fp8Casts.castBytes(net, op, backward);
            return cast > 0 ? s + k.streamSeconds(cast, d.memoryBandwidth()) : s;
        }
        if (!gemms.isEmpty()) {
            double s = 0;
            for (io.tessera.planner.op.Gemm g : gemms) {
                s += k.gemmSeconds(g, d.peak(t), d.memoryBandwidth(), t.bytes());
            }
            return s;
        }
        if (launchesNoKernel(net, node)) {
            return 0;
        }
        double factor = backward ? 2 : 1;
        long flops = o.forwardFlops(in, out);
        long bytes = forwardBytes(net, op, in, out);
        if (flops == 0 && bytes == 0) {
            return 0;
        }
        double compute = flops == 0 ? 0 : factor * flops / (d.peak(t) * d.efficiency(flops)) + k.launchSeconds();
        return Math.max(compute, k.streamSeconds(factor * bytes, d.memoryBandwidth()));
    }

    /**
     * Whether the operator launches no kernel of its own on a device with a {@link KernelModel}, as frameworks run
     * transformer training (Megatron-LM's fused kernels, cuBLAS epilogues):
     * <ol>
     *   <li>a view: a {@code Reshape}, or a {@code Transpose} whose every consumer is a batched matrix product, which
     *       reads it in place as a strided operand;</li>
     *   <li>a GEMM epilogue: a {@code BiasAdd}, or an elementwise {@code Binary} with a one-element operand (a scale),
     *       applied to the output of a matrix product it is the only consumer of;</li>
     *   <li>an elementwise prologue: an elementwise operator ({@code Binary}, {@code BiasAdd}, {@code Activation},
     *       {@code Dropout}, {@code Cast}, {@code CausalMask}) whose output's only consumer is another elementwise operator or a
     *       {@code Softmax}, which reads the operator's inputs instead of its output in the same kernel (fused
     *       scale-mask-softmax, bias-GeLU, bias-dropout-add).</li>
     * </ol>
     * Forward and backward alike: the fused kernels have fused backwards.
     */
    public static boolean launchesNoKernel(Network net, Node node) {
        Operator o = node.op();
        if (o instanceof io.tessera.planner.op.Reshape) {
            return true;
        }
        List<Node> consumers = net.consumers(node.output(0));
        if (o instanceof io.tessera.planner.op.Transpose) {
            return !consumers.isEmpty() && consumers.stream()
                    .allMatch(c -> c.op() instanceof io.tessera.planner.op.MatMul m && m.batch());
        }
        if (!elementwise(o) || node.outputs().size() != 1) {
            return false;
        }
        boolean scale = o instanceof io.tessera.planner.op.BiasAdd;
        for (String in : node.inputs()) {
            long[] shape = net.tensor(in).shape();
            long volume = 1;
            for (long d : shape) {
                volume *= d;
            }
            scale |= volume == 1;
        }
        if (scale) {
            Node producer = net.producer(node.inputs().get(0));
            if (producer != null && producer.op() instanceof io.tessera.planner.op.MatMul
                    && net.consumers(node.inputs().get(0)).size() == 1) {
                return true;
            }
        }
        return consumers.size() == 1 && (elementwise(consumers.get(0).op())
                || consumers.get(0).op() instanceof io.tessera.planner.op.Softmax);
    }

    private static boolean elementwise(Operator o) {
        return o instanceof io.tessera.planner.op.Binary || o instanceof io.tessera.planner.op.BiasAdd
                || o instanceof io.tessera.planner.op.Activation || o instanceof io.tessera.planner.op.Dropout
                || o instanceof io.tessera.planner.op.Cast || o instanceof io.tessera.planner.op.CausalMask;
    }

    private static DType computeType(Network net, OpPlan op) {
        Node node = net.node(op.name());
        for (String in : node.inputs()) {
            DType t = net.tensor(in).dtype();
            if (t.isFloating()) {
                return t;
            }
        }
        return net.tensor(node.output(0)).dtype();
    }

    /**
     * Seconds of one collective over {@code group} (global ranks) where {@code bytes} is the per-rank buffer:
     * AllReduce the reduced tensor, AllGather the gathered result, ReduceScatter the input, AllToAll each rank's
     * buffer, CollectivePermute / SendRecv the bytes received. With {@code p} ranks, {@code a} the latency and
     * {@code bw} the effective bandwidth of the slowest link the group crosses ({@link ClusterSpec#slowestLink}):
     * <ul>
     *   <li>AllReduce ring: {@code 2(p-1)/p * bytes/bw + 2(p-1) a}; tree: {@code 2 ceil(log2 p) (a + bytes/bw)};
     *       hierarchical over {@code n} nodes with at most {@code q} group ranks each: intra-node ReduceScatter of
     *       {@code bytes}, inter-node ring AllReduce of {@code bytes/q}, intra-node AllGather of {@code bytes}.</li>
     *   <li>AllGather / ReduceScatter ring: {@code (p-1)/p * bytes/bw + (p-1) a}; tree (recursive doubling /
     *       halving): {@code (p-1)/p * bytes/bw + ceil(log2 p) a}; hierarchical: the inter-node ring over
     *       {@code bytes/q} then (AllGather) or before (ReduceScatter) the intra-node ring over {@code bytes}.</li>
     *   <li>AllToAll (pairwise exchange) ring or tree, or within one node: {@code (p-1)/p * bytes/bw + (p-1) a};
     *       hierarchical across nodes: {@link #hierarchicalAllToAll} (the intra-node and inter-node parts
     *       concurrently); auto: the cheaper of the two.</li>
     *   <li>CollectivePermute / SendRecv (any algorithm): {@code a + bytes/bw}.</li>
     *   <li>Broadcast (scatter then ring AllGather, any algorithm): {@code (p-1)/p * bytes/bw + (p-1) a}.</li>
     * </ul>
     * {@link CollectiveAlgorithm#AUTO} takes the cheapest of the three. A group of one rank costs 0.
     *
     * <p>The group alone uses the network here: its ranks on one node share that node's
     * {@link ClusterSpec#nicsPerNode} NICs (see {@link #collectiveSeconds(CollectiveKind, Placement, long, int)};
     * {@link #communicationSeconds} counts every group of a communication, as SPMD runs them at once).
     *
     * @throws IllegalArgumentException for a null kind, an empty group, a rank outside the cluster or
     *                                  negative bytes
     */
    public double collectiveSeconds(CollectiveKind kind, List<Integer> group, long bytes) {
        if (kind == null) {
            throw new IllegalArgumentException("cost model: collective kind is null; expected one of "
                    + java.util.Arrays.toString(CollectiveKind.values()));
        }
        if (group == null || group.isEmpty()) {
            throw new IllegalArgumentException("cost model: " + kind + " group is " + group
                    + "; expected at least one global rank");
        }
        if (bytes < 0) {
            throw new IllegalArgumentException("cost model: " + kind + " over " + group + " has " + bytes
                    + " bytes; expected a per-rank buffer size >= 0");
        }
        Placement placement = spec.placement(group);
        return seconds(kind, placement, bytes, placement.spansNodes() ? placement.maxPerNode() : 0);
    }

    /**
     * Seconds of one collective over a group placed as {@code placement} ({@link ClusterSpec#placement}); the
     * formulas of {@link #collectiveSeconds(CollectiveKind, List, long)}, which depend on the group only through its
     * size, the nodes it spans and the most of its ranks on one node.
     *
     * @throws IllegalArgumentException for a null kind, a null placement or negative bytes
     */
    public double collectiveSeconds(CollectiveKind kind, Placement placement, long bytes) {
        checkCollective(kind, placement, bytes);
        return seconds(kind, placement, bytes, placement.spansNodes() ? placement.maxPerNode() : 0);
    }

    private static void checkCollective(CollectiveKind kind, Placement placement, long bytes) {
        if (kind == null) {
            throw new IllegalArgumentException("cost model: collective kind is null; expected one of "
                    + java.util.Arrays.toString(CollectiveKind.values()));
        }
        if (placement == null) {
            throw new IllegalArgumentException("cost model: " + kind + " placement is null; expected "
                    + "ClusterSpec.placement(group)");
        }
        if (bytes < 0) {
            throw new IllegalArgumentException("cost model: " + kind + " over " + placement + " has " + bytes
                    + " bytes; expected a per-rank buffer size >= 0");
        }
    }

    /**
     * Seconds of one collective over a group placed as {@code placement} while {@code sharers} ranks of its busiest
     * node use the inter-node network at once (this group's and those of concurrent groups: in an SPMD plan every
     * group of a communication runs together, e.g. tensor 8 x data N has 8 data-parallel groups per node). They share
     * the node's {@link ClusterSpec#nicsPerNode} NICs: every inter-node transfer runs at the inter-node link's
     * bandwidth times {@link ClusterSpec#interNodeShare}{@code (sharers) = min(1, nics / sharers)}. So the
     * hierarchical inter-node phase of one group alone, {@code q} rings of {@code bytes / q}, uses at most
     * {@code min(q, nics)} NICs. A static formula: the sharers are counted per communication, not from what else
     * the timeline runs at that moment (collectives of one rank are serialised on its communication stream, and the
     * ranks of a node run the same program, so the concurrent inter-node traffic of a node is that of one
     * communication's groups). With the default one NIC per device the share is always 1 and the figures are those of
     * {@link #collectiveSeconds(CollectiveKind, Placement, long)}.
     *
     * @param sharers ranks of one node using the network at once, {@code >= 0} (0 or 1: no sharing)
     * @throws IllegalArgumentException as {@link #collectiveSeconds(CollectiveKind, Placement, long)}, or for
     *                                  negative sharers
     */
    public double collectiveSeconds(CollectiveKind kind, Placement placement, long bytes, int sharers) {
        if (sharers < 0) {
            throw new IllegalArgumentException("cost model: " + kind + " over " + placement + " has " + sharers
                    + " ranks sharing a node's NICs; expected >= 0");
        }
        checkCollective(kind, placement, bytes);
        return seconds(kind, placement, bytes, sharers);
    }

    /**
     * Seconds of one collective per group of {@code groups}, all running at once (an SPMD communication, a fusion
     * bucket): group {@code g}'s figure is {@link #collectiveSeconds(CollectiveKind, Placement, long, int)} with the
     * {@link #networkSharers} of all the groups; with one NIC per device exactly
     * {@link #collectiveSeconds(CollectiveKind, List, long)} per group.
     *
     * @throws IllegalArgumentException as {@link #collectiveSeconds(CollectiveKind, List, long)}
     */
    public double[] concurrentCollectiveSeconds(CollectiveKind kind, List<List<Integer>> groups, long bytes) {
        int sharers = spec.nicsPerNode() >= spec.devicesPerNode() ? 0 : networkSharers(groups);
        double[] out = new double[groups.size()];
        for (int g = 0; g < out.length; g++) {
            List<Integer> group = groups.get(g);
            out[g] = sharers == 0 ? collectiveSeconds(kind, group, bytes)
                    : collectiveSeconds(kind, spec.placement(group), bytes, sharers);
        }
        return out;
    }

    /**
     * The ranks of the busiest node that use the inter-node network when every group of {@code groups} runs its
     * collective at once: per node, the ranks of groups that span more than one node; the most over the nodes (0 when
     * no group spans nodes).
     *
     * @throws IllegalArgumentException when a rank is outside the cluster
     */
    public int networkSharers(List<List<Integer>> groups) {
        java.util.Map<Integer, Integer> perNode = new java.util.HashMap<>();
        int most = 0;
        for (List<Integer> g : groups) {
            if (g.size() <= 1 || !spec.spansNodes(g)) {
                continue;
            }
            for (int r : g) {
                most = Math.max(most, perNode.merge(spec.nodeOf(r), 1, Integer::sum));
            }
        }
        return most;
    }

    private double seconds(CollectiveKind kind, Placement placement, long bytes, int sharers) {
        // only the inter-node link is shared; with a share of 1 this is ClusterSpec.slowestLink(placement)
        Link inter = shared(spec.interNode(), placement, sharers);
        Link link = !placement.spansNodes() ? spec.intraNode()
                : inter.effectiveBandwidth() < spec.intraNode().effectiveBandwidth() ? inter : spec.intraNode();
        int p = placement.ranks();
        if (p == 1) {
            return 0;
        }
        switch (kind) {
            case ALL_TO_ALL -> {
                return allToAll(placement, bytes, link, inter);
            }
            case BROADCAST -> {
                return ring(p, bytes, link);
            }
            case COLLECTIVE_PERMUTE, SEND_RECV -> {
                return link.seconds(bytes);
            }
            case ALL_REDUCE, ALL_GATHER, REDUCE_SCATTER -> {
                // by algorithm, below
            }
        }
        CollectiveAlgorithm a = spec.algorithm();
        if (a != CollectiveAlgorithm.AUTO) {
            return seconds(a, kind, placement, bytes, link, inter);
        }
        double best = Double.POSITIVE_INFINITY;
        for (CollectiveAlgorithm c : AUTO_CHOICES) {
            best = Math.min(best, seconds(c, kind, placement, bytes, link, inter));
        }
        return best;
    }

    /**
     * {@code link} with its bandwidth times {@link ClusterSpec#interNodeShare}{@code (sharers)} when the group spans
     * nodes and the share is below 1; else {@code link} itself (the same figures bit for bit).
     */
    private Link shared(Link link, Placement placement, int sharers) {
        if (!placement.spansNodes()) {
            return link;
        }
        double share = spec.interNodeShare(sharers);
        return share >= 1 ? link : new Link(link.bandwidth() * share, link.latency(), link.efficiency());
    }

    /**
     * Seconds of a collective over {@code group} by algorithm {@code a} instead of the spec's; the formulas of
     * {@link #collectiveSeconds(CollectiveKind, List, long)}.
     */
    public double collectiveSeconds(CollectiveAlgorithm a, CollectiveKind kind, List<Integer> group, long bytes) {
        if (a == null) {
            throw new IllegalArgumentException("cost model: collective algorithm is null; expected one of "
                    + java.util.Arrays.toString(CollectiveAlgorithm.values()));
        }
        return a == spec.algorithm() ? collectiveSeconds(kind, group, bytes)
                : new CostModel(spec.withAlgorithm(a)).collectiveSeconds(kind, group, bytes);
    }

    private double seconds(CollectiveAlgorithm a, CollectiveKind kind, Placement placement, long bytes, Link link,
                           Link inter) {
        int p = placement.ranks();
        boolean allReduce = kind == CollectiveKind.ALL_REDUCE;
        switch (a) {
            case RING:
                return allReduce ? 2 * ring(p, bytes, link) : ring(p, bytes, link);
            case TREE: {
                int steps = log2Ceil(p);
                if (allReduce) {
                    return 2.0 * steps * link.seconds(bytes);
                }
                return (p - 1.0) / p * bytes / link.effectiveBandwidth() + steps * link.latency();
            }
            default: {
                int n = placement.nodes();
                int q = placement.maxPerNode();
                double intra = q > 1 ? ring(q, bytes, spec.intraNode()) : 0;
                double across = n > 1 ? ring(n, (double) bytes / q, inter) : 0;
                return allReduce ? 2 * intra + 2 * across : intra + across;
            }
        }
    }

    /**
     * An AllToAll of a {@code bytes} buffer per rank over {@code placement}: flat (pairwise exchange over the slowest
     * link, {@code (p-1)/p * bytes/bw + (p-1) a}) with the {@code ring} or {@code tree} algorithm or when the group
     * sits in one node; two-level with {@code hierarchical} ({@link #hierarchicalAllToAll}) and the cheaper of the
     * two with {@code auto}.
     */
    private double allToAll(Placement placement, long bytes, Link link, Link inter) {
        double flat = ring(placement.ranks(), bytes, link);
        CollectiveAlgorithm a = spec.algorithm();
        if (!placement.spansNodes() || a == CollectiveAlgorithm.RING || a == CollectiveAlgorithm.TREE) {
            return flat;
        }
        double twoLevel = hierarchicalAllToAll(placement.ranks(), placement.maxPerNode(), bytes, spec.intraNode(),
                inter);
        return a == CollectiveAlgorithm.AUTO ? Math.min(flat, twoLevel) : twoLevel;
    }

    /**
     * Seconds of a two-level AllToAll over {@code p} ranks, at most {@code q} of them per node, of a {@code bytes}
     * buffer per rank: each rank sends {@code (q-1)/p} of its buffer to the ranks of its node over the intra-node link
     * and {@code (p-q)/p} to the other nodes over its NIC (the inter-node link), one pairwise message per peer. The two
     * parts run <em>concurrently</em>, so the collective takes the slower:
     * {@code max((q-1)/p * bytes/bw_intra + (q-1) a_intra, (p-q)/p * bytes/bw_inter + (p-q) a_inter)}. Concurrent,
     * not one after the other, because NCCL posts every peer's send and receive of an AllToAll at once and the
     * NVLink and NIC paths are separate hardware, so intra-node messages do not wait for inter-node ones (a
     * node-aggregating two-phase AllToAll would serialise them but move the same inter-node bytes). The flat form
     * instead sends all {@code (p-1)/p} over the slowest link.
     *
     * @param p     ranks in the group, at least 1
     * @param q     ranks of the group on its fullest node, in {@code [1, p]}
     * @param bytes the per-rank buffer, bytes, at least 0
     * @throws IllegalArgumentException when the counts are out of range
     */
    public static double hierarchicalAllToAll(int p, int q, double bytes, Link intra, Link inter) {
        if (p < 1 || q < 1 || q > p || !(bytes >= 0)) {
            throw new IllegalArgumentException("cost model: hierarchical AllToAll over " + p + " ranks, " + q
                    + " per node, " + bytes + " bytes; expected p >= 1, 1 <= q <= p and bytes >= 0");
        }
        double inside = q > 1 ? (q - 1.0) / p * bytes / intra.effectiveBandwidth() + (q - 1) * intra.latency() : 0;
        double across = p > q ? (double) (p - q) / p * bytes / inter.effectiveBandwidth() + (p - q) * inter.latency()
                : 0;
        return Math.max(inside, across);
    }

    /** {@code (p-1)/p * bytes / bw + (p-1) * latency}: one ring pass (a ReduceScatter or an AllGather). */
    private static double ring(int p, double bytes, Link link) {
        return (p - 1.0) / p * bytes / link.effectiveBandwidth() + (p - 1) * link.latency();
    }

    private static int log2Ceil(int p) {
        return 32 - Integer.numberOfLeadingZeros(p - 1);
    }

    /**
     * Seconds of a planned communication: the slowest of its groups, each costed by {@link #collectiveSeconds} with
     * the per-rank buffer recovered from the most bytes any member receives ({@code recv}), inverting the ring
     * volumes the planner records: AllReduce {@code recv = 2(p-1)/p * buffer}; AllGather, ReduceScatter and
     * AllToAll {@code recv = (p-1)/p * buffer}; CollectivePermute and SendRecv {@code recv = buffer}.
     */
    public double communicationSeconds(Communication c) {
        return communicationSeconds(c, 1);
    }

    /**
     * {@link #communicationSeconds(Communication)} with the bytes each member receives times {@code scale} (a mixture
     * of experts' AllToAll moving only the rows its routing fills, {@link MoeCosts}); {@code scale} 1 gives the same
     * figure bit for bit.
     *
     * @param scale the share of the recorded bytes really sent, {@code >= 0}
     */
    public double communicationSeconds(Communication c, double scale) {
        int ranks = c.ranks();
        // every group runs at once (SPMD): the ranks of one node in node-spanning groups share its NICs
        int sharers = spec.nicsPerNode() >= spec.devicesPerNode() ? 0 : networkSharers(c.groups());
        double worst = 0;
        // groups of one communication are usually alike: reuse the previous group's figure for the same placement
        Placement lastPlacement = null;
        long lastBuffer = -1;
        double last = 0;
        for (List<Integer> g : c.groups()) {
            int p = g.size();
            if (p <= 1) {
                continue;
            }
            long most = 0;
            for (int r : g) {
                if (r >= 0 && r < ranks) {
                    most = Math.max(most, c.recvBytes(r));
                }
            }
            long buffer = bufferBytes(c.kind(), p, scale == 1 ? most : Math.round(most * scale));
            Placement placement = spec.placement(g);
            if (buffer != lastBuffer || !placement.equals(lastPlacement)) {
                last = sharers == 0 ? collectiveSeconds(c.kind(), placement, buffer)
                        : collectiveSeconds(c.kind(), placement, buffer, sharers);
                lastPlacement = placement;
                lastBuffer = buffer;
            }
            worst = Math.max(worst, last);
        }
        return worst;
    }

    /**
     * The per-rank buffer of a {@code kind} collective over {@code p} ranks in which a rank receives {@code recv}
     * bytes (the inversion described at {@link #communicationSeconds}), rounded to the nearest byte.
     */
    public static long bufferBytes(CollectiveKind kind, int p, long recv) {
        if (p <= 1) {
            return recv;
        }
        return switch (kind) {
            case ALL_REDUCE -> Math.round(recv * (double) p / (2.0 * (p - 1)));
            case ALL_GATHER, REDUCE_SCATTER, ALL_TO_ALL -> Math.round(recv * (double) p / (p - 1));
            case BROADCAST, COLLECTIVE_PERMUTE, SEND_RECV -> recv;
        };
    }

    /**
     * Bytes the optimizer step reads and writes on one rank for {@code params}, as mixed-precision training runs it
     * (Megatron-LM's float16 optimizer), per element of each trainable parameter's held shard with {@code S} float32
     * states of {@code optimizer}:
     * <ul>
     *   <li>16-bit parameters ({@code b} = 2 bytes): the gradient copied to a float32 main gradient
     *       ({@code b + 4}); unscaled and checked for overflow ({@code 4 + 4}); the global norm for clipping
     *       ({@code 4}); clipped ({@code 4 + 4}); the update reads the float32 master weight, the gradient and the
     *       states and writes the master weight and the states ({@code 8 + 4 + 8S}); the master weight copied back
     *       ({@code 4 + b}): {@code 2b + 44 + 8S} in all;</li>
     *   <li>32-bit parameters: the norm ({@code 4}), clipping ({@code 8}), the update reading the weight, the
     *       gradient and the states and writing the weight and the states ({@code 12 + 8S}): {@code 24 + 8S}.</li>
     * </ul>
     */
    public static double updateBytes(List<io.tessera.planner.plan.ParamPlan> params,
                                     io.tessera.planner.strategy.OptimizerKind optimizer) {
        int states = optimizer.statesPerElement();
        double bytes = 0;
        for (io.tessera.planner.plan.ParamPlan p : params) {
            if (!p.trainable()) {
                continue;
            }
            long held = p.shard().sharded() ? p.shardBytes() : p.sliceBytes();
            int b = p.dtype().bytes();
            double elements = (double) held / b;
            double perElement = b == 2 ? 2.0 * b + 44 + 8.0 * states : 24 + 8.0 * states;
            bytes += elements * perElement;
        }
        return bytes;
    }

    /**
     * Seconds of the optimizer step of {@code params} on one rank: {@link #updateBytes} streamed at the memory
     * bandwidth (times the kernel model's memory efficiency, plus one launch, when the device has one).
     */
    public double updateSeconds(List<io.tessera.planner.plan.ParamPlan> params,
                                io.tessera.planner.strategy.OptimizerKind optimizer) {
        double bytes = updateBytes(params, optimizer);
        DeviceSpec d = spec.device();
        if (bytes == 0) {
            return 0;
        }
        return d.kernels() == null ? bytes / d.memoryBandwidth() : d.kernels().streamSeconds(bytes,
                d.memoryBandwidth());
    }

    /**
     * Seconds of the once-per-step FP8 casts of the weights among {@code params} that an FP8 product of {@code net}
     * reads ({@link Fp8Casts}): each weight slice read in its dtype and written twice in FP8 (row-wise and
     * transposed), one streaming kernel per weight (plus its launch with a kernel model). Transformer Engine casts a
     * weight at the first micro-batch of a step and reuses the FP8 copy for the others, so this is counted once per
     * step, beside the optimizer update; 0 for a network without FP8 products.
     */
    public double fp8WeightCastSeconds(Network net, List<io.tessera.planner.plan.ParamPlan> params) {
        java.util.Set<String> weights = Fp8Casts.fp8Weights(net);
        if (weights.isEmpty()) {
            return 0;
        }
        DeviceSpec d = spec.device();
        double s = 0;
        for (io.tessera.planner.plan.ParamPlan p : params) {
            if (weights.contains(p.name())) {
                double bytes = Fp8Casts.weightCastBytes(p);
                s += d.kernels() == null ? bytes / d.memoryBandwidth()
                        : d.kernels().streamSeconds(bytes, d.memoryBandwidth());
            }
        }
        return s;
    }

    /**
     * Bytes of forward activations rank {@code rank} keeps for the backward: the sum of every operator's output
     * slices in their dtypes. Recompute, freeing of outputs no backward reads, and buffer reuse are not modelled
     * here (an upper bound without recompute).
     *
     * @throws IllegalArgumentException when the rank is outside the plan
     */
    public long activationBytes(Network net, Plan plan, int rank) {
        if (rank < 0 || rank >= plan.devices()) {
            throw new IllegalArgumentException("cost model: rank " + rank + " is out of range; the plan has "
                    + plan.devices() + " ranks (0.." + (plan.devices() - 1) + ")");
        }
        long bytes = 0;
        for (OpPlan op : plan.ops()) {
            Node node = net.node(op.name());
            List<Layout> outs = op.outputLayouts();
            for (int i = 0; i < outs.size(); i++) {
                bytes += outs.get(i).sliceBytes(net.tensor(node.output(i)).dtype());
            }
        }
        return bytes;
    }
}
