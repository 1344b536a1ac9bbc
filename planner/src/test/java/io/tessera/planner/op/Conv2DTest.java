package io.tessera.planner.op;

import io.tessera.layout.DType;
import io.tessera.layout.DeviceMatrix;
import io.tessera.layout.TensorMap;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The Conv2D rule: N, C-in (AllReduce), C-out, halo-free H/W splits, group convolution and rejections. */
class Conv2DTest {

    private static final TensorType X = TensorType.of(DType.FLOAT32, 8, 16, 32, 32);
    private static final TensorType W = TensorType.of(DType.FLOAT32, 32, 16, 3, 3);
    private static final TensorType Y = TensorType.of(DType.FLOAT32, 8, 32, 32, 32);
    private static final Conv2D SAME = Conv2D.of(32, new int[] {3, 3}, new int[] {1, 1}, new int[] {1, 1, 1, 1});

    private static OpSharding shard(Conv2D op, TensorType x, TensorType w, int[] sx, int[] sw, int devices) {
        return op.shard("conv", List.of(x, w), Strategy.of(sx, sw), null, devices);
    }

    @Test
    void outputShapeFollowsTheStandardFormula() {
        assertEquals(List.of(Y), SAME.outputs("conv", List.of(X, W)));
        Conv2D strided = new Conv2D(8, new int[] {3}, new int[] {2}, new int[] {1, 0}, new int[] {2}, 2);
        // H: (32 + 2 - 2*2 - 1) / 2 + 1 = 15; W: (32 + 0 - 5) / 2 + 1 = 14
        assertEquals(List.of(TensorType.of(DType.FLOAT32, 8, 8, 15, 14)), strided.outputs("conv",
                List.of(X, TensorType.of(DType.FLOAT32, 8, 8, 3, 3))));
        assertArrayEquals(new int[] {1, 1, 0, 0}, strided.pad());
    }

    @Test
    void cInSplitNeedsAForwardAllReduce() {
        OpSharding s = shard(SAME, X, W, new int[] {2, 4, 1, 1}, new int[] {1, 4, 1, 1}, 8);
        assertEquals(DeviceMatrix.of(2, 4, 1, 1, 1), s.devMatrix());
        assertEquals(TensorMap.of(4, 3, 2, 1), s.inputMaps().get(0));
        assertEquals(TensorMap.of(0, 3, -1, -1), s.inputMaps().get(1));
        assertEquals(TensorMap.of(4, 0, 2, 1), s.outputMaps().get(0));
        assertArrayEquals(new long[] {32, 4, 3, 3}, s.inputLayout(1, W).sliceShape());
        assertEquals(List.of("forward AllReduce(sum) of output 0 over device dims [3]"), summaries(s.forward()));
        assertEquals(List.of(List.of(0, 1, 2, 3), List.of(4, 5, 6, 7)), s.forward().get(0).groups(s.devMatrix()));
        assertEquals(List.of("backward AllReduce(sum) of input 1 gradient over device dims [4]"),
                summaries(s.backward()), "the weight is replicated over the N split");
    }

    @Test
    void cOutSplitNeedsNoForwardCommunication() {
        OpSharding s = shard(SAME, X, W, new int[] {2, 1, 1, 1}, new int[] {4, 1, 1, 1}, 8);
        assertEquals(DeviceMatrix.of(2, 1, 1, 1, 4), s.devMatrix());
        assertEquals(TensorMap.of(4, 0, 2, 1), s.outputMaps().get(0));
        assertArrayEquals(new long[] {4, 8, 32, 32}, s.outputLayout(0, Y).sliceShape());
        assertTrue(s.forward().isEmpty(), s.forward().toString());
        assertEquals(List.of("backward AllReduce(sum) of input 0 gradient over device dims [0]",
                "backward AllReduce(sum) of input 1 gradient over device dims [4]"), summaries(s.backward()));
    }

    @Test
    void nSplitIsDataParallel() {
        Strategy dp = SAME.dataParallel(List.of(X, W), 8);
        assertEquals(Strategy.of(new int[] {8, 1, 1, 1}, new int[] {1, 1, 1, 1}), dp);
        OpSharding s = SAME.shard("conv", List.of(X, W), dp, null, 16);
        assertEquals(DeviceMatrix.of(8, 1, 1, 1, 1, 2), s.devMatrix());
        assertTrue(s.forward().isEmpty());
        assertEquals(List.of("backward AllReduce(sum) of input 1 gradient over device dims [5]"),
                summaries(s.backward()), "only the N split, not the repeated dim");
    }

    @Test
    void hSplitWithKernelEqualToStrideIsLocal() {
        Conv2D patch = Conv2D.of(16, new int[] {2, 2}, new int[] {2, 2}, new int[] {0});
        TensorType w = TensorType.of(DType.FLOAT32, 16, 16, 2, 2);
        TensorType y = patch.outputs("conv", List.of(X, w)).get(0);
        assertArrayEquals(new long[] {8, 16, 16, 16}, y.shape());
        OpSharding s = shard(patch, X, w, new int[] {2, 1, 4, 1}, new int[] {1, 1, 1, 1}, 8);
        assertEquals(TensorMap.of(4, 0, 2, 1), s.outputMaps().get(0));
        assertArrayEquals(new long[] {4, 16, 4, 16}, s.outputLayout(0, y).sliceShape());
        assertArrayEquals(new long[] {4, 16, 8, 32}, s.inputLayout(0, X).sliceShape());
        for (int r = 0; r < 8; r++) {
            assertEquals(s.inputLayout(0, X).sliceBox(r).start(2), 2 * s.outputLayout(0, y).sliceBox(r).start(2),
                    "rank " + r + ": output rows [a, b) read input rows [2a, 2b)");
        }
        assertTrue(s.forward().isEmpty());
        assertEquals(List.of("backward AllReduce(sum) of input 1 gradient over device dims [4, 2]"),
                summaries(s.backward()));
        // W split with a kernel smaller than the stride is also halo-free
        Conv2D sparse = Conv2D.of(16, new int[] {1, 1}, new int[] {2, 2}, new int[] {0});
        OpSharding s2 = shard(sparse, X, TensorType.of(DType.FLOAT32, 16, 16, 1, 1), new int[] {1, 1, 1, 8},
                new int[] {1, 1, 1, 1}, 8);
        assertEquals(TensorMap.of(4, 0, 2, 1), s2.outputMaps().get(0));
    }

    @Test
    void haloSplitsAreRejectedWithTheReason() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> shard(SAME, X, W, new int[] {1, 1, 2, 1}, new int[] {1, 1, 1, 1}, 8));
        assertEquals("Conv2D 'conv': input 0 (x) dim 2 (H) is split 2 ways but the padding in H is (1, 1): edge "
                + "ranks would need their neighbours' rows (a halo); set it to 1 (no halo exchange is supported)",
                e.getMessage());
        Conv2D valid = Conv2D.of(32, new int[] {3, 3}, new int[] {1, 1}, new int[] {0});
        e = assertThrows(IllegalArgumentException.class,
                () -> shard(valid, X, W, new int[] {1, 1, 1, 4}, new int[] {1, 1, 1, 1}, 8));
        assertEquals("Conv2D 'conv': input 0 (x) dim 3 (W) is split 4 ways but the kernel width 3 exceeds the stride "
                + "1: windows would overlap the slice boundaries (a halo); a split W needs kernel <= stride; set it "
                + "to 1 (no halo exchange is supported)", e.getMessage());
        Conv2D dilated = new Conv2D(32, new int[] {2, 2}, new int[] {2, 2}, new int[] {0}, new int[] {2, 2}, 1);
        TensorType w2 = TensorType.of(DType.FLOAT32, 32, 16, 2, 2);
        e = assertThrows(IllegalArgumentException.class,
                () -> shard(dilated, X, w2, new int[] {1, 1, 2, 1}, new int[] {1, 1, 1, 1}, 8));
        assertTrue(e.getMessage().contains("kernel height 3 (dilated) exceeds the stride 2"), e.getMessage());
        Conv2D s4 = Conv2D.of(32, new int[] {4, 4}, new int[] {4, 4}, new int[] {0});
        TensorType w4 = TensorType.of(DType.FLOAT32, 32, 16, 4, 4);
        e = assertThrows(IllegalArgumentException.class,
                () -> shard(s4, X, w4, new int[] {1, 1, 16, 1}, new int[] {1, 1, 1, 1}, 16));
        assertTrue(e.getMessage().contains("each slice holds 2 rows, not a multiple of the stride 4"), e.getMessage());
    }

    @Test
    void groupConvolutionSplitsNoChannel() {
        Conv2D grouped = new Conv2D(32, new int[] {3, 3}, new int[] {1, 1}, new int[] {1}, new int[] {1, 1}, 4);
        TensorType w = TensorType.of(DType.FLOAT32, 32, 4, 3, 3);
        assertEquals(List.of(Y), grouped.outputs("conv", List.of(X, w)));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> shard(grouped, X, w, new int[] {1, 2, 1, 1}, new int[] {1, 2, 1, 1}, 8));
        assertEquals("Conv2D 'conv': input 0 (x) dim 1 is split 2 ways but must not be split (group convolution "
                + "(group 4) splits no channel); set it to 1", e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> shard(grouped, X, w, new int[] {1, 1, 1, 1}, new int[] {2, 1, 1, 1}, 8));
        assertTrue(e.getMessage().startsWith("Conv2D 'conv': input 1 (weight) dim 0 is split 2 ways but must not"),
                e.getMessage());
        assertTrue(shard(grouped, X, w, new int[] {8, 1, 1, 1}, new int[] {1, 1, 1, 1}, 8).forward().isEmpty());
    }

    @Test
    void otherRejections() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> shard(SAME, X, W, new int[] {1, 2, 1, 1}, new int[] {1, 4, 1, 1}, 8));
        assertEquals("Conv2D 'conv': input 1 (weight) dim 1 (C-in) is split 4 ways but input 0 (x) dim 1 (C-in) is "
                + "split 2 ways; C-in must be split equally", e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> shard(SAME, X, W, new int[] {1, 1, 1, 1}, new int[] {1, 1, 3, 1}, 8));
        assertEquals("Conv2D 'conv': input 1 (weight) dim 2 is split 3 ways but must not be split (kernel height); "
                + "set it to 1", e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> SAME.outputs("conv",
                List.of(X, TensorType.of(DType.FLOAT32, 32, 8, 3, 3))));
        assertEquals("Conv2D 'conv': input 1 (weight) Float32[32, 8, 3, 3] does not match; expected shape "
                + "[32, 16, 3, 3] (out_channel, in_channel / group, kh, kw)", e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> Conv2D.of(32, new int[] {3, 3}, new int[] {1, 1}, new int[] {1, 1, 1}));
        assertTrue(e.getMessage().startsWith("Conv2D: pad [1, 1, 1] has the wrong length"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> Conv2D.of(32, new int[] {3, 3}, new int[] {1, 1}, new int[] {1_000_000_000}));
        assertEquals("Conv2D: pad [1000000000, 1000000000, 1000000000, 1000000000] holds 1000000000 in the height; "
                + "expected each pad below the dilated kernel size 3 (a larger pad makes outputs that see only "
                + "padding)", e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> new Conv2D(8, new int[] {1, 3}, new int[] {1, 1}, new int[] {0, 0, 1, 5}, new int[] {1, 2}, 1));
        assertTrue(e.getMessage().contains("holds 5 in the width; expected each pad below the dilated kernel size 5"),
                e.getMessage());
        assertEquals(4, new Conv2D(8, new int[] {1, 3}, new int[] {1, 1}, new int[] {0, 0, 4, 4}, new int[] {1, 2}, 1)
                .pad()[3]);
        e = assertThrows(IllegalArgumentException.class,
                () -> new Conv2D(30, new int[] {3, 3}, new int[] {1, 1}, new int[] {1}, new int[] {1, 1}, 4));
        assertEquals("Conv2D: out_channel is 30; expected a positive multiple of group 4", e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> SAME.shard("conv", List.of(X, W),
                Strategy.of(new int[] {1, 1, 1, 1}, new int[] {1, 1, 1, 1}), Strategy.of(new int[] {1, 1, 1, 1}), 8));
        assertTrue(e.getMessage().contains("does not accept one"), e.getMessage());
    }

    @Test
    void valueSemantics() {
        assertEquals(Conv2D.of(8, new int[] {3}, new int[] {1}, new int[] {1}),
                Conv2D.of(8, new int[] {3, 3}, new int[] {1, 1}, new int[] {1, 1, 1, 1}));
        assertEquals(Conv2D.of(8, new int[] {3}, new int[] {1}, new int[] {1}).hashCode(),
                Conv2D.of(8, new int[] {3, 3}, new int[] {1, 1}, new int[] {1, 1, 1, 1}).hashCode());
    }

    private static List<String> summaries(List<OpComm> comms) {
        return comms.stream().map(c -> c.toString().substring(0, c.toString().indexOf(':'))).toList();
    }
}
