package nomadmirage.solo5;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

class UnikernelReaderTest {
    @ParameterizedTest
    @EnumSource(AbiTarget.class)
    void readsEveryAbiTarget(AbiTarget target) throws Exception {
        Unikernel unikernel = UnikernelReader.read(TestElf.unikernel().target(target, 7).bytes());

        assertEquals(new Abi(target, 7), unikernel.abi());
    }

    @Test
    void abiTargetsHaveTheCodesAndNamesOfElfAbiH() {
        List<String> table = new ArrayList<>();
        for (AbiTarget target : AbiTarget.values()) {
            table.add(target.code() + " " + target.elftoolName());
        }
        assertEquals(List.of("1 hvt", "2 spt", "3 virtio", "4 muen", "5 genode", "6 xen"), table);
    }

    @ParameterizedTest
    @EnumSource(ElfMachine.class)
    void readsX86AndArm(ElfMachine machine) throws Exception {
        assertEquals(machine, UnikernelReader.read(TestElf.unikernel().machine(machine.code()).bytes()).machine());
    }

    @Test
    void withoutDevicesTheManifestHoldsOnlyTheReservedEntryAndReadsAsEmpty() throws Exception {
        Unikernel unikernel = UnikernelReader.read(TestElf.unikernel().bytes());

        assertEquals(new Manifest(1, List.of()), unikernel.manifest());
    }

    @Test
    void readsOneDevice() throws Exception {
        Unikernel unikernel = UnikernelReader.read(TestElf.unikernel().device("service0", DeviceType.NET_BASIC).bytes());

        assertEquals(List.of(new Device("service0", DeviceType.NET_BASIC)), unikernel.manifest().devices());
    }

    @Test
    void readsDevicesInDeclarationOrder() throws Exception {
        byte[] image = TestElf.unikernel()
                .device("service0", DeviceType.NET_BASIC)
                .device("storage", DeviceType.BLOCK_BASIC)
                .device("service1", DeviceType.NET_BASIC)
                .bytes();

        assertEquals(List.of(new Device("service0", DeviceType.NET_BASIC), new Device("storage", DeviceType.BLOCK_BASIC),
                new Device("service1", DeviceType.NET_BASIC)), UnikernelReader.read(image).manifest().devices());
    }

    @Test
    void readsTheLargestManifestOf63Devices() throws Exception {
        Manifest manifest = UnikernelReader.read(TestElf.unikernel().devices(63).bytes()).manifest();

        assertEquals(63, manifest.devices().size());
        assertEquals(new Device("dev62", DeviceType.NET_BASIC), manifest.devices().getLast());
    }

    @Test
    void acceptsANameOf67Characters() throws Exception {
        String longest = "a".repeat(67);

        Manifest manifest = UnikernelReader.read(TestElf.unikernel().device(longest, DeviceType.BLOCK_BASIC).bytes()).manifest();

        assertEquals(longest, manifest.devices().getFirst().name());
    }

    @Test
    void theSameNameMayBeUsedByANetAndABlockDeviceAsTheTendersAttachThemSeparately() throws Exception {
        byte[] image = TestElf.unikernel().device("data", DeviceType.NET_BASIC).device("data", DeviceType.BLOCK_BASIC).bytes();

        assertEquals(2, UnikernelReader.read(image).manifest().devices().size());
    }

    @Test
    void skipsLaterEntriesOfAReservedTypeAsElftoolDoes() throws Exception {
        byte[] image = TestElf.unikernel()
                .entry(new TestElf.Entry(new byte[0], TestElf.RESERVED_FIRST, 0))
                .entry(new TestElf.Entry(new byte[0], TestElf.RESERVED_FIRST + 5, 0))
                .device("service0", DeviceType.NET_BASIC)
                .bytes();

        assertEquals(List.of(new Device("service0", DeviceType.NET_BASIC)), UnikernelReader.read(image).manifest().devices());
    }

    @Test
    void findsTheNotesInEitherOrder() throws Exception {
        byte[] image = TestElf.unikernel().manifestFirst().target(AbiTarget.SPT, 2).device("disk", DeviceType.BLOCK_BASIC).bytes();

        Unikernel unikernel = UnikernelReader.read(image);

        assertEquals(new Abi(AbiTarget.SPT, 2), unikernel.abi());
        assertEquals(List.of(new Device("disk", DeviceType.BLOCK_BASIC)), unikernel.manifest().devices());
    }

    @Test
    void skipsNotesThatAreNotSolo5sOrNotOfAWantedType() throws Exception {
        byte[] image = TestElf.unikernel()
                .noteBefore(TestElf.note(4, "GNU\0".getBytes(), TestElf.ABI1, new byte[16]))
                .noteBefore(TestElf.note(6, "Solo6\0".getBytes(), TestElf.ABI1, new byte[16]))
                .noteBefore(TestElf.note(5, "Solo5".getBytes(), TestElf.ABI1, new byte[16]))
                .noteBefore(TestElf.note(6, TestElf.solo5Name(), 0x32494241, new byte[16]))
                .bytes();

        assertEquals(new Abi(AbiTarget.HVT, 2), UnikernelReader.read(image).abi());
    }

    @Test
    void takesTheFirstAbiNoteLikeTheTenders() throws Exception {
        byte[] image = TestElf.unikernel().target(AbiTarget.VIRTIO, 1).noteAfter(TestElf.abiNote(1, 2)).bytes();

        assertEquals(new Abi(AbiTarget.VIRTIO, 1), UnikernelReader.read(image).abi());
    }

    @Test
    void ignoresEverythingAfterBothNotesAsTheTendersNeverLookThere() throws Exception {
        TestElf.Image image = TestElf.unikernel().noteAfter(TestElf.abiNote(1, 2)).build();
        int last = image.manifestPhdr() + 1;
        image.putLong(TestElf.Image.phdr(last) + 32, 3);

        UnikernelReader.read(image.bytes());
    }

    @Test
    void readsAFileThroughItsPath(@TempDir Path dir) throws Exception {
        Path file = Files.write(dir.resolve("service.hvt"), TestElf.unikernel().device("service0", DeviceType.NET_BASIC).bytes());

        Unikernel unikernel = UnikernelReader.read(file);

        assertEquals(new Unikernel(ElfMachine.X86_64, new Abi(AbiTarget.HVT, 2),
                new Manifest(1, List.of(new Device("service0", DeviceType.NET_BASIC)))), unikernel);
    }

    @Test
    void readsAHeaderTableOfTheLargestSizeQuickly() throws Exception {
        // 65,535 program headers, all but the last two PT_NULL: 3.6 MB of table walked in chunks.
        TestElf.Image small = TestElf.unikernel().build();
        byte[] original = small.bytes();
        int phnum = 0xffff;
        int tableEnd = 64 + phnum * TestElf.PHDR_SIZE;
        byte[] huge = new byte[tableEnd + original.length];
        System.arraycopy(original, 0, huge, 0, 64);
        TestElf.Image image = new TestElf.Image(huge, -1, -1).putShort(56, phnum);
        for (int note : new int[] {small.abiPhdr(), small.manifestPhdr()}) {
            int slot = phnum - 1 - (note == small.abiPhdr() ? 1 : 0);
            System.arraycopy(original, TestElf.Image.phdr(note), huge, TestElf.Image.phdr(slot), TestElf.PHDR_SIZE);
            image.putLong(TestElf.Image.phdr(slot) + 8, tableEnd + small.noteOffset(note));
        }
        System.arraycopy(original, 0, huge, tableEnd, original.length);

        long start = System.nanoTime();
        Unikernel unikernel = UnikernelReader.read(image.bytes());

        assertEquals(AbiTarget.HVT, unikernel.abi().target());
        assertTrue(System.nanoTime() - start < 2_000_000_000L, "walking 65,535 program headers took too long");
    }
}
