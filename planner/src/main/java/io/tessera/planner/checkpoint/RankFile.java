package io.tessera.planner.checkpoint;

import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * One file of a checkpoint: the pieces rank {@code rank} holds, in storage order. Immutable.
 *
 * @param rank   the global rank (0 for a merged file)
 * @param file   the file's name, relative to the checkpoint's directory (e.g. {@code rank-00003.safetensors})
 * @param pieces the entries, in storage order; names unique
 */
public record RankFile(int rank, String file, List<Piece> pieces) {

    /** Validates and copies the list. */
    public RankFile {
        if (rank < 0) {
            throw new IllegalArgumentException("checkpoint file: rank " + rank + " is negative");
        }
        if (file == null || file.isBlank() || file.contains("/") || file.contains("\\") || file.startsWith(".")) {
            throw new IllegalArgumentException("checkpoint file of rank " + rank + ": found name '" + file
                    + "'; expected a plain file name such as 'rank-00000.safetensors'");
        }
        pieces = List.copyOf(pieces);
        Set<String> names = new HashSet<>();
        for (Piece p : pieces) {
            if (!names.add(p.name())) {
                throw new IllegalArgumentException("checkpoint file '" + file + "': entry '" + p.name()
                        + "' appears twice; expected unique entry names");
            }
        }
    }

    /** The file name of rank {@code rank} in a sharded checkpoint: {@code rank-00003.safetensors}. */
    public static String nameOf(int rank) {
        return String.format("rank-%05d.safetensors", rank);
    }
}
