package io.tessera.planner.cost;

import io.tessera.layout.DType;

import java.util.Arrays;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;

/**
 * A cluster of identical nodes, each holding {@code devicesPerNode} devices joined by the intra-node link; nodes are
 * joined by the inter-node link through {@code nicsPerNode} NICs per node (by default one per device). Global rank
 * {@code r} lives on the node its {@link RankMapping} gives: by default {@code r / devicesPerNode}. Immutable; read
 * and written as JSON by {@link ClusterSpecs}.
 *
 * @param name           the cluster's name, e.g. {@code a100-80gb-dgx}
 * @param devicesPerNode devices per node, at least 1
 * @param nodes          number of nodes, at least 1
 * @param device         the device every rank runs on
 * @param intraNode      the link between two devices of one node (per direction, per device)
 * @param interNode      the link between devices of different nodes (per direction, per device's NIC)
 * @param algorithm      how collectives are run
 * @param rankMapping    which node each global rank lives on (default {@link RankMapping#block()}); an explicit
 *                       mapping lists one node per device and puts exactly {@code devicesPerNode} ranks on every node
 * @param nicsPerNode    the node's NICs, each {@code interNode}'s bandwidth, at least 1; default {@code devicesPerNode}
 *                       (one per device, every rank's inter-node traffic on its own NIC). With fewer NICs than the
 *                       ranks of a node that use the network at once, those ranks share them
 *                       ({@link #interNodeShare}, applied by {@link CostModel})
 */
public record ClusterSpec(String name, int devicesPerNode, int nodes, DeviceSpec device, Link intraNode,
                          Link interNode, CollectiveAlgorithm algorithm, RankMapping rankMapping, int nicsPerNode) {

    private static final double GIB = 1024.0 * 1024 * 1024;

    /**
     * The A100's kernels: 108 SMs (datasheet), 256 x 128 tiles (cuBLAS's large-GEMM tile on Ampere); matrix-product
     * efficiency 0.76, no measurable short-reduction penalty, streaming kernels at 0.75 of the memory bandwidth and
     * 10.6 us per kernel, fitted by least squares (mean plus half the max absolute error) to the ten runs of Narayanan
     * et al. 2021, Table 1 ({@code tessera validate}).
     */
    static final KernelModel A100_KERNELS = new KernelModel(108, 256, 128, 0.76, 0, 0.75, 10.6e-6,
            "108 SMs: NVIDIA A100 datasheet; 256x128 tiles: cuBLAS large-GEMM tile on Ampere; gemm_efficiency, "
                    + "gemm_half_k, memory_efficiency, launch_seconds: fitted to Narayanan et al. 2021 Table 1 "
                    + "(tessera validate; 10 runs, 32-3072 A100s)");

    /**
     * The H100's kernels: 132 SMs (datasheet), 256 x 128 tiles (cuBLAS's large-GEMM tile on Hopper) run by persistent
     * stream-K kernels (cuBLAS 12 / CUTLASS 3 on Hopper balance the last wave over the SMs, so partial waves cost
     * their share); matrix-product efficiency 0.81 with a tile's fixed cost worth a reduction of 1,130 elements
     * (Hopper's deep asynchronous pipelines need long reductions), streaming kernels at 0.77 of the memory bandwidth
     * and no measurable per-kernel time (Transformer Engine's fused kernels), fitted by least squares (mean plus half
     * the max absolute error) to the nine runs of the Megatron-LM README's H100 table ({@code tessera validate},
     * under its stated assumptions).
     */
    static final KernelModel H100_KERNELS = new KernelModel(132, 256, 128, 0.81, 1130, 0.77, 0, true,
            "132 SMs: NVIDIA H100 SXM5 datasheet; 256x128 tiles: cuBLAS large-GEMM tile on Hopper; stream_k: "
                    + "persistent stream-K GEMMs of cuBLAS 12 / CUTLASS 3 on Hopper; gemm_efficiency, "
                    + "gemm_half_k, memory_efficiency, launch_seconds: fitted to the Megatron-LM README H100 table "
                    + "(tessera validate; 9 runs, 48-6144 H100s; micro-batch size and precision assumed)");

    /** Validates the counts (and their product) and that nothing is null. */
    public ClusterSpec {
        if (name == null || name.isBlank()) {
            throw new IllegalArgumentException("cluster: name is " + (name == null ? "null" : "blank")
                    + "; expected a non-empty name such as 'a100-80gb-dgx'");
        }
        if (devicesPerNode < 1) {
            throw new IllegalArgumentException("cluster '" + name + "': devices_per_node is " + devicesPerNode
                    + "; expected at least 1 (e.g. 8)");
        }
        if (nodes < 1) {
            throw new IllegalArgumentException("cluster '" + name + "': nodes is " + nodes
                    + "; expected at least 1");
        }
        if ((long) devicesPerNode * nodes > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("cluster '" + name + "': " + devicesPerNode + " devices per node x "
                    + nodes + " nodes overflows an int; expected at most " + Integer.MAX_VALUE + " devices");
        }
        if (device == null || intraNode == null || interNode == null || algorithm == null) {
            throw new IllegalArgumentException("cluster '" + name + "': device, intra_node, inter_node and algorithm "
                    + "must all be given; found device=" + device + ", intra_node=" + intraNode + ", inter_node="
                    + interNode + ", algorithm=" + algorithm);
        }
        if (rankMapping == null) {
            throw new IllegalArgumentException("cluster '" + name + "': rank_mapping is null; expected "
                    + "RankMapping.block() (the default), roundRobin() or explicit(...)");
        }
        if (rankMapping.kind() == RankMapping.Kind.EXPLICIT) {
            checkExplicit(name, devicesPerNode, nodes, rankMapping.nodes());
        }
        if (nicsPerNode < 1) {
            throw new IllegalArgumentException("cluster '" + name + "': nics_per_node is " + nicsPerNode
                    + "; expected at least 1 (default: devices_per_node " + devicesPerNode + ", one NIC per device)");
        }
    }

    /** A cluster with one NIC per device ({@code nicsPerNode = devicesPerNode}). */
    public ClusterSpec(String name, int devicesPerNode, int nodes, DeviceSpec device, Link intraNode, Link interNode,
                       CollectiveAlgorithm algorithm, RankMapping rankMapping) {
        this(name, devicesPerNode, nodes, device, intraNode, interNode, algorithm, rankMapping, devicesPerNode);
    }

    /** A cluster with the default {@link RankMapping#block()} mapping. */
    public ClusterSpec(String name, int devicesPerNode, int nodes, DeviceSpec device, Link intraNode, Link interNode,
                       CollectiveAlgorithm algorithm) {
        this(name, devicesPerNode, nodes, device, intraNode, interNode, algorithm, RankMapping.block());
    }

    /** An explicit mapping must list every device and fill every node with exactly devicesPerNode ranks. */
    private static void checkExplicit(String name, int devicesPerNode, int nodes, List<Integer> map) {
        long devices = (long) devicesPerNode * nodes;
        if (map.size() != devices) {
            throw new IllegalArgumentException("cluster '" + name + "': rank_mapping lists " + map.size()
                    + " ranks; expected one node index per device, " + devices + " (" + nodes + " nodes x "
                    + devicesPerNode + " devices)");
        }
        int[] held = new int[nodes];
        for (int r = 0; r < map.size(); r++) {
            int node = map.get(r);
            if (node >= nodes) {
                throw new IllegalArgumentException("cluster '" + name + "': rank_mapping puts rank " + r + " on node "
                        + node + "; expected a node index in 0.." + (nodes - 1));
            }
            held[node]++;
        }
        for (int node = 0; node < nodes; node++) {
            if (held[node] != devicesPerNode) {
                throw new IllegalArgumentException("cluster '" + name + "': rank_mapping puts " + held[node]
                        + " ranks on node " + node + "; expected exactly " + devicesPerNode
                        + " (devices_per_node) on every node");
            }
        }
    }

    /** Total devices: {@code devicesPerNode * nodes}. */
    public int devices() {
        return devicesPerNode * nodes;
    }

    /**
     * The node of global rank {@code rank} by the {@link #rankMapping()}: by default {@code rank / devicesPerNode}.
     *
     * @throws IllegalArgumentException when the rank is outside {@code 0 .. devices() - 1}
     */
    public int nodeOf(int rank) {
        if (rank < 0 || rank >= devices()) {
            throw new IllegalArgumentException("cluster '" + name + "': rank " + rank + " is out of range; expected 0.."
                    + (devices() - 1) + " (" + nodes + " nodes x " + devicesPerNode + " devices); use withNodes to "
                    + "grow the cluster");
        }
        return rankMapping.nodeOf(rank, devicesPerNode, nodes);
    }

    /**
     * Where {@code group} (global ranks) sits: its size, the nodes it spans and the most of its ranks on one node.
     *
     * @throws IllegalArgumentException when the group is empty or a rank is outside {@code 0 .. devices() - 1}
     */
    public Placement placement(List<Integer> group) {
        int p = group.size();
        if (p == 0) {
            throw new IllegalArgumentException("cluster '" + name + "': the group is empty; expected at least one "
                    + "global rank");
        }
        int[] at = new int[p];
        int i = 0;
        boolean sorted = true;
        for (int r : group) {
            at[i] = nodeOf(r);
            sorted &= i == 0 || at[i] >= at[i - 1];
            i++;
        }
        if (!sorted) {
            Arrays.sort(at);
        }
        int distinct = 1;
        int most = 1;
        int run = 1;
        for (i = 1; i < p; i++) {
            if (at[i] == at[i - 1]) {
                run++;
            } else {
                distinct++;
                run = 1;
            }
            most = Math.max(most, run);
        }
        return new Placement(p, distinct, most);
    }

    /** The slowest link a group placed as {@code placement} crosses (see {@link #slowestLink(List)}). */
    public Link slowestLink(Placement placement) {
        return placement.spansNodes() ? slower(intraNode, interNode) : intraNode;
    }

    /**
     * The slowest link (least effective bandwidth) a group of global ranks crosses: the intra-node link when all
     * ranks share a node, otherwise the slower of the two links.
     */
    public Link slowestLink(List<Integer> group) {
        return spansNodes(group) ? slower(intraNode, interNode) : intraNode;
    }

    /** Whether the ranks of {@code group} live on more than one node. */
    public boolean spansNodes(List<Integer> group) {
        int first = -1;
        for (int r : group) {
            int n = nodeOf(r);
            if (first < 0) {
                first = n;
            } else if (n != first) {
                return true;
            }
        }
        return false;
    }

    private static Link slower(Link a, Link b) {
        return b.effectiveBandwidth() < a.effectiveBandwidth() ? b : a;
    }

    /**
     * A copy with {@code n} nodes, keeping the rank mapping.
     *
     * @throws IllegalArgumentException when the mapping is explicit (it lists the ranks of {@code nodes} nodes) and
     *                                  {@code n != nodes}
     */
    public ClusterSpec withNodes(int n) {
        if (n != nodes && rankMapping.kind() == RankMapping.Kind.EXPLICIT) {
            throw new IllegalArgumentException("cluster '" + name + "': withNodes(" + n + ") cannot keep the explicit "
                    + "rank_mapping of " + devices() + " ranks on " + nodes + " nodes; expected a block or round_robin "
                    + "mapping, or call withRankMapping with a mapping for the new size first");
        }
        return new ClusterSpec(name, devicesPerNode, n, device, intraNode, interNode, algorithm, rankMapping,
                nicsPerNode);
    }

    /**
     * A copy with the fewest nodes, at least one, that hold {@code devices} devices, keeping the rank mapping (how a
     * preset grows to fit a plan).
     *
     * @throws IllegalArgumentException as {@link #withNodes} for an explicit mapping of another size
     */
    public ClusterSpec withNodesFor(int devices) {
        return withNodes(Math.max(1, (devices + devicesPerNode - 1) / devicesPerNode));
    }

    /** A copy whose devices are {@code d}. */
    public ClusterSpec withDevice(DeviceSpec d) {
        return new ClusterSpec(name, devicesPerNode, nodes, d, intraNode, interNode, algorithm, rankMapping,
                nicsPerNode);
    }

    /** A copy with intra-node link {@code intra} and inter-node link {@code inter}. */
    public ClusterSpec withLinks(Link intra, Link inter) {
        return new ClusterSpec(name, devicesPerNode, nodes, device, intra, inter, algorithm, rankMapping, nicsPerNode);
    }

    /** A copy with collective algorithm {@code a}. */
    public ClusterSpec withAlgorithm(CollectiveAlgorithm a) {
        return new ClusterSpec(name, devicesPerNode, nodes, device, intraNode, interNode, a, rankMapping, nicsPerNode);
    }

    /**
     * A copy placing ranks by {@code mapping}.
     *
     * @throws IllegalArgumentException when an explicit mapping does not fill every node with exactly
     *                                  {@code devicesPerNode} ranks
     */
    public ClusterSpec withRankMapping(RankMapping mapping) {
        return new ClusterSpec(name, devicesPerNode, nodes, device, intraNode, interNode, algorithm, mapping,
                nicsPerNode);
    }

    /**
     * A copy with {@code nics} NICs per node.
     *
     * @throws IllegalArgumentException when {@code nics < 1}
     */
    public ClusterSpec withNicsPerNode(int nics) {
        return new ClusterSpec(name, devicesPerNode, nodes, device, intraNode, interNode, algorithm, rankMapping, nics);
    }

    /**
     * The share of one inter-node link (one NIC's bandwidth) each rank gets when {@code sharers} ranks of one node
     * use the network at once: {@code min(1, nicsPerNode / sharers)}; exactly 1 with the default one NIC per device
     * (a node never has more than {@code devicesPerNode} ranks) and for {@code sharers <= nicsPerNode}.
     */
    public double interNodeShare(int sharers) {
        return sharers <= nicsPerNode ? 1 : (double) nicsPerNode / sharers;
    }

    /** The preset names ({@link ClusterPreset#jsonName()}), in the enum's order. */
    public static List<String> presets() {
        return java.util.Arrays.stream(ClusterPreset.values()).map(ClusterPreset::jsonName).toList();
    }

    /**
     * The preset named {@code name} ({@link ClusterPreset#parse}); see {@link #preset(ClusterPreset)}.
     *
     * @throws IllegalArgumentException naming the valid presets when {@code name} is unknown
     */
    public static ClusterSpec preset(String name) {
        return preset(ClusterPreset.parse(name));
    }

    /**
     * A preset cluster of one node (use {@link #withNodes} for more), collectives {@link CollectiveAlgorithm#AUTO}.
     * Peak figures are dense (no structured sparsity). Link efficiencies, latencies and the efficiency curves are
     * estimates of what collectives and kernels typically achieve, not datasheet figures.
     *
     * <ul>
     *   <li>{@code ascend-910b}: an Atlas 800T A2 node, 8 Ascend 910B NPUs: 320 TFLOP/s float16 / bfloat16, 64 GiB
     *       HBM2e at 1.6 TB/s, HCCS full mesh 392 GB/s per NPU (196 GB/s per direction), one 200 Gb/s RoCE port
     *       (25 GB/s) per NPU. Huawei publishes no per-chip datasheet; these are the commonly reported figures
     *       (e.g. boardor.com "Huawei Ascend 910B outperforms H20"), and float32 is an estimate (a quarter of
     *       float16) for lack of a published figure.</li>
     *   <li>{@code a100-80gb-dgx}: a DGX A100, 8 A100-SXM4-80GB (NVIDIA A100 datasheet,
     *       nvidia-a100-datasheet-us-nvidia-1758950-r4-web.pdf): 312 TFLOP/s float16 / bfloat16, 19.5 TFLOP/s
     *       float32 (156 with TF32, not used), 19.5 TFLOP/s float64 tensor core, 624 TOP/s int8, 80 GiB HBM2e at
     *       2,039 GB/s, NVLink 600 GB/s total (300 GB/s per direction); 8 single-port 200 Gb/s HDR InfiniBand
     *       ConnectX-6 per node (DGX A100 user guide), 25 GB/s per GPU.</li>
     *   <li>{@code h100-dgx}: a DGX H100, 8 H100 SXM5 (NVIDIA H100 datasheet): 989 TFLOP/s float16 / bfloat16
     *       dense (1,979 with sparsity), 67 TFLOP/s float32, 67 TFLOP/s float64 tensor core, 1,979 TOP/s int8 dense,
     *       1,978.9 TFLOP/s FP8 (float8_e4m3fn and float8_e5m2) dense (3,958 with sparsity; H100 SXM column of the
     *       NVIDIA H100 Tensor Core GPU datasheet),
     *       80 GiB HBM3 at 3.35 TB/s, NVLink 900 GB/s total (450 GB/s per direction); 8 400 Gb/s NDR InfiniBand
     *       ConnectX-7 per node (DGX H100 user guide), 50 GB/s per GPU.</li>
     * </ul>
     *
     * @throws IllegalArgumentException when {@code preset} is null
     */
    public static ClusterSpec preset(ClusterPreset preset) {
        if (preset == null) {
            throw new IllegalArgumentException("cluster preset: found null; expected one of " + presets());
        }
        return switch (preset) {
            case ASCEND_910B -> new ClusterSpec(preset.jsonName(), 8, 1,
                        new DeviceSpec("Ascend-910B", flops(320e12, 320e12, 80e12, 0, 640e12), (long) (64 * GIB),
                                1.6e12, 0.1, 0.75, 1e9),
                        new Link(196e9, 3e-6, 0.75), new Link(25e9, 6e-6, 0.85), CollectiveAlgorithm.AUTO);
            case A100_80GB_DGX -> new ClusterSpec(preset.jsonName(), 8, 1,
                        new DeviceSpec("A100-SXM4-80GB", flops(312e12, 312e12, 19.5e12, 19.5e12, 624e12),
                                (long) (80 * GIB), 2.039e12, 0.1, 0.8, 5e8, A100_KERNELS),
                        new Link(300e9, 2e-6, 0.8), new Link(25e9, 5e-6, 0.9), CollectiveAlgorithm.AUTO);
            case H100_DGX -> new ClusterSpec(preset.jsonName(), 8, 1,
                        new DeviceSpec("H100-SXM5-80GB", withFp8(flops(989e12, 989e12, 67e12, 67e12, 1979e12),
                                1978.9e12),
                                (long) (80 * GIB), 3.35e12, 0.1, 0.75, 2e9, H100_KERNELS),
                        new Link(450e9, 2e-6, 0.8), new Link(50e9, 5e-6, 0.9), CollectiveAlgorithm.AUTO);
        };
    }

    /** {@code m} with the dense FP8 peak {@code fp8} for both FP8 formats (E4M3 x E4M3 and E4M3 x E5M2 alike). */
    private static Map<DType, Double> withFp8(Map<DType, Double> m, double fp8) {
        m.put(DType.FLOAT8_E4M3FN, fp8);
        m.put(DType.FLOAT8_E5M2, fp8);
        return m;
    }

    private static Map<DType, Double> flops(double fp16, double bf16, double fp32, double fp64, double int8) {
        Map<DType, Double> m = new EnumMap<>(DType.class);
        m.put(DType.FLOAT16, fp16);
        m.put(DType.BFLOAT16, bf16);
        m.put(DType.FLOAT32, fp32);
        if (fp64 > 0) {
            m.put(DType.FLOAT64, fp64);
        }
        m.put(DType.INT8, int8);
        return m;
    }
}
