package io.tessera.simulator.kernel;

import io.tessera.layout.Box;
import io.tessera.layout.DType;
import io.tessera.planner.op.Gather;
import io.tessera.simulator.array.NDArray;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;

import static io.tessera.simulator.kernel.CentralDifference.add;
import static io.tessera.simulator.kernel.CentralDifference.array;
import static io.tessera.simulator.kernel.CentralDifference.concat;
import static io.tessera.simulator.kernel.CentralDifference.flags;
import static io.tessera.simulator.kernel.CentralDifference.slice;
import static io.tessera.simulator.kernel.CentralDifference.uniform;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

class GatherKernelTest {

    private static KernelContext context(NDArray table, Box tableBox, NDArray indices) {
        return new KernelContext(List.of(tableBox, Box.full(indices.shape())), List.of(), DType.FLOAT64, 0);
    }

    private static NDArray run(Gather op, NDArray table, NDArray indices) {
        return GatherKernel.forward(op, context(table, Box.full(table.shape()), indices), List.of(table, indices))
                .get(0);
    }

    private static NDArray indices(Random r, long bound, long... shape) {
        NDArray a = NDArray.zeros(shape);
        for (int i = 0; i < a.size(); i++) {
            a.set(i, r.nextInt((int) bound));
        }
        return a;
    }

    @Test
    void looksUpRowsOfAnEmbeddingTable() {
        NDArray table = array(new long[] {4, 2}, 0, 1, 10, 11, 20, 21, 30, 31);
        NDArray idx = array(new long[] {3}, 3, 0, 3);
        assertEquals(array(new long[] {3, 2}, 30, 31, 0, 1, 30, 31), run(Gather.of(0), table, idx));
    }

    @Test
    void gathersColumnsAlongAxisOneWithMatrixIndices() {
        NDArray table = array(new long[] {2, 3}, 1, 2, 3, 4, 5, 6);
        NDArray idx = array(new long[] {2, 2}, 2, 0, 1, 1);
        // out[i][a][b] = table[i][idx[a][b]]
        assertEquals(array(new long[] {2, 2, 2}, 3, 1, 2, 2, 6, 4, 5, 5), run(Gather.of(-1), table, idx));
    }

    @Test
    void indicesOutsideTheTableGiveZeros() {
        NDArray table = array(new long[] {3}, 7, 8, 9);
        NDArray idx = array(new long[] {4}, -1, 3, 2, 0);
        assertEquals(array(new long[] {4}, 0, 0, 9, 7), run(Gather.of(0), table, idx));
    }

    @Test
    void repeatedIndicesAccumulateTheirGradients() {
        Gather op = Gather.of(0);
        NDArray table = NDArray.zeros(3, 2);
        NDArray idx = array(new long[] {3}, 1, 1, 2);
        NDArray dy = array(new long[] {3, 2}, 1, 2, 3, 4, 5, 6);
        List<NDArray> g = GatherKernel.backward(op, context(table, Box.full(table.shape()), idx), List.of(table, idx),
                List.of(), List.of(dy), flags(2, 0, 1));
        assertEquals(array(new long[] {3, 2}, 0, 0, 4, 6, 5, 6), g.get(0));
        assertNull(g.get(1), "indices get no gradient");
        assertEquals(NDArray.zeros(3, 2), GatherKernel.backward(op, null, List.of(table, idx), List.of(),
                Arrays.asList((NDArray) null), flags(2, 0)).get(0));
        assertNull(GatherKernel.backward(op, null, List.of(table, idx), List.of(), List.of(dy), flags(2)).get(0));
    }

    static Stream<Arguments> rowSplits() {
        return Stream.of(Arguments.of(new long[] {6}, 0), Arguments.of(new long[] {6, 3}, 0),
                Arguments.of(new long[] {3, 8}, 1), Arguments.of(new long[] {8, 2}, -2));
    }

    @ParameterizedTest(name = "table {0} split in row halves along axis {1}")
    @MethodSource("rowSplits")
    void rowSplitTableMaskedLookupsAddUpToTheFullLookup(long[] tableShape, int axis) {
        String label = "Gather row split " + Arrays.toString(tableShape) + " axis " + axis;
        Random r = CentralDifference.random(label, 5100L + axis + Arrays.hashCode(tableShape));
        Gather op = Gather.of(axis);
        int ax = axis < 0 ? axis + tableShape.length : axis;
        long rows = tableShape[ax];
        NDArray table = uniform(r, tableShape);
        NDArray idx = indices(r, rows, 3, 4);
        NDArray full = run(op, table, idx);
        NDArray dy = uniform(r, full.shape());
        NDArray fullGrad = GatherKernel.backward(op, null, List.of(table, idx), List.of(full), List.of(dy),
                flags(2, 0)).get(0);

        NDArray sum = NDArray.zeros(full.shape());
        NDArray[] gradHalves = new NDArray[2];
        for (int h = 0; h < 2; h++) {
            long from = h * rows / 2;
            long to = (h + 1) * rows / 2;
            NDArray local = slice(table, ax, from, to);
            long[] start = new long[tableShape.length];
            long[] end = tableShape.clone();
            start[ax] = from;
            end[ax] = to;
            KernelContext ctx = context(local, Box.of(start, end), idx);
            NDArray part = GatherKernel.forward(op, ctx, List.of(local, idx)).get(0);
            sum = add(sum, part);
            gradHalves[h] = GatherKernel.backward(op, ctx, List.of(local, idx), List.of(part), List.of(dy),
                    flags(2, 0)).get(0);
            assertEquals(slice(fullGrad, ax, from, to), gradHalves[h], label + " gradient half " + h);
        }
        assertEquals(full, sum, label + ": the masked lookups add up to the full lookup");
        assertEquals(fullGrad, concat(ax, gradHalves));
    }

    @Test
    void splitIndicesLookUpTheirOwnSlices() {
        Random r = CentralDifference.random("Gather indices split", 5200);
        Gather op = Gather.of(0);
        NDArray table = uniform(r, 5, 3);
        NDArray idx = indices(r, 5, 4, 2);
        NDArray full = run(op, table, idx);
        NDArray top = run(op, table, slice(idx, 0, 0, 2));
        NDArray bottom = run(op, table, slice(idx, 0, 2, 4));
        assertEquals(full, concat(0, top, bottom));
    }
}
