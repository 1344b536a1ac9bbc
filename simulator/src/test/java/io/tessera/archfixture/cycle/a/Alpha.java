package io.tessera.archfixture.cycle.a;

import io.tessera.archfixture.cycle.b.Beta;

/** A deliberate package cycle (a -> b -> a) that {@code ArchitectureTest} must reject. Test code only. */
public final class Alpha {
    private Alpha() {
    }

    /** Depends on package b. */
    public static int viaBeta() {
        return Beta.one();
    }

    /** Used by package b. */
    public static int two() {
        return 2;
    }
}
