package nomadmirage.goplugin;

import io.grpc.stub.StreamObserver;
import nomadmirage.proto.goplugin.GRPCStdioGrpc;
import nomadmirage.proto.goplugin.StdioData;

/**
 * go-plugin's GRPCStdio. We never write to stdout/stderr through it (our log
 * lines go to the real stderr, which the host reads), so each stream stays open
 * and silent until the host cancels it or the plugin stops.
 */
final class StdioService extends GRPCStdioGrpc.GRPCStdioImplBase {
    private final OpenStreams open = new OpenStreams();

    @Override
    public void streamStdio(com.google.protobuf.Empty request, StreamObserver<StdioData> response) {
        open.track(ServerStream.of(response));
    }

    void closeAll() {
        open.completeAll();
    }
}
