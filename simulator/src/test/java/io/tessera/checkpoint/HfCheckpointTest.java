package io.tessera.checkpoint;

import io.tessera.layout.Box;
import io.tessera.layout.init.Initializers;
import io.tessera.layout.tensor.Tensor;
import io.tessera.planner.api.StrategyPlans;
import io.tessera.planner.checkpoint.CheckpointException;
import io.tessera.planner.checkpoint.CheckpointIndex;
import io.tessera.planner.checkpoint.CheckpointOptions;
import io.tessera.planner.checkpoint.Checkpoints;
import io.tessera.planner.checkpoint.SafeTensors;
import io.tessera.planner.checkpoint.Verification;
import io.tessera.planner.graph.Network;
import io.tessera.planner.plan.PipelinePlan;
import io.tessera.planner.strategy.StrategyFile;
import io.tessera.planner.strategy.StrategyFiles;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Hugging Face names through checkpoints: a Mixtral built from a {@code config.json} merges to Hugging Face's
 * per-expert tensors, and Hugging Face-style files (one file, or shards behind a {@code model.safetensors.index.json})
 * split back into a plan's ranks exactly.
 */
class HfCheckpointTest {

    private static final Path MIXTRAL = Path.of("..", "strategies", "mixtral-tiny-ep2-tp2-dp2-pp2.json");
    private static final long SEED = 7;

    @TempDir
    static Path tmp;

    private static StrategyFile file;
    private static PipelinePlan plan;
    private static Path saved;
    private static Path merged;

    @BeforeAll
    static void saveAndMerge() {
        file = StrategyFiles.read(MIXTRAL);
        plan = StrategyPlans.pipelinePlan(file, null);
        saved = tmp.resolve("saved");
        CheckpointIndex index = Checkpoints.save(file, SEED, saved, CheckpointOptions.DEFAULTS);
        assertNotNull(index);
        assertTrue(index.plan().hfNames(), "a network from hf_config records Hugging Face names");
        merged = tmp.resolve("merged.safetensors");
        Checkpoints.merge(saved, merged, false, CheckpointOptions.DEFAULTS);
    }

    @Test
    void mergeUnstacksExpertsUnderHuggingFaceNamesWithTheInitialValues() {
        Map<String, Tensor> tensors = SafeTensors.read(merged);
        Network net;
        long before = Initializers.globalSeed();
        try {
            Initializers.setSeed(SEED);
            net = StrategyPlans.network(file);
        } finally {
            Initializers.setSeed(before);
        }
        int stacked = 0;
        for (var p : net.parameters()) {
            Tensor full = net.parameter(p.name()).clone().initData(false).tensor();
            if (p.name().matches(".*\\.experts\\.[^.]+\\.weight")) {
                stacked++;
                assertFalse(tensors.containsKey(p.name()), "stacked " + p.name() + " is unstacked");
                long[] s = full.shape();
                for (long e = 0; e < s[0]; e++) {
                    String hf = p.name().replaceFirst("\\.experts\\.", ".experts." + e + ".");
                    Tensor t = tensors.get(hf);
                    assertNotNull(t, "Hugging Face name " + hf);
                    assertArrayEquals(new long[]{s[1], s[2]}, t.shape(), hf);
                    Tensor row = full.slice(Box.of(new long[]{e, 0, 0}, new long[]{e + 1, s[1], s[2]}));
                    assertArrayEquals(row.toDoubleArray(), t.toDoubleArray(), hf);
                }
            } else {
                Tensor t = tensors.get(p.name());
                assertNotNull(t, p.name());
                assertArrayEquals(full.shape(), t.shape(), p.name());
                assertArrayEquals(full.toDoubleArray(), t.toDoubleArray(), p.name());
            }
        }
        assertTrue(stacked >= 3, "the tiny Mixtral has stacked expert weights: " + stacked);
        assertTrue(tensors.keySet().stream().anyMatch(n -> n.contains("block_sparse_moe.experts.1.w1.weight")));
    }

    @Test
    void splitOfOneFileAndOfHuggingFaceShardsGivesTheSavedWeights() throws IOException {
        Path one = tmp.resolve("split-one");
        assertNotNull(Checkpoints.split(merged, plan, true, one, CheckpointOptions.DEFAULTS));
        Verification.of(one, null);
        Path back = tmp.resolve("back-one.safetensors");
        Checkpoints.merge(one, back, false, CheckpointOptions.DEFAULTS);
        assertArrayEquals(Files.readAllBytes(merged), Files.readAllBytes(back));

        // the same tensors in two shards behind Hugging Face's index, in another order
        Map<String, Tensor> all = SafeTensors.read(merged);
        List<String> names = new ArrayList<>(all.keySet());
        Map<String, Tensor> a = new LinkedHashMap<>();
        Map<String, Tensor> b = new LinkedHashMap<>();
        StringBuilder map = new StringBuilder("{\"metadata\": {\"total_size\": 0}, \"weight_map\": {");
        for (int i = names.size() - 1; i >= 0; i--) {
            boolean first = i % 2 == 0;
            (first ? a : b).put(names.get(i), all.get(names.get(i)));
            map.append(i == names.size() - 1 ? "" : ", ").append('"').append(names.get(i)).append("\": \"")
                    .append(first ? "model-00001-of-00002.safetensors" : "model-00002-of-00002.safetensors")
                    .append('"');
        }
        Path hf = Files.createDirectories(tmp.resolve("hf"));
        SafeTensors.write(hf.resolve("model-00001-of-00002.safetensors"), a, Map.of("format", "pt"));
        SafeTensors.write(hf.resolve("model-00002-of-00002.safetensors"), b, Map.of("format", "pt"));
        Files.writeString(hf.resolve("model.safetensors.index.json"), map.append("}}").toString());
        Path two = tmp.resolve("split-two");
        CheckpointIndex index = Checkpoints.split(List.of(hf.resolve("model.safetensors.index.json")), plan, true,
                false, two, CheckpointOptions.DEFAULTS);
        assertNotNull(index);
        assertEquals(plan.devices(), index.layout().files().size());
        for (var f : index.layout().files()) {
            assertArrayEquals(dataOf(one.resolve(f.file())), dataOf(two.resolve(f.file())), f.file());
        }
        Path back2 = tmp.resolve("back-two.safetensors");
        Checkpoints.merge(two, back2, false, CheckpointOptions.DEFAULTS);
        assertArrayEquals(Files.readAllBytes(merged), Files.readAllBytes(back2));
    }

    @Test
    void splitErrorsNameTheEntryAndTheFix() throws IOException {
        Map<String, Tensor> all = new LinkedHashMap<>(SafeTensors.read(merged));
        all.put("model.layers.0.self_attn.rotary_emb.inv_freq", Tensor.zeros(io.tessera.layout.DType.FLOAT32, 4));
        Path extra = tmp.resolve("extra.safetensors");
        SafeTensors.write(extra, all, Map.of());
        CheckpointException e = assertThrows(CheckpointException.class, () -> Checkpoints.split(extra, plan, true,
                tmp.resolve("x1"), CheckpointOptions.DEFAULTS));
        assertTrue(e.getMessage().contains("rotary_emb.inv_freq") && e.getMessage().contains("--skip-unknown"),
                e.getMessage());
        assertNotNull(Checkpoints.split(List.of(extra), plan, true, true, tmp.resolve("x2"),
                CheckpointOptions.DEFAULTS));

        Map<String, Tensor> missing = new LinkedHashMap<>(SafeTensors.read(merged));
        String gone = missing.keySet().iterator().next();
        missing.remove(gone);
        Path lacking = tmp.resolve("lacking.safetensors");
        SafeTensors.write(lacking, missing, Map.of());
        e = assertThrows(CheckpointException.class, () -> Checkpoints.split(lacking, plan, true, tmp.resolve("x3"),
                CheckpointOptions.DEFAULTS));
        assertTrue(e.getMessage().contains("no entry for parameter"), e.getMessage());
        assertFalse(Files.exists(tmp.resolve("x3").resolve(CheckpointIndex.FILE_NAME)));
    }

    /** The bytes after a safetensors file's header (its data). */
    private static byte[] dataOf(Path f) throws IOException {
        byte[] b = Files.readAllBytes(f);
        long n = java.nio.ByteBuffer.wrap(b, 0, 8).order(java.nio.ByteOrder.LITTLE_ENDIAN).getLong();
        return java.util.Arrays.copyOfRange(b, (int) (8 + n), b.length);
    }
}
