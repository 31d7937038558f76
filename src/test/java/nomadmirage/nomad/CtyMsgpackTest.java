package nomadmirage.nomad;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.lang.management.ManagementFactory;
import java.math.BigDecimal;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Random;
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

    // --- hostile input: Nomad's bytes are job-controlled, and the plugin's heap is 160 MiB ---

    /** The 303-byte input that ended the plugin: {x: 60 nested arrays each declaring 1,048,576 elements}. */
    static byte[] nestedDeclaredArrays() {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.writeBytes(hex("81 a1 78"));
        for (int i = 0; i < 60; i++) {
            out.writeBytes(hex("dd 00 10 00 00"));
        }
        return out.toByteArray();
    }

    static List<byte[]> hostileInputs() {
        return List.of(
                hex("81 a1 78 c6 7f ff ff ff"),        // 8 bytes: {x: bin32 of 2 GiB}
                hex("81 a1 78 db 7f ff ff f0"),        // {x: str32 of 2 GiB}
                hex("81 a1 78 c6 08 00 00 00"),        // {x: bin32 of 128 MiB}
                hex("81 a1 78 c9 40 00 00 00 05"),     // {x: ext32 of 1 GiB}
                hex("81 a1 78 92 c6 7f ff ff ff c0"),  // a dynamic wrapper declaring a 2 GiB type
                hex("df 00 10 00 00 a1 78 c0"),        // map32 declaring 1,048,576 entries
                hex("dd 00 10 00 00 c0"),              // array32 declaring 1,048,576 elements
                nestedDeclaredArrays());
    }

    private static long allocatedBytes() {
        return ((com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean()).getCurrentThreadAllocatedBytes();
    }

    /** Decodes, allowing only success or CtyDecodeException, and returns the bytes the decode allocated. */
    private static long decodeAllocating(byte[] input) {
        long before = allocatedBytes();
        try {
            CtyMsgpack.decodeObject(input);
        } catch (CtyDecodeException expected) {
            // fine: refused with a message
        }
        return allocatedBytes() - before;
    }

    /** Generous: a decoded value costs a few dozen bytes per input byte, plus the decoder's own buffers. */
    private static long allowance(byte[] input) {
        return (1L << 20) + 128L * input.length;
    }

    @Test
    void declaredLengthsAreCheckedAgainstTheInputBeforeAnythingIsAllocated() {
        for (byte[] input : hostileInputs()) {
            String name = HexFormat.of().formatHex(input, 0, Math.min(input.length, 12));
            assertThrows(CtyDecodeException.class, () -> CtyMsgpack.decodeObject(input), name);
            long allocated = decodeAllocating(input);
            assertTrue(allocated < allowance(input), name + " (" + input.length + " bytes) allocated " + allocated);
        }
    }

    @Test
    void nestingDeeperThanTheLimitIsRefusedNotAStackOverflow() {
        byte[] deep = new byte[100_000];
        java.util.Arrays.fill(deep, (byte) 0x91); // [[[[...
        CtyDecodeException e = assertThrows(CtyDecodeException.class, () -> CtyMsgpack.decodeObject(deep));
        assertTrue(e.getMessage().contains("nested deeper"), e.getMessage());
    }

    /** Random and mutated inputs: each decodes or is refused with CtyDecodeException, within the allowance. */
    @Test
    void fuzzedInputsDecodeOrAreRefusedWithinBoundedMemory() {
        List<byte[]> seeds = new ArrayList<>(hostileInputs());
        seeds.add(hex("84 a4 61 72 67 73 91 b2 2d 2d 69 70 76 34 3d 31 30 2e 30 2e 30 2e 32 2f 32 34"
                + " a6 6d 65 6d 6f 72 79 40 a8 70 6f 72 74 5f 6d 61 70 91 81 a4 68 74 74 70 cd 1f 90"
                + " a9 75 6e 69 6b 65 72 6e 65 6c ad 6c 6f 63 61 6c 2f 61 70 70 2e 68 76 74"));
        seeds.add(hex("85 a1 61 cb 3f e0 00 00 00 00 00 00 a1 62 a3 30 2e 31 a1 63 d0 df a1 64 ce 00 01 11 70 a1 65 c3"));
        seeds.add(hex("81 a1 78 92 c4 08 22 73 74 72 69 6e 67 22 a2 68 69"));
        Random random = new Random(20240611L);
        byte[] lengthBytes = hex("c4 c5 c6 d9 da db dc dd de df c7 c8 c9 7f ff 00 10 80 90");
        for (int round = 0; round < 5000; round++) {
            byte[] input;
            if (round % 4 == 0) {
                input = new byte[1 + random.nextInt(64)];
                random.nextBytes(input);
            } else {
                byte[] seed = seeds.get(random.nextInt(seeds.size()));
                input = seed.clone();
                int edits = 1 + random.nextInt(4);
                for (int e = 0; e < edits; e++) {
                    int at = random.nextInt(input.length);
                    input[at] = random.nextBoolean() ? (byte) random.nextInt(256)
                            : lengthBytes[random.nextInt(lengthBytes.length)];
                }
            }
            byte[] fuzzed = input;
            long allocated;
            try {
                allocated = decodeAllocating(fuzzed);
            } catch (RuntimeException | Error e) {
                throw new AssertionError("round " + round + ", input " + HexFormat.of().formatHex(fuzzed) + ": " + e, e);
            }
            assertTrue(allocated < allowance(fuzzed),
                    "round " + round + ", input " + HexFormat.of().formatHex(fuzzed) + " allocated " + allocated);
        }
    }
}
