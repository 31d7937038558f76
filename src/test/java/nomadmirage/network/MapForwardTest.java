package nomadmirage.network;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.List;
import org.junit.jupiter.api.Test;

class MapForwardTest {
    @Test
    void eachPortBecomesATcpAndAUdpElementOfTheMapForItsHostAddress() {
        DeviceAttachment device = new DeviceAttachment("service", "mgaaaaaaaaaaaaa", "00:80:41:00:00:02", "10.99.0.2",
                16, "10.99.0.1", List.of(PortForward.anyAddress("http", 8080, 80),
                        new PortForward("dns", 5353, 53, "192.168.50.1")));
        List<MapForward> forwards = MapForward.of(device);
        assertEquals(List.of("tcp . 8080 : 10.99.0.2 . 80", "udp . 8080 : 10.99.0.2 . 80",
                "192.168.50.1 . tcp . 5353 : 10.99.0.2 . 53", "192.168.50.1 . udp . 5353 : 10.99.0.2 . 53"),
                forwards.stream().map(MapForward::element).toList());
        assertEquals(List.of("fwd_local", "fwd_local", "fwd_addr", "fwd_addr"),
                forwards.stream().map(MapForward::map).toList());
    }
}
