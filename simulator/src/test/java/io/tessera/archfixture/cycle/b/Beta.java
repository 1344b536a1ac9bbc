package io.tessera.archfixture.cycle.b;

import io.tessera.archfixture.cycle.a.Alpha;

/** The other half of the deliberate package cycle. Test code only. */
public final class Beta {
    private Beta() {
    }

    /** Used by package a. */
    public static int one() {
        return 1;
    }

    /** Depends back on package a. */
    public static int viaAlpha() {
        return Alpha.two();
    }
}
