package io.tessera.fuzz;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.tessera.fuzz.FuzzCase.Expect;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.stream.Stream;

/**
 * The seeded generator of the fuzz suite's hostile inputs. Families: {@code strategy} (mutated shipped strategy
 * files), {@code network} (mutated network file), {@code cluster} (mutated cluster spec), {@code checkpoint} (mutated
 * strategy checkpoint, loaded by {@code strategy_ckpt_config.load_file}), {@code layout} (mutated {@code layout} case
 * files), {@code options} (bad command-line options), {@code output} (bad output paths), {@code special} (special
 * files as inputs), {@code sizes} (absurd sizes named in issue 15), {@code valid} (the shipped files as they are).
 */
final class FuzzGenerator {

    /** The shipped strategy files, read from {@code ../strategies}. */
    static final Path STRATEGIES = Path.of("..", "strategies").toAbsolutePath().normalize();

    /** The small data-parallel MLP strategy used as the carrier of cluster, option and output cases. */
    static final String MLP = "{\"network\":{\"zoo\":\"mlp\",\"args\":{\"widths\":[256,1024,256],\"batch\":64}},"
            + "\"devices\":8,\"parallel\":{\"parallel_mode\":\"data_parallel\",\"gradients_mean\":true}}";

    /** A cluster spec with every commonly overridden field. */
    static final String CLUSTER = "{\"preset\":\"a100-80gb-dgx\",\"nodes\":1,\"devices_per_node\":8,"
            + "\"algorithm\":\"ring\",\"device\":{\"memory_bytes\":85899345920,\"min_efficiency\":0.3,"
            + "\"max_efficiency\":0.8,\"peak_flops\":{\"float32\":1.95e13,\"bfloat16\":3.12e14}},"
            + "\"intra_node\":{\"bandwidth\":3e11,\"latency\":1e-5,\"efficiency\":0.8},"
            + "\"inter_node\":{\"bandwidth\":2.5e10,\"latency\":5e-6,\"efficiency\":0.8}}";

    private final Random rnd;
    private final JsonMutator mutator;
    private final boolean full;
    private final Map<String, JsonNode> strategies = new LinkedHashMap<>();
    private final JsonNode network;
    private final JsonNode checkpoint;
    private final JsonNode redistribute;
    private final JsonNode slices;

    /**
     * @param seed       the seed of every random choice
     * @param full       a bigger sweep (about five times the cases, every special file in every slot)
     * @param checkpoint a strategy checkpoint of {@link #MLP} (written by {@code tessera plan --ckpt})
     */
    FuzzGenerator(long seed, boolean full, String checkpoint) {
        this.rnd = new Random(seed);
        this.mutator = new JsonMutator(rnd);
        this.full = full;
        try (Stream<Path> s = Files.list(STRATEGIES)) {
            for (Path p : s.filter(p -> p.toString().endsWith(".json")).sorted().toList()) {
                JsonNode doc = read(p);
                // a mutated auto_parallel file runs a whole strategy search per command: too slow for the CI sample
                // (SearchCommandTest and the golden outputs cover the shipped searched file)
                if (!"auto_parallel".equals(doc.path("parallel").path("parallel_mode").asText())) {
                    strategies.put(p.getFileName().toString(), absolutise(doc));
                }
            }
            network = read(STRATEGIES.resolve("networks/heads-transpose.json"));
            redistribute = read(STRATEGIES.resolve("layout/redistribute-cases.json"));
            slices = read(STRATEGIES.resolve("layout/slices-cases.json"));
            this.checkpoint = JsonMutator.MAPPER.readTree(checkpoint);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static JsonNode read(Path p) throws IOException {
        return JsonMutator.MAPPER.readTree(p.toFile());
    }

    /** Network file and config paths made absolute, so the copy in a case directory still finds them. */
    private static JsonNode absolutise(JsonNode s) {
        JsonNode net = s.get("network");
        if (net instanceof ObjectNode o) {
            for (String k : List.of("file", "hf_config")) {
                if (o.has(k) && o.get(k).isTextual()) {
                    o.put(k, STRATEGIES.resolve(o.get(k).asText()).toString());
                }
            }
        }
        return s;
    }

    /** All cases, ids unique; at least 1,000 (about 5,000 when {@code full}). */
    List<FuzzCase> generate() {
        int scale = full ? 5 : 1;
        Map<String, FuzzCase> out = new LinkedHashMap<>();
        valid(out);
        sizes(out);
        options(out);
        outputs(out);
        specials(out);
        targeted(out);
        fill(out, 440 * scale, this::strategyCase);
        fill(out, 130 * scale, this::networkCase);
        fill(out, 110 * scale, this::clusterCase);
        fill(out, 110 * scale, this::checkpointCase);
        fill(out, 120 * scale, this::layoutCase);
        return new ArrayList<>(out.values());
    }

    private interface Maker {
        FuzzCase make();
    }

    private static void fill(Map<String, FuzzCase> out, int n, Maker m) {
        int added = 0;
        for (int tries = 0; added < n && tries < n * 10; tries++) {
            FuzzCase c = m.make();
            if (out.putIfAbsent(c.id(), c) == null) {
                added++;
            }
        }
    }

    private static void add(Map<String, FuzzCase> out, FuzzCase c) {
        out.putIfAbsent(c.id(), c);
    }

    // ---- mutated files ----

    private FuzzCase strategyCase() {
        List<String> names = new ArrayList<>(strategies.keySet());
        String base = names.get(rnd.nextInt(names.size()));
        JsonMutator.Mutant m = mutator.mutate(strategies.get(base));
        String[] cmds = {"plan", "plan-out", "simulate", "search"};
        String cmd = cmds[rnd.nextInt(cmds.length)];
        if (base.equals("mlp-data-parallel.json") && rnd.nextInt(4) == 0) {
            cmd = "simulate-numeric";
        }
        String id = "strategy/" + base + "/" + m.name() + "/" + cmd;
        String command = cmd;
        return new FuzzCase(id, "strategy", m.mustFail() ? Expect.FAIL : Expect.EITHER, dir -> {
            Path s = write(dir, "s.json", m.bytes());
            return strategyArgs(command, s, dir);
        });
    }

    private FuzzCase networkCase() {
        JsonMutator.Mutant m = mutator.mutate(network);
        String[] cmds = {"plan", "simulate", "simulate-numeric"};
        String cmd = cmds[rnd.nextInt(cmds.length)];
        String id = "network/heads-transpose.json/" + m.name() + "/" + cmd;
        return new FuzzCase(id, "network", m.mustFail() ? Expect.FAIL : Expect.EITHER, dir -> {
            write(dir, "net.json", m.bytes());
            Path s = write(dir, "s.json", ("{\"network\":{\"file\":\"net.json\"},\"devices\":8,"
                    + "\"parallel\":{\"parallel_mode\":\"data_parallel\"}}").getBytes(StandardCharsets.UTF_8));
            return strategyArgs(cmd, s, dir);
        });
    }

    private FuzzCase clusterCase() {
        JsonNode base;
        try {
            base = JsonMutator.MAPPER.readTree(CLUSTER);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        JsonMutator.Mutant m = mutator.mutate(base);
        String cmd = rnd.nextBoolean() ? "simulate" : "search";
        String id = "cluster/cluster.json/" + m.name() + "/" + cmd;
        return new FuzzCase(id, "cluster", m.mustFail() ? Expect.FAIL : Expect.EITHER, dir -> {
            Path c = write(dir, "cl.json", m.bytes());
            Path s = write(dir, "s.json", MLP.getBytes(StandardCharsets.UTF_8));
            List<String> a = new ArrayList<>(strategyArgs(cmd, s, dir));
            a.add("--cluster");
            a.add(c.toString());
            return a;
        });
    }

    private FuzzCase checkpointCase() {
        JsonMutator.Mutant m = mutator.mutate(checkpoint);
        String cmd = rnd.nextBoolean() ? "plan" : "simulate";
        String id = "checkpoint/ckpt.json/" + m.name() + "/" + cmd;
        return new FuzzCase(id, "checkpoint", m.mustFail() ? Expect.FAIL : Expect.EITHER, dir -> {
            write(dir, "ck.json", m.bytes());
            Path s = write(dir, "s.json", checkpointStrategy().getBytes(StandardCharsets.UTF_8));
            return strategyArgs(cmd, s, dir);
        });
    }

    /** {@link #MLP} in semi-auto mode, pinning its strategies from {@code ck.json}. */
    static String checkpointStrategy() {
        return MLP.replace("\"data_parallel\",\"gradients_mean\":true", "\"semi_auto_parallel\","
                + "\"strategy_ckpt_config\":{\"load_file\":\"ck.json\"}");
    }

    private FuzzCase layoutCase() {
        boolean redis = rnd.nextBoolean();
        JsonNode base = redis ? redistribute : slices;
        JsonMutator.Mutant m = mutator.mutate(base);
        boolean toFile = rnd.nextBoolean();
        String sub = redis ? "redistribute" : "slices";
        String id = "layout/" + sub + "-cases.json/" + m.name() + "/layout " + sub + (toFile ? " --output" : "");
        // a layout case may be as big as it likes (no memory is allocated), and an empty array is a valid input
        boolean lenient = m.name().startsWith("huge@") || m.name().startsWith("absurd@")
                || m.name().equals("empty-doc-3");
        return new FuzzCase(id, "layout", m.mustFail() && !lenient ? Expect.FAIL : Expect.EITHER, dir -> {
            Path in = write(dir, "cases.json", m.bytes());
            List<String> a = new ArrayList<>(List.of("layout", sub, "--input", in.toString()));
            if (toFile) {
                a.add("--output");
                a.add(dir.resolve("out.json").toString());
            }
            return a;
        });
    }

    /** The arguments of {@code cmd} (plan, plan-out, simulate, simulate-numeric, search) on strategy {@code s}. */
    static List<String> strategyArgs(String cmd, Path s, Path dir) {
        String f = s.toString();
        return switch (cmd) {
            case "plan" -> List.of("plan", f);
            case "plan-out" -> List.of("plan", f, "--out", dir.resolve("p.json").toString(),
                    "--ckpt", dir.resolve("c.json").toString());
            case "simulate" -> List.of("simulate", f, "--progress", "none");
            case "simulate-numeric" -> List.of("simulate", f, "--numeric", "--steps", "1");
            case "search" -> List.of("search", f, "--max-plans", "2", "--max-stages", "2", "--progress", "none");
            default -> throw new IllegalArgumentException(cmd);
        };
    }

    // ---- enumerated families ----

    private void valid(Map<String, FuzzCase> out) {
        for (String base : strategies.keySet()) {
            for (String cmd : List.of("plan", "simulate", "search")) {
                JsonNode doc = strategies.get(base);
                // search rebuilds the network per micro-batch size: it refuses network files
                boolean pass = !(cmd.equals("search") && doc.path("network").has("file"));
                Expect e = pass ? Expect.PASS : Expect.EITHER;
                add(out, new FuzzCase("valid/" + base + "/as-shipped/" + cmd, "valid", e,
                        dir -> strategyArgs(cmd, write(dir, "s.json", JsonMutator.bytes(doc)), dir)));
            }
        }
    }

    private void sizes(Map<String, FuzzCase> out) {
        String[][] zoo = {
            {"gpt-layers-1e6", "plan", "{\"zoo\":\"gpt\",\"args\":{\"layers\":1000000,\"hidden\":64,\"heads\":4,"
                + "\"seq\":16,\"vocab\":128,\"batch\":8}}"},
            {"gpt-hidden-1e6", "plan", "{\"zoo\":\"gpt\",\"args\":{\"layers\":2,\"hidden\":1000000,\"heads\":4,"
                + "\"seq\":16,\"vocab\":128,\"batch\":8}}"},
            {"gpt-seq-2^30", "simulate", "{\"zoo\":\"gpt\",\"args\":{\"layers\":2,\"hidden\":64,\"heads\":4,"
                + "\"seq\":1073741824,\"vocab\":128,\"batch\":8}}"},
            {"gpt-layers-1e5", "simulate", "{\"zoo\":\"gpt\",\"args\":{\"layers\":100000,\"hidden\":64,"
                + "\"heads\":4,\"seq\":16,\"vocab\":128,\"batch\":8}}"},
            {"mlp-width-2^31", "plan", "{\"zoo\":\"mlp\",\"args\":{\"widths\":[2147483647,1024,256],"
                + "\"batch\":64}}"},
            {"mlp-batch-1e12", "plan", "{\"zoo\":\"mlp\",\"args\":{\"widths\":[256,1024,256],"
                + "\"batch\":1000000000000}}"},
            {"mlp-layers-1e6", "plan", "{\"zoo\":\"mlp\",\"args\":{\"widths\":" + widths(1_000_000)
                + ",\"batch\":8}}"},
        };
        for (String[] z : zoo) {
            String doc = "{\"network\":" + z[2] + ",\"devices\":8,\"parallel\":{\"parallel_mode\":\"data_parallel\"}}";
            add(out, new FuzzCase("sizes/" + z[0] + "/" + z[1], "sizes", Expect.FAIL,
                    dir -> strategyArgs(z[1], write(dir, "s.json", doc.getBytes(StandardCharsets.UTF_8)), dir)));
        }
        add(out, new FuzzCase("sizes/devices-1e9/search", "sizes", Expect.FAIL, dir -> strategyArgs("search",
                write(dir, "s.json", MLP.replace("\"devices\":8", "\"devices\":1000000000")
                        .getBytes(StandardCharsets.UTF_8)), dir)));
        add(out, new FuzzCase("sizes/virtual-stages-1e6/simulate", "sizes", Expect.FAIL, dir -> List.of("simulate",
                write(dir, "s.json", bytesOf("gpt-pipeline-2stages.json")).toString(), "--progress", "none",
                "--pipeline-stages", "2", "--schedule", "interleaved", "--virtual-stages", "1000000")));
        for (String dm : List.of("[65536]", "[4096, 16]")) {
            String cases = "[{\"from_dev_matrix\": " + dm + ", \"to_dev_matrix\": [1, 65536], \"shape\": [65536, 64],"
                    + " \"dtype\": \"float32\", \"from\": [0, -1], \"to\": [-1, 0]}]";
            String name = "sizes/layout-" + dm.replaceAll("[^0-9]+", "x") + "/layout redistribute";
            add(out, new FuzzCase(name, "sizes", Expect.EITHER, dir -> List.of("layout", "redistribute", "--input",
                    write(dir, "cases.json", cases.getBytes(StandardCharsets.UTF_8)).toString())));
        }
        String net = "{\"name\":\"big\",\"inputs\":[{\"name\":\"x\",\"shape\":[2147483648, 2],\"dtype\":\"float32\"}],"
                + "\"parameters\":[{\"name\":\"w\",\"shape\":[2, 2],\"init\":\"xavier_uniform\"}],"
                + "\"ops\":[{\"name\":\"mm\",\"type\":\"MatMul\",\"inputs\":[\"x\",\"w\"]},"
                + "{\"name\":\"loss\",\"type\":\"ReduceMean\",\"inputs\":[\"mm\"]}],\"loss\":\"loss\"}";
        for (String cmd : List.of("plan", "simulate")) {
            // 2^31 elements are under the documented 2^40 per tensor: a correct run or a one-line error
            add(out, new FuzzCase("sizes/network-shape-2^31/" + cmd, "sizes", Expect.EITHER, dir -> {
                write(dir, "net.json", net.getBytes(StandardCharsets.UTF_8));
                return strategyArgs(cmd, write(dir, "s.json", ("{\"network\":{\"file\":\"net.json\"},\"devices\":8,"
                        + "\"parallel\":{\"parallel_mode\":\"data_parallel\"}}").getBytes(StandardCharsets.UTF_8)),
                        dir);
            }));
        }
        String lossInput = new String(JsonMutator.bytes(network), StandardCharsets.UTF_8)
                .replace("\"loss\":\"loss\"", "\"loss\":\"x\"");
        add(out, new FuzzCase("sizes/network-loss-is-input/simulate-numeric", "sizes", Expect.FAIL, dir -> {
            write(dir, "net.json", lossInput.getBytes(StandardCharsets.UTF_8));
            return strategyArgs("simulate-numeric", write(dir, "s.json", ("{\"network\":{\"file\":\"net.json\"},"
                    + "\"devices\":8,\"parallel\":{\"parallel_mode\":\"data_parallel\"}}")
                    .getBytes(StandardCharsets.UTF_8)), dir);
        }));
        String longZoo = MLP.replace("\"mlp\"", "\"" + "q".repeat(100_000) + "\"");
        add(out, new FuzzCase("sizes/zoo-name-100k/plan", "sizes", Expect.FAIL,
                dir -> strategyArgs("plan", write(dir, "s.json", longZoo.getBytes(StandardCharsets.UTF_8)), dir)));
        String tiny = CLUSTER.replace("1.95e13", "1e-308");
        add(out, new FuzzCase("sizes/cluster-peak-flops-1e-308/search", "sizes", Expect.FAIL, dir -> {
            List<String> a = new ArrayList<>(strategyArgs("search", write(dir, "s.json",
                    MLP.getBytes(StandardCharsets.UTF_8)), dir));
            a.addAll(List.of("--cluster", write(dir, "cl.json", tiny.getBytes(StandardCharsets.UTF_8)).toString(),
                    "--json"));
            return a;
        }));
    }

    /** Hand-made bad strategies, degrees, stages and checkpoints named in issue 15. */
    private void targeted(Map<String, FuzzCase> out) {
        String ck = JsonMutator.MAPPER.valueToTree(checkpoint).toString();
        String[][] ckpts = {
            {"strategy-3x1-on-8", ck.replaceFirst("\\[\\[8,1],\\[1,1]]", "[[3,1],[1,1]]")},
            {"strategy-0x1", ck.replaceFirst("\\[\\[8,1],\\[1,1]]", "[[0,1],[1,1]]")},
            {"strategy-wrong-arity", ck.replaceFirst("\\[\\[8,1],\\[1,1]]", "[[8,1,1]]")},
            {"opt-shard-size-0", ck.replaceFirst("\"opt_weight_shard_size\":-1", "\"opt_weight_shard_size\":0")},
            {"no-parallel-layout-item", ((ObjectNode) checkpoint.deepCopy()).without("parallel_layout_item").toString()},
        };
        for (String[] c : ckpts) {
            for (String cmd : List.of("plan", "simulate")) {
                add(out, new FuzzCase("checkpoint/ckpt.json/" + c[0] + "/" + cmd, "checkpoint", Expect.FAIL, dir -> {
                    write(dir, "ck.json", c[1].getBytes(StandardCharsets.UTF_8));
                    return strategyArgs(cmd, write(dir, "s.json", checkpointStrategy().getBytes(StandardCharsets.UTF_8)),
                            dir);
                }));
            }
        }
        String[][] edits = {
            {"gpt-megatron-degrees.json", "tensor-3", "parallelism", "tensor", "3"},
            {"gpt-megatron-degrees.json", "pipeline-3", "parallelism", "pipeline", "3"},
            {"gpt-megatron-degrees.json", "data-0", "parallelism", "data", "0"},
            {"gpt-megatron-degrees.json", "micro-batch-size-0", "parallelism", "micro_batch_size", "0"},
            {"gpt-pipeline-2stages.json", "stage-5-of-2", "stages", "layers.1.*", "5"},
            {"gpt-pipeline-2stages.json", "stage-negative", "stages", "layers.1.*", "-1"},
            {"gpt-pipeline-2stages.json", "pipeline-stages-0", "parallel", "pipeline_stages", "0"},
            {"gpt-pipeline-2stages.json", "micro-batches-0", "parallel", "micro_batches", "0"},
            {"mlp-data-parallel.json", "devices-0", null, "devices", "0"},
            {"mlp-data-parallel.json", "devices-negative", null, "devices", "-8"},
            {"gpt-optimizer-parallel.json", "dataset-strategy-3", "parallel", "dataset_strategy", "[[3,1],[3,1]]"},
            {"gpt-optimizer-parallel.json", "optimizer-weight-shard-size-3", "parallel.parallel_optimizer_config",
                "optimizer_weight_shard_size", "3"},
        };
        for (String[] e : edits) {
            JsonNode doc = strategies.get(e[0]).deepCopy();
            JsonNode at = doc;
            if (e[2] != null) {
                for (String k : e[2].split("\\.")) {
                    at = at.get(k);
                }
            }
            try {
                ((ObjectNode) at).set(e[3], JsonMutator.MAPPER.readTree(e[4]));
            } catch (IOException ex) {
                throw new UncheckedIOException(ex);
            }
            byte[] bytes = JsonMutator.bytes(doc);
            List<String> cmds = e[1].startsWith("optimizer-weight") ? List.of("plan", "simulate-numeric")
                    : List.of("plan", "simulate", "search");
            for (String cmd : cmds) {
                // search keeps only the optimizer, gradients_mean and fusion settings of its input (its help): it
                // drops the dataset strategy, so a bad one may pass there
                Expect expect = cmd.equals("search") && e[1].startsWith("dataset-strategy") ? Expect.EITHER
                        : Expect.FAIL;
                add(out, new FuzzCase("strategy/" + e[0] + "/" + e[1] + "/" + cmd, "strategy", expect,
                        dir -> strategyArgs(cmd, write(dir, "s.json", bytes), dir)));
            }
        }
    }

    private static String widths(int n) {
        StringBuilder b = new StringBuilder("[");
        for (int i = 0; i < n; i++) {
            b.append(i == 0 ? "" : ",").append(8);
        }
        return b.append(']').toString();
    }

    private byte[] bytesOf(String base) {
        return JsonMutator.bytes(strategies.get(base));
    }

    private void options(Map<String, FuzzCase> out) {
        // {command, option..., expect}: every one is run on the MLP strategy (or the pipeline file for pipelines)
        String[][] bad = {
            {"simulate-numeric", "--lr", "Infinity"}, {"simulate-numeric", "--lr", "1e400"},
            {"simulate-numeric", "--lr", "NaN"}, {"simulate-numeric", "--lr", "-Infinity"},
            {"simulate-numeric", "--lr", "abc"}, {"simulate-numeric", "--lr", ""},
            {"simulate-numeric", "--steps", "0"}, {"simulate-numeric", "--steps", "-1"},
            {"simulate-numeric", "--steps", "abc"}, {"simulate-numeric", "--steps", "99999999999"},
            {"simulate-numeric", "--dtype", "float16"}, {"simulate-numeric", "--dtype", " float32"},
            {"simulate-numeric", "--dtype", ""}, {"simulate-numeric", "--seed", "abc"},
            {"simulate-numeric", "--seed", "1e400"}, {"simulate-numeric", "--pipeline-stages", "2"},
            {"simulate", "--cluster", "bogus-preset"}, {"simulate", "--cluster", ""},
            {"simulate", "--cluster", "/nonexistent/cluster.json"},
            {"simulate", "--pipeline-stages", "0"}, {"simulate", "--pipeline-stages", "-1"},
            {"simulate", "--pipeline-stages", "abc"}, {"simulate", "--pipeline-stages", "1000000"},
            {"simulate", "--micro-batches", "0"}, {"simulate", "--micro-batches", "-3"},
            {"simulate", "--schedule", "bogus"}, {"simulate", "--schedule", ""},
            {"simulate", "--virtual-stages", "0"}, {"simulate", "--virtual-stages", "-1"},
            {"simulate", "--recompute", "bogus"}, {"simulate", "--progress", "bogus"},
            {"simulate", "--bogus-option"}, {"simulate", "extra-positional"},
            {"search", "--max-plans", "-1"}, {"search", "--max-plans", "abc"},
            {"search", "--max-stages", "0"}, {"search", "--max-stages", "-1"},
            {"search", "--top", "-1"}, {"search", "--cluster", "bogus-preset"},
            {"search", "--progress", "bogus"}, {"search", "--bogus-option"},
            {"plan", "--bogus-option"}, {"plan", "--json=maybe"}, {"plan", "extra-positional"},
        };
        for (String[] b : bad) {
            String cmd = b[0];
            List<String> extra = List.of(b).subList(1, b.length);
            String id = "options/" + String.join(" ", extra).replace("/", "_") + "/" + cmd;
            add(out, new FuzzCase(id, "options", Expect.FAIL, dir -> {
                List<String> a = new ArrayList<>(strategyArgs(cmd, write(dir, "s.json",
                        MLP.getBytes(StandardCharsets.UTF_8)), dir));
                a.addAll(extra);
                return a;
            }));
        }
        for (String cmd : List.of("plan", "simulate", "simulate-numeric", "search", "validate")) {
            for (String[] p : new String[][] {{"missing", "/nonexistent/s.json"}, {"empty-path", ""},
                {"directory", "DIR"}}) {
                String id = "options/strategy-" + p[0] + "/" + cmd;
                add(out, new FuzzCase(id, "options", Expect.FAIL, dir -> {
                    String path = p[1].equals("DIR") ? dir.toString() : p[1];
                    if (cmd.equals("validate")) {
                        return List.of("validate", path);
                    }
                    List<String> a = new ArrayList<>(strategyArgs(cmd, dir.resolve("s.json"), dir));
                    a.set(1, path);
                    return a;
                }));
            }
        }
        add(out, new FuzzCase("options/no-command/tessera", "options", Expect.FAIL, dir -> List.of()));
        add(out, new FuzzCase("options/no-input/layout redistribute", "options", Expect.FAIL,
                dir -> List.of("layout", "redistribute")));
        add(out, new FuzzCase("options/missing-input/layout slices", "options", Expect.FAIL,
                dir -> List.of("layout", "slices", "--input", "/nonexistent/cases.json")));
        add(out, new FuzzCase("options/empty-input/layout slices", "options", Expect.FAIL,
                dir -> List.of("layout", "slices", "--input", "")));
    }

    private void outputs(Map<String, FuzzCase> out) {
        // {id, command, option, target}: DIR = the case directory, MISSING = a file under a missing directory
        String[][] bad = {
            {"plan", "--out", "DIR"}, {"plan", "--out", "MISSING"}, {"plan", "--out", ""},
            {"plan", "--ckpt", "DIR"}, {"plan", "--ckpt", "MISSING"}, {"plan", "--ckpt", ""},
            {"search", "--out", "DIR"}, {"search", "--out", "MISSING"}, {"search", "--out", ""},
            {"simulate", "--trace", "DIR"}, {"simulate", "--trace", "MISSING"}, {"simulate", "--trace", ""},
        };
        for (String[] b : bad) {
            add(out, new FuzzCase("output/" + b[1] + "-" + label(b[2]) + "/" + b[0], "output", Expect.FAIL, dir -> {
                List<String> a = new ArrayList<>(strategyArgs(b[0], write(dir, "s.json",
                        MLP.getBytes(StandardCharsets.UTF_8)), dir));
                a.addAll(List.of(b[1], target(b[2], dir)));
                return a;
            }));
        }
        for (String t : List.of("DIR", "MISSING", "")) {
            add(out, new FuzzCase("output/--out-ok--ckpt-" + label(t) + "/plan", "output", Expect.FAIL,
                    dir -> List.of("plan", write(dir, "s.json", MLP.getBytes(StandardCharsets.UTF_8)).toString(),
                            "--out", dir.resolve("a.json").toString(), "--ckpt", target(t, dir))));
            add(out, new FuzzCase("output/--ckpt-ok--out-" + label(t) + "/plan", "output", Expect.FAIL,
                    dir -> List.of("plan", write(dir, "s.json", MLP.getBytes(StandardCharsets.UTF_8)).toString(),
                            "--ckpt", dir.resolve("b.json").toString(), "--out", target(t, dir))));
            // plan creates the missing parents of save_file (not those of --out)
            Expect saveExpect = t.equals("MISSING") ? Expect.EITHER : Expect.FAIL;
            add(out, new FuzzCase("output/save-file-" + label(t) + "/plan", "output", saveExpect, dir -> {
                String save = t.equals("DIR") ? "." : t.equals("MISSING") ? "missing/dir/c.json" : "";
                String doc = MLP.replace("\"gradients_mean\":true", "\"gradients_mean\":true,"
                        + "\"strategy_ckpt_config\":{\"save_file\":\"" + save + "\"}");
                return List.of("plan", write(dir, "s.json", doc.getBytes(StandardCharsets.UTF_8)).toString(),
                        "--out", dir.resolve("a.json").toString());
            }));
            for (String sub : List.of("redistribute", "slices")) {
                add(out, new FuzzCase("output/--output-" + label(t) + "/layout " + sub, "output", Expect.FAIL,
                        dir -> List.of("layout", sub, "--input", write(dir, "cases.json",
                                JsonMutator.bytes(sub.equals("slices") ? slices : redistribute)).toString(),
                                "--output", target(t, dir))));
            }
        }
        add(out, new FuzzCase("output/--out-and--ckpt-ok/plan", "output", Expect.PASS, dir -> List.of("plan",
                write(dir, "s.json", MLP.getBytes(StandardCharsets.UTF_8)).toString(), "--out",
                dir.resolve("a.json").toString(), "--ckpt", dir.resolve("b.json").toString())));
    }

    private static String label(String t) {
        return t.isEmpty() ? "empty" : t.toLowerCase(java.util.Locale.ROOT);
    }

    private static String target(String t, Path dir) {
        return switch (t) {
            case "DIR" -> dir.toString();
            case "MISSING" -> dir.resolve("missing").resolve("dir").resolve("x.json").toString();
            default -> t;
        };
    }

    /** The special files, each in every input slot (default: a seeded sample of the slow ones). */
    private void specials(Map<String, FuzzCase> out) {
        String[] slots = {"plan", "simulate", "simulate-numeric", "search", "cluster", "network", "checkpoint",
            "layout"};
        String[] kinds = {"dev-null", "directory", "dev-zero", "dev-urandom", "fifo", "sparse-3GiB"};
        for (String kind : kinds) {
            boolean cheap = kind.equals("dev-null") || kind.equals("directory");
            List<String> chosen = new ArrayList<>(List.of(slots));
            if (!cheap && !full) {
                java.util.Collections.shuffle(chosen, rnd);
                chosen = chosen.subList(0, 2);
            }
            for (String slot : chosen) {
                add(out, new FuzzCase("special/" + kind + "/" + slot, "special", Expect.FAIL,
                        dir -> specialArgs(kind, slot, dir)));
            }
        }
    }

    private static List<String> specialArgs(String kind, String slot, Path dir) throws IOException {
        String file = switch (kind) {
            case "dev-null" -> "/dev/null";
            case "dev-zero" -> "/dev/zero";
            case "dev-urandom" -> "/dev/urandom";
            case "directory" -> Files.createDirectory(dir.resolve("d")).toString();
            case "fifo" -> mkfifo(dir.resolve("fifo"));
            default -> {
                Path p = dir.resolve("sparse.json");
                try (RandomAccessFile f = new RandomAccessFile(p.toFile(), "rw")) {
                    f.write('{');
                    f.setLength(3L << 30);
                }
                yield p.toString();
            }
        };
        return switch (slot) {
            case "cluster" -> List.of("simulate", write(dir, "s.json", MLP.getBytes(StandardCharsets.UTF_8))
                    .toString(), "--progress", "none", "--cluster", file);
            case "network" -> List.of("plan", write(dir, "s.json", ("{\"network\":{\"file\":\"" + file + "\"},"
                    + "\"devices\":8,\"parallel\":{\"parallel_mode\":\"data_parallel\"}}")
                    .getBytes(StandardCharsets.UTF_8)).toString());
            case "checkpoint" -> List.of("plan", write(dir, "s.json", checkpointStrategy().replace("ck.json", file)
                    .getBytes(StandardCharsets.UTF_8)).toString());
            case "layout" -> List.of("layout", "slices", "--input", file);
            default -> {
                List<String> a = new ArrayList<>(strategyArgs(slot, dir.resolve("s.json"), dir));
                a.set(1, file);
                yield a;
            }
        };
    }

    /** Makes a FIFO with {@code mkfifo}, or a directory where that is not possible. */
    private static String mkfifo(Path p) throws IOException {
        try {
            Process pr = new ProcessBuilder("mkfifo", p.toString()).redirectErrorStream(true).start();
            if (pr.waitFor() == 0) {
                return p.toString();
            }
        } catch (IOException e) {
            // no mkfifo
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        return Files.createDirectory(p).toString();
    }

    static Path write(Path dir, String name, byte[] bytes) throws IOException {
        return Files.write(dir.resolve(name), bytes);
    }
}
