package io.tessera.planner.checkpoint;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.tessera.layout.Box;
import io.tessera.layout.DType;
import io.tessera.layout.UserText;
import io.tessera.planner.json.CompactJsonPrinter;
import io.tessera.planner.json.InputFiles;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The index of a sharded checkpoint ({@value #FILE_NAME} in its directory): the plan it was saved under, its tensors
 * (name, dtype, full shape), and per rank file its size and entries (tensor, region, CRC-32C of the entry's bytes).
 * Written last, so a directory with an index is complete. Immutable.
 *
 * @param plan   what plan the checkpoint was saved under
 * @param layout the tensors and each file's entries
 * @param sums   per file name: its size and the CRC-32C of each entry; one per file of the layout
 */
public record CheckpointIndex(PlanInfo plan, CheckpointLayout layout, Map<String, FileSums> sums) {

    /** The index's file name in a checkpoint directory. */
    public static final String FILE_NAME = "index.json";

    /** The {@code format} value of an index. */
    public static final String FORMAT = "tessera-checkpoint";

    /** The index version this class writes and reads. */
    public static final int VERSION = 1;

    private static final ObjectMapper MAPPER = InputFiles.mapperBuilder()
            .enable(SerializationFeature.INDENT_OUTPUT).build();
    private static final Set<String> MULTILINE = Set.of("tensors", "files", "entries");
    private static final List<String> TOP = List.of("format", "version", "plan", "tensors", "files");
    private static final List<String> PLAN = List.of("network", "devices", "pipeline_stages", "optimizer",
            "hugging_face_names", "strategy_checkpoint");

    /**
     * The plan a checkpoint was saved under.
     *
     * @param network            the network's name
     * @param devices            the ranks (one file each)
     * @param pipelineStages     pipeline stages ({@code >= 1})
     * @param optimizer          the optimizer whose state it holds ({@code sgd}, {@code momentum}, {@code adam})
     * @param hfNames            whether the network came from a Hugging Face {@code config.json} (its parameters
     *                           carry Hugging Face's names; a merge unstacks expert weights)
     * @param strategyCheckpoint MindSpore's strategy checkpoint of the plan (layouts, shapes), as compact JSON text,
     *                           or null when there is none (a checkpoint split from a full file still has one)
     */
    public record PlanInfo(String network, int devices, int pipelineStages, String optimizer, boolean hfNames,
                           String strategyCheckpoint) {

        /** Validates. */
        public PlanInfo {
            if (network == null || optimizer == null || devices < 1 || pipelineStages < 1) {
                throw new IllegalArgumentException("checkpoint plan: network, optimizer, devices >= 1 and "
                        + "pipeline_stages >= 1 must be given");
            }
        }
    }

    /**
     * A file's size and checksums.
     *
     * @param bytes  the file's size, bytes
     * @param crc32c the CRC-32C of each entry's data by entry name
     */
    public record FileSums(long bytes, Map<String, Integer> crc32c) {

        /** Copies the map. */
        public FileSums {
            crc32c = Map.copyOf(crc32c);
        }
    }

    /** Validates: one {@link FileSums} per file, with a checksum per entry. */
    public CheckpointIndex {
        sums = Map.copyOf(sums);
        for (RankFile f : layout.files()) {
            FileSums s = sums.get(f.file());
            if (s == null || s.crc32c().size() != f.pieces().size()) {
                throw new IllegalArgumentException("checkpoint index: file '" + f.file() + "' needs a size and one "
                        + "checksum per entry");
            }
            for (Piece p : f.pieces()) {
                if (!s.crc32c().containsKey(p.name())) {
                    throw new IllegalArgumentException("checkpoint index: file '" + f.file() + "' has no checksum "
                            + "for entry '" + p.name() + "'");
                }
            }
        }
    }

    /** The JSON text: deterministic (the same checkpoint always gives the same bytes), ending in a newline. */
    public String write() {
        JsonNodeFactory f = JsonNodeFactory.instance;
        ObjectNode root = f.objectNode();
        root.put("format", FORMAT);
        root.put("version", VERSION);
        ObjectNode p = root.putObject("plan");
        p.put("network", plan.network());
        p.put("devices", plan.devices());
        p.put("pipeline_stages", plan.pipelineStages());
        p.put("optimizer", plan.optimizer());
        p.put("hugging_face_names", plan.hfNames());
        if (plan.strategyCheckpoint() != null) {
            try {
                p.set("strategy_checkpoint", MAPPER.readTree(plan.strategyCheckpoint()));
            } catch (JsonProcessingException e) {
                throw new IllegalStateException("checkpoint index: the strategy checkpoint is not JSON", e);
            }
        }
        ArrayNode tensors = root.putArray("tensors");
        for (CheckpointTensor t : layout.tensors()) {
            ObjectNode o = tensors.addObject();
            o.put("name", t.name());
            o.put("dtype", t.dtype().jsonName());
            o.set("shape", longs(t.shape()));
            if (!t.isParameter()) {
                o.put("parameter", t.parameter());
                o.put("state", t.state());
            }
        }
        ArrayNode files = root.putArray("files");
        for (RankFile rf : layout.files()) {
            FileSums s = sums.get(rf.file());
            ObjectNode o = files.addObject();
            o.put("rank", rf.rank());
            o.put("file", rf.file());
            o.put("bytes", s.bytes());
            ArrayNode entries = o.putArray("entries");
            for (Piece piece : rf.pieces()) {
                ObjectNode e = entries.addObject();
                e.put("name", piece.name());
                if (!piece.name().equals(piece.tensor())) {
                    e.put("tensor", piece.tensor());
                }
                ArrayNode box = e.putArray("box");
                for (int i = 0; i < piece.box().rank(); i++) {
                    box.add(f.arrayNode().add(piece.box().start(i)).add(piece.box().end(i)));
                }
                if (!java.util.Arrays.equals(piece.shape(), piece.box().shape())) {
                    e.set("shape", longs(piece.shape()));
                }
                e.put("crc32c", hex(s.crc32c().get(piece.name())));
            }
        }
        try {
            return MAPPER.writer(new CompactJsonPrinter(ctx -> ctx.getParent() != null
                    && ctx.getParent().inObject() && MULTILINE.contains(ctx.getParent().getCurrentName()), true))
                    .writeValueAsString(root) + "\n";
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    /** The 8 lower-case hex digits of a CRC-32C. */
    public static String hex(int crc) {
        return String.format("%08x", crc);
    }

    /**
     * Reads the index of checkpoint directory {@code dir}.
     *
     * @throws CheckpointException naming the index and the JSON path when it is missing, malformed or inconsistent
     */
    public static CheckpointIndex read(Path dir) {
        Path file = dir.resolve(FILE_NAME);
        if (!java.nio.file.Files.isDirectory(dir)) {
            throw new CheckpointException("checkpoint " + dir + ": not a directory; expected a checkpoint directory "
                    + "written by 'tessera checkpoint save' or 'reshard'");
        }
        if (!java.nio.file.Files.exists(file)) {
            throw new CheckpointException("checkpoint " + dir + ": has no " + FILE_NAME + " (an incomplete or "
                    + "interrupted checkpoint); rerun the command that writes it to finish it");
        }
        String text;
        try {
            text = InputFiles.readText(file, "checkpoint index");
        } catch (IllegalArgumentException e) {
            throw new CheckpointException(e.getMessage(), e);
        }
        try {
            return parse(text);
        } catch (IllegalArgumentException e) {
            throw new CheckpointException(file + ": " + e.getMessage(), e);
        }
    }

    /** Parses index JSON text; IllegalArgumentException naming the JSON path when malformed. */
    public static CheckpointIndex parse(String text) {
        JsonNode root;
        try {
            root = MAPPER.readTree(text.getBytes(StandardCharsets.UTF_8));
        } catch (java.io.IOException e) {
            throw new IllegalArgumentException("not JSON (" + InputFiles.jsonMessage(
                    e instanceof JsonProcessingException j ? j : new com.fasterxml.jackson.core.JsonParseException(
                            null, String.valueOf(e.getMessage()))) + ")");
        }
        obj(root, "", TOP);
        if (!FORMAT.equals(root.path("format").asText(null)) || root.path("version").asInt(-1) != VERSION
                || !root.path("version").isInt()) {
            throw new IllegalArgumentException("format/version: found " + root.get("format") + " "
                    + root.get("version") + "; expected \"" + FORMAT + "\" " + VERSION);
        }
        JsonNode p = obj(root.get("plan"), "plan", PLAN);
        String sc = p.has("strategy_checkpoint") ? obj(p.get("strategy_checkpoint"), "plan.strategy_checkpoint",
                null).toString() : null;
        PlanInfo plan = new PlanInfo(text(p, "plan.network"), integer(p.get("devices"), "plan.devices", 1),
                integer(p.get("pipeline_stages"), "plan.pipeline_stages", 1), text(p, "plan.optimizer"),
                bool(p.get("hugging_face_names"), "plan.hugging_face_names"), sc);
        List<CheckpointTensor> tensors = new ArrayList<>();
        Map<String, CheckpointTensor> byName = new LinkedHashMap<>();
        JsonNode ts = array(root.get("tensors"), "tensors");
        for (int i = 0; i < ts.size(); i++) {
            String at = "tensors[" + i + "]";
            JsonNode t = obj(ts.get(i), at, List.of("name", "dtype", "shape", "parameter", "state"));
            String name = text(t, at + ".name");
            DType dtype;
            try {
                dtype = DType.parse(text(t, at + ".dtype"));
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException(at + ".dtype: " + e.getMessage());
            }
            long[] shape = longs(t.get("shape"), at + ".shape");
            CheckpointTensor ct = t.has("state")
                    ? new CheckpointTensor(name, dtype, shape, text(t, at + ".parameter"), text(t, at + ".state"))
                    : CheckpointTensor.parameter(name, dtype, shape);
            if (byName.put(name, ct) != null) {
                throw new IllegalArgumentException(at + ".name: '" + name + "' appears twice");
            }
            tensors.add(ct);
        }
        List<RankFile> files = new ArrayList<>();
        Map<String, FileSums> sums = new LinkedHashMap<>();
        JsonNode fs = array(root.get("files"), "files");
        for (int i = 0; i < fs.size(); i++) {
            String at = "files[" + i + "]";
            JsonNode f = obj(fs.get(i), at, List.of("rank", "file", "bytes", "entries"));
            String name = text(f, at + ".file");
            List<Piece> pieces = new ArrayList<>();
            Map<String, Integer> crcs = new LinkedHashMap<>();
            JsonNode es = array(f.get("entries"), at + ".entries");
            for (int j = 0; j < es.size(); j++) {
                String eat = at + ".entries[" + j + "]";
                JsonNode e = obj(es.get(j), eat, List.of("name", "tensor", "box", "shape", "crc32c"));
                String en = text(e, eat + ".name");
                String tensor = e.has("tensor") ? text(e, eat + ".tensor") : en;
                CheckpointTensor ct = byName.get(tensor);
                if (ct == null) {
                    throw new IllegalArgumentException(eat + ".tensor: '" + tensor + "' is not one of the tensors");
                }
                Box box = box(e.get("box"), eat + ".box", ct.shape().length);
                long[] shape = e.has("shape") ? longs(e.get("shape"), eat + ".shape") : box.shape();
                String crc = text(e, eat + ".crc32c");
                if (!crc.matches("[0-9a-f]{8}")) {
                    throw new IllegalArgumentException(eat + ".crc32c: found '" + crc + "'; expected 8 hex digits");
                }
                try {
                    pieces.add(new Piece(en, tensor, box, shape));
                } catch (IllegalArgumentException x) {
                    throw new IllegalArgumentException(eat + ": " + x.getMessage());
                }
                crcs.put(en, Integer.parseUnsignedInt(crc, 16));
            }
            try {
                files.add(new RankFile(integer(f.get("rank"), at + ".rank", 0), name, pieces));
            } catch (IllegalArgumentException x) {
                throw new IllegalArgumentException(at + ": " + x.getMessage());
            }
            long bytes = f.path("bytes").isIntegralNumber() && f.get("bytes").canConvertToLong()
                    ? f.get("bytes").asLong() : -1;
            if (bytes < 8) {
                throw new IllegalArgumentException(at + ".bytes: found " + f.get("bytes") + "; expected the file's "
                        + "size in bytes");
            }
            sums.put(name, new FileSums(bytes, crcs));
        }
        return new CheckpointIndex(plan, new CheckpointLayout(tensors, files), sums);
    }

    // ------------------------------------------------------------------ JSON helpers

    private static ArrayNode longs(long[] values) {
        ArrayNode a = JsonNodeFactory.instance.arrayNode();
        for (long v : values) {
            a.add(v);
        }
        return a;
    }

    private static JsonNode obj(JsonNode n, String at, List<String> keys) {
        if (n == null || !n.isObject()) {
            throw new IllegalArgumentException((at.isEmpty() ? "the index" : at) + ": found "
                    + (n == null ? "nothing" : n.getNodeType().toString().toLowerCase()) + "; expected an object");
        }
        if (keys != null) {
            for (Iterator<String> it = n.fieldNames(); it.hasNext(); ) {
                String k = it.next();
                if (!keys.contains(k)) {
                    throw new IllegalArgumentException((at.isEmpty() ? "" : at + ".") + k + ": unknown key; "
                            + "expected one of " + keys);
                }
            }
        }
        return n;
    }

    private static JsonNode array(JsonNode n, String at) {
        if (n == null || !n.isArray()) {
            throw new IllegalArgumentException(at + ": found " + (n == null ? "nothing" : n.toString().length() > 40
                    ? n.getNodeType().toString().toLowerCase() : n.toString()) + "; expected an array");
        }
        return n;
    }

    private static String text(JsonNode parent, String at) {
        JsonNode n = parent.get(at.substring(at.lastIndexOf('.') + 1));
        if (n == null || !n.isTextual() || n.asText().isEmpty()) {
            throw new IllegalArgumentException(at + ": found " + (n == null ? "nothing" : UserText.abbreviate(n.toString())) + "; expected a non-empty string");
        }
        return n.asText();
    }

    private static int integer(JsonNode n, String at, int min) {
        if (n == null || !n.isInt() || n.asInt() < min) {
            throw new IllegalArgumentException(at + ": found " + (n == null ? "nothing" : UserText.abbreviate(n.toString())) + "; expected an integer >= " + min);
        }
        return n.asInt();
    }

    private static boolean bool(JsonNode n, String at) {
        if (n == null || !n.isBoolean()) {
            throw new IllegalArgumentException(at + ": found " + (n == null ? "nothing" : UserText.abbreviate(n.toString())) + "; expected true or false");
        }
        return n.asBoolean();
    }

    private static long[] longs(JsonNode n, String at) {
        array(n, at);
        long[] out = new long[n.size()];
        for (int i = 0; i < out.length; i++) {
            JsonNode v = n.get(i);
            if (!v.isIntegralNumber() || !v.canConvertToLong() || v.asLong() < 0) {
                throw new IllegalArgumentException(at + "[" + i + "]: found " + UserText.abbreviate(v.toString()) + "; expected an integer >= 0");
            }
            out[i] = v.asLong();
        }
        return out;
    }

    private static Box box(JsonNode n, String at, int rank) {
        array(n, at);
        if (n.size() != rank) {
            throw new IllegalArgumentException(at + ": found " + n.size() + " dims; expected " + rank
                    + " [start, end] pairs, one per dim of the tensor");
        }
        long[] s = new long[rank];
        long[] e = new long[rank];
        for (int i = 0; i < rank; i++) {
            long[] pair = longs(n.get(i), at + "[" + i + "]");
            if (pair.length != 2 || pair[1] < pair[0]) {
                throw new IllegalArgumentException(at + "[" + i + "]: found " + n.get(i) + "; expected [start, end] "
                        + "with start <= end");
            }
            s[i] = pair[0];
            e[i] = pair[1];
        }
        return Box.of(s, e);
    }
}
