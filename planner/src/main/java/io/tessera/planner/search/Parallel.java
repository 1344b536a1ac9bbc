package io.tessera.planner.search;

import io.tessera.planner.plan.Interruption;

import java.util.List;
import java.util.concurrent.CancellationException;
import java.util.function.IntFunction;
import java.util.stream.IntStream;

/** Runs the search's independent pieces of work on the common fork-join pool, gathering results in index order. */
final class Parallel {

    private Parallel() {
    }

    /**
     * {@code f(0) .. f(count - 1)} computed on the common fork-join pool, in index order. A runtime exception is
     * rethrown as it was thrown (the one of the lowest index), not as the pool's copy. When the calling thread is
     * interrupted, the pieces not yet started throw a {@link CancellationException} instead of running, and the
     * {@link Interruption} checks of those running throw one too.
     */
    static <T> List<T> map(int count, IntFunction<T> f) {
        RuntimeException[] failed = new RuntimeException[count];
        // the pool's threads are not the caller's: a piece not yet started stops when the caller is interrupted
        Thread caller = Thread.currentThread();
        List<T> out = IntStream.range(0, count).parallel().mapToObj(k -> {
            try {
                if (caller.isInterrupted()) {
                    throw new CancellationException("the strategy search was interrupted (a caller's time limit ran "
                            + "out)");
                }
                return Interruption.workFor(caller, () -> f.apply(k));
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
