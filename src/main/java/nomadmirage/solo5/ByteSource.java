package nomadmirage.solo5;

import java.io.IOException;
import java.nio.ByteBuffer;

/** Random-access bytes of a candidate unikernel. */
interface ByteSource {
    /** Size when the source was opened; reads never go past it. */
    long size();

    /** Fills {@code dst} from {@code offset} until it is full or the source ends; returns the bytes read. */
    int read(long offset, ByteBuffer dst) throws IOException;
}
