package io.tessera.layout.param;

/**
 * The process-wide parallel context, as MindSpore's {@code context.set_auto_parallel_context(parallel_mode=...)}:
 * the current {@link ParallelMode}, {@link ParallelMode#STAND_ALONE} until set. A {@link Parameter} created from an
 * initializer remembers whether the mode was an auto-parallel one at creation; changing that before its
 * {@link Parameter#initData()} is an error. Tests that set the mode must {@link #reset()} it afterwards.
 */
public final class ParallelContext {

    private static volatile ParallelMode mode = ParallelMode.STAND_ALONE;

    private ParallelContext() {
    }

    /** The current parallel mode; {@link ParallelMode#STAND_ALONE} by default. */
    public static ParallelMode parallelMode() {
        return mode;
    }

    /**
     * Sets the parallel mode.
     *
     * @throws IllegalArgumentException when {@code newMode} is null
     */
    public static void setParallelMode(ParallelMode newMode) {
        if (newMode == null) {
            throw new IllegalArgumentException("parallel_mode: found null; expected one of "
                    + ParallelMode.validNames());
        }
        mode = newMode;
    }

    /**
     * Sets the parallel mode by MindSpore's name, e.g. {@code "semi_auto_parallel"} (case-insensitive).
     *
     * @throws IllegalArgumentException naming the valid names when {@code name} is unknown
     */
    public static void setParallelMode(String name) {
        mode = ParallelMode.parse(name);
    }

    /** Restores the default, {@link ParallelMode#STAND_ALONE}. */
    public static void reset() {
        mode = ParallelMode.STAND_ALONE;
    }

    /**
     * Whether the current mode is semi-automatic or automatic parallel (MindSpore's {@code _is_in_parallel_mode()}).
     */
    public static boolean isInParallelMode() {
        return mode.isAutoParallel();
    }
}
