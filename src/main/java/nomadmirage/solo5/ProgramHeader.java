package nomadmirage.solo5;

import java.nio.ByteBuffer;

/** The fields of one Elf64_Phdr that locate a note; offset and fileSize are ELF u64s (negative means huge). */
record ProgramHeader(int index, int type, long offset, long fileSize) {
    static final int PT_NOTE = 4;

    private static final int P_TYPE = 0;
    private static final int P_OFFSET = 8;
    private static final int P_FILESZ = 32;

    static ProgramHeader parse(int index, ByteBuffer table, int at) {
        return new ProgramHeader(index, table.getInt(at + P_TYPE), table.getLong(at + P_OFFSET), table.getLong(at + P_FILESZ));
    }

    boolean isNote() {
        return type == PT_NOTE;
    }

    /** Whether p_filesz, read unsigned, is below {@code bytes}. */
    boolean fileSizeBelow(long bytes) {
        return Long.compareUnsigned(fileSize, bytes) < 0;
    }

    String describe() {
        return "program header " + index + " (PT_NOTE at offset " + Hex.of(offset) + ", p_filesz " + Long.toUnsignedString(fileSize) + ")";
    }
}
