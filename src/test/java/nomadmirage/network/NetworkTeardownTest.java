package nomadmirage.network;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The teardown and attachment records travel inside the task's persisted driver state. */
class NetworkTeardownTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @Test
    void teardownRoundTripsWithSnakeCaseNames() throws Exception {
        NetworkTeardown teardown = new NetworkTeardown("alloc/web/1", List.of("mgaaaaaaaaaaaaa"), List.of("10.99.0.2"));
        String json = JSON.writeValueAsString(teardown);
        assertEquals("{\"task_id\":\"alloc/web/1\",\"taps\":[\"mgaaaaaaaaaaaaa\"],\"ips\":[\"10.99.0.2\"]}", json);
        assertEquals(teardown, JSON.readValue(json, NetworkTeardown.class));
    }

    @Test
    void missingListsReadAsEmpty() throws Exception {
        assertEquals(new NetworkTeardown("t", List.of(), List.of()),
                JSON.readValue("{\"task_id\":\"t\"}", NetworkTeardown.class));
    }

    @Test
    void deviceAttachmentRoundTrips() throws Exception {
        DeviceAttachment device = new DeviceAttachment("service", "mgaaaaaaaaaaaaa", "00:80:41:01:02:03", "10.99.0.2", 16,
                "10.99.0.1", List.of(new PortForward("http", 8080, 80, "")));
        String json = JSON.writeValueAsString(device);
        assertEquals("{\"device\":\"service\",\"tap\":\"mgaaaaaaaaaaaaa\",\"mac\":\"00:80:41:01:02:03\",\"ip\":\"10.99.0.2\","
                + "\"prefix_length\":16,\"gateway\":\"10.99.0.1\",\"forwards\":[{\"label\":\"http\",\"host_port\":8080,"
                + "\"guest_port\":80,\"host_ip\":\"\"}]}", json);
        assertEquals(device, JSON.readValue(json, DeviceAttachment.class));
    }
}
