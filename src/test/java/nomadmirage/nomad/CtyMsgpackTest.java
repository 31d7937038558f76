package nomadmirage.nomad;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.math.BigDecimal;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Byte fixtures follow go-cty's msgpack encoding of hcldec objects (keys sorted, nulls present). */
class CtyMsgpackTest {
    private static byte[] hex(String text) {
        return HexFormat.of().parseHex(text.replace(" ", ""));
    }

    @Test
    void decodesTheWorkedExampleObject() throws Exception {
        byte[] bytes = hex("84 a4 61 72 67 73 91 b2 2d 2d 69 70 76 34 3d 31 30 2e 30 2e 30 2e 32 2f 32 34"
                + " a6 6d 65 6d 6f 72 79 40"
                + " a8 70 6f 72 74 5f 6d 61 70 91 81 a4 68 74 74 70 cd 1f 90"
                + " a9 75 6e 69 6b 65 72 6e 65 6c ad 6c 6f 63 61 6c 2f 61 70 70 2e 68 76 74");
        Map<String, Object> config = CtyMsgpack.decodeObject(bytes);
        assertEquals(List.of("--ipv4=10.0.0.2/24"), config.get("args"));
        assertEquals(64L, config.get("memory"));
        assertEquals(List.of(Map.of("http", 8080L)), config.get("port_map"));
        assertEquals("local/app.hvt", config.get("unikernel"));
    }

    @Test
    void absentAttributesAreNull() throws Exception {
        byte[] bytes = hex("84 a4 61 72 67 73 c0 a6 6d 65 6d 6f 72 79 c0 a8 70 6f 72 74 5f 6d 61 70 c0"
                + " a9 75 6e 69 6b 65 72 6e 65 6c ad 6c 6f 63 61 6c 2f 61 70 70 2e 68 76 74");
        Map<String, Object> config = CtyMsgpack.decodeObject(bytes);
        assertTrue(config.containsKey("args"));
        assertNull(config.get("args"));
        assertEquals("local/app.hvt", config.get("unikernel"));
    }

    @Test
    void decodesEveryNumberForm() throws Exception {
        // {a: 0.5 (float64), b: "0.1" (decimal string), c: -33 (int8), d: 70000 (uint32), e: true}
        byte[] bytes = hex("85 a1 61 cb 3f e0 00 00 00 00 00 00 a1 62 a3 30 2e 31 a1 63 d0 df"
                + " a1 64 ce 00 01 11 70 a1 65 c3");
        Map<String, Object> config = CtyMsgpack.decodeObject(bytes);
        assertEquals(new BigDecimal("0.5"), config.get("a"));
        assertEquals("0.1", config.get("b"));
        assertEquals(-33L, config.get("c"));
        assertEquals(70000L, config.get("d"));
        assertEquals(true, config.get("e"));
    }

    @Test
    void unwrapsTheDynamicTypeWrapper() throws Exception {
        // {x: [bin("\"string\""), "hi"]}
        byte[] bytes = hex("81 a1 78 92 c4 08 22 73 74 72 69 6e 67 22 a2 68 69");
        assertEquals("hi", CtyMsgpack.decodeObject(bytes).get("x"));
    }

    @Test
    void emptyBytesAreAnEmptyObject() throws Exception {
        assertEquals(Map.of(), CtyMsgpack.decodeObject(new byte[0]));
        assertEquals(Map.of(), CtyMsgpack.decodeObject(hex("80")));
    }

    @Test
    void unknownValuesAndGarbageAreClearErrors() {
        CtyDecodeException unknown = assertThrows(CtyDecodeException.class,
                () -> CtyMsgpack.decodeObject(hex("81 a1 78 d4 00 00")));
        assertTrue(unknown.getMessage().contains("unknown value"), unknown.getMessage());
        assertThrows(CtyDecodeException.class, () -> CtyMsgpack.decodeObject(hex("92 01 02")));
        assertThrows(CtyDecodeException.class, () -> CtyMsgpack.decodeObject(hex("85 a1")));
        assertThrows(CtyDecodeException.class, () -> CtyMsgpack.decodeObject(hex("80 80")));
        assertThrows(CtyDecodeException.class, () -> CtyMsgpack.decodeObject(hex("df 7f ff ff ff")));
    }
}
