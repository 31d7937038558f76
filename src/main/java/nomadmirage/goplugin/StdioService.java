package nomadmirage.goplugin;

import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import nomadmirage.proto.goplugin.GRPCStdioGrpc;
import nomadmirage.proto.goplugin.StdioData;

/**
 * go-plugin's GRPCStdio. We never write to stdout/stderr through it (our log
 * lines go to the real stderr, which the host reads), so each stream stays open
 * and silent until the host cancels it or the plugin stops.
 */
final class StdioService extends GRPCStdioGrpc.GRPCStdioImplBase {
    private final Set<StreamObserver<StdioData>> open = ConcurrentHashMap.newKeySet();

    @Override
    public void streamStdio(com.google.protobuf.Empty request, StreamObserver<StdioData> response) {
        open.add(response);
        ((ServerCallStreamObserver<StdioData>) response).setOnCancelHandler(() -> open.remove(response));
    }

    void closeAll() {
        for (StreamObserver<StdioData> stream : open) {
            try {
                stream.onCompleted();
            } catch (RuntimeException alreadyClosed) {
                // the host went away first
            }
        }
        open.clear();
    }
}
