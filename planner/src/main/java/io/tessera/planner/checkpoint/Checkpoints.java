package io.tessera.planner.checkpoint;

import io.tessera.layout.Box;
import io.tessera.layout.DType;
import io.tessera.layout.init.Initializers;
import io.tessera.layout.param.Parameter;
import io.tessera.planner.api.StrategyPlans;
import io.tessera.planner.plan.PipelinePlan;
import io.tessera.planner.strategy.NetworkRef;
import io.tessera.planner.strategy.StrategyCheckpoints;
import io.tessera.planner.strategy.StrategyFile;
import io.tessera.planner.strategy.StrategyFiles;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.zip.CRC32C;

/**
 * Sharded checkpoints on disk: one safetensors file per rank holding its parameter slices (and optimizer state),
 * plus {@value CheckpointIndex#FILE_NAME} naming the plan and a CRC-32C per slice. {@link #save} writes the initial
 * one of a plan, {@link #reshard} converts one to another plan with a byte-minimal, streaming, resumable copy,
 * {@link #merge} and {@link #split} convert to and from one file of whole tensors, and {@link #verify} checks one.
 * Every file is written under a temporary name and renamed when complete and checked; the index comes last.
 */
public final class Checkpoints {

    private Checkpoints() {
    }

    // ------------------------------------------------------------------ save

    /**
     * Plans {@code file} with the global seed set to {@code seed} (restored after) and saves the initial sharded
     * checkpoint of its plan to {@code dir}: every rank's slices from {@code init_data}, bit-identical to the same
     * regions of the unsharded initialisation, and zero optimizer state.
     *
     * @param seed the global seed the network's initializers draw from ({@code mindspore.set_seed})
     * @return the index written
     */
    public static CheckpointIndex save(StrategyFile file, long seed, Path dir, CheckpointOptions options) {
        PipelinePlan pipe;
        long before = Initializers.globalSeed();
        try {
            Initializers.setSeed(seed);
            pipe = StrategyPlans.pipelinePlan(file, null);
        } finally {
            Initializers.setSeed(before);
        }
        String origin = sha256("save\n" + StrategyFiles.write(file) + "\nseed " + seed);
        return save(pipe, file.network() instanceof NetworkRef.HfConfig, origin, dir, options);
    }

    /**
     * Saves the initial sharded checkpoint of {@code pipe} to {@code dir} (created when missing).
     *
     * @param hfNames whether the network's parameters carry Hugging Face names (recorded for {@link #merge})
     * @param origin  what the data comes from (e.g. a hash of the strategy and the seed): a rerun with the same
     *                origin keeps complete files, another origin finding them is an error
     * @return the index written, or null when {@code options.ranks()} left files unwritten
     */
    public static CheckpointIndex save(PipelinePlan pipe, boolean hfNames, String origin, Path dir,
                                       CheckpointOptions options) {
        Map<Integer, Map<String, Parameter>> cache = new HashMap<>();
        SliceSource init = (rank, piece) -> {
            if (!piece.tensor().equals(piece.name()) || pipe.plan().network().parameter(piece.tensor()) == null) {
                return null;
            }
            int stage = pipe.stageOfRank(rank);
            int local = rank - pipe.globalRank(stage, 0);
            io.tessera.planner.plan.ParamPlan pp = pipe.params(stage).stream()
                    .filter(p -> p.name().equals(piece.tensor())).findFirst().orElseThrow();
            List<Integer> group = pp.shard().groupOf(local);
            int[] g = group == null ? null : group.stream().mapToInt(Integer::intValue).toArray();
            return pipe.plan().network().parameter(pp.name()).clone()
                    .initData(io.tessera.layout.param.ParamLayout.of(pp.layout(), g), local, true).tensor();
        };
        return save(CheckpointLayout.of(pipe, true), info(pipe, hfNames), init, origin, dir, options);
    }

    /**
     * The data of a checkpoint's entries, for {@link #save(CheckpointLayout, CheckpointIndex.PlanInfo, SliceSource,
     * String, Path, CheckpointOptions)}: e.g. a simulation's per-rank parameters and optimizer state.
     */
    @FunctionalInterface
    public interface SliceSource {
        /**
         * The values of {@code piece} in rank {@code rank}'s file: a tensor of the piece's dtype and volume (its
         * shape may be the piece's or the box's), or null for zeros.
         */
        io.tessera.layout.tensor.Tensor slice(int rank, Piece piece);
    }

    /**
     * Saves a sharded checkpoint of {@code layout} to {@code dir} from {@code data}: each file under a temporary
     * name, renamed when complete and checked, files of an earlier run with the same {@code origin} kept, the index
     * last.
     *
     * @return the index written, or null when {@code options.ranks()} left files unwritten
     * @throws CheckpointException when a slice has the wrong dtype or size, or on I/O errors
     */
    public static CheckpointIndex save(CheckpointLayout layout, CheckpointIndex.PlanInfo info, SliceSource data,
                                       String origin, Path dir, CheckpointOptions options) {
        Map<String, DType> dtypes = dtypes(layout);
        Map<String, String> meta = Map.of(RankFileWriter.ORIGIN_KEY, origin);
        createDirectories(dir);
        Map<String, CheckpointIndex.FileSums> sums = new LinkedHashMap<>();
        long total = 0;
        for (RankFile f : layout.files()) {
            total += options.ranks().test(f.rank()) ? layout.dataBytes(f) : 0;
        }
        long done = 0;
        for (RankFile f : layout.files()) {
            if (!options.ranks().test(f.rank())) {
                continue;
            }
            Path target = dir.resolve(f.file());
            CheckpointIndex.FileSums kept = MigrationRunner.complete(target, f, dtypes, meta);
            if (kept == null) {
                kept = write(f, target, dtypes, meta, data);
            }
            sums.put(f.file(), kept);
            done += layout.dataBytes(f);
            if (options.progress() != null) {
                options.progress().advance(done, total);
            }
        }
        return finish(dir, info, layout, sums, meta);
    }

    private static CheckpointIndex.FileSums write(RankFile f, Path target, Map<String, DType> dtypes,
                                                  Map<String, String> meta, SliceSource data) {
        Map<String, Integer> crcs = new LinkedHashMap<>();
        try (RankFileWriter w = RankFileWriter.open(target, f.pieces(), dtypes, meta)) {
            for (Piece piece : f.pieces()) {
                DType dt = dtypes.get(piece.tensor());
                ByteBuffer buf = ByteBuffer.allocate(Math.toIntExact(piece.volume() * dt.bytes()))
                        .order(ByteOrder.LITTLE_ENDIAN);
                io.tessera.layout.tensor.Tensor t = data.slice(f.rank(), piece);
                if (t != null) {
                    if (t.dtype() != dt || t.size() != piece.volume()) {
                        throw new CheckpointException("rank " + f.rank() + ": slice '" + piece.name() + "' is "
                                + t.dtype().jsonName() + " with " + t.size() + " elements; expected "
                                + dt.jsonName() + " with " + piece.volume() + " (region " + piece.box() + ")");
                    }
                    SafeTensors.encode(t, buf);
                }
                buf.clear();
                CRC32C crc = new CRC32C();
                crc.update(buf.duplicate());
                crcs.put(piece.name(), (int) crc.getValue());
                w.write(buf, w.offset(piece.name()));
            }
            return new CheckpointIndex.FileSums(w.commit(crcs), crcs);
        } catch (IOException e) {
            throw ioError(target, e);
        }
    }

    // ------------------------------------------------------------------ reshard

    /**
     * Plans the migration of checkpoint {@code source} to plan {@code target} (no data moves): the target holds
     * optimizer state when the source does.
     *
     * @throws CheckpointException when the source is incomplete, corrupt or of another network
     */
    public static Migration plan(Path source, PipelinePlan target) {
        CheckpointIndex index = CheckpointIndex.read(source);
        CheckpointLayout layout = CheckpointLayout.of(target, index.layout().hasOptimizerState());
        return Migration.plan(sources(source, index), index.layout().tensorMap(), layout, "checkpoint " + source);
    }

    /**
     * Plans the migration between two plans' checkpoints without any files (what {@link #plan(Path, PipelinePlan)}
     * would give for a checkpoint saved under {@code source}): the cost of changing plans before a checkpoint
     * exists. Both sides hold optimizer state when both plans' optimizers keep the same state.
     *
     * @throws CheckpointException when the plans are of different networks
     */
    public static Migration plan(PipelinePlan source, PipelinePlan target) {
        boolean state = CheckpointLayout.stateNames(source.plan().config().optimizer())
                .equals(CheckpointLayout.stateNames(target.plan().config().optimizer()));
        CheckpointLayout from = CheckpointLayout.of(source, state);
        List<Migration.SourceFile> sources = new ArrayList<>();
        for (RankFile f : from.files()) {
            sources.add(new Migration.SourceFile(f.rank(), Path.of(f.file()), f));
        }
        return Migration.plan(sources, from.tensorMap(), CheckpointLayout.of(target, state), "the source plan");
    }

    /**
     * Reshards checkpoint {@code source} into {@code out} for plan {@code target}: streaming, within
     * {@code options.memoryLimit()}, writing only {@code options.ranks()}, keeping files a killed run completed, and
     * writing the index once every file exists. The source is only read.
     *
     * @return the index written, or null when other ranks' files are still missing (another host writes them)
     */
    public static CheckpointIndex reshard(Path source, PipelinePlan target, Path out, CheckpointOptions options) {
        CheckpointIndex index = CheckpointIndex.read(source);
        return reshard(source, CheckpointLayout.of(target, index.layout().hasOptimizerState()),
                info(target, index.plan().hfNames()), out, options);
    }

    /**
     * {@link #reshard(Path, PipelinePlan, Path, CheckpointOptions)} to any target layout (e.g. one built from
     * layouts directly), recording {@code info} as the target's plan.
     */
    public static CheckpointIndex reshard(Path source, CheckpointLayout target, CheckpointIndex.PlanInfo info,
                                          Path out, CheckpointOptions options) {
        checkDistinct(source, out);
        CheckpointIndex index = CheckpointIndex.read(source);
        Migration m = Migration.plan(sources(source, index), index.layout().tensorMap(), target,
                "checkpoint " + source);
        String origin;
        try {
            origin = sha256("reshard\n" + Files.readString(source.resolve(CheckpointIndex.FILE_NAME)) + "\n"
                    + layoutText(m.target()));
        } catch (IOException e) {
            throw ioError(source, e);
        }
        Map<String, String> meta = Map.of(RankFileWriter.ORIGIN_KEY, origin);
        Map<String, CheckpointIndex.FileSums> sums = new MigrationRunner(m, out, meta, options, false)
                .withSourceCrcs(crcs(index)).run(options.ranks());
        return finish(out, info, m.target(), sums, meta);
    }

    // ------------------------------------------------------------------ merge and split

    /**
     * Writes every tensor of checkpoint {@code source} whole into one safetensors file {@code file} (replaced when it
     * exists): parameters under their names (Hugging Face's, with stacked expert weights unstacked, when the network
     * came from a {@code config.json}), and with {@code optimizerState} the optimizer state as
     * {@code optimizer.state.<parameter>.<state>}.
     *
     * @return the file's size and checksums
     */
    public static CheckpointIndex.FileSums merge(Path source, Path file, boolean optimizerState,
                                                 CheckpointOptions options) {
        CheckpointIndex index = CheckpointIndex.read(source);
        List<CheckpointTensor> tensors = new ArrayList<>();
        for (CheckpointTensor t : index.layout().tensors()) {
            if (optimizerState || t.isParameter()) {
                tensors.add(t);
            }
        }
        Path abs = file.toAbsolutePath();
        for (RankFile f : index.layout().files()) {
            notInto(abs, source.resolve(f.file()));
        }
        notInto(abs, source.resolve(CheckpointIndex.FILE_NAME));
        CheckpointLayout target = CheckpointLayout.full(tensors, abs.getFileName().toString(),
                index.plan().hfNames());
        Migration m = Migration.plan(sources(source, index), index.layout().tensorMap(), target,
                "checkpoint " + source);
        // no origin: the merged file depends on the tensors only (equal checkpoints merge to equal bytes)
        Map<String, String> meta = Map.of();
        createDirectories(abs.getParent());
        return new MigrationRunner(m, abs.getParent(), meta, options, true).withSourceCrcs(crcs(index))
                .run(r -> true)
                .get(abs.getFileName().toString());
    }

    /**
     * Splits one safetensors file of whole parameters ({@code full}, e.g. Hugging Face weights) into the sharded
     * checkpoint of {@code target}; see {@link #split(List, PipelinePlan, boolean, boolean, Path, CheckpointOptions)}.
     */
    public static CheckpointIndex split(Path full, PipelinePlan target, boolean hfNames, Path out,
                                        CheckpointOptions options) {
        return split(List.of(full), target, hfNames, false, out, options);
    }

    /**
     * Splits safetensors files of whole parameters ({@code files}: one file, or the shards of a Hugging Face
     * checkpoint such as {@code model-00001-of-00004.safetensors}; a Hugging Face
     * {@code model.safetensors.index.json} stands for the files its {@code weight_map} names) into the sharded
     * checkpoint of {@code target} in {@code out}, without optimizer state. Per-expert
     * {@code <scope>.experts.<e>.<proj>.weight} entries fill the stacked expert weights.
     *
     * @param hfNames     recorded in the index (whether the names are Hugging Face's)
     * @param skipUnknown whether entries that match no parameter are skipped (else an error)
     * @return the index written, or null when other ranks' files are still missing
     * @throws CheckpointException when an entry matches no parameter (without {@code skipUnknown}), a parameter has
     *                             no entry or two, or dtypes or shapes differ
     */
    public static CheckpointIndex split(List<Path> files, PipelinePlan target, boolean hfNames, boolean skipUnknown,
                                        Path out, CheckpointOptions options) {
        List<Path> inputs = HfIndex.expand(files);
        CheckpointLayout layout = CheckpointLayout.of(target, false);
        Map<String, CheckpointTensor> targetTensors = layout.tensorMap();
        Map<String, CheckpointTensor> sourceTensors = new LinkedHashMap<>();
        Map<String, Box> seen = new HashMap<>();
        List<Migration.SourceFile> sources = new ArrayList<>();
        StringBuilder origin = new StringBuilder("split\n").append(layoutText(layout));
        for (Path full : inputs) {
            for (RankFile f : layout.files()) {
                notInto(out.resolve(f.file()), full);
            }
            notInto(out.resolve(CheckpointIndex.FILE_NAME), full);
            SafeTensorsHeader h = SafeTensors.readHeader(full);
            origin.append(full.toAbsolutePath()).append('\n').append(h.fileBytes()).append('\n')
                    .append(new String(h.encode(), StandardCharsets.UTF_8)).append('\n');
            List<Piece> pieces = new ArrayList<>();
            for (SafeTensorsEntry e : h.entries()) {
                Piece p = CheckpointLayout.pieceOf(e.name(), targetTensors);
                if (p == null) {
                    if (skipUnknown) {
                        continue;
                    }
                    throw new CheckpointException(full + ": entry '" + e.name() + "' matches no parameter of network '"
                            + target.plan().network().name() + "'; expected the network's parameter names (e.g. '"
                            + layout.tensors().get(0).name() + "'), or skip such entries (--skip-unknown)");
                }
                if (!java.util.Arrays.equals(e.shape(), p.shape())) {
                    throw new CheckpointException(full + ": entry '" + e.name() + "' has shape "
                            + java.util.Arrays.toString(e.shape()) + " but the plan's parameter needs "
                            + java.util.Arrays.toString(p.shape()) + "; the file is of another model size");
                }
                if (seen.put(p.name() + "\u0000" + p.box(), p.box()) != null) {
                    throw new CheckpointException(full + ": entry '" + e.name() + "' appears in two of the input "
                            + "files; expected each parameter once");
                }
                CheckpointTensor t = targetTensors.get(p.tensor());
                CheckpointTensor prev = sourceTensors.get(t.name());
                if (prev != null && prev.dtype() != e.dtype()) {
                    throw new CheckpointException(full + ": entry '" + e.name() + "' is " + e.dtype().jsonName()
                            + " but other entries of '" + t.name() + "' are " + prev.dtype().jsonName());
                }
                sourceTensors.put(t.name(), new CheckpointTensor(t.name(), e.dtype(), t.shape(), t.parameter(),
                        t.state()));
                pieces.add(p);
            }
            try {
                sources.add(new Migration.SourceFile(-1 - sources.size(), full,
                        new RankFile(0, full.getFileName().toString(), pieces)));
            } catch (IllegalArgumentException e) {
                throw new CheckpointException(full + ": " + e.getMessage(), e);
            }
        }
        for (CheckpointTensor t : layout.tensors()) {
            if (!sourceTensors.containsKey(t.name())) {
                throw new CheckpointException(inputs.get(0) + (inputs.size() > 1 ? " (with the other inputs)" : "")
                        + ": has no entry for parameter '" + t.name() + "' " + java.util.Arrays.toString(t.shape())
                        + "; expected every parameter of network '" + target.plan().network().name() + "'");
            }
        }
        Migration m = Migration.plan(sources, sourceTensors, layout, String.valueOf(inputs.get(0)));
        Map<String, String> meta = Map.of(RankFileWriter.ORIGIN_KEY, sha256(origin.toString()));
        Map<String, CheckpointIndex.FileSums> sums = new MigrationRunner(m, out, meta, options, false)
                .run(options.ranks());
        return finish(out, info(target, hfNames), layout, sums, meta);
    }

    // ------------------------------------------------------------------ helpers

    /** The index's checksums by source index (the order of {@link #sources}), then entry name. */
    private static Map<Integer, Map<String, Integer>> crcs(CheckpointIndex index) {
        Map<Integer, Map<String, Integer>> out = new HashMap<>();
        List<RankFile> files = index.layout().files();
        for (int i = 0; i < files.size(); i++) {
            out.put(i, index.sums().get(files.get(i).file()).crc32c());
        }
        return out;
    }

    static List<Migration.SourceFile> sources(Path dir, CheckpointIndex index) {
        List<Migration.SourceFile> out = new ArrayList<>();
        for (RankFile f : index.layout().files()) {
            Path p = dir.resolve(f.file());
            if (!Files.isRegularFile(p)) {
                throw new CheckpointException("checkpoint " + dir + ": " + f.file() + " (rank " + f.rank()
                        + ") is missing; expected the " + index.layout().files().size() + " files its index lists");
            }
            out.add(new Migration.SourceFile(f.rank(), p, f));
        }
        return out;
    }

    private static CheckpointIndex finish(Path dir, CheckpointIndex.PlanInfo info, CheckpointLayout layout,
                                          Map<String, CheckpointIndex.FileSums> written, Map<String, String> meta) {
        Map<String, DType> dtypes = dtypes(layout);
        Map<String, CheckpointIndex.FileSums> sums = new LinkedHashMap<>();
        for (RankFile f : layout.files()) {
            CheckpointIndex.FileSums s = written.get(f.file());
            if (s == null) {
                s = MigrationRunner.complete(dir.resolve(f.file()), f, dtypes, meta);
            }
            if (s == null) {
                return null;
            }
            sums.put(f.file(), s);
        }
        CheckpointIndex index = new CheckpointIndex(info, layout, sums);
        Path file = dir.resolve(CheckpointIndex.FILE_NAME);
        Path temp = dir.resolve(CheckpointIndex.FILE_NAME + ".tmp-" + ProcessHandle.current().pid());
        try {
            RankFileWriter.deleteStaleTemps(file);
            Files.writeString(temp, index.write(), StandardCharsets.UTF_8);
            try (java.nio.channels.FileChannel ch = java.nio.channels.FileChannel.open(temp,
                    java.nio.file.StandardOpenOption.WRITE)) {
                ch.force(true);
            }
            RankFileWriter.move(temp, file);
            Faults.point();
        } catch (IOException e) {
            throw ioError(dir, e);
        }
        return index;
    }

    /**
     * What an index records about plan {@code pipe}: network, ranks, stages, optimizer and MindSpore's strategy
     * checkpoint of the plan (absent when a layout splits a dim over several device dims).
     */
    public static CheckpointIndex.PlanInfo planInfo(PipelinePlan pipe, boolean hfNames) {
        return info(pipe, hfNames);
    }

    static CheckpointIndex.PlanInfo info(PipelinePlan pipe, boolean hfNames) {
        String sc;
        try {
            sc = StrategyCheckpoints.write(StrategyPlans.checkpoint(pipe));
        } catch (IllegalArgumentException e) {
            sc = null;
        }
        return new CheckpointIndex.PlanInfo(pipe.plan().network().name(), pipe.devices(), pipe.stages(),
                pipe.plan().config().optimizer().jsonName(), hfNames, sc);
    }

    static Map<String, DType> dtypes(CheckpointLayout layout) {
        Map<String, DType> out = new HashMap<>();
        for (CheckpointTensor t : layout.tensors()) {
            out.put(t.name(), t.dtype());
        }
        return out;
    }

    private static String layoutText(CheckpointLayout layout) {
        Map<String, CheckpointIndex.FileSums> zero = new LinkedHashMap<>();
        for (RankFile f : layout.files()) {
            Map<String, Integer> c = new LinkedHashMap<>();
            f.pieces().forEach(p -> c.put(p.name(), 0));
            zero.put(f.file(), new CheckpointIndex.FileSums(8, c));
        }
        return new CheckpointIndex(new CheckpointIndex.PlanInfo("-", 1, 1, "-", false, null), layout, zero).write();
    }

    private static void checkDistinct(Path source, Path out) {
        Path a = source.toAbsolutePath().normalize();
        Path b = out.toAbsolutePath().normalize();
        if (a.equals(b)) {
            throw new CheckpointException("--out " + out + ": is the source directory; expected another directory "
                    + "(the source is never written)");
        }
    }

    /** Refuses to write {@code written} when it is the input file {@code input} (the input is never written). */
    private static void notInto(Path written, Path input) {
        if (written.toAbsolutePath().normalize().equals(input.toAbsolutePath().normalize())) {
            throw new CheckpointException(written + ": is the input file " + input + "; expected an output path "
                    + "outside the input (the input is never written)");
        }
    }

    private static void createDirectories(Path dir) {
        try {
            Files.createDirectories(dir);
        } catch (IOException e) {
            throw new CheckpointException(dir + ": cannot create the directory (" + e.getMessage() + ")", e);
        }
    }

    static CheckpointException ioError(Path where, IOException e) {
        return new CheckpointException(where + ": I/O error (" + e.getClass().getSimpleName() + ": " + e.getMessage()
                + "); check free space and permissions", e);
    }

    static String sha256(String text) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256")
                    .digest(text.getBytes(StandardCharsets.UTF_8)));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
