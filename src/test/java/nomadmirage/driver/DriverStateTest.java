package nomadmirage.driver;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.Test;

class DriverStateTest {
    private static DriverState sample() {
        return new DriverState(1, "alloc/web/abc", "alloc", "web", "QEMU", "/var/lib/m/tasks/x", "/k",
                List.of("/usr/bin/qemu", "-kernel", "/k"), 1_700_000_000_123_456_789L, "/t/.mirage/qmp.sock", 32,
                List.of("storage:BLOCK_BASIC"), List.of(), null, false);
    }

    @Test
    void roundTripsThroughItsEncoding() throws Exception {
        assertEquals(sample(), DriverState.decode(sample().encode()));
    }

    @Test
    void theEncodingIsReadableJsonWithSnakeCaseKeys() {
        String json = new String(sample().encode(), StandardCharsets.UTF_8);
        assertTrue(json.contains("\"run_dir\":\"/var/lib/m/tasks/x\""), json);
        assertTrue(json.contains("\"version\":1"), json);
    }

    @Test
    void unknownVersionsAndGarbageAreRefusedWithAReason() {
        String future = new String(sample().encode(), StandardCharsets.UTF_8).replace("\"version\":1", "\"version\":7");
        InvalidTaskException e = assertThrows(InvalidTaskException.class,
                () -> DriverState.decode(future.getBytes(StandardCharsets.UTF_8)));
        assertTrue(e.getMessage().contains("version 7"), e.getMessage());
        assertThrows(InvalidTaskException.class, () -> DriverState.decode(new byte[0]));
        assertThrows(InvalidTaskException.class, () -> DriverState.decode("{not json".getBytes(StandardCharsets.UTF_8)));
        assertThrows(InvalidTaskException.class, () -> DriverState.decode("{\"version\":1}".getBytes(StandardCharsets.UTF_8)));
    }
}
