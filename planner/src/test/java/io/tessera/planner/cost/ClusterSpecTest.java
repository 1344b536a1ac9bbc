package io.tessera.planner.cost;

import io.tessera.layout.DType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ClusterSpecTest {

    private static final long GIB = 1L << 30;

    @Test
    void presetFiguresMatchTheDatasheets() {
        ClusterSpec a100 = ClusterSpec.preset("a100-80gb-dgx");
        assertEquals(8, a100.devicesPerNode());
        assertEquals(312e12, a100.device().peak(DType.BFLOAT16));
        assertEquals(312e12, a100.device().peak(DType.FLOAT16));
        assertEquals(19.5e12, a100.device().peak(DType.FLOAT32));
        assertEquals(80 * GIB, a100.device().memoryBytes());
        assertEquals(2.039e12, a100.device().memoryBandwidth());
        assertEquals(300e9, a100.intraNode().bandwidth());
        assertEquals(25e9, a100.interNode().bandwidth());

        ClusterSpec h100 = ClusterSpec.preset("h100-dgx");
        assertEquals(989e12, h100.device().peak(DType.BFLOAT16));
        assertEquals(67e12, h100.device().peak(DType.FLOAT32));
        assertEquals(3.35e12, h100.device().memoryBandwidth());
        assertEquals(80 * GIB, h100.device().memoryBytes());
        assertEquals(450e9, h100.intraNode().bandwidth());
        assertEquals(50e9, h100.interNode().bandwidth());

        ClusterSpec ascend = ClusterSpec.preset("ascend-910b");
        assertEquals(8, ascend.devicesPerNode());
        assertEquals(64 * GIB, ascend.device().memoryBytes());
        assertEquals(25e9, ascend.interNode().bandwidth());
        assertEquals(List.of("ascend-910b", "a100-80gb-dgx", "h100-dgx"), ClusterSpec.presets());
        for (String p : ClusterSpec.presets()) {
            assertEquals(p, ClusterSpec.preset(p).name());
            assertEquals(CollectiveAlgorithm.AUTO, ClusterSpec.preset(p).algorithm());
        }
    }

    @Test
    void unknownPresetNamesTheValidOnes() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ClusterSpec.preset("v100"));
        assertTrue(e.getMessage().contains("'v100'") && e.getMessage().contains("h100-dgx"), e.getMessage());
    }

    @Test
    void ranksMapToNodesInOrder() {
        ClusterSpec s = ClusterSpec.preset("a100-80gb-dgx").withNodes(4);
        assertEquals(32, s.devices());
        assertEquals(0, s.nodeOf(0));
        assertEquals(0, s.nodeOf(7));
        assertEquals(1, s.nodeOf(8));
        assertEquals(3, s.nodeOf(31));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> s.nodeOf(32));
        assertTrue(e.getMessage().contains("rank 32") && e.getMessage().contains("0..31"), e.getMessage());
        assertSame(s.intraNode(), s.slowestLink(List.of(0, 3, 7)));
        assertSame(s.interNode(), s.slowestLink(List.of(7, 8)));
    }

    @Test
    void efficiencyRisesSmoothlyToItsMaximum() {
        DeviceSpec d = ClusterSpec.preset("a100-80gb-dgx").device();
        assertEquals(d.minEfficiency(), d.efficiency(0));
        assertEquals((d.minEfficiency() + d.maxEfficiency()) / 2, d.efficiency(d.halfEfficiencyFlops()), 1e-12);
        double prev = 0;
        for (double f = 1; f < 1e16; f *= 3) {
            double e = d.efficiency(f);
            assertTrue(e >= prev && e <= d.maxEfficiency(), "efficiency(" + f + ") = " + e);
            prev = e;
        }
        assertTrue(d.efficiency(1e16) > d.maxEfficiency() - 1e-3);
        assertEquals(d.peak(DType.FLOAT32), d.peak(DType.INT32), "integers without a figure fall back to float32");
    }

    @Test
    void badFiguresAreRejectedWithMessages() {
        assertThrows(IllegalArgumentException.class, () -> new Link(0, 1e-6, 0.5));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new Link(1e9, 1e-6, 1.5));
        assertTrue(e.getMessage().contains("efficiency is 1.5"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> new DeviceSpec("x", Map.of(DType.FLOAT16, 1e12), 1, 1e9, 0.1, 0.5, 1e9));
        assertTrue(e.getMessage().contains("float32"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> new DeviceSpec("x", Map.of(DType.FLOAT32, 1e12), 1, 1e9, 0.6, 0.5, 1e9));
        assertTrue(e.getMessage().contains("min_efficiency <= max_efficiency"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> ClusterSpec.preset("h100-dgx").withNodes(0));
        assertTrue(e.getMessage().contains("nodes is 0"), e.getMessage());
    }

    @Test
    void jsonRoundTripsEveryPreset(@TempDir Path dir) throws IOException {
        for (String p : ClusterSpec.presets()) {
            ClusterSpec s = ClusterSpec.preset(p).withNodes(3).withAlgorithm(CollectiveAlgorithm.HIERARCHICAL);
            String json = ClusterSpecs.write(s);
            assertEquals(s, ClusterSpecs.parse(json));
            assertEquals(json, ClusterSpecs.write(ClusterSpecs.parse(json)));
            Path f = dir.resolve(p + ".json");
            Files.writeString(f, json);
            assertEquals(s, ClusterSpecs.read(f));
        }
    }

    @Test
    void presetWithOverrides() {
        ClusterSpec s = ClusterSpecs.parse("{\"preset\": \"a100-80gb-dgx\", \"nodes\": 16, \"algorithm\": \"ring\","
                + " \"inter_node\": {\"efficiency\": 0.5}, \"device\": {\"memory_bytes\": 42949672960}}");
        ClusterSpec base = ClusterSpec.preset("a100-80gb-dgx");
        assertEquals(16, s.nodes());
        assertEquals(128, s.devices());
        assertEquals(CollectiveAlgorithm.RING, s.algorithm());
        assertEquals(new Link(base.interNode().bandwidth(), base.interNode().latency(), 0.5), s.interNode());
        assertEquals(40 * GIB, s.device().memoryBytes());
        assertEquals(base.device().peakFlops(), s.device().peakFlops());
        assertEquals("a100-80gb-dgx", s.name());
    }

    @Test
    void badJsonIsRejectedWithMessages() {
        assertMessage("{\"preset\": \"a100-80gb-dgx\", \"node\": 2}", "unknown key 'node'", "nodes");
        assertMessage("{\"preset\": \"a100-80gb-dgx\", \"device\": {\"hbm\": 2}}", "device has unknown key 'hbm'",
                "memory_bytes");
        assertMessage("{\"preset\": \"a100-80gb-dgx\", \"intra_node\": {\"bw\": 1}}", "intra_node", "bandwidth");
        assertMessage("{\"preset\": \"a100-80gb-dgx\", \"nodes\": 0}", "nodes is 0", "1..");
        assertMessage("{\"preset\": \"a100-80gb-dgx\", \"nodes\": \"two\"}", "nodes is the string \"two\"",
                "whole number");
        assertMessage("{\"preset\": \"a100-80gb-dgx\", \"nodes\": 2.5}", "nodes is the number 2.5", "whole number");
        assertMessage("{\"preset\": \"tpu\"}", "'tpu'", "h100-dgx");
        assertMessage("{\"preset\": \"a100-80gb-dgx\", \"algorithm\": \"mesh\"}", "'mesh'", "hierarchical");
        assertMessage("{\"preset\": \"a100-80gb-dgx\", \"inter_node\": {\"latency\": -1}}", "inter_node",
                "latency is -1.0");
        assertMessage("{\"preset\": \"a100-80gb-dgx\", \"device\": {\"peak_flops\": {\"float9\": 1}}}",
                "float9", "float32");
        assertMessage("{\"preset\": \"a100-80gb-dgx\", \"device\": {\"peak_flops\": {\"float16\": 1e12}}}",
                "no float32 entry", "float32");
        assertMessage("{\"name\": \"x\", \"nodes\": 1}", "lacks key 'devices_per_node'", "preset");
        assertMessage("{\"preset\": \"a100-80gb-dgx\", \"nodes\": 1, \"nodes\": 2}", "not valid JSON", "Duplicate");
        assertMessage("[1]", "top level is an array", "JSON object");
    }

    @Test
    void absurdFiguresAreRejectedNamingTheKeyTheValueAndTheRange() {
        assertMessage("{\"preset\": \"a100-80gb-dgx\", \"device\": {\"peak_flops\": {\"float32\": 1e-308}}}",
                "device.peak_flops.float32 is 1.0E-308", "[1000000.0, 1.0E20]");
        assertMessage("{\"preset\": \"a100-80gb-dgx\", \"device\": {\"memory_bandwidth\": 1e400}}",
                "device.memory_bandwidth is Infinity", "[1000000.0, 1.0E16]");
        assertMessage("{\"preset\": \"a100-80gb-dgx\", \"device\": {\"memory_bytes\": 1}}",
                "device.memory_bytes is 1", "1048576..");
        assertMessage("{\"preset\": \"a100-80gb-dgx\", \"intra_node\": {\"bandwidth\": 4.9e-324}}",
                "intra_node.bandwidth is 4.9E-324");
        assertMessage("{\"preset\": \"a100-80gb-dgx\", \"inter_node\": {\"latency\": 1e9}}",
                "inter_node.latency is 1.0E9", "[0.0, 1.0]");
        assertMessage("{\"preset\": \"a100-80gb-dgx\", \"inter_node\": {\"efficiency\": 1e-300}}",
                "inter_node.efficiency is 1.0E-300");
        assertMessage("{\"preset\": \"a100-80gb-dgx\", \"device\": {\"min_efficiency\": 1e-320}}",
                "device.min_efficiency");
        // the shipped presets lie inside the ranges
        for (String name : ClusterSpec.presets()) {
            ClusterSpec p = ClusterSpec.preset(name);
            assertEquals(p.device(), ClusterSpecs.parse(ClusterSpecs.write(p)).device(), name);
        }
    }

    private static void assertMessage(String json, String... parts) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ClusterSpecs.parse(json));
        for (String p : parts) {
            assertTrue(e.getMessage().contains(p), "'" + p + "' not in: " + e.getMessage());
        }
    }

    /** Presets are a closed type: every enum constant builds, is named by its JSON name and parses back. */
    @Test
    void presetsAreATypeWithJsonNames() {
        for (ClusterPreset p : ClusterPreset.values()) {
            ClusterSpec spec = ClusterSpec.preset(p);
            assertEquals(p.jsonName(), spec.name());
            assertEquals(p, ClusterPreset.parse(" " + p.jsonName().toUpperCase(java.util.Locale.ROOT) + " "));
            assertEquals(spec.name(), ClusterSpec.preset(p.jsonName()).name());
        }
        assertEquals(java.util.List.of("ascend-910b", "a100-80gb-dgx", "h100-dgx"), ClusterSpec.presets());
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> ClusterPreset.parse("x".repeat(100_000)));
        assertTrue(e.getMessage().length() < 300 && e.getMessage().contains("a100-80gb-dgx"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> ClusterSpec.preset((ClusterPreset) null));
    }
}
