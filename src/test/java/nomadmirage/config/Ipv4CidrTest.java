package nomadmirage.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import org.junit.jupiter.api.Test;

class Ipv4CidrTest {
    @Test
    void dottedQuadsParseToTheirValue() {
        assertEquals(0x0A630001, Ipv4Cidr.parseAddress("10.99.0.1"));
        assertEquals(0, Ipv4Cidr.parseAddress("0.0.0.0"));
        assertEquals(0xFFFFFFFF, Ipv4Cidr.parseAddress("255.255.255.255"));
        assertEquals(0x01020304, Ipv4Cidr.parseAddress("001.02.3.4"));
    }

    @Test
    void anythingElseIsNoAddress() {
        for (String bad : new String[] {"", "1", "1.2.3", "1.2.3.4.5", "1.2.3.", ".1.2.3", "1..2.3", "1.2.3.256",
                "1.2.3.0004", "1.2.3.4 ", " 1.2.3.4", "1.2.3.-4", "1.2.3.+4", "1.2.3.a", "::1",
                "\u0661.\u0662.\u0663.\u0664" /* Arabic-Indic digits, which Character.isDigit accepts */}) {
            assertNull(Ipv4Cidr.parseAddress(bad), bad);
        }
    }

    @Test
    void aCidrNeedsItsNetworkAddress() {
        assertEquals(new Ipv4Cidr(0x0A630000, 16), Ipv4Cidr.parse("10.99.0.0/16"));
        assertNull(Ipv4Cidr.parse("10.99.0.1/16"));
        assertNull(Ipv4Cidr.parse("10.99.0.0/33"));
        assertNull(Ipv4Cidr.parse("10.99.0.0"));
    }
}
