package nomadmirage.solo5;

import static nomadmirage.solo5.Rejections.rejects;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import org.junit.jupiter.api.Test;

/** The ELF header and program header table rules of ehdr_is_valid and elf_load_note (tenders/common/elf.c). */
class ElfValidationTest {
    @Test
    void refusesAnEmptyFile() {
        rejects(new byte[0], "not an ELF file", "0 bytes");
    }

    @Test
    void refusesSomethingElse() {
        rejects("#!/bin/sh\necho hello\n".getBytes(StandardCharsets.US_ASCII), "not an ELF file", "23 21 2f 62");
    }

    @Test
    void refusesATruncatedHeader() {
        rejects(Arrays.copyOf(TestElf.unikernel().bytes(), 40), "ELF header truncated", "40 bytes");
    }

    @Test
    void refusesElf32() {
        rejects(TestElf.unikernel().elfClass(1), "ELF class 1", "ELF32", "offset 4");
    }

    @Test
    void refusesBigEndian() {
        rejects(TestElf.unikernel().dataEncoding(2), "data encoding 2", "big-endian", "offset 5");
    }

    @Test
    void refusesAnUnknownElfVersion() {
        rejects(TestElf.unikernel().elfVersion(2), "e_version", "offset 20", "is 2");
    }

    @Test
    void refusesAnotherHeaderSize() {
        rejects(TestElf.unikernel().ehsize(52), "e_ehsize", "is 52");
    }

    @Test
    void refusesAnotherProgramHeaderSize() {
        rejects(TestElf.unikernel().phentsize(32), "e_phentsize", "is 32");
    }

    @Test
    void refusesAFileWithoutProgramHeaders() {
        rejects(TestElf.unikernel().build().putShort(56, 0), "e_phnum", "at least 1");
    }

    @Test
    void refusesSharedObjects() {
        rejects(TestElf.unikernel().elfType(3), "e_type", "is 3", "ET_EXEC");
    }

    @Test
    void refusesOtherMachines() {
        rejects(TestElf.unikernel().machine(40), "e_machine 40", "offset 18", "x86_64", "aarch64");
    }

    @Test
    void refusesAProgramHeaderTablePastTheEnd() {
        TestElf.Image image = TestElf.unikernel().build();
        rejects(image.putLong(32, image.size() - 100), "program header table", "extends past the end of the file");
    }

    @Test
    void refusesAProgramHeaderTableAtAHugeOffsetWithoutOverflowing() {
        rejects(TestElf.unikernel().build().putLong(32, 0xffff_ffff_ffff_fff0L), "program header table",
                "0xfffffffffffffff0", "extends past the end");
    }

    @Test
    void refusesMoreProgramHeadersThanTheFileHolds() {
        rejects(TestElf.unikernel().build().putShort(56, 0xffff), "program header table", "65535 entries");
    }
}
