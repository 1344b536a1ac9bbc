package io.tessera.layout.redistribution;

import io.tessera.layout.Box;
import io.tessera.layout.DType;
import io.tessera.layout.Layout;
import io.tessera.layout.RandomLayouts;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The array-backed transfers of redistribution plans: read back as the transfers added, equal (both ways, with equal
 * hashes) to lists of {@link Transfer} objects, and counting the same bytes as those lists on seeded random plans.
 */
class TransferListTest {

    private static final long SEED = 20261203L;

    private static TransferList twoTransfers() {
        TransferList.Builder b = new TransferList.Builder(2, 2);
        b.add(3, 0, new long[] {0, 4}, new long[] {2, 8});
        b.add(1, 2, new long[] {2, 0}, new long[] {4, 4});
        return b.list(new int[] {1, 0});
    }

    @Test
    void readsBackTheTransfersInTheChosenOrder() {
        TransferList l = twoTransfers();
        List<Transfer> expected = List.of(new Transfer(1, 2, Box.of(new long[] {2, 0}, new long[] {4, 4})),
                new Transfer(3, 0, Box.of(new long[] {0, 4}, new long[] {2, 8})));
        assertEquals(expected, l);
        assertEquals(l, expected);
        assertEquals(expected.hashCode(), l.hashCode());
        assertEquals(2, l.dst(0));
        assertEquals(3, l.src(1));
        assertEquals(8, l.elements(0));
        assertEquals(expected, new ArrayList<>(l));
    }

    @Test
    void copyOfKeepsATransferListAndCopiesOtherLists() {
        TransferList l = twoTransfers();
        assertSame(l, TransferList.copyOf(l));
        List<Transfer> plain = new ArrayList<>(l);
        List<Transfer> copy = TransferList.copyOf(plain);
        plain.clear();
        assertEquals(2, copy.size(), "a plain list is copied, not wrapped");
        assertThrows(UnsupportedOperationException.class, () -> l.add(copy.get(0)));
    }

    @Test
    void rejectsWhatATransferRejects() {
        TransferList.Builder b = new TransferList.Builder(1, 0);
        IllegalArgumentException same = assertThrows(IllegalArgumentException.class,
                () -> b.add(2, 2, new long[] {0}, new long[] {1}));
        assertTrue(same.getMessage().contains("2 -> 2"), same.getMessage());
        assertThrows(IllegalArgumentException.class, () -> b.add(0, 1, new long[] {3}, new long[] {3}));
        assertThrows(IndexOutOfBoundsException.class, () -> twoTransfers().get(2));
    }

    /** Plans' steps hold transfer lists whose byte counts equal those of the same transfers as objects. */
    @Test
    void randomPlansCountTheSameBytesAsTransferObjects() {
        System.out.println("TransferListTest seed=" + SEED);
        RandomLayouts gen = RandomLayouts.seeded(SEED);
        int exchanges = 0;
        for (int k = 0; k < 1000; k++) {
            RandomLayouts.Case c = gen.nextCase();
            RedistributionPlan plan = Redistribution.plan(c.from(), c.to(), c.dtype());
            List<Step> asObjects = new ArrayList<>();
            for (Step s : plan.steps()) {
                if (s instanceof Step.Exchange e) {
                    assertInstanceOf(TransferList.class, e.transfers(), "case " + k + " (seed " + SEED + ")");
                    exchanges++;
                    asObjects.add(new Step.SendRecv(s.groups(), new ArrayList<>(e.transfers())));
                    assertArrayEquals(new Step.SendRecv(s.groups(), new ArrayList<>(e.transfers()))
                                    .recvBytes(plan.ranks(), c.dtype().bytes()),
                            e.recvBytes(plan.ranks(), c.dtype().bytes()), "case " + k + " (seed " + SEED + ")");
                }
            }
            RedistributionPlan objects = new RedistributionPlan(c.from(), c.to(), c.dtype(), asObjects);
            assertArrayEquals(objects.recvBytes(), plan.recvBytes(), "case " + k + " (seed " + SEED + ")");
            assertArrayEquals(objects.sendBytes(), plan.sendBytes(), "case " + k + " (seed " + SEED + ")");
        }
        assertTrue(exchanges > 200, "only " + exchanges + " exchange steps in 1000 cases; expected many");
    }

    /** A million-piece AllToAll over 1,024 ranks (rows to columns) is planned without a Transfer per piece. */
    @Test
    void aMillionPieceAllToAllIsOneTransferList() {
        long[] shape = {131072, 4096};
        Layout rows = Layout.of(new int[] {1024, 1}, new int[] {1, 0}, shape);
        Layout columns = Layout.of(new int[] {1, 1, 1024}, new int[] {2, 0}, shape);
        RedistributionPlan plan = Redistribution.plan(rows, columns, DType.FLOAT16);
        Step.Exchange e = (Step.Exchange) plan.steps().get(0);
        assertInstanceOf(Step.AllToAll.class, e);
        assertEquals(1024 * 1023, e.transfers().size());
        long each = 131072L / 1024 * 4096 / 1024 * 1023 * 2;
        for (long b : plan.recvBytes()) {
            assertEquals(each, b);
        }
    }
}
