package nomadmirage.tender;

import java.nio.file.Path;

/** A manifest BLOCK_BASIC device backed by a host file. */
public record BlockAttachment(String device, Path file, int sectorSize, boolean readOnly) {
}
