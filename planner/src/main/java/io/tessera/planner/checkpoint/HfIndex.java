package io.tessera.planner.checkpoint;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.tessera.planner.json.InputFiles;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Hugging Face's index of a checkpoint stored in several safetensors files ({@code model.safetensors.index.json}:
 * {@code {"metadata": {...}, "weight_map": {"<tensor>": "model-00001-of-00004.safetensors", ...}}}).
 */
final class HfIndex {

    private static final ObjectMapper MAPPER = InputFiles.mapperBuilder().build();

    private HfIndex() {
    }

    /**
     * The safetensors files {@code inputs} stand for: each {@code .json} input is replaced by the distinct files its
     * {@code weight_map} names (relative to it, in first-named order); other inputs stay.
     *
     * @throws CheckpointException when an index is unreadable or malformed, or an input is named twice
     */
    static List<Path> expand(List<Path> inputs) {
        if (inputs == null || inputs.isEmpty()) {
            throw new CheckpointException("split: found no input file; expected safetensors files or a Hugging Face "
                    + "model.safetensors.index.json");
        }
        Set<Path> out = new LinkedHashSet<>();
        for (Path in : inputs) {
            List<Path> files = in.getFileName() != null && in.getFileName().toString().endsWith(".json")
                    ? read(in) : List.of(in);
            for (Path f : files) {
                if (!out.add(f.toAbsolutePath().normalize())) {
                    throw new CheckpointException(f + ": is named twice among the inputs; give each file once");
                }
            }
        }
        return new ArrayList<>(out);
    }

    private static List<Path> read(Path index) {
        JsonNode root;
        try {
            root = MAPPER.readTree(InputFiles.readText(index, "Hugging Face safetensors index"));
        } catch (IllegalArgumentException e) {
            throw new CheckpointException(e.getMessage(), e);
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new CheckpointException(index + ": is not JSON (" + InputFiles.jsonMessage(e) + "); expected a "
                    + "Hugging Face model.safetensors.index.json", e);
        }
        JsonNode map = root == null ? null : root.get("weight_map");
        if (map == null || !map.isObject() || map.isEmpty()) {
            throw new CheckpointException(index + ": has no weight_map object; expected a Hugging Face "
                    + "model.safetensors.index.json ({\"weight_map\": {\"<tensor>\": \"<file>\"}})");
        }
        Set<String> names = new LinkedHashSet<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = map.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            String f = e.getValue().isTextual() ? e.getValue().asText() : "";
            if (f.isEmpty() || f.contains("/") || f.contains("\\") || f.startsWith(".")) {
                throw new CheckpointException(index + ": weight_map." + e.getKey() + ": found " + e.getValue()
                        + "; expected a file name next to the index, e.g. \"model-00001-of-00002.safetensors\"");
            }
            names.add(f);
        }
        Path dir = index.toAbsolutePath().getParent();
        List<Path> out = new ArrayList<>();
        for (String n : names) {
            out.add(dir.resolve(n));
        }
        return out;
    }
}
