package nomadmirage.nomad;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.List;
import java.util.Map;
import org.msgpack.core.MessageBufferPacker;
import org.msgpack.core.MessagePack;
import org.msgpack.core.MessagePacker;

/** Encodes plain values (strings, numbers, booleans, lists, maps, null) as cty's msgpack does for an HCL object. */
public final class TestMsgpack {
    private TestMsgpack() {
    }

    public static byte[] encode(Map<String, ?> object) {
        try (MessageBufferPacker packer = MessagePack.newDefaultBufferPacker()) {
            write(packer, object);
            return packer.toByteArray();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static void write(MessagePacker out, Object value) throws IOException {
        switch (value) {
            case null -> out.packNil();
            case String s -> out.packString(s);
            case Boolean b -> out.packBoolean(b);
            case Integer i -> out.packLong(i);
            case Long l -> out.packLong(l);
            case List<?> list -> {
                out.packArrayHeader(list.size());
                for (Object item : list) {
                    write(out, item);
                }
            }
            case Map<?, ?> map -> {
                out.packMapHeader(map.size());
                for (Map.Entry<?, ?> e : map.entrySet()) {
                    out.packString((String) e.getKey());
                    write(out, e.getValue());
                }
            }
            default -> throw new IllegalArgumentException("cannot encode " + value.getClass());
        }
    }
}
