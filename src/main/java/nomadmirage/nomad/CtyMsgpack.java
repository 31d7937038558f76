package nomadmirage.nomad;

import java.io.IOException;
import java.math.BigDecimal;
import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
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
 *
 * <p>The bytes come from job authors (through Nomad), so nothing is allocated from a
 * length the input declares: every string, binary and extension length and every
 * collection size is checked against the bytes that remain (an element takes at least
 * one), collections grow as elements actually arrive, nesting stops at
 * {@value #MAX_DEPTH} levels and a document holds at most {@value #MAX_VALUES} values.
 * Memory use is so bounded by a small multiple of the input's size.
 */
public final class CtyMsgpack {
    /** Nested deeper than this is not a configuration anyone writes. */
    static final int MAX_DEPTH = 64;
    /** Values (of any kind, keys included) in one document: far above any configuration. */
    static final int MAX_VALUES = 1 << 16;

    private CtyMsgpack() {
    }

    /** Decodes a top-level object; empty input is an empty object. */
    public static Map<String, Object> decodeObject(byte[] bytes) throws CtyDecodeException {
        if (bytes.length == 0) {
            return Map.of();
        }
        try (MessageUnpacker in = MessagePack.newDefaultUnpacker(bytes)) {
            Object value = new Reader(in, bytes.length).read(0);
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

    /** One document's decode: the input's length and the values read so far bound every allocation. */
    private static final class Reader {
        private final MessageUnpacker in;
        private final long length;
        private int values;

        Reader(MessageUnpacker in, long length) {
            this.in = in;
            this.length = length;
        }

        private long remaining() {
            return length - in.getTotalReadBytes();
        }

        /** A declared length or count must fit in what is left of the input, {@code perItem} bytes each at least. */
        private int checkDeclared(long declared, int perItem, String what) throws CtyDecodeException {
            if (declared < 0 || declared > remaining() / perItem) {
                throw new CtyDecodeException(what + " declares a length of " + declared + ", more than the "
                        + remaining() + " bytes of input that remain");
            }
            return (int) declared;
        }

        private byte[] payload(int declared, String what) throws IOException, CtyDecodeException {
            return in.readPayload(checkDeclared(declared, 1, what));
        }

        Object read(int depth) throws IOException, CtyDecodeException {
            if (depth > MAX_DEPTH) {
                throw new CtyDecodeException("configuration nested deeper than " + MAX_DEPTH + " levels");
            }
            if (++values > MAX_VALUES) {
                throw new CtyDecodeException("configuration holds more than " + MAX_VALUES + " values");
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
                    byte[] utf8 = payload(in.unpackRawStringHeader(), "a string");
                    return new String(utf8, StandardCharsets.UTF_8);
                }
                case BINARY -> {
                    return new String(payload(in.unpackBinaryHeader(), "a binary value"), StandardCharsets.UTF_8);
                }
                case ARRAY -> {
                    int size = checkDeclared(in.unpackArrayHeader(), 1, "a list");
                    if (size == 2 && in.getNextFormat().getValueType() == ValueType.BINARY) {
                        // cty's dynamic wrapper: [type JSON as bin, value]
                        payload(in.unpackBinaryHeader(), "a dynamic value's type");
                        return read(depth + 1);
                    }
                    List<Object> list = new ArrayList<>(Math.min(size, 16));
                    for (int i = 0; i < size; i++) {
                        list.add(read(depth + 1));
                    }
                    return list;
                }
                case MAP -> {
                    int size = checkDeclared(in.unpackMapHeader(), 2, "an object");
                    Map<String, Object> map = new LinkedHashMap<>(Math.min(size, 16) * 2);
                    for (int i = 0; i < size; i++) {
                        Object key = read(depth + 1);
                        if (!(key instanceof String name)) {
                            throw new CtyDecodeException("object key is not a string: " + describe(key));
                        }
                        map.put(name, read(depth + 1));
                    }
                    return map;
                }
                case EXTENSION -> {
                    var header = in.unpackExtensionTypeHeader();
                    checkDeclared(header.getLength(), 1, "an extension value");
                    throw new CtyDecodeException("the configuration holds an unknown value (cty extension "
                            + header.getType() + "); every value must be known when the task starts");
                }
                default -> throw new CtyDecodeException("unsupported msgpack type " + type);
            }
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
