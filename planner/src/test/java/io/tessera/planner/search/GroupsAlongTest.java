package io.tessera.planner.search;

import io.tessera.layout.DeviceMatrix;
import io.tessera.planner.op.OpComm;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** The search's array version of the rank groups along device axes equals {@link OpComm#groupsAlong}. */
class GroupsAlongTest {

    @Test
    void equalsOpCommOnRandomDeviceMatrices() {
        long seed = 20261123L;
        System.out.println("GroupsAlongTest seed " + seed);
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
            assertEquals(OpComm.groupsAlong(dev, ax), Search.groupsAlong(dev, ax),
                    "seed " + seed + " trial " + trial + " dims " + java.util.Arrays.toString(dims) + " axes " + axes);
        }
    }
}
