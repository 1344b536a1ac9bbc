package io.tessera.planner.op;

import io.tessera.layout.comm.CollectiveKind;

import io.tessera.layout.Box;
import io.tessera.layout.DType;
import io.tessera.layout.DeviceMatrix;
import io.tessera.layout.Layout;
import io.tessera.layout.TensorMap;
import io.tessera.layout.redistribution.ReduceOp;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The Gather rule: row split (masked lookup + AllReduce), column split, indices split, and rejections. */
class GatherTest {

    private static final TensorType TABLE = TensorType.of(DType.FLOAT32, 64, 32);
    private static final TensorType IDS = TensorType.of(DType.INT32, 8, 16);
    private static final TensorType OUT = TensorType.of(DType.FLOAT32, 8, 16, 32);

    private static OpSharding shard(Gather g, TensorType t, TensorType i, Strategy s, int devices) {
        return g.shard("emb", List.of(t, i), s, null, devices);
    }

    @Test
    void outputShape() {
        assertEquals(List.of(OUT), Gather.of(0).outputs("emb", List.of(TABLE, IDS)));
        assertEquals(List.of(TensorType.of(DType.FLOAT16, 4, 3, 6)), Gather.of(-2).outputs("g",
                List.of(TensorType.of(DType.FLOAT16, 4, 10, 6), TensorType.of(DType.INT64, 3))));
        assertEquals(List.of(TensorType.of(DType.FLOAT32)), Gather.of(0).outputs("g",
                List.of(TensorType.of(DType.FLOAT32, 10), TensorType.of(DType.INT32))), "scalar index into a vector");
    }

    @Test
    void rowSplitNeedsAForwardAllReduce() {
        OpSharding s = shard(Gather.of(0), TABLE, IDS, Strategy.of(new int[] {4, 1}, new int[] {1, 1}), 8);
        assertEquals(DeviceMatrix.of(4, 1, 1, 1, 2), s.devMatrix());
        assertEquals(TensorMap.of(4, 3), s.inputMaps().get(0));
        assertEquals(TensorMap.of(2, 1), s.inputMaps().get(1));
        assertEquals(TensorMap.of(2, 1, 3), s.outputMaps().get(0));
        assertArrayEquals(new long[] {16, 32}, s.inputLayout(0, TABLE).sliceShape());
        assertArrayEquals(new long[] {8, 16, 32}, s.outputLayout(0, OUT).sliceShape());
        assertEquals(1, s.forward().size());
        OpComm c = s.forward().get(0);
        assertEquals(CollectiveKind.ALL_REDUCE, c.kind());
        assertEquals(ReduceOp.SUM, c.reduce());
        assertArrayEquals(new int[] {4}, c.axes());
        assertEquals(List.of(List.of(0, 2, 4, 6), List.of(1, 3, 5, 7)), c.groups(s.devMatrix()));
        assertTrue(c.reason().contains("masked lookup"), c.reason());
        assertTrue(s.backward().isEmpty(), "each rank's rows get their whole gradient: " + s.backward());
    }

    @Test
    void columnSplitNeedsNoForwardCommunication() {
        OpSharding s = shard(Gather.of(0), TABLE, IDS, Strategy.of(new int[] {1, 4}, new int[] {2, 1}), 8);
        assertEquals(DeviceMatrix.of(1, 4, 2, 1), s.devMatrix());
        assertEquals(TensorMap.of(3, 2), s.inputMaps().get(0));
        assertEquals(TensorMap.of(1, 0), s.inputMaps().get(1));
        assertEquals(TensorMap.of(1, 0, 2), s.outputMaps().get(0));
        assertArrayEquals(new long[] {4, 16, 8}, s.outputLayout(0, OUT).sliceShape());
        assertTrue(s.forward().isEmpty(), s.forward().toString());
        assertEquals(List.of("backward AllReduce(sum) of input 0 gradient over device dims [1]"),
                summaries(s.backward()), "the table's gradient is partial over the batch split of the indices");
    }

    @Test
    void indicesSplitIsDataParallel() {
        OpSharding s = shard(Gather.of(0), TABLE, IDS, Strategy.of(new int[] {1, 1}, new int[] {8, 1}), 8);
        assertEquals(TensorMap.of(1, 0, 2), s.outputMaps().get(0));
        assertArrayEquals(new long[] {1, 16, 32}, s.outputLayout(0, OUT).sliceShape());
        assertTrue(s.forward().isEmpty());
        assertEquals(List.of("backward AllReduce(sum) of input 0 gradient over device dims [1]"),
                summaries(s.backward()), "indices have no gradient; only the table's is reduced");
    }

    @Test
    void gatherAlongAnotherAxis() {
        TensorType p = TensorType.of(DType.FLOAT32, 4, 10, 6);
        TensorType i = TensorType.of(DType.INT32, 3);
        TensorType y = TensorType.of(DType.FLOAT32, 4, 3, 6);
        OpSharding s = shard(Gather.of(1), p, i, Strategy.of(new int[] {2, 1, 3}, new int[] {1}), 6);
        assertEquals(DeviceMatrix.of(2, 1, 3, 1), s.devMatrix());
        assertEquals(TensorMap.of(3, 0, 1), s.outputMaps().get(0));
        assertArrayEquals(new long[] {2, 3, 2}, s.outputLayout(0, y).sliceShape());
        assertTrue(s.comms().isEmpty(), s.comms().toString());
        // a 2-D table may be split along axis 1 (the columns are gathered)
        TensorType t2 = TensorType.of(DType.FLOAT32, 16, 64);
        OpSharding s2 = shard(Gather.of(1), t2, TensorType.of(DType.INT64, 5), Strategy.of(new int[] {1, 4},
                new int[] {1}), 4);
        assertEquals(List.of("forward AllReduce(sum) of output 0 over device dims [1]"), summaries(s2.forward()));
    }

    /** Simulates the documented masked lookup on random tables and indices: the AllReduce(sum) is the full lookup. */
    @ParameterizedTest
    @ValueSource(ints = {1, 2, 4, 8})
    void maskedLookupThenSumEqualsTheFullLookup(int rowSplit) {
        long seed = 7_412L + rowSplit;
        System.out.println("GatherTest.maskedLookupThenSumEqualsTheFullLookup seed " + seed);
        Random rnd = new Random(seed);
        int v = 24;
        int d = 3;
        double[][] table = new double[v][d];
        for (double[] row : table) {
            for (int k = 0; k < d; k++) {
                row[k] = rnd.nextGaussian();
            }
        }
        int[] ids = new int[10];
        for (int k = 0; k < ids.length; k++) {
            ids[k] = rnd.nextInt(v);
        }
        TensorType t = TensorType.of(DType.FLOAT32, v, d);
        TensorType it = TensorType.of(DType.INT32, ids.length);
        OpSharding s = shard(Gather.of(0), t, it, Strategy.of(new int[] {rowSplit, 1}, new int[] {1}), 8);
        Layout tl = s.inputLayout(0, t);
        for (List<Integer> group : rowSplit == 1 ? List.of(List.of(0)) : s.forward().get(0).groups(s.devMatrix())) {
            double[][] sum = new double[ids.length][d];
            for (int rank : group) {
                Box rows = tl.sliceBox(rank);
                int off = (int) rows.start(0);
                double[][] local = new double[(int) rows.extent(0)][];
                for (int r = 0; r < local.length; r++) {
                    local[r] = table[off + r];
                }
                for (int k = 0; k < ids.length; k++) {
                    int localRow = ids[k] - off;
                    boolean held = localRow >= 0 && localRow < local.length;
                    for (int c = 0; c < d; c++) {
                        sum[k][c] += held ? local[localRow][c] : 0.0;
                    }
                }
            }
            for (int k = 0; k < ids.length; k++) {
                assertArrayEquals(table[ids[k]], sum[k], 0.0, "group " + group + " index " + k);
            }
        }
    }

    @Test
    void dataParallelSplitsTheIndicesBatch() {
        assertEquals(Strategy.of(new int[] {1, 1}, new int[] {8, 1}),
                Gather.of(0).dataParallel(List.of(TABLE, IDS), 8));
        assertEquals(Strategy.of(new int[] {1, 1}, new int[] {8, 1}),
                Gather.of(0).dataParallel(List.of(TABLE, IDS), 16), "8 rows fit 8 of 16 devices; 2 repeat");
        assertEquals(Strategy.of(new int[] {4, 1, 1}, new int[] {1}), Gather.of(1).dataParallel(
                List.of(TensorType.of(DType.FLOAT32, 4, 10, 6), TensorType.of(DType.INT32, 3)), 8));
    }

    @Test
    void rejections() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> shard(Gather.of(0), TABLE, IDS,
                Strategy.of(new int[] {2, 1}, new int[] {2, 1}), 8));
        assertEquals("Gather 'emb': input 0 (params) dim 0 (the gather axis) is split 2 ways and input 1 (indices) "
                + "dim 0 is split 2 ways; the axis (row split with masked lookup) may not be split together with the "
                + "indices, set one of them to 1", e.getMessage());
        TensorType t3 = TensorType.of(DType.FLOAT32, 8, 4, 4);
        e = assertThrows(IllegalArgumentException.class, () -> shard(Gather.of(0), t3, IDS,
                Strategy.of(new int[] {2, 1, 1}, new int[] {1, 1}), 8));
        assertEquals("Gather 'emb': input 0 (params) dim 0 (the gather axis) is split 2 ways but the table "
                + "Float32[8, 4, 4] has 3 dims; the axis may be split only for 1-D or 2-D tables, set it to 1",
                e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> Gather.of(0).outputs("emb",
                List.of(TABLE, TensorType.of(DType.FLOAT32, 8))));
        assertEquals("Gather 'emb': input 1 (indices) has dtype Float32; expected an integer dtype such as Int32 or "
                + "Int64", e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> Gather.of(2).outputs("emb", List.of(TABLE, IDS)));
        assertEquals("Gather 'emb': axis 2 is out of range for input 0 (params) Float32[64, 32]; expected -2..1",
                e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> Gather.of(0).shard("emb", List.of(TABLE, IDS),
                Strategy.of(new int[] {4, 1}, new int[] {1, 1}), Strategy.of(new int[] {1, 1, 1}), 8));
        assertTrue(e.getMessage().contains("does not accept one"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> shard(Gather.of(0), TABLE, IDS,
                Strategy.of(new int[] {4, 1}), 8));
        assertTrue(e.getMessage().contains("has 1 tuple but the operator has 2 inputs"), e.getMessage());
    }

    private static List<String> summaries(List<OpComm> comms) {
        return comms.stream().map(c -> c.toString().substring(0, c.toString().indexOf(':'))).toList();
    }
}
