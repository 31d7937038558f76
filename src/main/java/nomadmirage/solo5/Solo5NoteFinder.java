package nomadmirage.solo5;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.EnumMap;
import java.util.Map;
import java.util.Optional;

/**
 * Finds the ABI and manifest notes the way the tenders do (elf_load_note,
 * tenders/common/elf.c): through the PT_NOTE program headers in order, looking
 * only at the first note of each, skipping notes that are not Solo5's or not a
 * wanted type, and taking the first match of each type. A PT_NOTE too small for
 * any note header, or a Solo5 note whose sizes do not fit, fails the whole file,
 * as in the tenders, if it comes before both notes are found.
 */
final class Solo5NoteFinder {
    /** Elf64_Nhdr: n_namesz, n_descsz, n_type. */
    static final int ELF_NOTE_HEADER_SIZE = 12;
    /** Elf64_Nhdr plus the name "Solo5\0" padded to 8 bytes (struct solo5_nhdr). */
    static final int SOLO5_NOTE_HEADER_SIZE = 20;

    private static final byte[] SOLO5_NAME = {'S', 'o', 'l', 'o', '5', 0};

    private Solo5NoteFinder() {
    }

    record Solo5Notes(NoteContent abi, NoteContent manifest) {
    }

    static Solo5Notes find(BoundedReader reader, ProgramHeaderTable table) throws ManifestException, IOException {
        Map<NoteKind, NoteContent> found = new EnumMap<>(NoteKind.class);
        int notesSeen = 0;
        for (int i = 0; i < table.count() && found.size() < NoteKind.values().length; i++) {
            ProgramHeader header = table.get(i);
            if (!header.isNote()) {
                continue;
            }
            notesSeen++;
            solo5Note(reader, header, found).ifPresent(content -> found.put(content.kind(), content));
        }
        return new Solo5Notes(require(found, NoteKind.ABI, notesSeen), require(found, NoteKind.MANIFEST, notesSeen));
    }

    /** The wanted Solo5 note this segment starts with, if any; a type already found is skipped unchecked. */
    private static Optional<NoteContent> solo5Note(BoundedReader reader, ProgramHeader header,
            Map<NoteKind, NoteContent> found) throws ManifestException, IOException {
        if (header.fileSizeBelow(ELF_NOTE_HEADER_SIZE)) {
            throw new ManifestException(header.describe() + ": too small for a note header (" + ELF_NOTE_HEADER_SIZE + " bytes)");
        }
        if (header.fileSizeBelow(SOLO5_NOTE_HEADER_SIZE)) {
            return Optional.empty();
        }
        ByteBuffer note = reader.read(header.offset(), SOLO5_NOTE_HEADER_SIZE, "note header of program header " + header.index());
        if (note.getInt(0) != SOLO5_NAME.length || !hasSolo5Name(note)) {
            return Optional.empty();
        }
        Optional<NoteKind> kind = NoteKind.ofType(note.getInt(8));
        if (kind.isEmpty() || found.containsKey(kind.get())) {
            return Optional.empty();
        }
        return Optional.of(content(header, kind.get(), Integer.toUnsignedLong(note.getInt(4))));
    }

    private static NoteContent content(ProgramHeader header, NoteKind kind, long descriptorSize) throws ManifestException {
        String where = header.describe() + ": " + kind.describe();
        if (descriptorSize < 1 || descriptorSize > kind.maxDescriptorSize()) {
            throw new ManifestException(where + " n_descsz " + descriptorSize + " at offset " + Hex.of(header.offset() + 4)
                    + " is out of range (1-" + kind.maxDescriptorSize() + ")");
        }
        if (header.fileSizeBelow(SOLO5_NOTE_HEADER_SIZE + descriptorSize)) {
            throw new ManifestException(where + " does not fit in its segment: the " + SOLO5_NOTE_HEADER_SIZE
                    + "-byte header and n_descsz " + descriptorSize + " need " + (SOLO5_NOTE_HEADER_SIZE + descriptorSize)
                    + " bytes, p_filesz is " + Long.toUnsignedString(header.fileSize()));
        }
        if (descriptorSize <= kind.padding()) {
            throw new ManifestException(where + " n_descsz " + descriptorSize + " leaves nothing after its "
                    + kind.padding() + " alignment bytes");
        }
        // header.offset() + 20 + descsz fits in a long: p_offset is checked against the file size by the header read.
        return new NoteContent(kind, header.index(), header.offset() + SOLO5_NOTE_HEADER_SIZE + kind.padding(),
                (int) descriptorSize - kind.padding());
    }

    private static boolean hasSolo5Name(ByteBuffer note) {
        for (int i = 0; i < SOLO5_NAME.length; i++) {
            if (note.get(ELF_NOTE_HEADER_SIZE + i) != SOLO5_NAME[i]) {
                return false;
            }
        }
        return true;
    }

    private static NoteContent require(Map<NoteKind, NoteContent> found, NoteKind kind, int notesSeen) throws ManifestException {
        NoteContent content = found.get(kind);
        if (content == null) {
            throw new ManifestException("no " + kind.describeWithType() + " in any of the " + notesSeen
                    + " PT_NOTE program headers; is this a Solo5 unikernel?");
        }
        return content;
    }
}
