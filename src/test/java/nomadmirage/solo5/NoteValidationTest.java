package nomadmirage.solo5;

import static nomadmirage.solo5.Rejections.rejects;

import org.junit.jupiter.api.Test;

/** How the notes are found and bounded (elf_load_note, tenders/common/elf.c) and what the ABI note must hold. */
class NoteValidationTest {
    @Test
    void refusesAUnikernelWithoutAbiNote() {
        rejects(TestElf.unikernel().withoutAbi(), "no Solo5 ABI note", "ABI1", "0x31494241", "2 PT_NOTE");
    }

    @Test
    void refusesAUnikernelWithoutManifest() {
        rejects(TestElf.unikernel().withoutManifest(), "no Solo5 manifest note", "MFT1", "0x3154464d");
    }

    @Test
    void refusesAPtNoteTooSmallForAnyNoteHeader() {
        TestElf.Image image = TestElf.unikernel().build();
        rejects(image.putLong(TestElf.Image.phdr(1) + 32, 11), "program header 1", "too small for a note header");
    }

    @Test
    void skipsAPtNoteTooSmallForASolo5NoteHeader() {
        TestElf.Image image = TestElf.unikernel().build();
        rejects(image.putLong(TestElf.Image.phdr(image.abiPhdr()) + 32, 19), "no Solo5 ABI note");
    }

    @Test
    void refusesANoteHeaderPastTheEnd() {
        TestElf.Image image = TestElf.unikernel().build();
        rejects(image.putLong(TestElf.Image.phdr(image.abiPhdr()) + 8, image.size() - 10),
                "note header of program header " + image.abiPhdr(), "extends past the end of the file");
    }

    @Test
    void refusesANoteAtAHugeOffset() {
        TestElf.Image image = TestElf.unikernel().build();
        rejects(image.putLong(TestElf.Image.phdr(image.manifestPhdr()) + 8, -1L), "0xffffffffffffffff", "extends past the end");
    }

    @Test
    void acceptsAPFileszBeyondTheFileAsTheTendersDoSinceOnlyTheNoteIsRead() throws Exception {
        TestElf.Image image = TestElf.unikernel().build();

        UnikernelReader.read(image.putLong(TestElf.Image.phdr(image.manifestPhdr()) + 32, -1L).bytes());
    }

    @Test
    void refusesAnEmptyDescriptor() {
        rejects(TestElf.unikernel().abiDescsz(0), "ABI note (ABI1) n_descsz 0", "out of range (1-32)");
    }

    @Test
    void refusesAnAbiDescriptorLargerThanTheTendersAllow() {
        rejects(TestElf.unikernel().abiDescsz(33), "n_descsz 33", "out of range (1-32)");
    }

    @Test
    void refusesAManifestDescriptorLargerThanTheTendersAllow() {
        rejects(TestElf.unikernel().manifestDescsz(6669), "manifest note (MFT1) n_descsz 6669", "out of range (1-6668)");
    }

    @Test
    void refusesAManifestDescriptorOfOnlyAlignment() {
        rejects(TestElf.unikernel().manifestDescsz(4), "n_descsz 4 leaves nothing after its 4 alignment bytes");
    }

    @Test
    void refusesANoteLongerThanItsSegment() {
        TestElf.Image image = TestElf.unikernel().build();
        rejects(image.putLong(TestElf.Image.phdr(image.manifestPhdr()) + 32, 20 + 12 + 104 - 1), "does not fit in its segment",
                "p_filesz 135");
    }

    @Test
    void refusesADescriptorCutOffByTheEndOfTheFile() {
        TestElf.Image image = TestElf.unikernel().build();
        rejects(image.truncate(image.size() - 1), "manifest note (MFT1) content", "extends past the end of the file");
    }

    @Test
    void refusesAnAbiNoteTooShortForTargetAndVersion() {
        rejects(TestElf.unikernel().abiDescsz(7), "holds 7 bytes", "abi_target and abi_version");
    }

    @Test
    void acceptsAnAbiNoteWithoutItsReservedWords() throws Exception {
        UnikernelReader.read(TestElf.unikernel().abiDescsz(8).bytes());
    }

    @Test
    void refusesAnUnknownAbiTarget() {
        rejects(TestElf.unikernel().abiTargetCode(7), "unknown abi_target 7", "known: 1 hvt, 2 spt");
    }

    @Test
    void refusesAbiTargetZero() {
        rejects(TestElf.unikernel().abiTargetCode(0), "unknown abi_target 0");
    }

    @Test
    void refusesAnAbiVersionBeyondAnInt() {
        rejects(TestElf.unikernel().abiVersion(-1), "abi_version 4294967295", "implausibly large");
    }
}
