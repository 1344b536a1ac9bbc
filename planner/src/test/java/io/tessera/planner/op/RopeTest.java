package io.tessera.planner.op;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.tessera.layout.DType;
import io.tessera.layout.DeviceMatrix;
import io.tessera.layout.TensorMap;
import org.junit.jupiter.api.Test;

import java.util.List;

import static io.tessera.planner.op.OpTests.rejected;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** RotaryPositionEmbedding: batch, heads and sequence split freely, head_dim never; attributes; costs. */
class RopeTest {

    private static final TensorType Q = TensorType.of(DType.BFLOAT16, 2, 8, 16, 64);

    @Test
    void batchHeadsAndSequenceSplitWithTheOutputInTheInputsLayout() {
        Rope op = Rope.of();
        assertEquals("RotaryPositionEmbedding", op.type());
        assertEquals(OperatorKind.ROPE, op.operatorKind());
        assertEquals(10000.0, op.theta());
        OpSharding sh = op.shard("rope", List.of(Q), Strategy.of(new int[] {2, 2, 4, 1}), null, 16);
        // heads and sequence both split: the device matrix puts the heads (tensor ranks) fastest, as the attention's
        assertEquals(DeviceMatrix.of(2, 4, 2, 1), sh.devMatrix());
        assertEquals(TensorMap.of(3, 1, 2, 0), sh.inputMaps().get(0));
        assertEquals(TensorMap.of(3, 1, 2, 0), sh.outputMaps().get(0));
        assertTrue(sh.comms().isEmpty());
        OpSharding heads = op.shard("rope", List.of(Q), Strategy.of(new int[] {2, 2, 1, 1}), null, 4);
        assertEquals(DeviceMatrix.of(2, 2, 1, 1), heads.devMatrix());
        assertEquals(List.of(Q), op.outputs("rope", List.of(Q)));
        assertEquals(Strategy.of(new int[] {2, 1, 1, 1}), op.dataParallel(List.of(Q), 8));
        assertEquals(3L * 2 * 8 * 16 * 64, op.forwardFlops(List.of(Q.shape()), List.of(Q.shape())));
        assertEquals(2L * 2 * 2 * 8 * 16 * 64, op.forwardBytes(List.of(Q.shape()), List.of(DType.BFLOAT16),
                List.of(Q.shape()), List.of(DType.BFLOAT16)));
        assertTrue(op.differentiableInput(0));
        assertTrue(op.differentiableOutput(0));
        assertEquals(List.of(), op.gradientReads(0), "no saved tensor: the backward rotates back by position");
        assertEquals(List.of(Strategy.of(new int[] {1, 2, 4, 1})), op.searchCandidates(List.of(List.of(
                new int[] {1, 2, 4, 1}, new int[] {1, 1, 1, 2}))));
    }

    @Test
    void splittingHeadDimIsAOneLineErrorNamingTheOpTheDimAndTheFix() {
        String m = rejected(() -> Rope.of().shard("layers.0.q_rope", List.of(Q), Strategy.of(new int[] {1, 1, 1, 2}),
                null, 2), "RotaryPositionEmbedding 'layers.0.q_rope'", "dim 3 is split 2 ways", "head_dim",
                "split batch (dim 0), heads (dim 1) or sequence (dim 2) instead", "set it to 1");
        assertFalse(m.contains("\n"), m);
    }

    @Test
    void rejectsWhatItCannotRotate() {
        rejected(() -> Rope.of().outputs("r", List.of(TensorType.of(DType.FLOAT32, 8, 4))),
                "RotaryPositionEmbedding 'r'", "expected 4 [batch, heads, seq, head_dim]");
        rejected(() -> Rope.of().outputs("r", List.of(TensorType.of(DType.FLOAT32, 1, 2, 4, 5))),
                "RotaryPositionEmbedding 'r'", "head_dim 5, which is odd");
        rejected(() -> Rope.of().outputs("r", List.of(TensorType.of(DType.INT32, 1, 2, 4, 4))),
                "RotaryPositionEmbedding 'r'", "expected a floating dtype");
        rejected(() -> Rope.of().shard("r", List.of(Q), Strategy.of(new int[] {1, 1, 1, 1}),
                Strategy.of(new int[] {1, 1, 1, 1}), 1), "RotaryPositionEmbedding 'r'", "out_strategy");
        assertTrue(assertThrows(IllegalArgumentException.class, () -> Rope.of(0)).getMessage()
                .startsWith("RotaryPositionEmbedding: theta is 0.0; expected a positive finite base"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> new Rope.Llama3Scaling(8, 4, 1, 8192))
                .getMessage().contains("expected 0 < low_freq_factor < high_freq_factor"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> new Rope.Llama3Scaling(0.5, 1, 4, 8192))
                .getMessage().contains("factor is 0.5; expected a finite number >= 1"));
    }

    @Test
    void attributesRoundTripWithAndWithoutLlama3Scaling() throws Exception {
        Rope plain = Rope.of(500000);
        assertEquals("{\"theta\":500000.0,\"rope_scaling\":null}", plain.encodeAttrs().toString());
        assertEquals(plain, OperatorKind.ROPE.decode("RotaryPositionEmbedding", new OpAttrs("t",
                plain.encodeAttrs())));
        assertEquals(Rope.of(), OperatorKind.ROPE.decode("RotaryPositionEmbedding", new OpAttrs("t",
                OpAttrs.object())));
        Rope llama = new Rope(500000, new Rope.Llama3Scaling(8, 1, 4, 8192));
        assertEquals("{\"theta\":500000.0,\"rope_scaling\":{\"rope_type\":\"llama3\",\"factor\":8.0,"
                + "\"low_freq_factor\":1.0,\"high_freq_factor\":4.0,\"original_max_position_embeddings\":8192}}",
                llama.encodeAttrs().toString());
        assertEquals(llama, OperatorKind.ROPE.decode("RotaryPositionEmbedding", new OpAttrs("t",
                llama.encodeAttrs())));
        // Hugging Face's rope_scaling of Llama 3.1, pasted as it is in config.json
        ObjectNode hf = (ObjectNode) new ObjectMapper().readTree("{\"theta\": 500000, \"rope_scaling\": {\"factor\":"
                + " 8.0, \"low_freq_factor\": 1.0, \"high_freq_factor\": 4.0, \"original_max_position_embeddings\":"
                + " 8192, \"rope_type\": \"llama3\"}}");
        assertEquals(llama, OperatorKind.ROPE.decode("RotaryPositionEmbedding", new OpAttrs("t", hf)));
        assertEquals(OperatorKind.ROPE, OperatorKind.forType("RotaryPositionEmbedding"));
    }

    @Test
    void loadBalanceIsWrittenOnlyWhenSetAndMustCutTheSequenceInto2cChunks() {
        Rope lb = Rope.of(500000).withLoadBalance(2);
        assertEquals("{\"theta\":500000.0,\"rope_scaling\":null,\"load_balance\":2}", lb.encodeAttrs().toString());
        assertEquals(lb, OperatorKind.ROPE.decode("RotaryPositionEmbedding", new OpAttrs("t", lb.encodeAttrs())));
        assertEquals(1, Rope.of().loadBalance());
        TensorType x = TensorType.of(DType.FLOAT32, 2, 4, 12, 8);
        assertEquals(List.of(x), Rope.of().withLoadBalance(3).outputs("rope", List.of(x)));
        OpTests.rejected(() -> Rope.of().withLoadBalance(4).outputs("rope", List.of(x)),
                "RotaryPositionEmbedding 'rope'", "sequence length 12", "2 x load_balance = 8 chunks do not divide",
                "2c dividing 12");
        assertThrows(IllegalArgumentException.class, () -> Rope.of().withLoadBalance(0));
    }

    @Test
    void badRopeScalingIsAnErrorNamingTheKey() throws Exception {
        ObjectMapper m = new ObjectMapper();
        String missing = assertThrows(IllegalArgumentException.class, () -> OperatorKind.ROPE.decode(
                "RotaryPositionEmbedding", new OpAttrs("ops[2] ('q_rope')", (ObjectNode) m.readTree(
                        "{\"rope_scaling\": {\"factor\": 8}}")))).getMessage();
        assertTrue(missing.contains("ops[2] ('q_rope'): attribute 'rope_scaling': attribute 'low_freq_factor' is"
                + " missing"), missing);
        String unknown = assertThrows(IllegalArgumentException.class, () -> OperatorKind.ROPE.decode(
                "RotaryPositionEmbedding", new OpAttrs("t", (ObjectNode) m.readTree(
                        "{\"rope_scaling\": {\"type\": \"linear\"}}")))).getMessage();
        assertTrue(unknown.contains("attribute 'rope_scaling' has unknown key 'type'; valid keys: rope_type, factor"),
                unknown);
        String type = assertThrows(IllegalArgumentException.class, () -> OperatorKind.ROPE.decode(
                "RotaryPositionEmbedding", new OpAttrs("t", (ObjectNode) m.readTree("{\"rope_scaling\": {\"rope_type\":"
                        + " \"yarn\", \"factor\": 8, \"low_freq_factor\": 1, \"high_freq_factor\": 4,"
                        + " \"original_max_position_embeddings\": 8192}}")))).getMessage();
        assertTrue(type.contains("rope_scaling key 'low_freq_factor' does not belong to rope_type 'yarn'"), type);
        String notObject = assertThrows(IllegalArgumentException.class, () -> OperatorKind.ROPE.decode(
                "RotaryPositionEmbedding", new OpAttrs("t", (ObjectNode) m.readTree("{\"rope_scaling\": 8}"))))
                .getMessage();
        assertTrue(notObject.contains("attribute 'rope_scaling' is 8; expected null or an object"), notObject);
    }
}
