package nomadmirage.driver;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.util.List;
import nomadmirage.network.DeviceAttachment;
import nomadmirage.network.TapNames;
import nomadmirage.tender.TenderKind;
import org.junit.jupiter.api.Test;

class DriverStateTest {
    private static DriverState sample() {
        return new DriverState(DriverState.CURRENT_VERSION, new DriverState.Task("alloc/web/abc", "alloc", "web"),
                TenderKind.QEMU, 1_700_000_000_123_456_789L, new DriverState.Network(List.of(new DeviceAttachment(
                        "service", "mgfake", "00:80:41:00:00:01", "10.99.0.2", 16, "10.99.0.1", List.of())), true));
    }

    @Test
    void roundTripsThroughItsEncoding() throws Exception {
        assertEquals(sample(), DriverState.decode(sample().encode()));
    }

    @Test
    void theEncodingIsReadableJsonWithSnakeCaseKeys() {
        String json = new String(sample().encode(), StandardCharsets.UTF_8);
        assertTrue(json.contains("\"tender\":\"QEMU\""), json);
        assertTrue(json.contains("\"version\":3"), json);
        assertTrue(json.contains("\"auto_advertise\":true"), json);
        assertFalse(json.contains("run_dir") || json.contains("argv") || json.contains("kernel"),
                "paths and display fields stay out of the handle: " + json);
    }

    @Test
    void unknownVersionsAndGarbageAreRefusedWithAReason() {
        String future = new String(sample().encode(), StandardCharsets.UTF_8).replace("\"version\":3", "\"version\":7");
        InvalidTaskException e = assertThrows(InvalidTaskException.class,
                () -> DriverState.decode(future.getBytes(StandardCharsets.UTF_8)));
        assertTrue(e.getMessage().contains("version 7"), e.getMessage());
        assertThrows(InvalidTaskException.class, () -> DriverState.decode(new byte[0]));
        assertThrows(InvalidTaskException.class, () -> DriverState.decode("{not json".getBytes(StandardCharsets.UTF_8)));
        assertThrows(InvalidTaskException.class, () -> DriverState.decode("{\"version\":3}".getBytes(StandardCharsets.UTF_8)));
        assertThrows(InvalidTaskException.class, () -> DriverState.decode(new String(sample().encode(),
                StandardCharsets.UTF_8).replace("QEMU", "ROOTSHELL").getBytes(StandardCharsets.UTF_8)));
    }

    @Test
    void theTeardownNamesOnlyTapsDerivedFromTheTaskIdNeverTheStatesOwn() {
        DriverState state = sample();
        assertEquals(List.of(TapNames.forDevice("alloc/web/abc", "service")), state.networkTeardown().taps());
        assertFalse(state.networkTeardown().taps().contains("mgfake"));
    }
}
