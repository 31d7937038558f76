package nomadmirage.goplugin;

import io.grpc.stub.StreamObserver;
import nomadmirage.proto.goplugin.Empty;
import nomadmirage.proto.goplugin.GRPCControllerGrpc;

/** go-plugin's GRPCController: the host asks the plugin to shut down gracefully. */
final class ControllerService extends GRPCControllerGrpc.GRPCControllerImplBase {
    private final Runnable shutdown;

    ControllerService(Runnable shutdown) {
        this.shutdown = shutdown;
    }

    @Override
    public void shutdown(Empty request, StreamObserver<Empty> response) {
        response.onNext(Empty.getDefaultInstance());
        response.onCompleted();
        // Stop after the reply is on its way; the host does not wait for it.
        Thread.ofPlatform().name("plugin-shutdown").start(shutdown);
    }
}
