package nomadmirage.solo5;

import java.io.IOException;
import java.nio.ByteBuffer;

/**
 * The parts of an ELF64 file header that locate the program headers, checked
 * as the tenders check them (ehdr_is_valid, tenders/common/elf.c) except that
 * both x86_64 and aarch64 are accepted, not only the host's architecture.
 */
record ElfHeader(ElfMachine machine, long programHeaderOffset, int programHeaderCount) {
    static final int SIZE = 64;
    static final int PROGRAM_HEADER_SIZE = 56;

    private static final byte[] MAGIC = {0x7f, 'E', 'L', 'F'};
    private static final int EI_CLASS = 4;
    private static final int EI_DATA = 5;
    private static final int ELFCLASS32 = 1;
    private static final int ELFCLASS64 = 2;
    private static final int ELFDATA2LSB = 1;
    private static final int ELFDATA2MSB = 2;
    private static final int E_TYPE = 16;
    private static final int E_MACHINE = 18;
    private static final int E_VERSION = 20;
    private static final int E_PHOFF = 32;
    private static final int E_EHSIZE = 52;
    private static final int E_PHENTSIZE = 54;
    private static final int E_PHNUM = 56;
    private static final int ET_EXEC = 2;
    private static final int EV_CURRENT = 1;

    static ElfHeader read(BoundedReader reader) throws ManifestException, IOException {
        long size = reader.size();
        if (size < MAGIC.length) {
            throw new ManifestException("not an ELF file: only " + size + " bytes long");
        }
        ByteBuffer header = reader.read(0, (int) Math.min(size, SIZE), "ELF header");
        for (int i = 0; i < MAGIC.length; i++) {
            if (header.get(i) != MAGIC[i]) {
                throw new ManifestException("not an ELF file: bytes 0-3 are " + magicOf(header) + ", expected 7f 45 4c 46");
            }
        }
        if (size < SIZE) {
            throw new ManifestException("ELF header truncated: the file is " + size + " bytes, an ELF64 header is " + SIZE);
        }
        checkIdentification(header);
        checkField(header.getInt(E_VERSION) == EV_CURRENT,
                "e_version", E_VERSION, Integer.toUnsignedString(header.getInt(E_VERSION)), "1 (EV_CURRENT)");
        checkField(u16(header, E_EHSIZE) == SIZE, "e_ehsize", E_EHSIZE, u16(header, E_EHSIZE), SIZE + " (ELF64)");
        checkField(u16(header, E_PHENTSIZE) == PROGRAM_HEADER_SIZE, "e_phentsize", E_PHENTSIZE,
                u16(header, E_PHENTSIZE), PROGRAM_HEADER_SIZE + " (Elf64_Phdr)");
        checkField(u16(header, E_PHNUM) >= 1, "e_phnum", E_PHNUM, 0, "at least 1 program header");
        checkField(u16(header, E_TYPE) == ET_EXEC, "e_type", E_TYPE, u16(header, E_TYPE), ET_EXEC + " (ET_EXEC)");
        int machineCode = u16(header, E_MACHINE);
        ElfMachine machine = ElfMachine.fromCode(machineCode).orElseThrow(() -> new ManifestException(
                "unsupported ELF e_machine " + machineCode + " at offset " + E_MACHINE + "; expected "
                        + ElfMachine.X86_64.code() + " (x86_64) or " + ElfMachine.AARCH64.code() + " (aarch64)"));
        return new ElfHeader(machine, header.getLong(E_PHOFF), u16(header, E_PHNUM));
    }

    private static void checkIdentification(ByteBuffer header) throws ManifestException {
        int elfClass = header.get(EI_CLASS);
        if (elfClass != ELFCLASS64) {
            throw new ManifestException("ELF class " + elfClass + " at offset " + EI_CLASS
                    + (elfClass == ELFCLASS32 ? " (ELF32)" : "") + " is not supported; Solo5 unikernels are ELF64 (class 2)");
        }
        int data = header.get(EI_DATA);
        if (data != ELFDATA2LSB) {
            throw new ManifestException("ELF data encoding " + data + " at offset " + EI_DATA
                    + (data == ELFDATA2MSB ? " (big-endian)" : "") + " is not supported; expected 1 (little-endian)");
        }
    }

    private static void checkField(boolean valid, String field, int offset, Object actual, String expected)
            throws ManifestException {
        if (!valid) {
            throw new ManifestException("invalid ELF header: " + field + " at offset " + offset + " is " + actual
                    + ", expected " + expected);
        }
    }

    private static int u16(ByteBuffer buffer, int offset) {
        return Short.toUnsignedInt(buffer.getShort(offset));
    }

    private static String magicOf(ByteBuffer header) {
        return String.format("%02x %02x %02x %02x", header.get(0), header.get(1), header.get(2), header.get(3));
    }
}
