package nomadmirage.driver;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.util.HexFormat;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

/**
 * The handle's {@code driver_state} as Nomad keeps it: the encoded {@link DriverState} and an
 * HMAC-SHA256 over it under the node's key ({@link nomadmirage.state.NodeKey}), bound to the task id
 * the handle is for. Version {@value #VERSION}, a JSON object:
 * <pre>
 *   {"version": 3, "state": "&lt;the state's JSON, as a string&gt;", "mac": "&lt;64 hex digits&gt;"}
 * </pre>
 * The MAC covers {@code "nomad-driver-mirage driver state v3\0"}, the task id (length-prefixed)
 * and the exact bytes of the state; the state is decoded only after its MAC matched, so a handle that
 * was forged, modified, replayed for another task or issued on another node is refused before any of
 * it is believed.
 */
public final class DriverStateSeal {
    public static final int VERSION = 3;
    /** Far more than any state (a task id and a few devices); a larger handle is refused unread. */
    static final int MAX_BYTES = 64 * 1024;
    private static final String ALGORITHM = "HmacSHA256";
    private static final byte[] DOMAIN = "nomad-driver-mirage driver state v3\0".getBytes(StandardCharsets.US_ASCII);
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String FAILED = "the task handle's driver state failed authentication";

    private final SecretKeySpec key;
    /** Keyed once: choosing the provider and keying a Mac cost a quarter of a StartTask's CPU; clones are cheap. */
    private final Mac keyed;

    public DriverStateSeal(byte[] key) {
        if (key.length < 32) {
            throw new IllegalArgumentException("a driver-state key has at least 32 bytes");
        }
        this.key = new SecretKeySpec(key, ALGORITHM);
        this.keyed = newMac();
    }

    private Mac newMac() {
        try {
            Mac mac = Mac.getInstance(ALGORITHM);
            mac.init(key);
            return mac;
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("HmacSHA256 is part of every Java runtime", e);
        }
    }

    private Mac freshMac() {
        try {
            synchronized (keyed) {
                return (Mac) keyed.clone();
            }
        } catch (CloneNotSupportedException e) {
            return newMac();
        }
    }

    /** The handle's driver state for {@code state}. */
    public byte[] seal(DriverState state) {
        String encoded = new String(state.encode(), StandardCharsets.UTF_8);
        ObjectNode envelope = JSON.createObjectNode()
                .put("version", VERSION)
                .put("state", encoded)
                .put("mac", HexFormat.of().formatHex(mac(state.taskId(), encoded.getBytes(StandardCharsets.UTF_8))));
        try {
            return JSON.writeValueAsBytes(envelope);
        } catch (IOException e) {
            throw new IllegalStateException("the sealed driver state is always serialisable", e);
        }
    }

    /**
     * The state in a handle Nomad handed back for task {@code id}, once its MAC matched; the message of
     * a refusal says why, and nothing of the state is used before.
     */
    public DriverState open(TaskId id, byte[] handle) throws InvalidTaskException {
        if (handle.length == 0) {
            throw new InvalidTaskException("the task handle carries no mirage driver state");
        }
        if (handle.length > MAX_BYTES) {
            throw new InvalidTaskException(FAILED + ": it is " + handle.length + " bytes, more than a state can be");
        }
        JsonNode envelope;
        try {
            envelope = JSON.readTree(handle);
        } catch (IOException e) {
            throw new InvalidTaskException(FAILED + ": it is not readable", e);
        }
        if (envelope == null || !envelope.isObject()) {
            throw new InvalidTaskException(FAILED + ": it is not a JSON object");
        }
        JsonNode version = envelope.get("version");
        if (version == null || !version.isInt() || version.intValue() != VERSION) {
            throw new InvalidTaskException(FAILED + ": it has version " + (version == null ? "(none)" : version)
                    + ", not the sealed version " + VERSION + " this plugin issues (a state from an older plugin, "
                    + "or a forged one)");
        }
        JsonNode state = envelope.get("state");
        JsonNode mac = envelope.get("mac");
        if (mac == null || !mac.isTextual() || state == null || !state.isTextual()) {
            throw new InvalidTaskException(FAILED + ": it carries no MAC over a state (an unsigned or forged state)");
        }
        byte[] given;
        try {
            given = HexFormat.of().parseHex(mac.textValue());
        } catch (IllegalArgumentException e) {
            throw new InvalidTaskException(FAILED + ": its MAC is not hexadecimal");
        }
        byte[] stateBytes = state.textValue().getBytes(StandardCharsets.UTF_8);
        if (!MessageDigest.isEqual(given, mac(id.value(), stateBytes))) {
            throw new InvalidTaskException(FAILED + ": its MAC does not match for task " + id + " (the state was "
                    + "modified, belongs to another task, or was not issued by the mirage driver on this node)");
        }
        DriverState decoded = DriverState.decode(stateBytes);
        if (!decoded.taskId().equals(id.value())) {
            // Cannot happen with a matching MAC (it covers the id), kept as a second lock.
            throw new InvalidTaskException(FAILED + ": it belongs to task " + decoded.taskId() + ", not " + id);
        }
        return decoded;
    }

    private byte[] mac(String taskId, byte[] state) {
        Mac mac = freshMac();
        mac.update(DOMAIN);
        byte[] id = taskId.getBytes(StandardCharsets.UTF_8);
        mac.update(ByteBuffer.allocate(Integer.BYTES).putInt(id.length).array());
        mac.update(id);
        mac.update(state);
        return mac.doFinal();
    }
}
