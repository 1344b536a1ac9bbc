/**
 * Sharded checkpoints: safetensors files per rank, their index, resharding between plans.
 *
 * <p>The file format layer: {@link io.tessera.planner.checkpoint.SafeTensors} reads and validates safetensors
 * headers ({@link io.tessera.planner.checkpoint.SafeTensorsHeader}, one
 * {@link io.tessera.planner.checkpoint.SafeTensorsEntry} per tensor), encodes and decodes tensor data
 * (little-endian, row-major) and writes whole files atomically; {@link io.tessera.planner.checkpoint.MappedFile}
 * gives windowed memory-mapped access to files of any size. Bad input is a one-line
 * {@link io.tessera.planner.checkpoint.CheckpointException}.
 */
package io.tessera.planner.checkpoint;
