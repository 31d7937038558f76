package nomadmirage.network;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.List;
import org.junit.jupiter.api.Test;

class NftForwardsTest {
    /** What nft 1.0.6 prints for both maps (captured on this machine). */
    private static final String LOCAL = "{\"nftables\": [{\"metainfo\": {\"version\": \"1.0.6\"}}, {\"map\": {\"family\": "
            + "\"ip\", \"name\": \"fwd_local\", \"table\": \"nomad_mirage\", \"elem\": [[{\"concat\": [\"udp\", 20080]}, "
            + "{\"concat\": [\"10.99.0.2\", 7]}], [{\"concat\": [\"tcp\", 8080]}, {\"concat\": [\"10.99.0.3\", 80]}]]}}]}";
    private static final String ADDR = "{\"nftables\": [{\"map\": {\"name\": \"fwd_addr\", \"elem\": [[{\"concat\": "
            + "[\"192.168.50.1\", \"tcp\", 20081]}, {\"concat\": [\"10.99.0.2\", 7]}]]}}]}";

    @Test
    void listedElementsAreParsed() throws Exception {
        assertEquals(List.of(new MapForward("", "udp", 20080, "10.99.0.2", 7), new MapForward("", "tcp", 8080, "10.99.0.3", 80)),
                NftForwards.parse("fwd_local", LOCAL));
        assertEquals(List.of(new MapForward("192.168.50.1", "tcp", 20081, "10.99.0.2", 7)),
                NftForwards.parse("fwd_addr", ADDR));
        assertThrows(NetworkSetupException.class, () -> NftForwards.parse("fwd_addr", LOCAL));
    }

    @Test
    void batchesNameEachElementByItsMap() {
        List<MapForward> f = List.of(new MapForward("", "udp", 20080, "10.99.0.2", 7),
                new MapForward("192.168.50.1", "tcp", 20081, "10.99.0.2", 7));
        assertEquals("add element ip nomad_mirage fwd_local { udp . 20080 : 10.99.0.2 . 7 }\n"
                + "add element ip nomad_mirage fwd_addr { 192.168.50.1 . tcp . 20081 : 10.99.0.2 . 7 }\n",
                NftForwards.batch("add", f, true));
        assertEquals("delete element ip nomad_mirage fwd_local { udp . 20080 }\n"
                + "delete element ip nomad_mirage fwd_addr { 192.168.50.1 . tcp . 20081 }\n",
                NftForwards.batch("delete", f, false));
    }
}
