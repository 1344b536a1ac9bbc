package io.tessera.planner.plan;

import java.util.concurrent.CancellationException;

/**
 * Cooperative cancellation of long plannings and simulations: their loops call {@link #check} once per operator, so a
 * caller that runs one on a worker thread can stop it by interrupting that thread (e.g. {@code tessera explain}'s time
 * limit). A thread that is never interrupted pays one flag read per call.
 */
public final class Interruption {

    /** The thread a pool thread works for ({@link #workFor}), whose interrupt stops the work too; null for none. */
    private static final ThreadLocal<Thread> OWNER = new ThreadLocal<>();

    private Interruption() {
    }

    /**
     * Throws when the current thread, or the thread it works for ({@link #workFor}), has been interrupted (the
     * interrupt flag stays set).
     *
     * @param what what was running, for the message (e.g. {@code "planning"})
     * @throws CancellationException when the current thread or its owner is interrupted
     */
    public static void check(String what) {
        Thread owner = OWNER.get();
        if (Thread.currentThread().isInterrupted() || owner != null && owner.isInterrupted()) {
            throw new CancellationException(what + " was interrupted (a caller's time limit ran out)");
        }
    }

    /**
     * Runs {@code work} on the current thread (e.g. a fork-join pool's) on behalf of {@code owner}: the checks inside
     * also stop when {@code owner} is interrupted.
     *
     * @param owner the thread whose work this is (the one that split it among the pool's threads)
     * @param work  the work
     * @return what {@code work} returns
     */
    public static <T> T workFor(Thread owner, java.util.function.Supplier<T> work) {
        Thread before = OWNER.get();
        OWNER.set(owner);
        try {
            return work.get();
        } finally {
            if (before == null) {
                OWNER.remove();
            } else {
                OWNER.set(before);
            }
        }
    }
}
