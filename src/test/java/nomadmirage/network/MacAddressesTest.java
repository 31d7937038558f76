package nomadmirage.network;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.HashSet;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class MacAddressesTest {
    @Test
    void derivedMacKeepsTheOuiAndIsDeterministic() {
        String mac = MacAddresses.derive("00:80:41", "alloc/web/1", "service");
        assertTrue(mac.matches("00:80:41(:[0-9a-f]{2}){3}"), mac);
        assertEquals(mac, MacAddresses.derive("00:80:41", "alloc/web/1", "service"));
        assertEquals(mac, MacAddresses.derive("00:80:41", "alloc/web/1", "service", 0));
        assertNotEquals(mac, MacAddresses.derive("00:80:41", "alloc/web/1", "service", 1));
        assertNotEquals(mac, MacAddresses.derive("00:80:41", "alloc/web/1", "admin"));
    }

    @Test
    void derivedMacsAreUnicastAndMostlyDistinct() {
        Set<String> macs = new HashSet<>();
        for (int i = 0; i < 1000; i++) {
            String mac = MacAddresses.derive("02:00:00", "task-" + i, "service");
            assertEquals(0, Integer.parseInt(mac.substring(0, 2), 16) & 1);
            macs.add(mac);
        }
        assertTrue(macs.size() >= 995, "24 hash bits: at most a handful of collisions in 1000, got " + (1000 - macs.size()));
    }

    @Test
    void ouiMustBeThreeUnicastOctets() {
        assertThrows(IllegalArgumentException.class, () -> MacAddresses.parseOui("00:80"));
        assertThrows(IllegalArgumentException.class, () -> MacAddresses.parseOui("zz:80:41"));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> MacAddresses.parseOui("01:00:5e"));
        assertTrue(e.getMessage().contains("multicast"), e.getMessage());
    }

    @Test
    void jobMacIsNormalised() throws Exception {
        assertEquals("02:ab:cd:ef:00:11", MacAddresses.parse("service", "02:AB:cd:EF:00:11"));
    }

    @ParameterizedTest
    @ValueSource(strings = {"", "02:00:00:00:00", "02:00:00:00:00:00:00", "02-00-00-00-00-01", "02:00:00:00:00:0g",
            "2:00:00:00:00:01", "02:00:00:00:00:001"})
    void malformedMacIsRefusedNamingTheField(String text) {
        InvalidNetworkRequestException e = assertThrows(InvalidNetworkRequestException.class,
                () -> MacAddresses.parse("service", text));
        assertEquals("mac", e.field());
        assertEquals("service", e.device());
        assertTrue(e.getMessage().startsWith("network device \"service\": mac \"" + text + "\": expected six hex octets"),
                e.getMessage());
    }

    @ParameterizedTest
    @ValueSource(strings = {"ff:ff:ff:ff:ff:ff", "01:00:5e:00:00:01", "33:33:00:00:00:01"})
    void multicastAndBroadcastAreRefused(String text) {
        InvalidNetworkRequestException e = assertThrows(InvalidNetworkRequestException.class,
                () -> MacAddresses.parse("service", text));
        assertTrue(e.getMessage().contains("multicast and broadcast"), e.getMessage());
    }

    @Test
    void zeroIsRefused() {
        InvalidNetworkRequestException e = assertThrows(InvalidNetworkRequestException.class,
                () -> MacAddresses.parse("admin", "00:00:00:00:00:00"));
        assertTrue(e.getMessage().contains("all-zero"), e.getMessage());
        assertEquals("admin", e.device());
    }
}
