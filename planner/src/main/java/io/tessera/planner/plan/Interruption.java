package io.tessera.planner.plan;

import java.util.concurrent.CancellationException;

/**
 * Cooperative cancellation of long plannings and simulations: their loops call {@link #check} once per operator, so a
 * caller that runs one on a worker thread can stop it by interrupting that thread (e.g. {@code tessera explain}'s time
 * limit). A thread that is never interrupted pays one flag read per call.
 */
public final class Interruption {

    private Interruption() {
    }

    /**
     * Throws when the current thread has been interrupted (the interrupt flag stays set).
     *
     * @param what what was running, for the message (e.g. {@code "planning"})
     * @throws CancellationException when the current thread is interrupted
     */
    public static void check(String what) {
        if (Thread.currentThread().isInterrupted()) {
            throw new CancellationException(what + " was interrupted (a caller's time limit ran out)");
        }
    }
}
