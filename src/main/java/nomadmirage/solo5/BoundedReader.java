package nomadmirage.solo5;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * Little-endian reads that stay inside the file. Every read is checked against
 * the file size first, and no read is larger than {@link #MAX_READ}, so sizes
 * taken from the file can never make us allocate much.
 */
final class BoundedReader {
    /** Larger than the largest thing we read: a manifest of 64 entries is 6,664 bytes. */
    static final int MAX_READ = 8192;

    private final ByteSource source;

    BoundedReader(ByteSource source) {
        this.source = source;
    }

    long size() {
        return source.size();
    }

    /** Whether {@code length} bytes at {@code offset} lie inside the file; offsets are ELF u64s, so negative means huge. */
    boolean fits(long offset, long length) {
        long size = source.size();
        return offset >= 0 && length >= 0 && length <= size && offset <= size - length;
    }

    ByteBuffer read(long offset, int length, String what) throws ManifestException, IOException {
        if (length < 0 || length > MAX_READ) {
            throw new IllegalArgumentException("read of " + length + " bytes exceeds the cap of " + MAX_READ);
        }
        if (!fits(offset, length)) {
            throw new ManifestException(what + " at offset " + Hex.of(offset) + " (" + length
                    + " bytes) extends past the end of the file (" + source.size() + " bytes)");
        }
        ByteBuffer buffer = ByteBuffer.allocate(length).order(ByteOrder.LITTLE_ENDIAN);
        int read = source.read(offset, buffer);
        if (read != length) {
            throw new ManifestException("file ended while reading " + what + " at offset " + Hex.of(offset)
                    + ": got " + read + " of " + length + " bytes (was it truncated while being read?)");
        }
        return buffer.flip();
    }
}
