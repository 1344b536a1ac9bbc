package io.tessera.simulator.validation;

import io.tessera.planner.json.InputFiles;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;

/**
 * Reads tables of published training runs in the format of {@code calibration_runs.json} ({@code tables[]}, each
 * with {@code id}, {@code hardware} and {@code rows[]}; a row gives the model, {@code tp}, {@code pp}, {@code dp},
 * batch sizes, recompute, precision and a {@code derived.iteration_time_s*} measured time). Fields a source leaves
 * unstated ({@code null} or absent) take stated assumptions, listed on the run; rows without a parallel
 * configuration are skipped with the reason.
 *
 * <p>Assumptions for unstated fields: micro-batch size 1; no interleaving; sequence parallelism when
 * {@code tp > 1}; the distributed optimizer when the row's {@code comm_overlap} names {@code --overlap-param-gather}
 * (which needs it); the gradient reduction overlapped unless {@code ddp_impl} is {@code local}; bf16 precision;
 * no recompute; {@code ffn = 4 x hidden}; fused (FlashAttention) attention for Megatron-Core tables (2024 or H100, or
 * {@code --tp-comm-overlap}), materialised attention otherwise, unless the row's {@code attention} says. A row's
 * {@code zero_stage} (0 to 3) is ZeRO's: 1 and 2 the distributed optimizer, 3 every weight sharded ({@code zero_stage}
 * of the {@code parallelism} section).
 */
public final class PublishedRuns {

    /** Runs read from a file, and the rows that could not be expressed. */
    public record Table(List<PublishedRun> runs, List<String> skipped) {

        /** Copies the lists. */
        public Table {
            runs = List.copyOf(runs);
            skipped = List.copyOf(skipped);
        }
    }

    /** The calibration runs Tessera ships (a copy of {@code shared/validation/calibration_runs.json}). */
    public static final String BUILT_IN = "calibration_runs.json";

    private static final ObjectMapper MAPPER = InputFiles.mapperBuilder().build();

    private PublishedRuns() {
    }

    /** The built-in calibration runs. */
    public static Table builtIn() {
        try (InputStream in = PublishedRuns.class.getResourceAsStream(BUILT_IN)) {
            if (in == null) {
                throw new IllegalStateException("validation: resource " + BUILT_IN + " is missing from the jar");
            }
            return parse(new String(in.readAllBytes(), StandardCharsets.UTF_8));
        } catch (IOException e) {
            throw new IllegalStateException("validation: cannot read resource " + BUILT_IN, e);
        }
    }

    /**
     * Reads a file of published runs.
     *
     * @throws IllegalArgumentException naming the file when it cannot be read or is malformed
     */
    public static Table read(Path file) {
        String text;
        try {
            text = InputFiles.readText(file, "file of published runs");
        } catch (InputFiles.InputFileException e) {
            throw new IllegalArgumentException(InputFiles.show(file) + ": " + e.problem()
                    + "; expected a JSON file of published runs like calibration_runs.json", e);
        }
        try {
            return parse(text);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(InputFiles.show(file) + ": " + e.getMessage(), e);
        }
    }

    /**
     * Parses the JSON text of a file of published runs.
     *
     * @throws IllegalArgumentException naming the table and row of a malformed field
     */
    public static Table parse(String json) {
        JsonNode root;
        try {
            root = MAPPER.readTree(json);
        } catch (JsonProcessingException e) {
            throw new IllegalArgumentException("not valid JSON (" + InputFiles.jsonMessage(e)
                    + "); expected {\"tables\": [{\"id\": .., \"hardware\": .., \"rows\": [..]}]}", e);
        }
        JsonNode tables = root == null ? null : root.get("tables");
        if (tables == null || !tables.isArray()) {
            throw new IllegalArgumentException("tables: found " + (tables == null ? "nothing" : tables.getNodeType())
                    + "; expected an array of tables, each {\"id\": .., \"hardware\": .., \"rows\": [..]}");
        }
        List<PublishedRun> runs = new ArrayList<>();
        List<String> skipped = new ArrayList<>();
        for (int t = 0; t < tables.size(); t++) {
            JsonNode table = tables.get(t);
            String id = table.path("id").asText("tables[" + t + "]");
            String hardware = table.path("hardware").asText("");
            String cluster = hardware.contains("H100") ? "h100-dgx" : hardware.contains("A100") ? "a100-80gb-dgx"
                    : null;
            JsonNode rows = table.get("rows");
            if (rows == null || !rows.isArray()) {
                throw new IllegalArgumentException(id + ": rows: expected an array of runs");
            }
            for (int r = 0; r < rows.size(); r++) {
                JsonNode row = rows.get(r);
                String name = id + " '" + row.path("model").asText("rows[" + r + "]") + "'";
                if (cluster == null) {
                    skipped.add(name + ": hardware '" + hardware + "' matches no cluster preset");
                    continue;
                }
                if (!stated(row, "tp") || !stated(row, "pp") || !stated(row, "dp")) {
                    skipped.add(name + ": its parallel configuration (tp, pp, dp) is not published");
                    continue;
                }
                runs.add(run(id, name, cluster, row));
            }
        }
        return new Table(runs, skipped);
    }

    private static PublishedRun run(String id, String name, String cluster, JsonNode row) {
        List<String> assumed = new ArrayList<>();
        int hidden = integer(row, "hidden_size", name);
        int tp = integer(row, "tp", name);
        int mb = 1;
        if (stated(row, "micro_batch_size")) {
            mb = integer(row, "micro_batch_size", name);
        } else {
            assumed.add("micro-batch size 1");
        }
        int v = 1;
        if (stated(row, "virtual_pipeline_stages")) {
            v = integer(row, "virtual_pipeline_stages", name);
        } else if (integer(row, "pp", name) > 1) {
            assumed.add("no interleaving");
        }
        int ffn = stated(row, "ffn_hidden_size") ? integer(row, "ffn_hidden_size", name) : 4 * hidden;
        String overlapText = row.path("comm_overlap").asText("");
        boolean sp;
        if (stated(row, "sequence_parallel")) {
            sp = row.get("sequence_parallel").asBoolean();
        } else {
            sp = tp > 1;
            if (sp) {
                assumed.add("sequence parallel");
            }
        }
        int zero = 0;
        if (stated(row, "zero_stage")) {
            JsonNode z = row.get("zero_stage");
            if (!z.canConvertToInt() || z.asInt() < 0 || z.asInt() > 3) {
                throw new IllegalArgumentException(name + ": zero_stage is " + z + "; expected 0, 1, 2 or 3");
            }
            zero = z.asInt();
        }
        boolean distOpt;
        if (zero == 1 || zero == 2) {
            distOpt = true;
        } else if (zero == 3) {
            distOpt = false;
        } else if (stated(row, "distributed_optimizer")) {
            distOpt = row.get("distributed_optimizer").asBoolean();
        } else {
            distOpt = overlapText.contains("--overlap-param-gather");
            assumed.add(distOpt ? "distributed optimizer (--overlap-param-gather needs it)" : "no distributed "
                    + "optimizer");
        }
        boolean overlap = !"local".equals(row.path("ddp_impl").asText("")) || overlapText.contains("--overlap-grad");
        String precision;
        String p = row.path("precision").asText("").toLowerCase(Locale.ROOT);
        if (p.contains("fp8")) {
            precision = "fp8";
        } else if (p.contains("fp16")) {
            precision = "fp16";
        } else if (p.contains("bf16")) {
            precision = "bf16";
        } else {
            precision = "bf16";
            assumed.add("bf16");
        }
        // Megatron-LM of 2021 materialised attention; Megatron-Core (2024) runs fused attention (Transformer Engine)
        boolean fused;
        String attention = row.path("attention").asText("").toLowerCase(Locale.ROOT);
        if (!attention.isEmpty()) {
            fused = attention.contains("flash") || attention.contains("fused");
        } else {
            fused = id.contains("2024") || id.contains("h100") || overlapText.contains("--tp-comm-overlap");
            if (fused) {
                assumed.add("fused (flash) attention");
            }
        }
        String recompute;
        String rc = row.path("activation_recompute").asText("").toLowerCase(Locale.ROOT);
        if (rc.startsWith("full")) {
            recompute = "full";
        } else if (rc.startsWith("selective")) {
            recompute = "selective";
        } else if (rc.startsWith("none") || rc.startsWith("no")) {
            recompute = "none";
        } else {
            recompute = "none";
            assumed.add("no recompute");
        }
        return new PublishedRun(id, row.path("model").asText(name), cluster, integer(row, "num_layers", name),
                hidden, integer(row, "num_attention_heads", name), ffn, integer(row, "seq_length", name),
                integer(row, "vocab_size", name), tp, integer(row, "pp", name), integer(row, "dp", name), v, mb,
                integer(row, "global_batch_size", name), recompute, sp, distOpt, overlap,
                overlapText.contains("--tp-comm-overlap"), fused, precision, zero == 3 ? 3 : 0,
                measured(row, name), assumed);
    }

    private static boolean stated(JsonNode row, String key) {
        JsonNode n = row.get(key);
        return n != null && !n.isNull();
    }

    private static int integer(JsonNode row, String key, String name) {
        JsonNode n = row.get(key);
        if (n == null || !n.canConvertToInt() || n.asInt() < 1) {
            throw new IllegalArgumentException(name + ": " + key + " is " + (n == null ? "missing" : n.toString())
                    + "; expected a positive integer");
        }
        return n.asInt();
    }

    /** The measured iteration time: the first {@code derived.iteration_time_s*} number. */
    private static double measured(JsonNode row, String name) {
        JsonNode derived = row.path("derived");
        Iterator<String> keys = derived.fieldNames();
        while (keys.hasNext()) {
            String k = keys.next();
            if (k.startsWith("iteration_time_s") && derived.get(k).isNumber()) {
                return derived.get(k).asDouble();
            }
        }
        JsonNode direct = row.get("iteration_time_s");
        if (direct != null && direct.isNumber()) {
            return direct.asDouble();
        }
        throw new IllegalArgumentException(name + ": no measured iteration time; expected a number at "
                + "derived.iteration_time_s... or iteration_time_s");
    }
}
