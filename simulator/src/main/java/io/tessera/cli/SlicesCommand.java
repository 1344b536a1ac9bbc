package io.tessera.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.tessera.layout.Box;
import io.tessera.layout.DeviceMatrix;
import io.tessera.layout.Layout;
import picocli.CommandLine.Command;

import java.util.List;

/**
 * {@code tessera layout slices}: for each case {@code {"dev_matrix", "tensor_map", "shape"}}, the slice shape and
 * every rank's slice bounds: {@code {"slice_shape": [..], "ranks": [[[start, end], ...per dim], ...per rank]}}.
 */
@Command(name = "slices", mixinStandardHelpOptions = true,
        description = {"Slice shape and per-rank slice bounds of tensor layouts.",
                "Input: a JSON array of {\"dev_matrix\": [..], \"tensor_map\": [..], \"shape\": [..]}; a tensor_map "
                        + "entry is an int (-1 = not split) or a list of ints.",
                "Output: a JSON array, same order, of {\"slice_shape\": [..], \"ranks\": [[[start, end], ...per dim],"
                        + " ...per rank]}, or {\"error\": \"...\"} for a bad case (exit code 2)."})
public final class SlicesCommand extends CaseCommand {

    /** The keys of a slices case. */
    public static final List<String> KEYS = List.of("dev_matrix", "tensor_map", "shape");

    @Override
    protected ObjectNode answer(JsonNode c, int index) {
        CaseFields f = new CaseFields(c, KEYS);
        DeviceMatrix dm = DeviceMatrix.of(f.ints("dev_matrix"));
        Layout layout = Layout.of(dm, f.tensorMap("tensor_map"), f.longs("shape"));
        checkDeviceCount("dev_matrix " + dm, layout.deviceCount());
        ObjectNode out = Json.object();
        out.set("slice_shape", Json.array(layout.sliceShape()));
        ArrayNode ranks = out.putArray("ranks");
        for (int r = 0; r < layout.deviceCount(); r++) {
            Box box = layout.sliceBox(r);
            ArrayNode bounds = ranks.addArray();
            for (int i = 0; i < box.rank(); i++) {
                bounds.add(Json.array(box.start(i), box.end(i)));
            }
        }
        return out;
    }
}
