package nomadmirage.nomad;

import java.io.IOException;
import java.math.BigDecimal;
import java.math.BigInteger;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.msgpack.core.MessageFormat;
import org.msgpack.core.MessagePack;
import org.msgpack.core.MessageUnpacker;
import org.msgpack.value.ValueType;

/**
 * Decodes the cty-msgpack bytes Nomad sends for configuration into plain Java
 * values: {@code Map<String,Object>} for objects and maps, {@code List<Object>}
 * for lists, sets and tuples, {@code String}, {@code Boolean}, {@code Long} for
 * integers, {@code BigDecimal} for other numbers (cty sends numbers that do not
 * fit a float64 as decimal strings; those stay strings and are converted by the
 * field that expects a number), and {@code null}. Unknown values and cty's
 * dynamic-type wrapper are handled defensively.
 */
public final class CtyMsgpack {
    /** Nested deeper than this is not a configuration anyone writes. */
    private static final int MAX_DEPTH = 64;
    private static final int MAX_ELEMENTS = 1 << 20;

    private CtyMsgpack() {
    }

    /** Decodes a top-level object; empty input is an empty object. */
    public static Map<String, Object> decodeObject(byte[] bytes) throws CtyDecodeException {
        if (bytes.length == 0) {
            return Map.of();
        }
        try (MessageUnpacker in = MessagePack.newDefaultUnpacker(bytes)) {
            Object value = read(in, 0);
            if (in.hasNext()) {
                throw new CtyDecodeException("trailing bytes after the configuration object");
            }
            if (value == null) {
                return Map.of();
            }
            if (!(value instanceof Map<?, ?> map)) {
                throw new CtyDecodeException("expected an object at the top level, got " + describe(value));
            }
            @SuppressWarnings("unchecked")
            Map<String, Object> object = (Map<String, Object>) map;
            return object;
        } catch (IOException | RuntimeException e) {
            throw new CtyDecodeException("malformed msgpack configuration: " + e.getMessage());
        }
    }

    private static Object read(MessageUnpacker in, int depth) throws IOException, CtyDecodeException {
        if (depth > MAX_DEPTH) {
            throw new CtyDecodeException("configuration nested deeper than " + MAX_DEPTH + " levels");
        }
        MessageFormat format = in.getNextFormat();
        ValueType type = format.getValueType();
        switch (type) {
            case NIL -> {
                in.unpackNil();
                return null;
            }
            case BOOLEAN -> {
                return in.unpackBoolean();
            }
            case INTEGER -> {
                if (format == MessageFormat.UINT64) {
                    BigInteger big = in.unpackBigInteger();
                    return big.bitLength() < 64 ? (Object) big.longValue() : new BigDecimal(big);
                }
                return in.unpackLong();
            }
            case FLOAT -> {
                double d = in.unpackDouble();
                return Double.isFinite(d) ? BigDecimal.valueOf(d) : d;
            }
            case STRING -> {
                return in.unpackString();
            }
            case BINARY -> {
                int length = in.unpackBinaryHeader();
                return new String(in.readPayload(length), java.nio.charset.StandardCharsets.UTF_8);
            }
            case ARRAY -> {
                int size = in.unpackArrayHeader();
                checkSize(size);
                if (size == 2 && in.getNextFormat().getValueType() == ValueType.BINARY) {
                    // cty's dynamic wrapper: [type JSON as bin, value]
                    int length = in.unpackBinaryHeader();
                    in.readPayload(length);
                    return read(in, depth + 1);
                }
                List<Object> list = new ArrayList<>(size);
                for (int i = 0; i < size; i++) {
                    list.add(read(in, depth + 1));
                }
                return list;
            }
            case MAP -> {
                int size = in.unpackMapHeader();
                checkSize(size);
                Map<String, Object> map = new LinkedHashMap<>();
                for (int i = 0; i < size; i++) {
                    Object key = read(in, depth + 1);
                    if (!(key instanceof String name)) {
                        throw new CtyDecodeException("object key is not a string: " + describe(key));
                    }
                    map.put(name, read(in, depth + 1));
                }
                return map;
            }
            case EXTENSION -> {
                var header = in.unpackExtensionTypeHeader();
                in.readPayload(header.getLength());
                throw new CtyDecodeException("the configuration holds an unknown value (cty extension "
                        + header.getType() + "); every value must be known when the task starts");
            }
            default -> throw new CtyDecodeException("unsupported msgpack type " + type);
        }
    }

    private static void checkSize(int size) throws CtyDecodeException {
        if (size < 0 || size > MAX_ELEMENTS) {
            throw new CtyDecodeException("collection of " + size + " elements is too large");
        }
    }

    static String describe(Object value) {
        return switch (value) {
            case null -> "null";
            case Map<?, ?> m -> "an object";
            case List<?> l -> "a list";
            case String s -> "a string";
            case Boolean b -> "a bool";
            default -> "a number";
        };
    }
}
