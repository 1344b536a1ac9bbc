package io.tessera.planner.strategy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The JSON Schema {@code strategies/schema/strategy.schema.json} lists exactly the keys the parser accepts at each
 * level, forbids others, and the example files (which parse) use every key.
 */
class SchemaKeysTest {

    private static final ObjectMapper MAPPER = new ObjectMapper();

    static Path schemaFile() {
        Path dir = Path.of("").toAbsolutePath();
        while (dir != null) {
            Path p = dir.resolve("strategies/schema/strategy.schema.json");
            if (Files.isRegularFile(p)) {
                return p;
            }
            dir = dir.getParent();
        }
        throw new IllegalStateException("strategies/schema/strategy.schema.json not found above the working dir");
    }

    /** Keys by level path, from walking the schema's properties through $ref, oneOf and additionalProperties. */
    static Map<String, Set<String>> schemaKeys(JsonNode schema, List<String> notStrict) {
        Map<String, Set<String>> out = new TreeMap<>();
        walk(schema, schema, "", out, notStrict);
        return out;
    }

    private static JsonNode deref(JsonNode root, JsonNode n) {
        while (n.has("$ref")) {
            String ref = n.get("$ref").asText();
            assertTrue(ref.startsWith("#/"), ref);
            JsonNode target = root.at(ref.substring(1));
            assertNotNull(target);
            assertTrue(!target.isMissingNode(), "dangling $ref " + ref);
            n = target;
        }
        return n;
    }

    private static void walk(JsonNode root, JsonNode node, String path, Map<String, Set<String>> out,
                             List<String> notStrict) {
        List<JsonNode> branches = new ArrayList<>();
        JsonNode n = deref(root, node);
        branches.add(n);
        for (String comb : List.of("oneOf", "anyOf")) {
            if (n.has(comb)) {
                for (JsonNode b : n.get(comb)) {
                    branches.add(deref(root, b));
                }
            }
        }
        for (JsonNode b : branches) {
            if (b.has("properties")) {
                if (!b.path("additionalProperties").isBoolean() || b.get("additionalProperties").asBoolean()) {
                    notStrict.add(path);
                }
                Iterator<Map.Entry<String, JsonNode>> it = b.get("properties").fields();
                while (it.hasNext()) {
                    Map.Entry<String, JsonNode> e = it.next();
                    out.computeIfAbsent(path, k -> new TreeSet<>()).add(e.getKey());
                    walk(root, e.getValue(), path.isEmpty() ? e.getKey() : path + "." + e.getKey(), out, notStrict);
                }
            }
            if (b.path("additionalProperties").isObject()) {
                walk(root, b.get("additionalProperties"), path + ".*", out, notStrict);
            }
        }
    }

    @Test
    void schemaListsExactlyTheParsersKeysAtEveryLevel() throws IOException {
        JsonNode schema = MAPPER.readTree(schemaFile().toFile());
        assertEquals("https://json-schema.org/draft/2020-12/schema", schema.get("$schema").asText());
        List<String> notStrict = new ArrayList<>();
        Map<String, Set<String>> fromSchema = schemaKeys(schema, notStrict);
        Map<String, Set<String>> fromParser = new TreeMap<>();
        StrategyFiles.KEYS.forEach((k, v) -> fromParser.put(k, new TreeSet<>(v)));
        assertEquals(fromParser, fromSchema);
        assertEquals(List.of(), notStrict, "schema objects that allow unknown keys");
    }

    @Test
    void readmeExamplesParseAndTheCheckpointExampleIsInWrittenForm() throws IOException {
        String readme = Files.readString(schemaFile().getParent().getParent().resolve("README.md"));
        Matcher m = Pattern.compile("```json\\n(.*?)```", Pattern.DOTALL).matcher(readme);
        List<String> blocks = new ArrayList<>();
        while (m.find()) {
            blocks.add(m.group(1));
        }
        assertEquals(3, blocks.size(), "strategies/README.md: a strategy file example, a parallelism example and a "
                + "checkpoint example");
        StrategyFile f = StrategyFiles.parse(blocks.get(0), Path.of("/x"));
        assertEquals(new ParamSettings(2, null, true, null, null), f.settingsFor("layers.0.attention.wq"));
        StrategyFile degrees = StrategyFiles.parse(blocks.get(1), Path.of("/x"));
        assertEquals(Parallelism.builder().tensor(2).sequenceParallel(true).pipeline(2).data(2).globalBatchSize(4)
                .recompute(Parallelism.Recompute.SELECTIVE).distributedOptimizer(true).build(),
                degrees.parallelism().orElseThrow());
        assertEquals(java.util.Optional.of(ClusterRef.preset("a100-80gb-dgx")), degrees.cluster());
        StrategyCheckpoint c = StrategyCheckpoints.parse(blocks.get(2));
        assertEquals(blocks.get(2), StrategyCheckpoints.write(c));
    }

    @Test
    void theExamplesUseEveryKeyTheParserAccepts() throws IOException {
        Map<String, Set<String>> used = new TreeMap<>();
        for (String name : List.of("full.json", "network-file.json", "parallelism.json", "zero3.json",
                "hf-config.json", "context.json", "expert.json", "routing-skew.json", "routing-histogram.json")) {
            collect(MAPPER.readTree(StrategyFilesTest.resource(name).toFile()), "", used);
        }
        Map<String, Set<String>> fromParser = new TreeMap<>();
        StrategyFiles.KEYS.forEach((k, v) -> fromParser.put(k, new TreeSet<>(v)));
        assertEquals(fromParser, used);
    }

    /**
     * Keys used per level; operator and parameter names become {@code *}; zoo args and the cluster object (checked
     * by the cluster-spec reader) are free-form.
     */
    private static void collect(JsonNode n, String path, Map<String, Set<String>> out) {
        if (!n.isObject() || path.equals("network.args") || path.equals("cluster")) {
            return;
        }
        boolean named = path.equals("operators") || path.equals("parameters") || path.equals("stages");
        Iterator<Map.Entry<String, JsonNode>> it = n.fields();
        Set<String> keys = new HashSet<>();
        while (it.hasNext()) {
            Map.Entry<String, JsonNode> e = it.next();
            if (named) {
                collect(e.getValue(), path + ".*", out);
            } else {
                keys.add(e.getKey());
                collect(e.getValue(), path.isEmpty() ? e.getKey() : path + "." + e.getKey(), out);
            }
        }
        if (!named) {
            out.computeIfAbsent(path, k -> new TreeSet<>()).addAll(keys);
        }
    }
}
