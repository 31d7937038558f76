package nomadmirage.driver;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;
import nomadmirage.network.DeviceAttachment;
import nomadmirage.tender.TenderKind;
import org.junit.jupiter.api.Test;

class DriverStateSealTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final TaskId ID = new TaskId("alloc/web/abc");
    private static final DriverStateSeal SEAL = new DriverStateSeal(key(1));

    private static byte[] key(int fill) {
        byte[] key = new byte[32];
        Arrays.fill(key, (byte) fill);
        return key;
    }

    private static DriverState state(String id) {
        return new DriverState(DriverState.CURRENT_VERSION, new DriverState.Task(id, "alloc", "web"),
                TenderKind.SOLO5_HVT, 1_700_000_000_123_456_789L, new DriverState.Network(List.of(new DeviceAttachment(
                        "service", "mgfake", "00:80:41:00:00:01", "10.99.0.2", 16, "10.99.0.1", List.of())), false));
    }

    private static String refusal(TaskId id, byte[] handle) {
        return assertThrows(InvalidTaskException.class, () -> SEAL.open(id, handle)).getMessage();
    }

    private static void assertAuthenticationFailure(String message) {
        assertTrue(message.startsWith("the task handle's driver state failed authentication"), message);
    }

    @Test
    void aSealedStateOpensToTheSameStateForItsTask() throws Exception {
        byte[] handle = SEAL.seal(state(ID.value()));
        assertEquals(state(ID.value()), SEAL.open(ID, handle));
        var envelope = JSON.readTree(handle);
        assertEquals(3, envelope.get("version").intValue());
        assertEquals(64, envelope.get("mac").textValue().length());
        assertEquals(state(ID.value()), DriverState.decode(envelope.get("state").textValue()
                .getBytes(StandardCharsets.UTF_8)), "the state stays readable inside the envelope");
    }

    @Test
    void everyTamperedByteIsRefused() {
        byte[] handle = SEAL.seal(state(ID.value()));
        for (int i = 0; i < handle.length; i++) {
            byte[] tampered = handle.clone();
            tampered[i] ^= 0x01;
            int at = i;
            InvalidTaskException e = assertThrows(InvalidTaskException.class, () -> SEAL.open(ID, tampered),
                    () -> "byte " + at + " flipped: " + new String(tampered, StandardCharsets.UTF_8));
            assertTrue(e.getMessage().contains("driver state"), e.getMessage());
        }
    }

    @Test
    void aModifiedStateWithItsOriginalMacIsRefused() throws Exception {
        ObjectNode envelope = (ObjectNode) JSON.readTree(SEAL.seal(state(ID.value())));
        String modified = envelope.get("state").textValue().replace("10.99.0.2", "10.99.0.3");
        envelope.put("state", modified);
        String message = refusal(ID, JSON.writeValueAsBytes(envelope));
        assertAuthenticationFailure(message);
        assertTrue(message.contains("MAC does not match"), message);
    }

    @Test
    void aStateSealedUnderAnotherKeyIsRefused() {
        byte[] foreign = new DriverStateSeal(key(2)).seal(state(ID.value()));
        assertAuthenticationFailure(refusal(ID, foreign));
    }

    @Test
    void anUnsignedStateIsRefusedBeforeItIsRead() throws Exception {
        // What the plugin records in task.json, and what a v2 handle carried: a state without a MAC.
        assertAuthenticationFailure(refusal(ID, state(ID.value()).encode()));
        ObjectNode envelope = (ObjectNode) JSON.readTree(SEAL.seal(state(ID.value())));
        envelope.remove("mac");
        String message = refusal(ID, JSON.writeValueAsBytes(envelope));
        assertAuthenticationFailure(message);
        assertTrue(message.contains("no MAC"), message);
        envelope.put("mac", "not hex");
        assertAuthenticationFailure(refusal(ID, JSON.writeValueAsBytes(envelope)));
        envelope.put("mac", "");
        assertAuthenticationFailure(refusal(ID, JSON.writeValueAsBytes(envelope)));
        String v2 = new String(state(ID.value()).encode(), StandardCharsets.UTF_8).replace("\"version\":3", "\"version\":2");
        String old = refusal(ID, v2.getBytes(StandardCharsets.UTF_8));
        assertAuthenticationFailure(old);
        assertTrue(old.contains("version 2"), old);
    }

    @Test
    void theSealedStateOfAnotherTaskIsRefusedForThisOne() {
        TaskId other = new TaskId("alloc/db/def");
        byte[] othersHandle = SEAL.seal(state(other.value()));
        assertEquals(other.value(), assertDoesNotThrow(other, othersHandle).taskId());
        String message = refusal(ID, othersHandle);
        assertAuthenticationFailure(message);
        assertTrue(message.contains("for task " + ID), message);
    }

    @Test
    void garbageAndOversizedHandlesAreRefused() {
        assertTrue(refusal(ID, new byte[0]).contains("no mirage driver state"));
        assertAuthenticationFailure(refusal(ID, "{not json".getBytes(StandardCharsets.UTF_8)));
        assertAuthenticationFailure(refusal(ID, "[]".getBytes(StandardCharsets.UTF_8)));
        assertAuthenticationFailure(refusal(ID, new byte[DriverStateSeal.MAX_BYTES + 1]));
    }

    private static DriverState assertDoesNotThrow(TaskId id, byte[] handle) {
        try {
            return SEAL.open(id, handle);
        } catch (InvalidTaskException e) {
            throw new AssertionError(e);
        }
    }
}
