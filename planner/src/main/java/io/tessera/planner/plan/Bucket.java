package io.tessera.planner.plan;

import io.tessera.layout.comm.Phase;

import io.tessera.layout.DType;
import io.tessera.layout.comm.CollectiveKind;

import java.util.ArrayList;
import java.util.List;

/**
 * A fusion bucket: communications of one kind, phase, rank groups, dtype and {@code comm_fusion} id issued as one
 * collective (spec §6). Immutable.
 *
 * @param id        the bucket's number in the plan, from 0
 * @param kind      AllReduce, AllGather or ReduceScatter
 * @param phase     forward or backward
 * @param groups    the rank groups
 * @param dtype     the element type
 * @param fusionId  the members' {@code comm_fusion} id (0: never fused, one member)
 * @param members   the parameters, in graph order
 * @param comms     the members' indices in {@link Plan#comms()}
 * @param bytes     the fused buffer of one rank, in bytes (sum of the members' buffers)
 * @param issuedAt  the index in {@link Plan#comms()} where the fused collective is issued: the first member for an
 *                  AllGather (needed before its first consumer, in forward or, recomputed, in backward), else the last
 *                  member (when every member's data is ready)
 */
public record Bucket(int id, CollectiveKind kind, Phase phase, List<List<Integer>> groups, DType dtype, int fusionId,
                     List<String> members, List<Integer> comms, long bytes, int issuedAt) {

    /** Copies the lists. */
    public Bucket {
        List<List<Integer>> g = new ArrayList<>();
        for (List<Integer> x : groups) {
            g.add(List.copyOf(x));
        }
        groups = List.copyOf(g);
        members = List.copyOf(members);
        comms = List.copyOf(comms);
    }
}
