package nomadmirage.goplugin;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grpc.MethodDescriptor;
import io.grpc.ServerMethodDefinition;
import io.grpc.ServerServiceDefinition;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.io.ByteArrayInputStream;
import java.lang.management.ManagementFactory;
import java.util.List;
import nomadmirage.log.LogLevel;
import nomadmirage.log.LogSink;
import nomadmirage.log.Logger;
import nomadmirage.proto.drivers.DriverGrpc;
import nomadmirage.proto.drivers.Mount;
import nomadmirage.proto.drivers.StartTaskRequest;
import nomadmirage.proto.drivers.TaskConfig;
import org.junit.jupiter.api.Test;

class FieldBudgetTest {
    private static final List<String> LOG = new java.util.concurrent.CopyOnWriteArrayList<>();
    private static final ServerServiceDefinition DRIVER = FieldBudget.bound(new DriverGrpc.DriverImplBase() {
    }.bindService(), Logger.root("test", new LogSink(new java.io.OutputStream() {
        private final java.io.ByteArrayOutputStream line = new java.io.ByteArrayOutputStream();

        @Override
        public void write(int b) {
            if (b == '\n') {
                LOG.add(line.toString(java.nio.charset.StandardCharsets.UTF_8));
                line.reset();
            } else {
                line.write(b);
            }
        }
    }), LogLevel.INFO));

    @SuppressWarnings("unchecked")
    private static StartTaskRequest parse(byte[] wire) {
        ServerMethodDefinition<StartTaskRequest, ?> start = (ServerMethodDefinition<StartTaskRequest, ?>)
                DRIVER.getMethod(DriverGrpc.getStartTaskMethod().getFullMethodName());
        MethodDescriptor<StartTaskRequest, ?> descriptor = start.getMethodDescriptor();
        return descriptor.parseRequest(new ByteArrayInputStream(wire));
    }

    private static long allocatedBytes() {
        return ((com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean()).getCurrentThreadAllocatedBytes();
    }

    /** Two bytes on the wire per empty Mount: about fifty on the heap once decoded. */
    private static byte[] emptyMounts(int count) {
        byte[] task = new byte[2 * count];
        for (int i = 0; i < task.length; i += 2) {
            task[i] = 0x3a; // TaskConfig.mounts = 7, length-delimited
        }
        StartTaskRequest request = StartTaskRequest.newBuilder().setTask(TaskConfig.newBuilder()
                .setId("x").build()).build();
        byte[] head = request.toByteArray();
        return concat(head, new byte[] {0x0a}, varint(task.length), task);
    }

    private static byte[] varint(int value) {
        java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
        while ((value & ~0x7f) != 0) {
            out.write((value & 0x7f) | 0x80);
            value >>>= 7;
        }
        out.write(value);
        return out.toByteArray();
    }

    private static byte[] concat(byte[]... parts) {
        java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
        for (byte[] part : parts) {
            out.writeBytes(part);
        }
        return out.toByteArray();
    }

    @Test
    void anOrdinaryRequestDecodesAsBefore() {
        StartTaskRequest request = StartTaskRequest.newBuilder().setTask(TaskConfig.newBuilder().setId("a/b/c")
                .putEnv("A", "1").putEnv("B", "2").addMounts(Mount.newBuilder().setTaskPath("/t"))).build();
        assertEquals(request, parse(request.toByteArray()));
        assertEquals(1_000, parse(emptyMounts(1_000)).getTask().getMountsCount());
    }

    @Test
    void fourMiBOfEmptyMessagesIsRefusedBeforeItIsDecoded() {
        byte[] wire = emptyMounts(2_000_000); // just under 4 MiB; about 100 MB once decoded
        long before = allocatedBytes();
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> parse(wire));
        long allocated = allocatedBytes() - before;
        assertEquals(Status.Code.RESOURCE_EXHAUSTED, e.getStatus().getCode());
        assertTrue(e.getStatus().getDescription().contains("more than 100000 fields"), e.getStatus().toString());
        assertTrue(allocated < 3L * wire.length, "refusing allocated " + allocated + " bytes");
        long deadline = System.nanoTime() + 5_000_000_000L;
        while (LOG.stream().noneMatch(l -> l.contains("more than 100000 fields")) && System.nanoTime() < deadline) {
            Thread.onSpinWait();
        }
        assertTrue(LOG.stream().anyMatch(l -> l.contains("refused a request before decoding it")
                && l.contains("hashicorp.nomad.plugins.drivers.proto.Driver/StartTask")), LOG.toString());
    }

    @Test
    void packedListsCountEachElement() throws Exception {
        // Any repeated scalar would do; none of the driver's requests has one, so count against a descriptor that does.
        var type = com.google.protobuf.DescriptorProtos.SourceCodeInfo.Location.getDescriptor(); // repeated int32 path = 1 (packed)
        byte[] packed = concat(new byte[] {0x0a}, varint(200_000), new byte[200_000]);
        assertThrows(FieldBudget.Exhausted.class, () -> FieldBudget.count(packed, type));
        byte[] small = concat(new byte[] {0x0a}, varint(1_000), new byte[1_000]);
        assertEquals(1_001, FieldBudget.count(small, type));
    }

    @Test
    void malformedBytesAreAnInvalidArgument() {
        byte[] truncated = {0x0a, 0x10, 0x3a};
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> parse(truncated));
        assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode());
    }
}
