package nomadmirage.nomad;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Map;
import nomadmirage.driver.DriverState;
import nomadmirage.network.DeviceAttachment;
import nomadmirage.network.PortForward;
import nomadmirage.tender.TenderKind;
import org.junit.jupiter.api.Test;

class NetworkOverrideMapperTest {
    private static DriverState state(String netns) {
        DeviceAttachment device = new DeviceAttachment("service", "mgaaaaaaaaaaaaa", "00:80:41:00:00:01",
                netns.isEmpty() ? "10.99.0.2" : "169.254.1.2", netns.isEmpty() ? 16 : 30,
                netns.isEmpty() ? "10.99.0.1" : "169.254.1.1", List.of(new PortForward("echo", 20000, 7, "")));
        return new DriverState(DriverState.CURRENT_VERSION, new DriverState.Task("a/echo/1", "a", "echo"),
                TenderKind.SOLO5_HVT, 0, new DriverState.Network(List.of(device), true, netns));
    }

    @Test
    void hostModeAdvertisesTheUnikernelsAddressAndPorts() {
        var override = NetworkOverrideMapper.of(state("")).orElseThrow();
        assertEquals("10.99.0.2", override.getAddr());
        assertEquals(Map.of("echo", 7), override.getPortMapMap());
    }

    @Test
    void groupModeAdvertisesNothingTheAddressIsPrivateToTheAllocation() {
        assertTrue(NetworkOverrideMapper.of(state("/var/run/netns/0f1e2d3c")).isEmpty());
        assertEquals(java.util.Optional.of(java.nio.file.Path.of("/var/run/netns/0f1e2d3c")),
                state("/var/run/netns/0f1e2d3c").groupNamespace());
        assertTrue(state("").groupNamespace().isEmpty());
    }
}
