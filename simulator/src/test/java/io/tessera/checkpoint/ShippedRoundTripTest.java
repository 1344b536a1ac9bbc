package io.tessera.checkpoint;

import io.tessera.layout.init.Initializers;
import io.tessera.layout.tensor.Tensor;
import io.tessera.planner.api.StrategyPlans;
import io.tessera.planner.checkpoint.CheckpointException;
import io.tessera.planner.checkpoint.CheckpointIndex;
import io.tessera.planner.checkpoint.CheckpointLayout;
import io.tessera.planner.checkpoint.CheckpointOptions;
import io.tessera.planner.checkpoint.CheckpointTensor;
import io.tessera.planner.checkpoint.Checkpoints;
import io.tessera.planner.checkpoint.Piece;
import io.tessera.planner.checkpoint.RankFile;
import io.tessera.planner.checkpoint.SafeTensors;
import io.tessera.planner.checkpoint.SafeTensorsEntry;
import io.tessera.planner.checkpoint.SafeTensorsHeader;
import io.tessera.planner.checkpoint.Verification;
import io.tessera.planner.plan.PipelinePlan;
import io.tessera.planner.strategy.NetworkRef;
import io.tessera.planner.strategy.StrategyFile;
import io.tessera.planner.strategy.StrategyFiles;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Issue 16's first "Done when": round trips are exact on real plans. The shipped strategy files (top-level
 * {@code strategies/*.json}) and variants of them in {@code src/test/resources/checkpoint} (other tensor, pipeline,
 * data and expert degrees, 4 to 16 devices, optimizer parallel on and off, {@code optimizer_weight_shard_size},
 * momentum and adam) are grouped by network; for every ordered pair (A, B) of a group, saving under A and resharding
 * to B gives exactly the checkpoint a direct save under B gives: the same index.json, the same data in every rank
 * file, and byte-identical merged files (with and without optimizer state), whose parameters are bit-identical to the
 * unsharded initialisation.
 */
class ShippedRoundTripTest {

    private static final Path STRATEGIES = Path.of("../strategies");
    private static final Path VARIANTS = Path.of("src/test/resources/checkpoint");
    private static final long SEED = Long.getLong("tessera.seed", 16L);
    private static final CheckpointOptions OPTIONS = CheckpointOptions.DEFAULTS;

    @TempDir(factory = MemoryTempDirs.class)
    static Path tmp;

    /** One strategy file, planned. */
    private record Planned(Path path, StrategyFile file, PipelinePlan pipe, String network, List<String> states) {

        String name() {
            return path.getFileName().toString().replace(".json", "");
        }
    }

    private static List<Planned> plans;
    private static final Map<Path, Path> SAVED = new HashMap<>();
    private static final Map<String, Path> MERGED = new HashMap<>();
    private static final Set<Path> INITIALISED = new HashSet<>();

    private static synchronized List<Planned> plans() throws IOException {
        if (plans == null) {
            System.out.println("ShippedRoundTripTest seed " + SEED + " (rerun with -Dtessera.seed=" + SEED + ")");
            List<Planned> out = new ArrayList<>();
            for (Path dir : List.of(STRATEGIES, VARIANTS)) {
                try (Stream<Path> s = Files.list(dir)) {
                    for (Path p : s.filter(f -> f.toString().endsWith(".json")).sorted().toList()) {
                        out.add(plan(p));
                    }
                }
            }
            plans = out;
        }
        return plans;
    }

    private static Planned plan(Path path) {
        StrategyFile file = StrategyFiles.read(path);
        long before = Initializers.globalSeed();
        PipelinePlan pipe;
        try {
            Initializers.setSeed(SEED);
            pipe = StrategyPlans.pipelinePlan(file, null);
        } finally {
            Initializers.setSeed(before);
        }
        StringBuilder network = new StringBuilder();
        for (CheckpointTensor t : CheckpointLayout.of(pipe, false).tensors()) {
            network.append(t).append('\n');
        }
        return new Planned(path, file, pipe, network.toString(),
                CheckpointLayout.stateNames(pipe.plan().config().optimizer()));
    }

    private static List<List<Planned>> groups() throws IOException {
        Map<String, List<Planned>> by = new LinkedHashMap<>();
        for (Planned p : plans()) {
            by.computeIfAbsent(p.network(), k -> new ArrayList<>()).add(p);
        }
        return new ArrayList<>(by.values());
    }

    @Test
    void everyShippedStrategyHasAPartnerOfTheSameNetwork() throws IOException {
        int shipped = 0;
        for (List<Planned> g : groups()) {
            for (Planned p : g) {
                if (p.path().startsWith(STRATEGIES)) {
                    shipped++;
                    assertTrue(g.size() > 1, p.path() + " has no other strategy file of its network; add a variant "
                            + "to " + VARIANTS);
                }
            }
        }
        assertTrue(shipped >= 10, "found only " + shipped + " shipped strategy files in " + STRATEGIES);
    }

    @Test
    void thePairsCoverPipelinesOptimizerParallelDeviceCountsAndOptimizerState() throws IOException {
        Set<String> kinds = new HashSet<>();
        for (List<Planned> g : groups()) {
            for (Planned a : g) {
                for (Planned b : g) {
                    if (a == b) {
                        continue;
                    }
                    int sa = a.pipe().stages();
                    int sb = b.pipe().stages();
                    if (sa == 1 && sb > 1) {
                        kinds.add("pipeline on one side");
                    }
                    if (sa > 1 && sb > 1 && sa != sb) {
                        kinds.add("different stage counts");
                    }
                    if (sharded(a) && !sharded(b)) {
                        kinds.add("optimizer parallel to none");
                    }
                    if (a.pipe().devices() == 8 && b.pipe().devices() == 16) {
                        kinds.add("8 -> 16 devices");
                    }
                    if (a.pipe().devices() == 16 && b.pipe().devices() == 4) {
                        kinds.add("16 -> 4 devices");
                    }
                    if (!a.states().isEmpty() && a.states().equals(b.states())) {
                        kinds.add("state on both sides: " + a.states());
                    }
                    if (a.name().contains("-ep") && b.name().contains("-ep")
                            && !a.name().replaceAll(".*-ep(\\d+).*", "$1")
                            .equals(b.name().replaceAll(".*-ep(\\d+).*", "$1"))) {
                        kinds.add("expert degree change");
                    }
                }
            }
        }
        assertEquals(Set.of("pipeline on one side", "different stage counts", "optimizer parallel to none",
                "8 -> 16 devices", "16 -> 4 devices", "state on both sides: [momentum_buffer]",
                "state on both sides: [exp_avg, exp_avg_sq]", "expert degree change"), kinds);
    }

    /** Whether any rank of {@code p} stores an optimizer shard of a parameter (optimizer parallel). */
    private static boolean sharded(Planned p) {
        for (int s = 0; s < p.pipe().stages(); s++) {
            for (var pp : p.pipe().params(s)) {
                for (int r = 0; r < p.pipe().devices() / p.pipe().stages(); r++) {
                    if (pp.shard().groupOf(r) != null) {
                        return true;
                    }
                }
            }
        }
        return false;
    }

    @TestFactory
    Stream<DynamicTest> saveUnderAReshardToBEqualsADirectSaveUnderB() throws IOException {
        List<DynamicTest> tests = new ArrayList<>();
        for (List<Planned> g : groups()) {
            for (Planned a : g) {
                for (Planned b : g) {
                    if (a != b) {
                        tests.add(DynamicTest.dynamicTest(a.name() + " -> " + b.name(), () -> roundTrip(a, b)));
                    }
                }
            }
        }
        return tests.stream();
    }

    private static synchronized Path saved(Planned p) {
        return SAVED.computeIfAbsent(p.path(), k -> {
            Path dir = tmp.resolve("save-" + p.name());
            Checkpoints.save(p.file(), SEED, dir, OPTIONS);
            return dir;
        });
    }

    private static synchronized Path merged(Path dir, boolean state) {
        return MERGED.computeIfAbsent(dir + " " + state, k -> {
            Path f = tmp.resolve("merged-" + dir.getFileName() + "-" + state + ".safetensors");
            Checkpoints.merge(dir, f, state, OPTIONS);
            return f;
        });
    }

    private static void roundTrip(Planned a, Planned b) throws IOException {
        Path dirA = saved(a);
        Path dirB = saved(b);
        Path dirAB = tmp.resolve("reshard-" + a.name() + "-to-" + b.name());
        if (!a.states().isEmpty() && !a.states().containsAll(b.states())) {
            CheckpointException e = assertThrows(CheckpointException.class,
                    () -> Checkpoints.reshard(dirA, b.pipe(), dirAB, OPTIONS));
            assertTrue(e.getMessage().contains("optimizer"), e.getMessage());
            return;
        }
        CheckpointIndex index = Checkpoints.reshard(dirA, b.pipe(), dirAB, OPTIONS);
        assertTrue(index != null, "reshard wrote no index");
        Verification.of(dirAB, null);
        boolean full = a.states().containsAll(b.states());
        if (full) {
            assertEquals(Files.readString(dirB.resolve(CheckpointIndex.FILE_NAME)),
                    Files.readString(dirAB.resolve(CheckpointIndex.FILE_NAME)), "index.json");
        } else {
            // the source has no optimizer state for B's optimizer: the result holds B's parameters only
            assertFalse(index.layout().hasOptimizerState());
            assertEquals(CheckpointLayout.of(b.pipe(), false), index.layout());
        }
        CheckpointIndex direct = CheckpointIndex.read(dirB);
        for (RankFile f : index.layout().files()) {
            Data got = Data.of(dirAB.resolve(f.file()));
            Data want = Data.of(dirB.resolve(f.file()));
            if (full) {
                assertEquals(want.entries(), got.entries(), f.file() + ": entries");
                assertArrayEquals(want.bytes(), got.bytes(), f.file() + ": data");
            } else {
                for (Piece p : f.pieces()) {
                    assertArrayEquals(want.entry(p.name()), got.entry(p.name()), f.file() + ": " + p.name());
                }
            }
        }
        assertEquals(direct.layout().files().size(), index.layout().files().size());
        List<Boolean> states = b.states().isEmpty() || !full ? List.of(false) : List.of(false, true);
        for (boolean state : states) {
            Path m = merged(dirAB, state);
            Path d = merged(dirB, state);
            if (full) {
                assertArrayEquals(Files.readAllBytes(d), Files.readAllBytes(m), "merge, optimizer state " + state);
            } else {
                Data want = Data.of(d);
                Data got = Data.of(m);
                assertEquals(want.entries(), got.entries());
                assertArrayEquals(want.bytes(), got.bytes(), "merged data");
            }
        }
        // merged(dirAB) equals merged(dirB) (above), so checking the latter once per plan covers every pair
        checkInitialisation(b, merged(dirB, false));
        if (full && !b.states().isEmpty()) {
            Data m = Data.of(merged(dirAB, true));
            for (SafeTensorsEntry e : m.entries()) {
                if (e.name().startsWith(CheckpointTensor.STATE_PREFIX)) {
                    assertArrayEquals(new byte[(int) e.bytes()], m.entry(e.name()), e.name() + " is not zero");
                }
            }
        }
    }

    /** The merged parameters are bit-identical to the unsharded initialisation under the same seed. */
    private static synchronized void checkInitialisation(Planned p, Path merged) {
        if (!INITIALISED.add(merged)) {
            return;
        }
        Map<String, Tensor> decoded = SafeTensors.read(merged);
        List<CheckpointTensor> params = CheckpointLayout.of(p.pipe(), false).tensors();
        boolean hf = p.file().network() instanceof NetworkRef.HfConfig;
        CheckpointLayout full = CheckpointLayout.full(params, "full.safetensors", hf);
        Map<String, Tensor> init = new HashMap<>();
        for (Piece piece : full.files().get(0).pieces()) {
            Tensor whole = init.computeIfAbsent(piece.tensor(),
                    n -> p.pipe().plan().network().parameter(n).clone().initData(false).tensor());
            Tensor got = decoded.get(piece.name());
            assertTrue(got != null, merged + " has no entry '" + piece.name() + "'");
            assertArrayEquals(encode(whole.slice(piece.box())), encode(got), p.name() + ": '" + piece.name()
                    + "' differs from the unsharded initialisation");
        }
        assertEquals(full.files().get(0).pieces().size(), decoded.size(), "entries of " + merged);
    }

    private static byte[] encode(Tensor t) {
        ByteBuffer b = ByteBuffer.allocate((int) (t.size() * t.dtype().bytes()));
        SafeTensors.encode(t, b);
        return b.array();
    }

    /** A safetensors file's entries and data section. */
    private record Data(List<SafeTensorsEntry> entries, byte[] bytes) {

        static Data of(Path file) throws IOException {
            SafeTensorsHeader h = SafeTensors.readHeader(file);
            byte[] all = Files.readAllBytes(file);
            return new Data(h.entries(), Arrays.copyOfRange(all, (int) h.dataStart(), all.length));
        }

        byte[] entry(String name) {
            for (SafeTensorsEntry e : entries) {
                if (e.name().equals(name)) {
                    return Arrays.copyOfRange(bytes, (int) e.begin(), (int) e.end());
                }
            }
            throw new AssertionError("no entry '" + name + "'");
        }
    }
}
