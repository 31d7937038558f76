package nomadmirage.solo5;

import java.util.Optional;

/**
 * The two Solo5 notes and how the tenders bound them (tenders/common/elf.c,
 * elf_load_note). The descriptor starts with alignment padding so that its
 * content is aligned from the start of the note: the 20-byte header is
 * followed by 4 padding bytes for the 8-aligned struct mft, none for the
 * 4-aligned struct abi1_info.
 */
enum NoteKind {
    /** ABI1_NOTE_MAX_SIZE: 16 bytes of abi1_info plus 16 spare (include/elf_abi.h). */
    ABI(0x31494241, "ABI1", "ABI note", 0, 32),
    /** MFT1_NOTE_MAX_SIZE: 4 padding + 8 header + 64 entries of 104 bytes (include/mft_abi.h). */
    MANIFEST(0x3154464d, "MFT1", "manifest note", 4, 4 + 8 + 64 * 104);

    private final int type;
    private final String typeName;
    private final String description;
    private final int padding;
    private final int maxDescriptorSize;

    NoteKind(int type, String typeName, String description, int padding, int maxDescriptorSize) {
        this.type = type;
        this.typeName = typeName;
        this.description = description;
        this.padding = padding;
        this.maxDescriptorSize = maxDescriptorSize;
    }

    static Optional<NoteKind> ofType(int type) {
        for (NoteKind kind : values()) {
            if (kind.type == type) {
                return Optional.of(kind);
            }
        }
        return Optional.empty();
    }

    int padding() {
        return padding;
    }

    int maxDescriptorSize() {
        return maxDescriptorSize;
    }

    /** E.g. {@code manifest note (MFT1)}. */
    String describe() {
        return description + " (" + typeName + ")";
    }

    String describeWithType() {
        return "Solo5 " + description + " (type " + typeName + ", " + Hex.of(type) + ")";
    }
}
