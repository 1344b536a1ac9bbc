package io.tessera.planner.strategy;

/**
 * The top-level {@code cluster} key of a strategy file: the cluster {@code tessera simulate} runs on when the command
 * line names none. Either a preset name or an object in the cluster-spec format (a {@code "preset"} with overrides,
 * {@code "rank_mapping"}, ...). The strategy package keeps it as written; {@code StrategyPlans.cluster} parses it
 * with the cluster-spec reader.
 */
public sealed interface ClusterRef {

    /**
     * A cluster preset by name, e.g. {@code "a100-80gb-dgx"}; its node count grows to fit the devices.
     *
     * @param name the preset name, non-blank
     */
    record Preset(String name) implements ClusterRef {

        /** Validates the name. */
        public Preset {
            if (name == null || name.isBlank()) {
                throw new IllegalArgumentException("cluster: found " + (name == null ? "null" : "a blank name")
                        + "; expected a cluster preset name such as \"a100-80gb-dgx\" or a cluster-spec object");
            }
        }
    }

    /**
     * A cluster-spec object, kept as its compact JSON text (keys in the file's order).
     *
     * @param json the object's JSON text, e.g. {@code {"preset":"h100-dgx","rank_mapping":"round_robin"}}
     */
    record Spec(String json) implements ClusterRef {

        /** Validates that the text is a JSON object. */
        public Spec {
            if (json == null || !json.strip().startsWith("{")) {
                throw new IllegalArgumentException("cluster: found " + (json == null ? "null" : "'" + json + "'")
                        + "; expected a cluster-spec JSON object such as {\"preset\": \"a100-80gb-dgx\"}");
            }
        }
    }

    /** A preset by name. */
    static ClusterRef preset(String name) {
        return new Preset(name);
    }

    /** A cluster-spec object from its JSON text. */
    static ClusterRef spec(String json) {
        return new Spec(json);
    }
}
