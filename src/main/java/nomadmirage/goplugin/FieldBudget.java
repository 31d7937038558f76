package nomadmirage.goplugin;

import com.google.protobuf.CodedInputStream;
import com.google.protobuf.Descriptors.Descriptor;
import com.google.protobuf.Descriptors.FieldDescriptor;
import com.google.protobuf.Message;
import com.google.protobuf.WireFormat;
import io.grpc.MethodDescriptor;
import io.grpc.ServerMethodDefinition;
import io.grpc.ServerServiceDefinition;
import io.grpc.ServiceDescriptor;
import io.grpc.Status;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.util.ArrayList;
import java.util.List;
import nomadmirage.log.Logger;

/**
 * Bounds what decoding a request may cost. The size limit alone does not: protobuf turns each
 * two-byte empty sub-message into an object of about fifty bytes, so a 16 MiB request of empty
 * repeated messages retains about 450 MB. Before a request is decoded, its wire bytes are walked
 * along the request's schema and refused when they hold more than {@value #MAX_FIELDS} fields
 * (nested ones and each element of a packed list included) or nest deeper than {@value #MAX_DEPTH}.
 * The walk allocates nothing but the request's bytes, which the size limit bounds.
 */
public final class FieldBudget {
    /** Far above any request Nomad sends (a task with a thousand environment variables has a few thousand). */
    static final int MAX_FIELDS = 100_000;
    static final int MAX_DEPTH = 64;

    private FieldBudget() {
    }

    /**
     * The same service, each protobuf request decoded only after its fields were counted. A refused
     * request is logged at warn with the reason; gRPC answers the caller UNKNOWN ("Application error
     * processing RPC"), as for any request it cannot decode.
     */
    public static ServerServiceDefinition bound(ServerServiceDefinition service, Logger log) {
        ServiceDescriptor original = service.getServiceDescriptor();
        List<ServerMethodDefinition<?, ?>> methods = new ArrayList<>();
        for (ServerMethodDefinition<?, ?> method : service.getMethods()) {
            methods.add(bound(method, log));
        }
        ServiceDescriptor.Builder descriptor = ServiceDescriptor.newBuilder(original.getName())
                .setSchemaDescriptor(original.getSchemaDescriptor());
        methods.forEach(m -> descriptor.addMethod(m.getMethodDescriptor()));
        ServerServiceDefinition.Builder out = ServerServiceDefinition.builder(descriptor.build());
        methods.forEach(out::addMethod);
        return out.build();
    }

    private static <Q, R> ServerMethodDefinition<Q, R> bound(ServerMethodDefinition<Q, R> method, Logger log) {
        MethodDescriptor<Q, R> descriptor = method.getMethodDescriptor();
        if (!(descriptor.getRequestMarshaller() instanceof MethodDescriptor.PrototypeMarshaller<Q> protos)
                || !(protos.getMessagePrototype() instanceof Message prototype)) {
            return method;
        }
        return ServerMethodDefinition.create(descriptor.toBuilder()
                .setRequestMarshaller(new Counting<>(protos, prototype.getDescriptorForType(),
                        descriptor.getFullMethodName(), log)).build(),
                method.getServerCallHandler());
    }

    /** Counts the fields of {@code bytes}, a {@code type} on the wire; throws when over the budget or malformed. */
    static int count(byte[] bytes, Descriptor type) throws IOException {
        int[] budget = {MAX_FIELDS};
        CodedInputStream in = CodedInputStream.newInstance(bytes);
        walk(in, type, 0, budget);
        return MAX_FIELDS - budget[0];
    }

    private static void walk(CodedInputStream in, Descriptor type, int depth, int[] budget) throws IOException {
        while (true) {
            int tag = in.readTag();
            if (tag == 0) {
                return;
            }
            spend(budget, 1);
            FieldDescriptor field = type == null ? null : type.findFieldByNumber(WireFormat.getTagFieldNumber(tag));
            int wireType = WireFormat.getTagWireType(tag);
            if (field != null && wireType == WireFormat.WIRETYPE_LENGTH_DELIMITED
                    && field.getJavaType() == FieldDescriptor.JavaType.MESSAGE) {
                if (depth >= MAX_DEPTH) {
                    throw new Exhausted("request nested deeper than " + MAX_DEPTH + " messages");
                }
                int length = in.readRawVarint32();
                int outer = in.pushLimit(length);
                walk(in, field.getMessageType(), depth + 1, budget);
                in.popLimit(outer);
            } else if (field != null && wireType == WireFormat.WIRETYPE_LENGTH_DELIMITED && field.isRepeated()
                    && field.getJavaType() != FieldDescriptor.JavaType.STRING
                    && field.getJavaType() != FieldDescriptor.JavaType.BYTE_STRING) {
                int length = in.readRawVarint32();
                spend(budget, length); // a packed list: at most one element per byte
                in.skipRawBytes(length);
            } else if (!in.skipField(tag)) {
                return; // the end of a group
            }
        }
    }

    private static void spend(int[] budget, int fields) throws IOException {
        if (fields < 0 || (budget[0] -= fields) < 0) {
            throw new Exhausted("request holds more than " + MAX_FIELDS + " fields");
        }
    }

    /** The request is over the budget (as opposed to malformed). */
    static final class Exhausted extends IOException {
        Exhausted(String message) {
            super(message);
        }
    }

    /** The original marshaller, after the count. */
    private record Counting<T>(MethodDescriptor.PrototypeMarshaller<T> original, Descriptor type, String method,
            Logger log) implements MethodDescriptor.PrototypeMarshaller<T> {
        @Override
        public InputStream stream(T value) {
            return original.stream(value);
        }

        @Override
        public T parse(InputStream stream) {
            byte[] bytes;
            try {
                bytes = stream.readAllBytes();
                count(bytes, type);
            } catch (com.google.protobuf.InvalidProtocolBufferException e) {
                log.warn("refused a malformed request", "method", method, "error", e.getMessage());
                throw Status.INVALID_ARGUMENT.withDescription("malformed " + type.getName() + " request: "
                        + e.getMessage()).withCause(e).asRuntimeException();
            } catch (IOException e) {
                log.warn("refused a request before decoding it", "method", method, "error", e.getMessage());
                throw Status.RESOURCE_EXHAUSTED.withDescription("refused a " + type.getName() + " request: "
                        + e.getMessage()).withCause(e).asRuntimeException();
            }
            return original.parse(new ByteArrayInputStream(bytes));
        }

        @Override
        public T getMessagePrototype() {
            return original.getMessagePrototype();
        }

        @Override
        public Class<T> getMessageClass() {
            return original.getMessageClass();
        }
    }
}
