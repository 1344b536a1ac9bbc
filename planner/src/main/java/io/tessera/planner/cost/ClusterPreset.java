package io.tessera.planner.cost;

import java.util.Arrays;
import java.util.Locale;
import java.util.stream.Collectors;

/**
 * The cluster presets Tessera ships, one node each ({@link ClusterSpec#withNodes} for more); see
 * {@link ClusterSpec#preset(ClusterPreset)} for their figures and sources. Named in files and on the command line by
 * {@link #jsonName()}, e.g. {@code a100-80gb-dgx}.
 */
public enum ClusterPreset {
    /** An Atlas 800T A2 node of 8 Ascend 910B NPUs (figures partly estimated). */
    ASCEND_910B("ascend-910b"),
    /** A DGX A100 of 8 A100-SXM4-80GB. */
    A100_80GB_DGX("a100-80gb-dgx"),
    /** A DGX H100 of 8 H100 SXM5. */
    H100_DGX("h100-dgx");

    private final String jsonName;

    ClusterPreset(String jsonName) {
        this.jsonName = jsonName;
    }

    /** The name in files and on the command line, e.g. {@code a100-80gb-dgx}. */
    public String jsonName() {
        return jsonName;
    }

    /** The preset's one-node cluster ({@link ClusterSpec#preset(ClusterPreset)}). */
    public ClusterSpec spec() {
        return ClusterSpec.preset(this);
    }

    /**
     * The preset named {@code name} (surrounding blanks and case ignored).
     *
     * @throws IllegalArgumentException naming the value and the valid presets
     */
    public static ClusterPreset parse(String name) {
        String n = name == null ? "" : name.trim().toLowerCase(Locale.ROOT);
        for (ClusterPreset p : values()) {
            if (p.jsonName.equals(n)) {
                return p;
            }
        }
        String shown = name == null ? "null" : name.length() > 60 ? name.substring(0, 60) + "..." : name;
        throw new IllegalArgumentException("cluster preset: found '" + shown + "'; expected one of "
                + Arrays.stream(values()).map(ClusterPreset::jsonName).collect(Collectors.joining(", ", "[", "]"))
                + " (or describe the cluster in full in a cluster JSON file)");
    }

    /** {@link #jsonName()}. */
    @Override
    public String toString() {
        return jsonName;
    }
}
