package io.tessera.layout;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** {@link Box}: volume, emptiness, intersection, containment, validation and value semantics. */
class BoxTest {

    private static Box box(long... startThenEnd) {
        int n = startThenEnd.length / 2;
        long[] s = new long[n];
        long[] e = new long[n];
        System.arraycopy(startThenEnd, 0, s, 0, n);
        System.arraycopy(startThenEnd, n, e, 0, n);
        return Box.of(s, e);
    }

    @Test
    void volumeAndShape() {
        Box b = box(1, 2, 4, 7);
        assertEquals(15, b.volume());
        assertArrayEquals(new long[] {3, 5}, b.shape());
        assertEquals(3, b.extent(0));
        assertEquals(2, b.rank());
        assertEquals(2, b.start(1));
        assertEquals(7, b.end(1));
        assertEquals(512 * 1024, Box.full(new long[] {512, 1024}).volume());
        assertEquals(1, Box.of(new long[0], new long[0]).volume(), "a 0-d box holds one element");
    }

    @Test
    void emptiness() {
        assertFalse(box(0, 0, 1, 1).isEmpty());
        assertTrue(box(0, 3, 4, 3).isEmpty(), "zero extent in dim 1");
        assertEquals(0, box(0, 3, 4, 3).volume());
        assertFalse(Box.of(new long[0], new long[0]).isEmpty(), "a 0-d box is not empty");
    }

    @Test
    void intersectOverlapping() {
        Box a = box(0, 0, 4, 8);
        Box b = box(2, 5, 6, 10);
        assertEquals(box(2, 5, 4, 8), a.intersect(b));
        assertEquals(box(2, 5, 4, 8), b.intersect(a));
        assertEquals(6, a.intersect(b).volume());
    }

    @Test
    void intersectNested() {
        Box outer = box(0, 0, 10, 10);
        Box inner = box(3, 4, 5, 6);
        assertEquals(inner, outer.intersect(inner));
        assertEquals(inner, inner.intersect(outer));
    }

    @Test
    void intersectDisjointAndTouchingIsEmptyNotNull() {
        Box a = box(0, 0, 4, 4);
        Box disjoint = box(6, 0, 8, 4);
        Box touching = box(4, 0, 8, 4);
        assertNotNull(a.intersect(disjoint));
        assertTrue(a.intersect(disjoint).isEmpty());
        assertEquals(0, a.intersect(disjoint).volume());
        assertTrue(a.intersect(touching).isEmpty(), "half-open boxes sharing a face do not overlap");
        assertTrue(touching.intersect(a).isEmpty());
    }

    @Test
    void intersectMatchesElementCountOnRandomBoxes() {
        long seed = 7_302_113L;
        System.out.println("BoxTest.intersectMatchesElementCountOnRandomBoxes: seed " + seed);
        SplittableRandom rnd = new SplittableRandom(seed);
        for (int k = 0; k < 500; k++) {
            int n = 1 + rnd.nextInt(3);
            long[][] b = new long[4][n];
            for (int i = 0; i < n; i++) {
                for (int j = 0; j < 2; j++) {
                    long x = rnd.nextInt(7);
                    long y = rnd.nextInt(7);
                    b[2 * j][i] = Math.min(x, y);
                    b[2 * j + 1][i] = Math.max(x, y);
                }
            }
            Box p = Box.of(b[0], b[1]);
            Box q = Box.of(b[2], b[3]);
            long both = 0;
            boolean pInQ = true;
            long[] idx = new long[n];
            for (long flat = 0; flat < (long) Math.pow(7, n); flat++) {
                long f = flat;
                for (int i = n - 1; i >= 0; i--) {
                    idx[i] = f % 7;
                    f /= 7;
                }
                boolean inP = true;
                boolean inQ = true;
                for (int i = 0; i < n; i++) {
                    inP &= idx[i] >= b[0][i] && idx[i] < b[1][i];
                    inQ &= idx[i] >= b[2][i] && idx[i] < b[3][i];
                }
                if (inP && inQ) {
                    both++;
                }
                if (inP && !inQ) {
                    pInQ = false;
                }
            }
            String ctx = "case " + k + ": " + p + " and " + q;
            assertEquals(both, p.intersect(q).volume(), ctx);
            assertEquals(both == 0, p.intersect(q).isEmpty(), ctx);
            assertEquals(pInQ, q.contains(p), ctx);
            assertTrue(p.contains(p.intersect(q)) && q.contains(p.intersect(q)), ctx);
        }
    }

    @Test
    void containment() {
        Box outer = box(0, 0, 10, 10);
        assertTrue(outer.contains(outer));
        assertTrue(outer.contains(box(3, 4, 5, 6)));
        assertTrue(outer.contains(box(0, 0, 10, 10)));
        assertFalse(outer.contains(box(3, 4, 11, 6)), "sticks out of dim 0");
        assertFalse(box(3, 4, 5, 6).contains(outer));
        assertFalse(outer.contains(box(5, 5, 12, 12)), "partial overlap");
        assertTrue(box(3, 3, 4, 4).contains(box(7, 7, 7, 9)), "an empty box is contained in any box");
    }

    @Test
    void rejectsInvalidCorners() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> box(0, 5, 4, 3));
        assertTrue(e.getMessage().contains("dim 1") && e.getMessage().contains("[5, 3)")
                && e.getMessage().contains("start <= end"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> box(-1, 0, 4, 3));
        assertTrue(e.getMessage().contains("dim 0") && e.getMessage().contains("[-1, 4)"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> Box.of(new long[] {0, 0}, new long[] {1}));
        assertTrue(e.getMessage().contains("2 dims") && e.getMessage().contains("1"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> Box.of(null, new long[] {1}));
    }

    @Test
    void rejectsCombiningDifferentRanks() {
        Box a = box(0, 0, 4, 4);
        Box b = box(0, 4);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> a.intersect(b));
        assertTrue(e.getMessage().contains("2-d") && e.getMessage().contains("1-d"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> a.contains(b));
    }

    @Test
    void valueSemanticsAndDefensiveCopies() {
        long[] s = {1, 2};
        long[] e = {3, 4};
        Box b = Box.of(s, e);
        s[0] = 0;
        e[0] = 9;
        assertEquals(box(1, 2, 3, 4), b, "the corners are copied in");
        b.start()[1] = 0;
        b.end()[1] = 0;
        assertEquals(box(1, 2, 3, 4), b, "the corners are copied out");
        assertEquals(box(1, 2, 3, 4).hashCode(), b.hashCode());
        assertNotEquals(box(1, 2, 3, 5), b);
        assertEquals("[[1, 3), [2, 4)]", b.toString());
    }
}
