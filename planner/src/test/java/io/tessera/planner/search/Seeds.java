package io.tessera.planner.search;

/**
 * Seeds of the randomised search tests: a fixed default per test, overridden for every test by
 * {@code -Dtessera.seed=N}, and printed so that a failure can be replayed.
 */
final class Seeds {

    /** The system property that overrides every default seed. */
    static final String PROPERTY = "tessera.seed";

    private Seeds() {
    }

    /**
     * The seed of {@code test}: {@code -Dtessera.seed=N} when given, else {@code fixed}; printed with how to rerun.
     *
     * @throws IllegalArgumentException when the property is not a long
     */
    static long seed(String test, long fixed) {
        String given = System.getProperty(PROPERTY);
        long seed;
        if (given == null || given.isBlank()) {
            seed = fixed;
        } else {
            try {
                seed = Long.parseLong(given.trim());
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("-D" + PROPERTY + " is '" + given + "'; expected a long, e.g. -D"
                        + PROPERTY + "=" + fixed, e);
            }
        }
        System.out.println(test + " seed " + seed + " (rerun with -D" + PROPERTY + "=" + seed + ")");
        return seed;
    }
}
