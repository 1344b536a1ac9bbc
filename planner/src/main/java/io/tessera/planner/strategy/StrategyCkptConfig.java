package io.tessera.planner.strategy;

/**
 * {@code parallel.strategy_ckpt_config}: the strategy checkpoint (spec §7) to load strategies from and to save the
 * plan's strategies to. Paths are as written; {@link StrategyFile#resolve(String)} resolves them against the strategy
 * file's directory.
 *
 * @param loadFile {@code load_file}: a checkpoint whose strategies pin operators, or null for none
 * @param saveFile {@code save_file}: where to write the plan's checkpoint, or null for nowhere
 */
public record StrategyCkptConfig(String loadFile, String saveFile) {

    /** Rejects blank paths. */
    public StrategyCkptConfig {
        if (loadFile != null && loadFile.isBlank()) {
            throw new IllegalArgumentException("parallel.strategy_ckpt_config.load_file: found a blank path; "
                    + "expected the path of a strategy checkpoint JSON file, or omit the key");
        }
        if (saveFile != null && saveFile.isBlank()) {
            throw new IllegalArgumentException("parallel.strategy_ckpt_config.save_file: found a blank path; "
                    + "expected the path to write a strategy checkpoint JSON file to, or omit the key");
        }
    }

    /** Neither loads nor saves. */
    public static StrategyCkptConfig none() {
        return new StrategyCkptConfig(null, null);
    }

    /** A configuration; either path may be null. */
    public static StrategyCkptConfig of(String loadFile, String saveFile) {
        return new StrategyCkptConfig(loadFile, saveFile);
    }

    /** Whether neither path is set. */
    public boolean isEmpty() {
        return loadFile == null && saveFile == null;
    }
}
