/**
 * The vocabulary of communication shared by every module: {@link io.tessera.layout.comm.CollectiveKind} (what a
 * collective does) and {@link io.tessera.layout.comm.Phase} (when it runs in a training step).
 */
package io.tessera.layout.comm;
