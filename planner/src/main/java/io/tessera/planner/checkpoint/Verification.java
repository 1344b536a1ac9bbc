package io.tessera.planner.checkpoint;

import io.tessera.layout.Box;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The result of checking a sharded checkpoint ({@link #of}): every file the index lists exists with the size and
 * header the index implies, every entry's bytes match its CRC-32C, and for every tensor the distinct slices tile it
 * exactly (disjoint, covering every element) and each is held the same number of times, so every replica group holds
 * every element exactly once. Immutable.
 *
 * @param files    files checked
 * @param entries  entries checked
 * @param bytes    data bytes checksummed
 * @param tensors  tensors whose tiling was checked
 * @param replicas per tensor, how many copies of each element the checkpoint holds
 */
public record Verification(int files, int entries, long bytes, int tensors, Map<String, Integer> replicas) {

    /** Copies the map. */
    public Verification {
        replicas = java.util.Collections.unmodifiableMap(new LinkedHashMap<>(replicas));
    }

    /**
     * Verifies checkpoint directory {@code dir}.
     *
     * @param progress receives bytes checked and the total, or null
     * @throws CheckpointException at the first problem, naming the file, entry or tensor, what was found and what
     *                             was expected
     */
    public static Verification of(Path dir, CheckpointOptions.Progress progress) {
        CheckpointIndex index = CheckpointIndex.read(dir);
        CheckpointLayout layout = index.layout();
        List<Migration.SourceFile> files = Checkpoints.sources(dir, index);
        long total = 0;
        for (RankFile f : layout.files()) {
            total += layout.dataBytes(f);
        }
        long done = 0;
        int entries = 0;
        ByteBuffer scratch = ByteBuffer.allocateDirect(1 << 20);
        var dtypes = Checkpoints.dtypes(layout);
        for (Migration.SourceFile sf : files) {
            RankFile f = sf.layout();
            CheckpointIndex.FileSums sums = index.sums().get(f.file());
            SafeTensorsHeader h = SafeTensors.readHeader(sf.path());
            if (h.fileBytes() != sums.bytes()) {
                throw new CheckpointException(sf.path() + ": is " + h.fileBytes() + " bytes but the index says "
                        + sums.bytes() + "; the file was replaced or rewritten");
            }
            SafeTensorsHeader expected = RankFileWriter.header(f.pieces(), dtypes, Map.of(), Map.of());
            if (h.entries().size() != f.pieces().size()) {
                throw new CheckpointException(sf.path() + ": holds " + h.entries().size() + " entries but the index "
                        + "lists " + f.pieces().size());
            }
            try (FileChannel ch = FileChannel.open(sf.path(), StandardOpenOption.READ)) {
                for (int i = 0; i < f.pieces().size(); i++) {
                    Piece p = f.pieces().get(i);
                    SafeTensorsEntry e = h.entries().get(i);
                    SafeTensorsEntry x = expected.entries().get(i);
                    if (!e.name().equals(x.name()) || e.dtype() != x.dtype() || !Arrays.equals(e.shape(), x.shape())
                            || e.begin() != x.begin()) {
                        throw new CheckpointException(sf.path() + ": entry " + i + " is '" + e.name() + "' "
                                + e.dtype().jsonName() + Arrays.toString(e.shape()) + " at " + e.begin()
                                + " but the index says '" + x.name() + "' " + x.dtype().jsonName()
                                + Arrays.toString(x.shape()) + " at " + x.begin());
                    }
                    int crc = RankFileWriter.crc(ch, h.dataStart() + e.begin(), e.bytes(), scratch);
                    int want = sums.crc32c().get(p.name());
                    if (crc != want) {
                        throw new CheckpointException(sf.path() + ": entry '" + p.name() + "' has CRC-32C "
                                + CheckpointIndex.hex(crc) + " but the index says " + CheckpointIndex.hex(want)
                                + "; the file is corrupt");
                    }
                    entries++;
                    done += e.bytes();
                    if (progress != null) {
                        progress.advance(done, total);
                    }
                }
            } catch (IOException e) {
                throw Checkpoints.ioError(sf.path(), e);
            }
        }
        Map<String, Integer> replicas = tiling(layout, dir);
        return new Verification(files.size(), entries, done, layout.tensors().size(), replicas);
    }

    /**
     * Checks that the distinct slices of every tensor tile it and are held equally often.
     *
     * @return per tensor, the copies of each element
     */
    static Map<String, Integer> tiling(CheckpointLayout layout, Path where) {
        Map<String, Map<Box, Integer>> counts = new LinkedHashMap<>();
        for (CheckpointTensor t : layout.tensors()) {
            counts.put(t.name(), new LinkedHashMap<>());
        }
        for (RankFile f : layout.files()) {
            for (Piece p : f.pieces()) {
                counts.get(p.tensor()).merge(p.box(), 1, Integer::sum);
            }
        }
        Map<String, Integer> out = new LinkedHashMap<>();
        for (CheckpointTensor t : layout.tensors()) {
            Map<Box, Integer> c = counts.get(t.name());
            String what = "checkpoint " + where + ": tensor '" + t.name() + "' " + Arrays.toString(t.shape());
            if (c.isEmpty()) {
                throw new CheckpointException(what + " is held by no file; expected its slices on the ranks");
            }
            List<Box> boxes = new ArrayList<>(c.keySet());
            long volume = 0;
            for (Box b : boxes) {
                volume += b.volume();
            }
            for (int i = 0; i < boxes.size(); i++) {
                for (int j = i + 1; j < boxes.size(); j++) {
                    if (!boxes.get(i).intersect(boxes.get(j)).isEmpty()) {
                        throw new CheckpointException(what + ": slices " + boxes.get(i) + " and " + boxes.get(j)
                                + " overlap; expected disjoint slices");
                    }
                }
            }
            if (volume != t.volume()) {
                throw new CheckpointException(what + ": its distinct slices cover " + volume + " of its "
                        + t.volume() + " elements; expected them to tile the tensor");
            }
            // empty slices (e.g. an uneven optimizer shard) hold no element, so they do not count as replicas
            Box first = boxes.stream().filter(b -> !b.isEmpty()).findFirst().orElse(boxes.get(0));
            int n = c.get(first);
            for (Map.Entry<Box, Integer> e : c.entrySet()) {
                if (e.getValue() != n && !e.getKey().isEmpty()) {
                    throw new CheckpointException(what + ": slice " + e.getKey() + " is held " + e.getValue()
                            + " times but slice " + first + " " + n + " times; expected every element held "
                            + "once per replica group");
                }
            }
            out.put(t.name(), n);
        }
        return out;
    }

    /** Whether {@code dir} holds a checkpoint index. */
    public static boolean isCheckpoint(Path dir) {
        return Files.isRegularFile(dir.resolve(CheckpointIndex.FILE_NAME));
    }
}
