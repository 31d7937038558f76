package nomadmirage.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.math.BigDecimal;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.stream.Stream;
import nomadmirage.config.TaskConfig.Accelerator;
import nomadmirage.nomad.CtyMsgpack;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

class TaskConfigParserTest {
    private static Map<String, Object> base() {
        Map<String, Object> raw = new HashMap<>();
        raw.put("unikernel", "local/app.hvt");
        return raw;
    }

    @Test
    void decodesTheBytesNomadSendsForAFullConfig() throws Exception {
        // Keys sorted as cty does: args, block, qemu, tender, unikernel; block/qemu are block lists.
        String hex = "85"
                + "a461726773" + "91a7" + "2d2d68656c6c6f"                     // args: ["--hello"]
                + "a5626c6f636b" + "91" + "85"                                   // block: [ {5 keys} ]
                + "a46e616d65" + "a773746f72616765"                             //   name: "storage"
                + "a470617468" + "ae6c6f63616c2f6469736b2e696d67"               //   path: "local/disk.img"
                + "a9726561645f6f6e6c79" + "c2"                                  //   read_only: false
                + "ab736563746f725f73697a65" + "cd1000"                          //   sector_size: 4096
                + "a473697a65" + "a4344d6942"                                    //   size: "4MiB"
                + "a471656d75" + "90"                                            // qemu: []
                + "a674656e646572" + "c0"                                        // tender: null
                + "a9756e696b65726e656c" + "ad6c6f63616c2f6170702e687674";     // unikernel
        TaskConfig config = TaskConfigParser.parse(CtyMsgpack.decodeObject(HexFormat.of().parseHex(hex)));
        assertEquals("local/app.hvt", config.unikernel());
        assertEquals(List.of("--hello"), config.args());
        assertEquals(Optional.empty(), config.tender());
        assertEquals(1, config.blocks().size());
        var block = config.blocks().getFirst();
        assertEquals("storage", block.name());
        assertEquals("local/disk.img", block.path());
        assertEquals(Optional.of(4L << 20), block.sizeBytes());
        assertEquals(4096, block.sectorSize());
        assertEquals(Accelerator.AUTO, config.qemu().accelerator());
    }

    @Test
    void minimalConfigTakesDefaults() throws Exception {
        TaskConfig config = TaskConfigParser.parse(base());
        assertEquals(List.of(), config.args());
        assertEquals(List.of(), config.blocks());
        assertEquals(TaskConfig.QemuOptions.defaults(), config.qemu());
    }

    @Test
    void numbersMayArriveAsFloatsOrDecimalStrings() throws Exception {
        Map<String, Object> raw = base();
        raw.put("block", List.of(Map.of("name", "d", "path", "x", "sector_size", new BigDecimal("1024"),
                "size", 2048L)));
        TaskConfig config = TaskConfigParser.parse(raw);
        assertEquals(1024, config.blocks().getFirst().sectorSize());
        assertEquals(Optional.of(2048L), config.blocks().getFirst().sizeBytes());
    }

    @Test
    void qemuOptionsAreRead() throws Exception {
        Map<String, Object> raw = base();
        raw.put("qemu", List.of(Map.of("accelerator", "TCG", "machine", "q35", "args", List.of("-smp", "2"))));
        TaskConfig config = TaskConfigParser.parse(raw);
        assertEquals(Accelerator.TCG, config.qemu().accelerator());
        assertEquals(Optional.of("q35"), config.qemu().machine());
        assertEquals(List.of("-smp", "2"), config.qemu().args());
    }

    static Stream<Arguments> bad() {
        return Stream.of(
                Arguments.of(Map.of(), "unikernel", "required"),
                Arguments.of(Map.of("unikernel", ""), "unikernel", "required"),
                Arguments.of(Map.of("unikernel", "a", "tender", "firecracker"), "tender", "solo5-hvt, solo5-spt, qemu"),
                Arguments.of(Map.of("unikernel", "a", "args", List.of("ok", 5L)), "args[1]", "string"),
                Arguments.of(Map.of("unikernel", "a", "block", List.of(Map.of("path", "x"))), "block[0].name", "required"),
                Arguments.of(Map.of("unikernel", "a", "block", List.of(Map.of("name", "d", "path", "x", "sector_size", 1000L))),
                        "block[0].sector_size", "power of two"),
                Arguments.of(Map.of("unikernel", "a", "block", List.of(Map.of("name", "d", "path", "x", "size", "1000"))),
                        "block[0].size", "multiple of the sector size"),
                Arguments.of(Map.of("unikernel", "a", "block", List.of(Map.of("name", "d", "path", "x", "size", "lots"))),
                        "block[0].size", "64MiB"),
                Arguments.of(Map.of("unikernel", "a", "block", List.of(Map.of("name", "d", "path", "x"),
                        Map.of("name", "d", "path", "y"))), "block[1].name", "only once"),
                Arguments.of(Map.of("unikernel", "a", "qemu", List.of(Map.of("accelerator", "hax"))),
                        "qemu.accelerator", "auto, kvm, tcg"),
                Arguments.of(Map.of("unikernel", "a", "qemu", List.of(Map.of("machine", "pc,accel=kvm"))),
                        "qemu.machine", "machine type"));
    }

    @ParameterizedTest
    @MethodSource("bad")
    void badConfigsNameTheField(Map<String, Object> raw, String field, String hint) {
        ConfigException e = assertThrows(ConfigException.class, () -> TaskConfigParser.parse(raw));
        assertEquals(field, e.field(), e.getMessage());
        assertTrue(e.getMessage().contains(hint), e.getMessage());
    }

    @Test
    void byteSizesUnderstandBinaryAndDecimalUnits() {
        assertEquals(64L << 20, ByteSize.parse("64MiB"));
        assertEquals(1L << 30, ByteSize.parse("1 GiB"));
        assertEquals(512_000L, ByteSize.parse("512KB"));
        assertEquals(4096L, ByteSize.parse("4096"));
        assertEquals(-1L, ByteSize.parse("4 parsecs"));
        assertEquals(-1L, ByteSize.parse("99999999999999999999TiB"));
    }
}
