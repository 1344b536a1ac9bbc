package io.tessera.planner.plan;

import io.tessera.layout.Box;
import io.tessera.layout.DType;
import io.tessera.layout.Layout;
import io.tessera.layout.RandomLayouts;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@link Planner#scatters}, which compares slice coordinates, against the definition by boxes (each group's members
 * hold one consumer slice, and their producer slices are distinct pieces inside it of the right size), on seeded
 * random layout pairs and rank groups (contiguous or strided, as device-matrix axes make them).
 */
class ScattersTest {

    private static final long SEED = 20261203L;

    /** The definition, box by box. */
    private static boolean byBoxes(Layout consumer, Layout producer, List<List<Integer>> groups) {
        long consumerSlice = consumer.sliceBytes(DType.FLOAT32);
        long producerSlice = producer.sliceBytes(DType.FLOAT32);
        for (List<Integer> g : groups) {
            if (g.size() < 2 || producerSlice * g.size() != consumerSlice) {
                return false;
            }
            Box common = consumer.sliceBox(g.get(0));
            Set<Box> pieces = new HashSet<>();
            for (int r : g) {
                Box b = producer.sliceBox(r);
                if (!consumer.sliceBox(r).equals(common) || !common.contains(b) || !pieces.add(b)) {
                    return false;
                }
            }
        }
        return true;
    }

    private static List<List<Integer>> groups(SplittableRandom rnd, int devices) {
        List<Integer> sizes = new ArrayList<>();
        for (int s = 2; s <= devices; s++) {
            if (devices % s == 0) {
                sizes.add(s);
            }
        }
        int size = sizes.isEmpty() ? devices : sizes.get(rnd.nextInt(sizes.size()));
        boolean strided = rnd.nextBoolean();
        List<List<Integer>> out = new ArrayList<>();
        for (int k = 0; k < devices / size; k++) {
            List<Integer> g = new ArrayList<>();
            for (int j = 0; j < size; j++) {
                g.add(strided ? k + j * (devices / size) : k * size + j);
            }
            out.add(g);
        }
        return out;
    }

    @Test
    void coordinatesAgreeWithBoxesOnRandomLayouts() {
        System.out.println("ScattersTest seed=" + SEED);
        RandomLayouts gen = RandomLayouts.seeded(SEED);
        SplittableRandom rnd = new SplittableRandom(SEED);
        int yes = 0;
        int no = 0;
        for (int k = 0; k < 20000; k++) {
            RandomLayouts.Case c = gen.nextCase();
            List<List<Integer>> g = groups(rnd, c.from().deviceCount());
            // either direction, and the consumer against itself with its own groups
            for (Layout[] pair : List.of(new Layout[] {c.from(), c.to()}, new Layout[] {c.to(), c.from()})) {
                boolean expected = byBoxes(pair[0], pair[1], g);
                assertEquals(expected, Planner.scatters(pair[0], pair[1], g), "case " + k + " (seed " + SEED + "): "
                        + pair[0] + " -> " + pair[1] + " over " + g);
                if (expected) {
                    yes++;
                } else {
                    no++;
                }
            }
        }
        assertTrue(yes > 20, "only " + yes + " random cases scatter; expected some of both kinds");
        assertTrue(no > 20, "only " + no + " random cases do not scatter");
    }

    @Test
    void aSequenceParallelGradientScattersOverTheTensorGroup() {
        long[] shape = {8, 16};
        // consumer: rows split over 2 data replicas, whole on their 4 tensor ranks; producer: columns split among those
        Layout consumer = Layout.of(new int[] {2, 4}, new int[] {1, -1}, shape);
        Layout producer = Layout.of(new int[] {2, 4}, new int[] {1, 0}, shape);
        List<List<Integer>> tensorGroups = List.of(List.of(0, 1, 2, 3), List.of(4, 5, 6, 7));
        assertTrue(Planner.scatters(consumer, producer, tensorGroups));
        assertFalse(Planner.scatters(consumer, producer, List.of(List.of(0, 4), List.of(1, 5), List.of(2, 6),
                List.of(3, 7))), "the data-parallel groups hold different consumer slices");
    }
}
