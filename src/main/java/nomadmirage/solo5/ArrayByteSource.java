package nomadmirage.solo5;

import java.nio.ByteBuffer;

/** An image already in memory. */
final class ArrayByteSource implements ByteSource {
    private final byte[] bytes;

    ArrayByteSource(byte[] bytes) {
        this.bytes = bytes;
    }

    @Override
    public long size() {
        return bytes.length;
    }

    @Override
    public int read(long offset, ByteBuffer dst) {
        if (offset < 0 || offset >= bytes.length) {
            return 0;
        }
        int n = (int) Math.min(dst.remaining(), bytes.length - offset);
        dst.put(bytes, (int) offset, n);
        return n;
    }
}
