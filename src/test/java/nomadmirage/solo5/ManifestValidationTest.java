package nomadmirage.solo5;

import static nomadmirage.solo5.Rejections.rejects;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import org.junit.jupiter.api.Test;

/**
 * The rules of mft_validate (tenders/common/mft.c), then those that keep out
 * manifests a tender would load but never start.
 */
class ManifestValidationTest {
    @Test
    void refusesAnotherManifestVersion() {
        rejects(TestElf.unikernel().manifestVersion(2), "manifest at offset", "version 2 is not supported, expected 1");
    }

    @Test
    void refusesMoreThan64Entries() {
        rejects(TestElf.unikernel().manifestEntries(65), "entries 65", "exceeds the maximum of 64");
    }

    @Test
    void refuses64DevicesAsTheReservedEntryMakes65() {
        rejects(TestElf.unikernel().devices(64).manifestDescsz(6668 + 104), "out of range (1-6668)");
    }

    @Test
    void refusesAnEntriesCountThatDisagreesWithTheDescriptorSize() {
        rejects(TestElf.unikernel().device("a", DeviceType.NET_BASIC).manifestEntries(1), "is 216 bytes but its 1 entries need exactly 112",
                "n_descsz of 116");
    }

    @Test
    void refusesADescriptorWithTrailingBytes() {
        rejects(TestElf.unikernel().manifestDescsz(4 + 8 + 104 + 8), "is 120 bytes but its 1 entries need exactly 112");
    }

    @Test
    void refusesAManifestShorterThanItsHeader() {
        rejects(TestElf.unikernel().manifestDescsz(4 + 7), "is 7 bytes, smaller than its 8-byte header");
    }

    @Test
    void refusesAManifestWithoutEntries() {
        rejects(TestElf.unikernel().manifestEntries(0).manifestDescsz(12), "has no entries", "reserved");
    }

    @Test
    void refusesAFirstEntryThatIsNotTheReservedOne() {
        rejects(TestElf.unikernel().replaceEntry(0, TestElf.Entry.device("", DeviceType.NET_BASIC.code())),
                "manifest entry 0", "type 2", "must be the reserved one");
    }

    @Test
    void refusesAReservedEntryWithAName() {
        rejects(TestElf.unikernel().replaceEntry(0, TestElf.Entry.device("x", TestElf.RESERVED_FIRST)),
                "manifest entry 0", "must have an empty name");
    }

    @Test
    void refusesANameWithoutTerminator() {
        byte[] name = new byte[68];
        Arrays.fill(name, (byte) 'a');
        rejects(TestElf.unikernel().entry(new TestElf.Entry(name, DeviceType.NET_BASIC.code(), 0)),
                "manifest entry 1", "not NUL-terminated within 68 bytes");
    }

    @Test
    void refusesAnUnterminatedReservedEntry() {
        TestElf.Image image = TestElf.unikernel().build();
        rejects(image.putByte(image.entry(0) + 67, 'x'), "manifest entry 0", "not NUL-terminated");
    }

    @Test
    void refusesAnAttachedEntry() {
        rejects(TestElf.unikernel().entry(new TestElf.Entry("net0".getBytes(StandardCharsets.US_ASCII), 2, 1)),
                "manifest entry 1", "attached flag", "is 1", "must be false");
    }

    @Test
    void refusesAnUnknownDeviceTypeAsTheTenderCouldNeverAttachIt() {
        rejects(TestElf.unikernel().entry(TestElf.Entry.device("gpu0", 3)), "manifest entry 1", "type 3", "is unknown");
    }

    @Test
    void refusesAnEmptyDeviceName() {
        rejects(TestElf.unikernel().entry(TestElf.Entry.device("", 2)), "manifest entry 1", "device name is empty");
    }

    @Test
    void refusesANameTheCommandLineCannotSpell() {
        rejects(TestElf.unikernel().device("net-0", DeviceType.NET_BASIC), "manifest entry 1", "name \"net-0\"", "not alphanumeric");
    }

    @Test
    void showsHostileNameBytesEscaped() {
        rejects(TestElf.unikernel().entry(new TestElf.Entry(new byte[] {'a', 0x1b, '[', '2', 'J', (byte) 0xff}, 2, 0)),
                "name \"a\\x1b[2J\\xff\"");
    }

    @Test
    void refusesADuplicateDeviceOfTheSameType() {
        rejects(TestElf.unikernel().device("service0", DeviceType.NET_BASIC).device("disk", DeviceType.BLOCK_BASIC)
                .device("service0", DeviceType.NET_BASIC), "manifest entry 3", "duplicates the NET_BASIC device \"service0\" of entry 1");
    }
}
