package io.tessera.simulator.cluster;

import io.tessera.layout.Box;
import io.tessera.layout.redistribution.Block;
import io.tessera.simulator.array.NDArray;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Random;

/** Shared helpers of the cluster tests: random data, random groups, naive references built on boxes. */
final class ClusterFixtures {

    private ClusterFixtures() {
    }

    /** Gaussian values of {@code shape}. */
    static NDArray random(Random rnd, long... shape) {
        NDArray a = NDArray.zeros(shape);
        for (int i = 0; i < a.size(); i++) {
            a.set(i, rnd.nextGaussian());
        }
        return a;
    }

    /** {@code count} groups of {@code size} ranks each, from a random permutation of 0..size*count-1. */
    static List<List<Integer>> randomGroups(Random rnd, int size, int count) {
        List<Integer> all = new ArrayList<>();
        for (int r = 0; r < size * count; r++) {
            all.add(r);
        }
        Collections.shuffle(all, rnd);
        List<List<Integer>> groups = new ArrayList<>();
        for (int k = 0; k < count; k++) {
            groups.add(List.copyOf(all.subList(k * size, (k + 1) * size)));
        }
        return groups;
    }

    /** Empty programs for {@code n} ranks. */
    static List<List<Instruction>> programs(int n) {
        List<List<Instruction>> p = new ArrayList<>();
        for (int r = 0; r < n; r++) {
            p.add(new ArrayList<>());
        }
        return p;
    }

    /** Appends one collective to the program of every member of {@code group}. */
    static void add(List<List<Instruction>> programs, long id, String op, List<Integer> group, String signature,
            CollectiveFn fn) {
        Instruction.Collective c = Instruction.collective(id, op, group, signature, fn);
        for (int r : group) {
            programs.get(r).add(c);
        }
    }

    /** A naive concatenation along {@code dim}: each part placed as a block of the whole, then assembled. */
    static NDArray concatRef(List<NDArray> parts, int dim) {
        long[] shape = parts.get(0).shape();
        long total = 0;
        List<Block> blocks = new ArrayList<>();
        for (NDArray p : parts) {
            long[] start = new long[shape.length];
            long[] end = p.shape();
            start[dim] = total;
            end[dim] += total;
            blocks.add(Block.of(Box.of(start, end), p.data()));
            total += p.dim(dim);
        }
        shape[dim] = total;
        return NDArray.of(Block.assemble(Box.full(shape), blocks));
    }

    /** Part {@code j} of {@code parts} equal parts of {@code a} along {@code dim}, cut as a region of a block. */
    static NDArray partRef(NDArray a, int dim, int parts, int j) {
        long[] shape = a.shape();
        long size = shape[dim] / parts;
        long[] start = new long[shape.length];
        long[] end = shape.clone();
        start[dim] = j * size;
        end[dim] = (j + 1) * size;
        Block whole = Block.of(Box.full(shape), a.data());
        return NDArray.of(whole.region(Box.of(start, end)));
    }

    /** A naive element-wise reduction in list order. */
    static NDArray reduceRef(List<NDArray> inputs, io.tessera.layout.redistribution.ReduceOp op) {
        int n = inputs.get(0).size();
        double[] out = new double[n];
        for (int j = 0; j < n; j++) {
            double acc = inputs.get(0).get(j);
            for (int k = 1; k < inputs.size(); k++) {
                double v = inputs.get(k).get(j);
                switch (op) {
                    case SUM:
                    case MEAN:
                        acc = acc + v;
                        break;
                    case MAX:
                        acc = v > acc ? v : acc;
                        break;
                    default:
                        acc = v < acc ? v : acc;
                        break;
                }
            }
            out[j] = op == io.tessera.layout.redistribution.ReduceOp.MEAN ? acc / inputs.size() : acc;
        }
        return NDArray.of(inputs.get(0).shape(), out);
    }

    /** The shape as a signature string. */
    static String sig(NDArray a) {
        return "float64" + Arrays.toString(a.shape());
    }
}
