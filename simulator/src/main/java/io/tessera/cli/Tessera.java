package io.tessera.cli;

/** Placeholder main class replaced by the picocli entry point. */
public final class Tessera {
    private Tessera() {
    }

    /** Entry point. */
    public static void main(String[] args) {
        System.out.println("tessera");
    }
}
