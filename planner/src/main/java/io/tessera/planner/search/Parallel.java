package io.tessera.planner.search;

import java.util.List;
import java.util.function.IntFunction;
import java.util.stream.IntStream;

/** Runs the search's independent pieces of work on the common fork-join pool, gathering results in index order. */
final class Parallel {

    private Parallel() {
    }

    /**
     * {@code f(0) .. f(count - 1)} computed on the common fork-join pool, in index order. A runtime exception is
     * rethrown as it was thrown (the one of the lowest index), not as the pool's copy.
     */
    static <T> List<T> map(int count, IntFunction<T> f) {
        RuntimeException[] failed = new RuntimeException[count];
        List<T> out = IntStream.range(0, count).parallel().mapToObj(k -> {
            try {
                return f.apply(k);
            } catch (RuntimeException e) {
                failed[k] = e;
                return null;
            }
        }).toList();
        for (RuntimeException e : failed) {
            if (e != null) {
                throw e;
            }
        }
        return out;
    }
}
