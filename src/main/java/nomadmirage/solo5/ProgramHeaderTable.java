package nomadmirage.solo5;

import java.io.IOException;
import java.nio.ByteBuffer;

/**
 * The program header table, read a bounded chunk at a time so that even the
 * largest e_phnum (65,535) costs a few megabytes of reading and no more than
 * one chunk of memory.
 */
final class ProgramHeaderTable {
    private static final int HEADERS_PER_CHUNK = BoundedReader.MAX_READ / ElfHeader.PROGRAM_HEADER_SIZE;

    private final BoundedReader reader;
    private final long offset;
    private final int count;
    private ByteBuffer chunk;
    private int chunkStart = -1;

    private ProgramHeaderTable(BoundedReader reader, long offset, int count) {
        this.reader = reader;
        this.offset = offset;
        this.count = count;
    }

    /** The whole table must be in the file: the tenders read it in one piece and reject a short read. */
    static ProgramHeaderTable locate(BoundedReader reader, ElfHeader header) throws ManifestException {
        long tableSize = (long) header.programHeaderCount() * ElfHeader.PROGRAM_HEADER_SIZE;
        if (!reader.fits(header.programHeaderOffset(), tableSize)) {
            throw new ManifestException("program header table at e_phoff " + Hex.of(header.programHeaderOffset()) + " ("
                    + header.programHeaderCount() + " entries of " + ElfHeader.PROGRAM_HEADER_SIZE
                    + " bytes) extends past the end of the file (" + reader.size() + " bytes)");
        }
        return new ProgramHeaderTable(reader, header.programHeaderOffset(), header.programHeaderCount());
    }

    int count() {
        return count;
    }

    ProgramHeader get(int index) throws ManifestException, IOException {
        if (index < 0 || index >= count) {
            throw new IndexOutOfBoundsException(index);
        }
        if (chunk == null || index < chunkStart || index >= chunkStart + HEADERS_PER_CHUNK) {
            chunkStart = index - index % HEADERS_PER_CHUNK;
            int headers = Math.min(HEADERS_PER_CHUNK, count - chunkStart);
            chunk = reader.read(offset + (long) chunkStart * ElfHeader.PROGRAM_HEADER_SIZE,
                    headers * ElfHeader.PROGRAM_HEADER_SIZE, "program headers " + chunkStart + "-" + (chunkStart + headers - 1));
        }
        return ProgramHeader.parse(index, chunk, (index - chunkStart) * ElfHeader.PROGRAM_HEADER_SIZE);
    }
}
