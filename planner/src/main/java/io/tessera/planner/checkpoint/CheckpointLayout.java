package io.tessera.planner.checkpoint;

import io.tessera.layout.Box;
import io.tessera.layout.param.ParamLayout;
import io.tessera.planner.plan.ParamPlan;
import io.tessera.planner.plan.PipelinePlan;
import io.tessera.planner.strategy.OptimizerKind;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * What a checkpoint holds, without the data: its tensors and, per file, which part of which tensor each entry stores.
 * A sharded checkpoint has one file per rank ({@link #of(PipelinePlan, boolean)}); a merged one has one file holding
 * every tensor whole ({@link #full}). Immutable.
 *
 * @param tensors the tensors, in declaration order; names unique
 * @param files   the files, in rank order; names and ranks unique; every piece names one of the tensors and lies
 *                inside it
 */
public record CheckpointLayout(List<CheckpointTensor> tensors, List<RankFile> files) {

    private static final Pattern STACKED = Pattern.compile("(.*\\.experts)\\.([^.]+)\\.weight");
    private static final Pattern PER_EXPERT = Pattern.compile("(.*\\.experts)\\.(\\d+)\\.([^.]+)\\.weight");

    /** Validates and copies the lists. */
    public CheckpointLayout {
        tensors = List.copyOf(tensors);
        files = List.copyOf(files);
        Map<String, CheckpointTensor> byName = new LinkedHashMap<>();
        for (CheckpointTensor t : tensors) {
            if (byName.put(t.name(), t) != null) {
                throw new IllegalArgumentException("checkpoint: tensor '" + t.name() + "' appears twice");
            }
        }
        Set<String> names = new HashSet<>();
        Set<Integer> ranks = new HashSet<>();
        for (RankFile f : files) {
            if (!names.add(f.file()) || !ranks.add(f.rank())) {
                throw new IllegalArgumentException("checkpoint: file '" + f.file() + "' (rank " + f.rank()
                        + ") repeats a file name or rank");
            }
            for (Piece p : f.pieces()) {
                CheckpointTensor t = byName.get(p.tensor());
                if (t == null) {
                    throw new IllegalArgumentException("checkpoint file '" + f.file() + "': entry '" + p.name()
                            + "' is part of tensor '" + p.tensor() + "', which the checkpoint does not hold");
                }
                if (!Box.full(t.shape()).contains(p.box()) || p.box().rank() != t.shape().length) {
                    throw new IllegalArgumentException("checkpoint file '" + f.file() + "': entry '" + p.name()
                            + "' covers " + p.box() + ", outside tensor '" + t.name() + "' of shape "
                            + Arrays.toString(t.shape()));
                }
            }
        }
    }

    /** The optimizer-state names of an optimizer, as PyTorch's optimizers name them. */
    public static List<String> stateNames(OptimizerKind optimizer) {
        return switch (optimizer) {
            case SGD -> List.of();
            case MOMENTUM -> List.of("momentum_buffer");
            case ADAM -> List.of("exp_avg", "exp_avg_sq");
        };
    }

    /**
     * The sharded checkpoint of a plan: rank {@code r}'s file ({@link RankFile#nameOf}) holds, for every parameter of
     * its pipeline stage, its slice (with optimizer parallel, its shard of the slice along dim 0, as
     * {@code init_data(layout, set_sliced)} materialises it) and, with {@code optimizerState}, the float32 state of
     * the plan's optimizer for trainable parameters over the same region.
     */
    public static CheckpointLayout of(PipelinePlan pipe, boolean optimizerState) {
        List<String> states = optimizerState ? stateNames(pipe.plan().config().optimizer()) : List.of();
        List<CheckpointTensor> tensors = new ArrayList<>();
        for (ParamPlan p : pipe.plan().params()) {
            tensors.add(CheckpointTensor.parameter(p.name(), p.dtype(), p.layout().shape()));
            if (p.trainable()) {
                for (String s : states) {
                    tensors.add(CheckpointTensor.state(p.name(), s, p.layout().shape()));
                }
            }
        }
        List<RankFile> files = new ArrayList<>();
        for (int r = 0; r < pipe.devices(); r++) {
            int stage = pipe.stageOfRank(r);
            int local = r - pipe.globalRank(stage, 0);
            List<Piece> pieces = new ArrayList<>();
            for (ParamPlan p : pipe.params(stage)) {
                Box box = region(p, local);
                pieces.add(Piece.of(p.name(), box));
                if (p.trainable()) {
                    for (String s : states) {
                        pieces.add(Piece.of(CheckpointTensor.state(p.name(), s, p.layout().shape()).name(), box));
                    }
                }
            }
            files.add(new RankFile(r, RankFile.nameOf(r), pieces));
        }
        return new CheckpointLayout(tensors, files);
    }

    /** The region of parameter {@code p} that local rank {@code local} stores (its optimizer shard when sharded). */
    static Box region(ParamPlan p, int local) {
        List<Integer> group = p.shard().groupOf(local);
        int[] g = group == null ? null : group.stream().mapToInt(Integer::intValue).toArray();
        return ParamLayout.of(p.layout(), g).regionOf(p.layout().shape(), local);
    }

    /**
     * One file {@code file} (rank 0) holding {@code tensors} whole. With {@code hfNames}, a stacked expert weight
     * {@code <scope>.experts.<proj>.weight} of shape {@code [E, a, b]} is stored as Hugging Face's E tensors
     * {@code <scope>.experts.<e>.<proj>.weight} of shape {@code [a, b]}.
     */
    public static CheckpointLayout full(List<CheckpointTensor> tensors, String file, boolean hfNames) {
        List<Piece> pieces = new ArrayList<>();
        for (CheckpointTensor t : tensors) {
            long[] shape = t.shape();
            Matcher m = STACKED.matcher(t.name());
            if (hfNames && shape.length == 3 && t.isParameter() && m.matches()) {
                long[] rest = {shape[1], shape[2]};
                for (long e = 0; e < shape[0]; e++) {
                    Box box = Box.of(new long[]{e, 0, 0}, new long[]{e + 1, shape[1], shape[2]});
                    pieces.add(new Piece(m.group(1) + "." + e + "." + m.group(2) + ".weight", t.name(), box, rest));
                }
            } else {
                pieces.add(Piece.of(t.name(), Box.full(shape)));
            }
        }
        return new CheckpointLayout(tensors, List.of(new RankFile(0, file, pieces)));
    }

    /**
     * The piece a full file's entry {@code name} holds among {@code tensors}: the whole tensor of that name, or, for
     * Hugging Face's {@code <scope>.experts.<e>.<proj>.weight}, row {@code e} of the stacked
     * {@code <scope>.experts.<proj>.weight}; null when it matches none.
     */
    static Piece pieceOf(String name, Map<String, CheckpointTensor> tensors) {
        CheckpointTensor t = tensors.get(name);
        if (t != null) {
            return Piece.of(name, Box.full(t.shape()));
        }
        Matcher m = PER_EXPERT.matcher(name);
        if (!m.matches()) {
            return null;
        }
        CheckpointTensor stacked = tensors.get(m.group(1) + "." + m.group(3) + ".weight");
        if (stacked == null || stacked.shape().length != 3) {
            return null;
        }
        long[] s = stacked.shape();
        long e;
        try {
            e = Long.parseLong(m.group(2));
        } catch (NumberFormatException x) {
            return null;
        }
        if (e >= s[0]) {
            return null;
        }
        Box box = Box.of(new long[]{e, 0, 0}, new long[]{e + 1, s[1], s[2]});
        return new Piece(name, stacked.name(), box, new long[]{s[1], s[2]});
    }

    /** The tensors by name, in declaration order. */
    public Map<String, CheckpointTensor> tensorMap() {
        Map<String, CheckpointTensor> out = new LinkedHashMap<>();
        for (CheckpointTensor t : tensors) {
            out.put(t.name(), t);
        }
        return out;
    }

    /** This layout restricted to parameters (no optimizer state). */
    public CheckpointLayout weightsOnly() {
        Set<String> keep = new HashSet<>();
        List<CheckpointTensor> ts = new ArrayList<>();
        for (CheckpointTensor t : tensors) {
            if (t.isParameter()) {
                ts.add(t);
                keep.add(t.name());
            }
        }
        List<RankFile> fs = new ArrayList<>();
        for (RankFile f : files) {
            fs.add(new RankFile(f.rank(), f.file(), f.pieces().stream().filter(p -> keep.contains(p.tensor()))
                    .toList()));
        }
        return new CheckpointLayout(ts, fs);
    }

    /** Whether it holds any optimizer state. */
    public boolean hasOptimizerState() {
        return tensors.stream().anyMatch(t -> !t.isParameter());
    }

    /** Bytes of file {@code f}'s data (its entries' bytes, without the header). */
    public long dataBytes(RankFile f) {
        Map<String, CheckpointTensor> byName = tensorMap();
        long b = 0;
        for (Piece p : f.pieces()) {
            b += p.volume() * byName.get(p.tensor()).dtype().bytes();
        }
        return b;
    }
}
