/**
 * Strategy files (the user's input: network, devices, MindSpore's parallel settings, per-operator strategies and
 * per-parameter settings; {@link io.tessera.planner.strategy.StrategyFiles}) and MindSpore's strategy checkpoint JSON
 * ({@link io.tessera.planner.strategy.StrategyCheckpoints}). The formats are documented in
 * {@code strategies/README.md} and {@code ../shared/spec/layouts.md} §7.
 */
package io.tessera.planner.strategy;
