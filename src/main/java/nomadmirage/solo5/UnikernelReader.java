package nomadmirage.solo5;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.AccessDeniedException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;

/**
 * Reads what a Solo5 unikernel declares about itself from its ELF notes,
 * without running it: the CPU, the ABI (target and version) and the manifest
 * of devices. Accepts what the tenders accept, except where noted in the
 * parsers, and treats the file as hostile: every size and offset is bounded
 * by the file and by small constants before anything is read.
 */
public final class UnikernelReader {
    private UnikernelReader() {
    }

    /** Reads the unikernel at {@code file}; failures name the file. */
    public static Unikernel read(Path file) throws ManifestException {
        BasicFileAttributes attributes;
        try {
            attributes = Files.readAttributes(file, BasicFileAttributes.class);
        } catch (IOException e) {
            throw cannotRead(file, e);
        }
        // Opening a FIFO would block until a writer comes, and devices have no meaningful size.
        if (!attributes.isRegularFile()) {
            throw new ManifestException(file + ": not a regular file" + (attributes.isDirectory() ? " (a directory)" : ""));
        }
        try (FileChannel channel = FileChannel.open(file, StandardOpenOption.READ)) {
            return read(new ChannelByteSource(channel));
        } catch (ManifestException e) {
            throw e.in(file.toString());
        } catch (IOException e) {
            throw cannotRead(file, e);
        }
    }

    /**
     * Reads the unikernel open on {@code channel} (the caller opened and checked it; see the driver's
     * confined file access); failures name {@code name}.
     */
    public static Unikernel read(FileChannel channel, String name) throws ManifestException {
        try {
            return read(new ChannelByteSource(channel));
        } catch (ManifestException e) {
            throw e.in(name);
        } catch (IOException e) {
            throw new ManifestException(name + ": cannot read: "
                    + (e.getMessage() != null ? e.getMessage() : e.getClass().getSimpleName()), e);
        }
    }

    /** Reads a unikernel image held in memory. */
    public static Unikernel read(byte[] image) throws ManifestException {
        try {
            return read(new ArrayByteSource(image));
        } catch (IOException e) {
            throw new ManifestException("cannot read image: " + e.getMessage(), e);
        }
    }

    static Unikernel read(ByteSource source) throws ManifestException, IOException {
        BoundedReader reader = new BoundedReader(source);
        ElfHeader header = ElfHeader.read(reader);
        ProgramHeaderTable table = ProgramHeaderTable.locate(reader, header);
        Solo5NoteFinder.Solo5Notes notes = Solo5NoteFinder.find(reader, table);
        Abi abi = AbiNoteParser.parse(readContent(reader, notes.abi()), notes.abi().offset());
        Manifest manifest = ManifestParser.parse(readContent(reader, notes.manifest()), notes.manifest().offset());
        return new Unikernel(header.machine(), abi, manifest);
    }

    private static ByteBuffer readContent(BoundedReader reader, NoteContent note) throws ManifestException, IOException {
        return reader.read(note.offset(), note.size(),
                note.kind().describe() + " content of program header " + note.programHeader());
    }

    private static ManifestException cannotRead(Path file, IOException e) {
        String reason = switch (e) {
            case NoSuchFileException ignored -> "no such file";
            case AccessDeniedException ignored -> "permission denied";
            default -> e.getMessage() != null ? e.getMessage() : e.getClass().getSimpleName();
        };
        return new ManifestException(file + ": cannot read: " + reason, e);
    }
}
