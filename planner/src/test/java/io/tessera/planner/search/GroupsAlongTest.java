package io.tessera.planner.search;

import io.tessera.layout.DeviceMatrix;
import io.tessera.planner.op.OpComm;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** {@link OpComm#groupsAlong} (the array algorithm the search uses) equals a naive reference, groups and order. */
class GroupsAlongTest {

    /**
     * The naive reference: the ranks of {@code dev} grouped by their coordinates outside the device dimensions
     * {@code axes} (map values, from the right), groups in the order of their first rank, each ascending.
     */
    private static List<List<Integer>> reference(DeviceMatrix dev, int[] axes) {
        boolean[] inGroup = new boolean[dev.rank()];
        for (int a : axes) {
            inGroup[dev.rank() - 1 - a] = true;
        }
        Map<List<Integer>, List<Integer>> byKey = new LinkedHashMap<>();
        for (int r = 0; r < dev.size(); r++) {
            int[] c = dev.coordinate(r);
            List<Integer> key = new ArrayList<>();
            for (int d = 0; d < c.length; d++) {
                if (!inGroup[d]) {
                    key.add(c[d]);
                }
            }
            byKey.computeIfAbsent(key, k -> new ArrayList<>()).add(r);
        }
        return new ArrayList<>(byKey.values());
    }

    @Test
    void equalsNaiveReferenceOnRandomDeviceMatrices() {
        long seed = Seeds.seed("GroupsAlongTest.equalsNaiveReferenceOnRandomDeviceMatrices", 20261123L);
        Random rnd = new Random(seed);
        int[] sizes = {1, 2, 3, 4, 8};
        for (int trial = 0; trial < 300; trial++) {
            int k = 1 + rnd.nextInt(4);
            int[] dims = new int[k];
            for (int d = 0; d < k; d++) {
                dims[d] = sizes[rnd.nextInt(sizes.length)];
            }
            List<Integer> axes = new ArrayList<>();
            for (int a = 0; a < k; a++) {
                if (rnd.nextBoolean()) {
                    axes.add(a);
                }
            }
            int[] ax = axes.stream().mapToInt(Integer::intValue).toArray();
            DeviceMatrix dev = DeviceMatrix.of(dims);
            assertEquals(reference(dev, ax), OpComm.groupsAlong(dev, ax), "seed " + seed + " trial " + trial
                    + " dims " + Arrays.toString(dims) + " axes " + axes + " (rerun with -D" + Seeds.PROPERTY + "="
                    + seed + ")");
        }
    }
}
