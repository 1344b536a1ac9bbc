package io.tessera.planner.checkpoint;

import io.tessera.layout.Box;
import io.tessera.layout.DType;
import io.tessera.planner.cost.ClusterSpec;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * How to build a target checkpoint from a source one: for each target file, for each of its entries, which region
 * of which source file's entry to copy. Each element of a target entry is read from exactly one source entry (one
 * replica; the target rank's own file when it holds one, else replicas in turn), so the bytes read are the bytes
 * written. Immutable; built by {@link #plan}.
 *
 * @param sources the source files, by index
 * @param target  the target layout
 * @param files   one move per target file, in the target's file order
 */
public record Migration(List<SourceFile> sources, CheckpointLayout target, List<FileMove> files) {

    /**
     * A source file: its rank, path and what it holds.
     *
     * @param rank   the rank that wrote it (the file's rank in its checkpoint)
     * @param path   the file
     * @param layout its entries
     */
    public record SourceFile(int rank, java.nio.file.Path path, RankFile layout) {
    }

    /**
     * One copy: region {@code part} (tensor coordinates) of source {@code source}'s entry {@code entry}, whose box is
     * {@code box}.
     *
     * @param source the source file's index in {@link #sources()}
     * @param entry  the entry's name in that file
     * @param box    the entry's region of the tensor
     * @param part   the region to copy, inside both the entry's box and the target entry's box
     */
    public record Read(int source, String entry, Box box, Box part) {
    }

    /**
     * A target entry and its reads.
     *
     * @param piece the target entry
     * @param dtype its element type
     * @param reads the copies that fill it; their parts tile its box
     */
    public record PieceMove(Piece piece, DType dtype, List<Read> reads) {

        /** Copies the list. */
        public PieceMove {
            reads = List.copyOf(reads);
        }

        /** Bytes of the entry. */
        public long bytes() {
            return piece.volume() * dtype.bytes();
        }
    }

    /**
     * A target file and how to fill it.
     *
     * @param file        the target file
     * @param pieces      its entries, in storage order
     * @param bytesRead   bytes read from source files (equal to the entries' bytes)
     * @param remoteBytes of those, bytes read from files written by other ranks
     */
    public record FileMove(RankFile file, List<PieceMove> pieces, long bytesRead, long remoteBytes) {

        /** Copies the list. */
        public FileMove {
            pieces = List.copyOf(pieces);
        }
    }

    /** Copies the lists. */
    public Migration {
        sources = List.copyOf(sources);
        files = List.copyOf(files);
    }

    /**
     * Plans the migration from {@code sources} (whose tensors are {@code sourceTensors}) to {@code target}.
     *
     * @throws CheckpointException when a target tensor is missing from the source or differs in dtype or shape, or
     *                             the source does not hold every element of a target entry
     */
    public static Migration plan(List<SourceFile> sources, Map<String, CheckpointTensor> sourceTensors,
                                 CheckpointLayout target, String sourceName) {
        Map<String, CheckpointTensor> targetTensors = target.tensorMap();
        for (CheckpointTensor t : targetTensors.values()) {
            CheckpointTensor s = sourceTensors.get(t.name());
            if (s == null) {
                throw new CheckpointException(sourceName + ": holds no tensor '" + t.name() + "', which the target "
                        + "plan needs" + (t.isParameter() ? "; the two plans must be of the same network"
                        : " (optimizer state of '" + t.parameter() + "'); the source was saved with another "
                        + "optimizer or without optimizer state"));
            }
            if (s.dtype() != t.dtype() || !Arrays.equals(s.shape(), t.shape())) {
                throw new CheckpointException(sourceName + ": tensor '" + t.name() + "' is " + s.dtype().jsonName()
                        + Arrays.toString(s.shape()) + " but the target plan needs " + t.dtype().jsonName()
                        + Arrays.toString(t.shape()) + "; the two plans must be of the same network and dtype");
            }
        }
        // per tensor: distinct boxes in first-seen order, each with its replicas (source file indices, rank order)
        Map<String, Map<Box, List<Integer>>> holders = new LinkedHashMap<>();
        Map<String, Map<Box, String>> entryNames = new LinkedHashMap<>();
        for (int i = 0; i < sources.size(); i++) {
            for (Piece p : sources.get(i).layout().pieces()) {
                holders.computeIfAbsent(p.tensor(), k -> new LinkedHashMap<>())
                        .computeIfAbsent(p.box(), k -> new ArrayList<>()).add(i);
                entryNames.computeIfAbsent(p.tensor() + "\u0000" + i, k -> new LinkedHashMap<>()).put(p.box(),
                        p.name());
            }
        }
        List<FileMove> moves = new ArrayList<>();
        for (RankFile f : target.files()) {
            List<PieceMove> pieces = new ArrayList<>();
            long read = 0;
            long remote = 0;
            for (Piece p : f.pieces()) {
                CheckpointTensor t = targetTensors.get(p.tensor());
                List<Read> reads = new ArrayList<>();
                long covered = 0;
                for (Map.Entry<Box, List<Integer>> h : holders.getOrDefault(p.tensor(), Map.of()).entrySet()) {
                    Box part = h.getKey().intersect(p.box());
                    if (part.isEmpty()) {
                        continue;
                    }
                    int src = choose(h.getValue(), sources, f.rank());
                    String entry = entryNames.get(p.tensor() + "\u0000" + src).get(h.getKey());
                    reads.add(new Read(src, entry, h.getKey(), part));
                    covered += part.volume();
                    long bytes = part.volume() * t.dtype().bytes();
                    read += bytes;
                    if (sources.get(src).rank() != f.rank()) {
                        remote += bytes;
                    }
                }
                if (covered != p.volume()) {
                    throw new CheckpointException(sourceName + ": tensor '" + p.tensor() + "': the source files "
                            + (covered < p.volume() ? "lack " + (p.volume() - covered) : "hold overlapping copies of "
                            + (covered - p.volume())) + " of the " + p.volume() + " elements of " + p.box()
                            + " that target file '" + f.file() + "' needs; expected source slices tiling the tensor "
                            + "(check it with 'tessera checkpoint verify')");
                }
                pieces.add(new PieceMove(p, t.dtype(), reads));
            }
            moves.add(new FileMove(f, pieces, read, remote));
        }
        return new Migration(sources, target, moves);
    }

    private static int choose(List<Integer> replicas, List<SourceFile> sources, int targetRank) {
        for (int i : replicas) {
            if (sources.get(i).rank() == targetRank) {
                return i;
            }
        }
        return replicas.get(Math.floorMod(targetRank, replicas.size()));
    }

    /** Bytes written to all target files' data (without headers). */
    public long bytesWritten() {
        long b = 0;
        for (FileMove m : files) {
            for (PieceMove p : m.pieces()) {
                b += p.bytes();
            }
        }
        return b;
    }

    /** Bytes read from other ranks' files, summed over target files. */
    public long remoteBytes() {
        long b = 0;
        for (FileMove m : files) {
            b += m.remoteBytes();
        }
        return b;
    }

    /** The target file that reads the most bytes (the slowest rank on a shared filesystem). */
    public FileMove largest() {
        FileMove best = files.get(0);
        for (FileMove m : files) {
            if (m.bytesRead() > best.bytesRead()) {
                best = m;
            }
        }
        return best;
    }

    /**
     * Seconds the migration takes when ranks move data over {@code cluster}'s links instead of reading a shared
     * filesystem: each rank receives the bytes of its target files that other ranks' source files hold, and sends
     * what other ranks read from its files; links are full duplex and a rank's intra-node and inter-node traffic
     * flow at once, so a rank takes the longest of its four directions at its link's effective bandwidth; the
     * migration takes as long as its slowest rank.
     */
    public double networkSeconds(ClusterSpec cluster) {
        int ranks = 0;
        for (SourceFile s : sources) {
            ranks = Math.max(ranks, s.rank() + 1);
        }
        for (FileMove m : files) {
            ranks = Math.max(ranks, m.file().rank() + 1);
        }
        long[] recvIntra = new long[ranks];
        long[] recvInter = new long[ranks];
        long[] sentIntra = new long[ranks];
        long[] sentInter = new long[ranks];
        int per = Math.max(1, cluster.devicesPerNode());
        for (FileMove m : files) {
            int to = m.file().rank();
            for (PieceMove p : m.pieces()) {
                for (Read r : p.reads()) {
                    int from = sources.get(r.source()).rank();
                    if (from == to || from < 0) {
                        continue;
                    }
                    long bytes = r.part().volume() * p.dtype().bytes();
                    boolean intra = from / per == to / per;
                    (intra ? recvIntra : recvInter)[to] += bytes;
                    (intra ? sentIntra : sentInter)[from] += bytes;
                }
            }
        }
        double intraBw = cluster.intraNode().bandwidth() * cluster.intraNode().efficiency();
        double interBw = cluster.interNode().bandwidth() * cluster.interNode().efficiency();
        double worst = 0;
        for (int r = 0; r < ranks; r++) {
            worst = Math.max(worst, Math.max(Math.max(recvIntra[r], sentIntra[r]) / intraBw,
                    Math.max(recvInter[r], sentInter[r]) / interBw));
        }
        return worst;
    }
}
