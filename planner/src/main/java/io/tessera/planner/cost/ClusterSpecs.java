package io.tessera.planner.cost;

import io.tessera.layout.UserText;
import io.tessera.planner.json.InputFiles;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.core.JsonParser;
import io.tessera.layout.DType;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;

/**
 * Reads and writes {@link ClusterSpec} JSON (format in {@code schemas/README.md}, section "Cluster spec JSON").
 * Reading is strict: unknown keys, duplicate keys, wrong value types and out-of-range values are errors naming the
 * place, the value found and what is expected. Figures must lie in sane ranges, so that no estimate overflows to
 * infinity or NaN: peak FLOP/s per dtype in [{@value #MIN_FLOPS}, {@value #MAX_FLOPS}], memory_bytes in [1 MiB,
 * 1 PiB], memory and link bandwidths in [{@value #MIN_BANDWIDTH}, {@value #MAX_BANDWIDTH}] bytes/s, latencies and
 * kernel launch seconds in [0, {@value #MAX_SECONDS}] s, efficiencies in [{@value #MIN_FRACTION}, 1],
 * half_efficiency_flops in [1, {@value #MAX_FLOPS}], gemm_half_k in [0, {@value #MAX_FLOPS}]. A {@code "preset"} key
 * starts from {@link ClusterSpec#preset} and the other keys override its fields (objects field by field).
 *
 * <p>{@code "rank_mapping"} (optional, default {@code "block"}) places global ranks on nodes: {@code "block"} (rank
 * {@code r} on node {@code r / devices_per_node}), {@code "round_robin"} (rank {@code r} on node {@code r % nodes}) or
 * an array of node indices, one per device (index = rank), that puts exactly {@code devices_per_node} ranks on every
 * node, e.g. {@code [0, 1, 0, 1]} for 2 nodes of 2 devices. Writing always gives it.
 *
 * <p>{@code "nics_per_node"} (optional, default {@code devices_per_node}: one NIC per device) is the node's NICs
 * ({@link ClusterSpec#nicsPerNode}); writing gives it only when it differs from {@code devices_per_node}.
 */
public final class ClusterSpecs {

    private static final ObjectMapper MAPPER = InputFiles.mapperBuilder()
            .enable(SerializationFeature.INDENT_OUTPUT)
            .build();

    /** Least and most peak FLOP/s of a device per dtype (1 MFLOP/s .. 1e20 FLOP/s). */
    public static final double MIN_FLOPS = 1e6;
    /** The most peak FLOP/s, and the most {@code half_efficiency_flops} and {@code gemm_half_k}. */
    public static final double MAX_FLOPS = 1e20;
    /** Least and most bytes per second of a device memory or link (1 MB/s .. 1e16 B/s). */
    public static final double MIN_BANDWIDTH = 1e6;
    /** The most bytes per second of a device memory or link. */
    public static final double MAX_BANDWIDTH = 1e16;
    /** Least device memory: 1 MiB. */
    public static final long MIN_MEMORY_BYTES = 1L << 20;
    /** Most device memory: 1 PiB. */
    public static final long MAX_MEMORY_BYTES = 1L << 50;
    /** Least efficiency fraction ({@code min_efficiency}, link {@code efficiency}, kernel efficiencies); most is 1. */
    public static final double MIN_FRACTION = 1e-6;
    /** Most seconds of a link latency or a kernel launch. */
    public static final double MAX_SECONDS = 1;

    private static final List<String> TOP = List.of("name", "preset", "devices_per_node", "nics_per_node", "nodes",
            "algorithm", "rank_mapping", "device", "intra_node", "inter_node");
    private static final List<String> DEVICE = List.of("name", "peak_flops", "memory_bytes", "memory_bandwidth",
            "min_efficiency", "max_efficiency", "half_efficiency_flops");
    private static final List<String> LINK = List.of("bandwidth", "latency", "efficiency");
    private static final List<String> KERNELS = List.of("compute_units", "tile_m", "tile_n", "gemm_efficiency",
            "gemm_half_k", "memory_efficiency", "launch_seconds", "provenance");
    private static final List<String> KERNELS_OPTIONAL = List.of("stream_k");

    private ClusterSpecs() {
    }

    /**
     * Reads a cluster spec JSON file (UTF-8).
     *
     * @throws IllegalArgumentException naming the file and the problem
     */
    public static ClusterSpec read(Path file) {
        String text;
        try {
            text = InputFiles.readText(file, "cluster spec");
        } catch (InputFiles.InputFileException e) {
            throw new IllegalArgumentException("cluster spec file " + InputFiles.show(file) + ": " + e.problem()
                    + "; " + e.advice(), e);
        }
        try {
            return parse(text);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(InputFiles.show(file) + ": " + e.getMessage(), e);
        }
    }

    /**
     * Parses cluster spec JSON.
     *
     * @throws IllegalArgumentException naming the key path (e.g. {@code device.peak_flops.float16}), the value
     *                                  found and what is expected
     */
    public static ClusterSpec parse(String json) {
        JsonNode root;
        try {
            root = MAPPER.readTree(json);
        } catch (JsonProcessingException e) {
            throw new IllegalArgumentException("cluster spec: not valid JSON (" + InputFiles.jsonMessage(e)
                    + "); expected one JSON object such as {\"preset\": \"a100-80gb-dgx\", \"nodes\": 16}", e);
        }
        if (root == null || !root.isObject()) {
            throw new IllegalArgumentException("cluster spec: top level is " + describe(root)
                    + "; expected a JSON object such as {\"preset\": \"a100-80gb-dgx\", \"nodes\": 16}");
        }
        checkKeys(root, "top level", TOP);
        checkKeys(root.get("device"), "device", withKernels(DEVICE));
        if (root.get("device") != null) {
            checkKeys(root.get("device").get("kernels"), "device.kernels", withStreamK(KERNELS));
        }
        checkKeys(root.get("intra_node"), "intra_node", LINK);
        checkKeys(root.get("inter_node"), "inter_node", LINK);
        ObjectNode full;
        JsonNode preset = root.get("preset");
        if (preset != null) {
            if (!preset.isTextual()) {
                throw new IllegalArgumentException("cluster spec: preset is " + describe(preset)
                        + "; expected one of " + ClusterSpec.presets());
            }
            full = (ObjectNode) MAPPER.valueToTree(tree(ClusterSpec.preset(preset.asText())));
            merge(full, root);
            full.remove("preset");
        } else {
            full = (ObjectNode) root;
        }
        return decode(full);
    }

    /** The JSON of {@code spec}: every field explicit, keys in the documented order, a final newline. */
    public static String write(ClusterSpec spec) {
        try {
            return MAPPER.writeValueAsString(tree(spec)).replace("\r\n", "\n") + "\n";
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("cluster spec '" + spec.name() + "': cannot be written as JSON", e);
        }
    }

    private static ObjectNode tree(ClusterSpec s) {
        ObjectNode o = MAPPER.createObjectNode();
        o.put("name", s.name());
        o.put("devices_per_node", s.devicesPerNode());
        if (s.nicsPerNode() != s.devicesPerNode()) {
            o.put("nics_per_node", s.nicsPerNode());
        }
        o.put("nodes", s.nodes());
        o.put("algorithm", s.algorithm().jsonName());
        RankMapping mapping = s.rankMapping();
        if (mapping.kind() == RankMapping.Kind.EXPLICIT) {
            ArrayNode a = o.putArray("rank_mapping");
            mapping.nodes().forEach(a::add);
        } else {
            o.put("rank_mapping", mapping.kind().jsonName());
        }
        ObjectNode d = o.putObject("device");
        DeviceSpec dev = s.device();
        d.put("name", dev.name());
        ObjectNode peak = d.putObject("peak_flops");
        for (Map.Entry<DType, Double> e : dev.peakFlops().entrySet()) {
            peak.put(e.getKey().jsonName(), e.getValue());
        }
        d.put("memory_bytes", dev.memoryBytes());
        d.put("memory_bandwidth", dev.memoryBandwidth());
        d.put("min_efficiency", dev.minEfficiency());
        d.put("max_efficiency", dev.maxEfficiency());
        d.put("half_efficiency_flops", dev.halfEfficiencyFlops());
        KernelModel k = dev.kernels();
        if (k != null) {
            ObjectNode kn = d.putObject("kernels");
            kn.put("compute_units", k.computeUnits());
            kn.put("tile_m", k.tileM());
            kn.put("tile_n", k.tileN());
            kn.put("gemm_efficiency", k.gemmEfficiency());
            kn.put("gemm_half_k", k.gemmHalfK());
            kn.put("memory_efficiency", k.memoryEfficiency());
            kn.put("launch_seconds", k.launchSeconds());
            kn.put("stream_k", k.streamK());
            kn.put("provenance", k.provenance());
        }
        link(o.putObject("intra_node"), s.intraNode());
        link(o.putObject("inter_node"), s.interNode());
        return o;
    }

    private static void link(ObjectNode o, Link l) {
        o.put("bandwidth", l.bandwidth());
        o.put("latency", l.latency());
        o.put("efficiency", l.efficiency());
    }

    /** Overrides {@code base} with {@code over}: objects field by field (except peak_flops, replaced whole). */
    private static void merge(ObjectNode base, JsonNode over) {
        Iterator<Map.Entry<String, JsonNode>> it = over.fields();
        while (it.hasNext()) {
            Map.Entry<String, JsonNode> e = it.next();
            JsonNode b = base.get(e.getKey());
            if (b != null && b.isObject() && e.getValue().isObject() && !e.getKey().equals("peak_flops")) {
                merge((ObjectNode) b, e.getValue());
            } else {
                base.set(e.getKey(), e.getValue());
            }
        }
    }

    private static ClusterSpec decode(JsonNode o) {
        require(o, "top level", List.of("name", "devices_per_node", "nodes", "algorithm", "device", "intra_node",
                "inter_node"));
        String name = text(o.get("name"), "name");
        int perNode = (int) integer(o.get("devices_per_node"), "devices_per_node", 1, Integer.MAX_VALUE);
        int nics = o.has("nics_per_node")
                ? (int) integer(o.get("nics_per_node"), "nics_per_node", 1, Integer.MAX_VALUE) : perNode;
        int nodes = (int) integer(o.get("nodes"), "nodes", 1, Integer.MAX_VALUE);
        CollectiveAlgorithm algorithm;
        try {
            algorithm = CollectiveAlgorithm.parse(text(o.get("algorithm"), "algorithm"));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("cluster spec: algorithm: " + e.getMessage(), e);
        }
        DeviceSpec device = device(o.get("device"));
        Link intra = link(o.get("intra_node"), "intra_node");
        Link inter = link(o.get("inter_node"), "inter_node");
        RankMapping mapping = o.has("rank_mapping") ? rankMapping(o.get("rank_mapping")) : RankMapping.block();
        try {
            return new ClusterSpec(name, perNode, nodes, device, intra, inter, algorithm, mapping, nics);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("cluster spec: " + e.getMessage(), e);
        }
    }

    /** {@code "block"}, {@code "round_robin"} or an array of node indices. */
    private static RankMapping rankMapping(JsonNode m) {
        if (m.isTextual()) {
            try {
                return RankMapping.parse(m.asText());
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("cluster spec: rank_mapping: " + e.getMessage(), e);
            }
        }
        if (!m.isArray()) {
            throw new IllegalArgumentException("cluster spec: rank_mapping is " + describe(m) + "; expected \"block\", "
                    + "\"round_robin\" or an array of node indices, one per rank");
        }
        if (m.isEmpty()) {
            throw new IllegalArgumentException("cluster spec: rank_mapping is an empty array; expected one node index "
                    + "per device, e.g. [0, 1, 0, 1] for 2 nodes of 2 devices");
        }
        List<Integer> nodes = new ArrayList<>(m.size());
        for (int r = 0; r < m.size(); r++) {
            nodes.add((int) integer(m.get(r), "rank_mapping[" + r + "]", 0, Integer.MAX_VALUE));
        }
        return RankMapping.explicit(nodes);
    }

    private static DeviceSpec device(JsonNode d) {
        object(d, "device");
        require(d, "device", DEVICE);
        JsonNode peak = object(d.get("peak_flops"), "device.peak_flops");
        Map<DType, Double> flops = new EnumMap<>(DType.class);
        Iterator<Map.Entry<String, JsonNode>> it = peak.fields();
        while (it.hasNext()) {
            Map.Entry<String, JsonNode> e = it.next();
            DType t;
            try {
                t = DType.parse(e.getKey());
            } catch (IllegalArgumentException ex) {
                throw new IllegalArgumentException("cluster spec: device.peak_flops: " + ex.getMessage(), ex);
            }
            flops.put(t, number(e.getValue(), "device.peak_flops." + e.getKey(), MIN_FLOPS, MAX_FLOPS));
        }
        try {
            return new DeviceSpec(text(d.get("name"), "device.name"), flops,
                    integer(d.get("memory_bytes"), "device.memory_bytes", MIN_MEMORY_BYTES, MAX_MEMORY_BYTES),
                    number(d.get("memory_bandwidth"), "device.memory_bandwidth", MIN_BANDWIDTH,
                            MAX_BANDWIDTH),
                    number(d.get("min_efficiency"), "device.min_efficiency", MIN_FRACTION, 1),
                    number(d.get("max_efficiency"), "device.max_efficiency", MIN_FRACTION, 1),
                    number(d.get("half_efficiency_flops"), "device.half_efficiency_flops", 1, MAX_FLOPS),
                    d.has("kernels") ? kernels(d.get("kernels")) : null);
        } catch (IllegalArgumentException e) {
            throw e.getMessage().startsWith("cluster spec") ? e
                    : new IllegalArgumentException("cluster spec: " + e.getMessage(), e);
        }
    }

    private static List<String> withKernels(List<String> keys) {
        List<String> all = new java.util.ArrayList<>(keys);
        all.add("kernels");
        return all;
    }

    private static List<String> withStreamK(List<String> keys) {
        List<String> all = new java.util.ArrayList<>(keys);
        all.addAll(KERNELS_OPTIONAL);
        return all;
    }

    private static boolean bool(JsonNode n, String path) {
        if (n == null || !n.isBoolean()) {
            throw new IllegalArgumentException("cluster spec: " + path + " is " + describe(n)
                    + "; expected true or false");
        }
        return n.booleanValue();
    }

    private static KernelModel kernels(JsonNode k) {
        object(k, "device.kernels");
        require(k, "device.kernels", KERNELS);
        return new KernelModel((int) integer(k.get("compute_units"), "device.kernels.compute_units", 1,
                Integer.MAX_VALUE), (int) integer(k.get("tile_m"), "device.kernels.tile_m", 1, Integer.MAX_VALUE),
                (int) integer(k.get("tile_n"), "device.kernels.tile_n", 1, Integer.MAX_VALUE),
                number(k.get("gemm_efficiency"), "device.kernels.gemm_efficiency", MIN_FRACTION, 1),
                number(k.get("gemm_half_k"), "device.kernels.gemm_half_k", 0, MAX_FLOPS),
                number(k.get("memory_efficiency"), "device.kernels.memory_efficiency", MIN_FRACTION, 1),
                number(k.get("launch_seconds"), "device.kernels.launch_seconds", 0, MAX_SECONDS),
                k.has("stream_k") && bool(k.get("stream_k"), "device.kernels.stream_k"),
                text(k.get("provenance"), "device.kernels.provenance"));
    }

    private static Link link(JsonNode l, String path) {
        object(l, path);
        require(l, path, LINK);
        try {
            return new Link(number(l.get("bandwidth"), path + ".bandwidth", MIN_BANDWIDTH, MAX_BANDWIDTH),
                    number(l.get("latency"), path + ".latency", 0, MAX_SECONDS),
                    number(l.get("efficiency"), path + ".efficiency", MIN_FRACTION, 1));
        } catch (IllegalArgumentException e) {
            throw e.getMessage().startsWith("cluster spec") ? e
                    : new IllegalArgumentException("cluster spec: " + path + ": " + e.getMessage(), e);
        }
    }

    private static JsonNode object(JsonNode n, String path) {
        if (n == null || !n.isObject()) {
            throw new IllegalArgumentException("cluster spec: " + path + " is " + describe(n)
                    + "; expected a JSON object");
        }
        return n;
    }

    private static void checkKeys(JsonNode n, String path, List<String> valid) {
        if (n == null || !n.isObject()) {
            return;
        }
        Iterator<String> it = n.fieldNames();
        while (it.hasNext()) {
            String k = it.next();
            if (!valid.contains(k)) {
                throw new IllegalArgumentException("cluster spec: " + path + " has unknown key " + UserText.quoted(k)
                        + "; expected only " + valid);
            }
        }
    }

    private static void require(JsonNode n, String path, List<String> keys) {
        for (String k : keys) {
            if (!n.has(k)) {
                throw new IllegalArgumentException("cluster spec: " + path + " lacks key '" + k + "'; expected all of "
                        + keys + " (or a \"preset\" key to start from one of " + ClusterSpec.presets() + ")");
            }
        }
    }

    private static String text(JsonNode n, String path) {
        if (n == null || !n.isTextual()) {
            throw new IllegalArgumentException("cluster spec: " + path + " is " + describe(n) + "; expected a string");
        }
        return n.asText();
    }

    private static double number(JsonNode n, String path, double min, double max) {
        if (n == null || !n.isNumber()) {
            throw new IllegalArgumentException("cluster spec: " + path + " is " + describe(n)
                    + "; expected a number");
        }
        double v = n.asDouble();
        if (!(v >= min && v <= max)) {
            throw new IllegalArgumentException("cluster spec: " + path + " is " + v + "; expected a "
                    + "number in [" + min + ", " + max + "] (the sane range of a cluster spec figure)");
        }
        return v;
    }

    private static long integer(JsonNode n, String path, long min, long max) {
        if (n == null || !n.isNumber() || !(n.isIntegralNumber() || n.asDouble() == Math.rint(n.asDouble()))
                || !n.canConvertToLong()) {
            throw new IllegalArgumentException("cluster spec: " + path + " is " + describe(n)
                    + "; expected a whole number");
        }
        long v = n.asLong();
        if (v < min || v > max) {
            throw new IllegalArgumentException("cluster spec: " + path + " is " + v + "; expected " + min + ".."
                    + max);
        }
        return v;
    }

    private static String describe(JsonNode n) {
        if (n == null || n.isMissingNode()) {
            return "missing";
        }
        if (n.isTextual()) {
            return "the string \"" + n.asText() + "\"";
        }
        if (n.isNumber()) {
            return "the number " + n.asText();
        }
        if (n.isBoolean()) {
            return "the boolean " + n.asText();
        }
        if (n.isNull()) {
            return "null";
        }
        return n.isArray() ? "an array" : "an object";
    }
}
